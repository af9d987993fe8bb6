/**
 * Runs an external-auth protocol over a pair of streams (the program's stdin and stdout):
 * requests are read with the protocol's reader, answered by the answerer, and the answers are
 * written in request order and nothing else is ever written to the output.
 *
 * Bounds: one request is at most `maxRequestBytes` (larger ones are skipped and answered 0);
 * at most `maxInFlight` requests are being answered at once, and reading stops while that many
 * are pending or while the output is not draining (a server that sends without reading cannot
 * make this process buffer without limit). ejabberd and Prosody send one request at a time,
 * so the window matters only to a client that pipelines.
 */
import type { ExtauthAnswerer, ExtauthLog } from "./answer.js";
import { createRequestReader, encodeAnswer, parseRequest, type ExtauthProtocol, type RequestFrame } from "./protocol.js";

export interface ExtauthStreamOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  protocol: ExtauthProtocol;
  answer: ExtauthAnswerer;
  log: ExtauthLog;
  maxRequestBytes?: number;
  maxInFlight?: number;
}

export interface ExtauthStreamSummary {
  requests: number;
  /** Requests answered yes, whatever the command. */
  accepted: number;
  /** Logins accepted: `auth` requests answered yes (an `isuser` yes is not a login). */
  logins: number;
  /** `isuser` requests answered yes (the account exists). */
  usersFound: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 32;

/** Serves requests until the input ends, then resolves once every answer has been written. */
export function serveExtauthStream(options: ExtauthStreamOptions): Promise<ExtauthStreamSummary> {
  const { input, output, protocol, answer, log } = options;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError("maxInFlight must be a positive integer");
  const reader = createRequestReader(protocol, { maxRequestBytes: options.maxRequestBytes });
  const summary: ExtauthStreamSummary = { requests: 0, accepted: 0, logins: 0, usersFound: 0 };

  return new Promise((resolve) => {
    /** Requests read but not yet started (at most one input chunk's worth: reading stops meanwhile). */
    const waiting: RequestFrame[] = [];
    let inFlight = 0;
    let outputBlocked = false;
    let ended = false;
    let finished = false;
    /** Answers are written strictly in request order: each waits for the one before. */
    let written: Promise<void> = Promise.resolve();

    const finish = () => {
      if (finished) return;
      finished = true;
      input.removeListener("data", onData);
      resolve(summary);
    };
    const flow = () => {
      if (finished) return;
      if (ended && waiting.length === 0 && inFlight === 0) return finish();
      if (waiting.length > 0 || inFlight >= maxInFlight || outputBlocked) input.pause();
      else if (!ended) input.resume();
    };
    const start = (frame: RequestFrame) => {
      const request = parseRequest(frame);
      summary.requests++;
      inFlight++;
      const decided = answer(request).catch(() => {
        // A bug or an unexpected failure answers no (fails closed); no detail, no secret.
        log.warn(`${request.command} refused: internal error`);
        return false;
      });
      written = written.then(async () => {
        const yes = await decided;
        if (yes) summary.accepted++;
        if (yes && request.command === "auth") summary.logins++;
        if (yes && request.command === "isuser") summary.usersFound++;
        inFlight--;
        if (finished) return;
        if (!output.write(encodeAnswer(protocol, yes))) outputBlocked = true;
        pump();
      });
    };
    const pump = () => {
      while (waiting.length > 0 && inFlight < maxInFlight && !outputBlocked && !finished) start(waiting.shift()!);
      flow();
    };
    const onData = (chunk: Buffer | string) => {
      for (const frame of reader.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)) waiting.push(frame);
      pump();
    };
    output.on("drain", () => {
      outputBlocked = false;
      pump();
    });
    output.on("error", () => {
      // The server closed our output (it stopped or restarted us): nobody is left to answer.
      log.warn("output closed by the server; stopping");
      finish();
    });
    input.on("data", onData);
    input.on("end", () => {
      ended = true;
      if (reader.pendingBytes > 0) log.warn(`input ended inside a request (${reader.pendingBytes} bytes); it gets no answer`);
      flow();
    });
    input.on("error", () => {
      if (!ended) log.warn("input failed; stopping");
      ended = true;
      waiting.length = 0;
      flow();
    });
  });
}
