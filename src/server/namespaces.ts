export const NS = {
  client: "jabber:client",
  stream: "http://etherx.jabber.org/streams",
  framing: "urn:ietf:params:xml:ns:xmpp-framing",
  tls: "urn:ietf:params:xml:ns:xmpp-tls",
  sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
  bind: "urn:ietf:params:xml:ns:xmpp-bind",
  session: "urn:ietf:params:xml:ns:xmpp-session",
  streamErrors: "urn:ietf:params:xml:ns:xmpp-streams",
  stanzaErrors: "urn:ietf:params:xml:ns:xmpp-stanzas",
  ping: "urn:xmpp:ping",
} as const;
