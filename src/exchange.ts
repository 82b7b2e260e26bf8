// One attempt: send one query on one socket and wait for the datagram that answers it.
import { codes, type DnsErrorCode } from './errors.js';
import type { Channel } from './transport/udp.js';
import { type DecodedPacket, decodeMessage, MalformedMessageError } from './wire/codec.js';
import { mismatch } from './wire/validate.js';

/** What one attempt came to. A failure carries the node code the try failed with. */
export type Attempt =
  | { ok: true; message: DecodedPacket }
  | { ok: false; code: DnsErrorCode; cause?: unknown; anomaly: boolean };

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
 * until `timeoutMs`. Rejects only when `waiter.interrupt` is called.
 */
export function attempt(
  ch: Channel,
  query: Buffer,
  questionEnd: number,
  timeoutMs: number,
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
      finish(
        badResponse === undefined
          ? { ok: false, code: codes.TIMEOUT, anomaly: true }
          : { ok: false, code: codes.BADRESP, cause: badResponse, anomaly: true },
      );
    }, timeoutMs);
    waiter.interrupt = (reason) => finish(undefined, reason);
    ch.attach({
      message(bytes) {
        if (mismatch(bytes, query, questionEnd) !== undefined) {
          skipped++;
          return;
        }
        let message: DecodedPacket;
        try {
          message = decodeMessage(bytes);
        } catch (err) {
          if (!(err instanceof MalformedMessageError)) throw err;
          badResponse = err;
          return;
        }
        finish({ ok: true, message }, undefined);
        if (skipped > 0) ch.uses = Number.POSITIVE_INFINITY; // retire a socket that saw forgeries
      },
      error(err) {
        // A socket that cannot be opened or used (EMFILE, ENOBUFS, ...) fails this try as c-ares
        // does, with ECONNREFUSED; a TCP peer that hangs up without answering is a bad response.
        const code = err.code === 'EOF' ? codes.BADRESP : codes.CONNREFUSED;
        finish({ ok: false, code, cause: err, anomaly: true });
      },
    });
    ch.uses++;
    ch.send(query);
  });
}
