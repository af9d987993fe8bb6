/**
 * A registry of server mechanisms, in the manner of Prosody's util/sasl: each mechanism is a
 * small state machine from the client's decoded messages to an outcome, with no I/O.
 */
import type { SaslCondition, SaslContext, SaslOutcome } from "./types.js";

export interface ServerMechanism {
  /**
   * One client message: the initial response, or a `<response/>`. `null` means `<auth/>` carried
   * no initial response. Never throws; every call gets an outcome the transport must send.
   */
  step(message: Buffer | null): Promise<SaslOutcome>;
}

export interface MechanismFactory {
  readonly name: string;
  /** Whether to list the mechanism on this stream (PLAIN, for instance, only under TLS). */
  offered(ctx: SaslContext): boolean;
  start(ctx: SaslContext): ServerMechanism;
}

export function failure(condition: SaslCondition, reason: string, jid?: string): SaslOutcome {
  return jid === undefined ? { kind: "failure", condition, reason } : { kind: "failure", condition, reason, jid };
}

/** The outcome for `<abort/>`. */
export const ABORTED: SaslOutcome = { kind: "failure", condition: "aborted", reason: "aborted" };

/** The outcome for an `<auth/>` naming a mechanism this stream does not offer. */
export const INVALID_MECHANISM: SaslOutcome = { kind: "failure", condition: "invalid-mechanism", reason: "invalid-mechanism" };

export class SaslRegistry {
  private readonly factories = new Map<string, MechanismFactory>();

  use(factory: MechanismFactory): this {
    this.factories.set(factory.name, factory);
    return this;
  }

  /** Mechanism names to advertise on a stream, in registration order. */
  offered(ctx: SaslContext): string[] {
    return [...this.factories.values()].filter((f) => f.offered(ctx)).map((f) => f.name);
  }

  /** A fresh mechanism instance, or null when `name` is not offered here (send INVALID_MECHANISM). */
  start(name: string, ctx: SaslContext): ServerMechanism | null {
    const factory = this.factories.get(name);
    if (!factory || !factory.offered(ctx)) return null;
    return guard(factory.start(ctx));
  }
}

/** Makes sure a mechanism's bug still yields a reply and never a second success. */
function guard(mechanism: ServerMechanism): ServerMechanism {
  let finished = false;
  return {
    async step(message) {
      if (finished) return failure("malformed-request", "step-after-end");
      let outcome: SaslOutcome;
      try {
        outcome = await mechanism.step(message);
      } catch {
        outcome = failure("temporary-auth-failure", "internal-error");
      }
      if (outcome.kind !== "challenge") finished = true;
      return outcome;
    },
  };
}
