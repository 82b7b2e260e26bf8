// One attempt: send one query on one socket and wait for the datagram that answers it.
import { codes, type DnsErrorCode } from './errors.js';
import type { Channel } from './transport/udp.js';
import { accept } from './wire/accept.js';
import type { DecodedPacket } from './wire/codec.js';

/** What one attempt came to. A failure carries the node code the try failed with. */
export type Attempt =
  | { ok: true; message: DecodedPacket }
  | { ok: false; code: DnsErrorCode; cause?: unknown; anomaly: boolean };

/** What a resolver counts about its exchanges (see `Resolver#stats`). */
export interface ExchangeCounters {
  /** Queries sent (UDP datagrams and TCP messages). */
  sent: number;
  /** Answers accepted. */
  answers: number;
  /** Messages that did not answer the query (wrong ID, question, QR, or too large): skipped. */
  skipped: number;
  /** Messages that matched the query but were not well-formed: skipped like silence. */
  malformed: number;
  /** Tries that ended without an answer in time. */
  timeouts: number;
}

/**
 * A cancellable wait: the dispatcher sets `cancel` to end the wait at once. Exchanges
 * install their own handler while they wait and remove it when they settle.
 */
export interface Waiter {
  interrupt: ((reason: unknown) => void) | null;
}

/**
 * Sends `query` on `ch` and resolves with the first message that answers it (RFC 5452 §9.1:
 * ID, QR, opcode and question match; for UDP the kernel already dropped other senders since the
 * socket is connected) and decodes cleanly. Anything else is skipped and the wait goes on
 * until `timeoutMs` (a malformed reply is no answer). Rejects only when `waiter.interrupt` is called.
 */
export function attempt(
  ch: Channel,
  query: Buffer,
  questionEnd: number,
  timeoutMs: number,
  maxSize: number,
  counters: ExchangeCounters,
  waiter: Waiter,
): Promise<Attempt> {
  return new Promise<Attempt>((resolve, reject) => {
    let skipped = 0;
    let badResponse: unknown;
    const finish = (result: Attempt | undefined, error?: unknown) => {
      clearTimeout(timer);
      ch.detach();
      waiter.interrupt = null;
      if (result) resolve(result);
      else reject(error);
    };
    const timer = setTimeout(() => {
      counters.timeouts++;
      // Malformed replies count for nothing (as in c-ares): the try timed out, with the last one as cause.
      finish({ ok: false, code: codes.TIMEOUT, cause: badResponse, anomaly: true });
    }, timeoutMs);
    waiter.interrupt = (reason) => finish(undefined, reason);
    ch.attach({
      message(bytes) {
        const verdict = accept(bytes, query, questionEnd, maxSize);
        if (verdict.kind === 'answer') {
          counters.answers++;
          finish({ ok: true, message: verdict.message });
          // A socket that saw forgeries or garbage is retired: its port may be known to someone.
          if (skipped > 0 || badResponse !== undefined) ch.uses = Number.POSITIVE_INFINITY;
        } else if (verdict.kind === 'skip') {
          counters.skipped++;
          skipped++;
        } else {
          counters.malformed++;
          badResponse = new Error(verdict.reason);
        }
      },
      error(err) {
        // A socket that cannot be opened or used (EMFILE, ENOBUFS, ...) fails this try as c-ares
        // does, with ECONNREFUSED; a TCP peer that hangs up without answering is a bad response.
        const code = err.code === 'EOF' ? codes.BADRESP : codes.CONNREFUSED;
        finish({ ok: false, code, cause: err, anomaly: true });
      },
    });
    ch.uses++;
    counters.sent++;
    ch.send(query);
  });
}
