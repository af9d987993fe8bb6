/** Bounded waiting for Redis: an answer that does not come in time is a failure. */

/** Why Redis did not answer (in time, or at all); callers fail closed on it. */
export class ReplayStoreUnavailableError extends Error {
  override readonly name = "ReplayStoreUnavailableError";
}

/**
 * Rejects with ReplayStoreUnavailableError when `promise` has not settled within `ms`.
 * The deadline is enforced from setImmediate, i.e. after the event loop has read the sockets: when
 * the process itself was busy past the deadline, an answer already waiting still counts.
 */
export function withinTime<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const late = () => reject(new ReplayStoreUnavailableError(`no answer within ${ms} ms`));
    const timer = setTimeout(() => setImmediate(late), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
