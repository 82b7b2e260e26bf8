// The outcome table: what one attempt's end means for the query. The only place an rcode is
// interpreted; the try loop follows it, and diagnostics (later the adaptive gate) read it.
import { codes, type DnsErrorCode, rcodeToCode } from '../errors.js';
import type { TryKind } from '../gate/adaptive.js';
import type { DecodedPacket } from '../wire/codec.js';
import { rcodeOf } from '../wire/lazy.js';
import type { TcpMode } from './config.js';

/** How one attempt ended: with a response, or without one for `code` (and `cause`). */
export interface AttemptEnd {
  /** The accepted response, if one came. */
  answer: DecodedPacket | null;
  /** Why it ended without one (ETIMEOUT, ECONNREFUSED). */
  code: DnsErrorCode;
  cause: unknown;
  /** The EDNS0 payload size the query advertised (0: no OPT record). */
  payload: number;
  overTcp: boolean;
}

/**
 * What to do next:
 * - `answer`: final, hand the response to the caller (NOERROR, NXDOMAIN, and the rcodes c-ares
 *   reads as answers);
 * - `fail`: final, the query fails with `code` (FORMERR to a query without OPT, ...);
 * - `next`: this server can't help (SERVFAIL, REFUSED, NOTIMP, ICMP unreachable, a truncated
 *   answer with TCP off): ask the next server, and not this one again;
 * - `retry`: no answer this time (a timeout, our own EMFILE, a TCP connection closed before its
 *   answer): ask the next server, and this one again next round;
 * - `noEdns`: RFC 6891 §7, FORMERR or BADVERS to a query with OPT: ask this server again without it;
 * - `tcp`: RFC 7766 §5 / RFC 1035 §4.2.1, a truncated UDP answer: ask this server again over TCP;
 * - `later`: REFUSED from a server that is full (a home router past `dns-forward-max`), with the
 *   adaptive gate on: wait a backoff and ask this server again.
 */
export type Step = 'answer' | 'fail' | 'next' | 'retry' | 'noEdns' | 'tcp' | 'later';

/** A step, with the code the try failed with (for every step but `answer`, `noEdns` and `tcp`). */
export interface Verdict {
  step: Step;
  code?: DnsErrorCode;
  cause?: unknown;
}

const RCODE_FORMERR = 1;
const RCODE_BADVERS = 16;
const ANSWER: Verdict = Object.freeze({ step: 'answer' });
const NO_EDNS: Verdict = Object.freeze({ step: 'noEdns' });
const OVER_TCP: Verdict = Object.freeze({ step: 'tcp' });

/**
 * The outcome table: a pure function of how an attempt ended, the resolver's TCP mode, and whether
 * the adaptive gate is on (a REFUSED may then be a full router: ask again later; the try loop
 * makes it final once the server has said so a few times in a way that reads as its policy).
 *
 * @example
 * ```ts
 * verdictOf({ answer: null, code: 'ETIMEOUT', cause: undefined, payload: 1232, overTcp: false }, 'fallback', true);
 * // { step: 'retry', code: 'ETIMEOUT' }
 * ```
 */
export function verdictOf(end: AttemptEnd, tcp: TcpMode, adaptive: boolean): Verdict {
  const answer = end.answer;
  if (answer === null) {
    const retry = end.code === codes.TIMEOUT || worthRetrying(end.cause);
    return { step: retry ? 'retry' : 'next', code: end.code, cause: end.cause };
  }
  const rcode = rcodeOf(answer);
  if (end.payload > 0 && (rcode === RCODE_FORMERR || rcode === RCODE_BADVERS)) return NO_EDNS;
  if (answer.flag_tc && !end.overTcp) {
    if (tcp !== 'never') return OVER_TCP;
    return { step: 'next', code: codes.BADRESP, cause: new Error('truncated answer and TCP is off') };
  }
  const code = rcodeToCode(rcode);
  if (code === undefined || code === codes.NOTFOUND) return ANSWER;
  if (code === codes.REFUSED && adaptive) return { step: 'later', code };
  return {
    step: code === codes.SERVFAIL || code === codes.REFUSED || code === codes.NOTIMP ? 'next' : 'fail',
    code,
  };
}

/**
 * What a try tells the adaptive gate: an answer (feeds the RTT and growth); loss (REFUSED for
 * congestion, ICMP port unreachable or a refused TCP connection); a drop (a timeout); or nothing
 * (SERVFAIL, FORMERR, truncation, forged or malformed messages, our own socket errors).
 *
 * @example
 * ```ts
 * kindOf(end, verdictOf(end, 'fallback', true), true); // 'loss' for a REFUSED
 * ```
 */
export function kindOf(end: AttemptEnd, verdict: Verdict, congestion: boolean): TryKind {
  if (verdict.step === 'answer') return 'answer';
  if (verdict.step === 'later') return congestion ? 'loss' : 'neutral';
  if (end.answer !== null) return 'neutral';
  if (end.code === codes.TIMEOUT) return 'drop';
  return (end.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED' ? 'loss' : 'neutral';
}

/**
 * A failure worth another round on the same server: our own socket failing for want of file
 * descriptors (the idle ones were just closed), or a TCP connection that closed or reset before
 * the answer (RFC 7766 §6.2.1). A refusal from the server is not.
 */
function worthRetrying(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | null | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE' || code === 'EOF' || code === 'ECONNRESET';
}
