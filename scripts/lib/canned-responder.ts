/**
 * The floor of a Node login: a TCP server that answers the same X-TOKEN login exchange as the real
 * server (header+features, success, header+features, bind result) with constant bytes, one answer
 * per client turn, with no XML parsing and no crypto. Same socket work as the real server, so the
 * real server's CPU per login divided by this one's says what our parsing, checks and routing cost.
 * Listens on 127.0.0.1:$PORT; a turn is one chunk (the benchmark client waits for each answer).
 */
import net from "node:net";

const DOMAIN = process.env.DOMAIN ?? "bench.test";
const OPEN = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='${DOMAIN}' id='0123456789abcdef' version='1.0' xml:lang='en'>`;
const ANSWERS = [
  OPEN + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>X-TOKEN</mechanism></mechanisms></stream:features>",
  "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
  OPEN + "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
  `<iq type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@${DOMAIN}/0123456789abcdef</jid></bind></iq>`,
].map((text) => Buffer.from(text));

const server = net.createServer((socket) => {
  let turn = 0;
  socket.on("data", () => {
    const answer = ANSWERS[turn++];
    if (answer) socket.write(answer);
    else socket.end("</stream:stream>");
  });
  socket.on("error", () => {});
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
