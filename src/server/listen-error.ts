/** A listener that could not start: which one, on what address, and the system's error code. */
export type ListenerName = "c2s" | "directTls" | "http" | "component";

export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    readonly listener: ListenerName,
    readonly host: string,
    readonly port: number,
    /** EADDRINUSE, EACCES, EADDRNOTAVAIL, ENOTFOUND, ... (undefined when the system gave none). */
    readonly code: string | undefined,
  ) {
    super(`cannot listen on ${host}:${port} (${listener}): ${code ?? "error"}`);
  }
}
