// One attempt, end to end: take a channel for the server and transport, write the query, accept or
// skip each message that arrives, end with an answer or without one, give the channel back.
import { diagnostics } from '../diagnostics.js';
import { codes, type DnsErrorCode } from '../errors.js';
import type { Timed } from '../runtime.js';
import type { Channel, ChannelListener, Endpoint } from '../transport/channel.js';
import { judge, Malformed } from '../wire/accept.js';
import { CLASSIC_UDP_PAYLOAD } from '../wire/codec.js';
import { MAX_QUERY, wireNameLength, writeQuery } from '../wire/encode.js';
import type { Response } from '../wire/lazy.js';
import { mismatch } from '../wire/validate.js';
import type { DispatchConfig } from './config.js';
import type { AttemptEnd } from './outcome.js';

/** What an attempt asks, and the names its diagnostics carry. */
export interface Question {
  /** The name as sent (lower case, no trailing dot). */
  readonly name: string;
  readonly type: string;
  /** `type`'s numeric code. */
  readonly qtype: number;
}

/** Told when an attempt ends (not after {@link Attempt.abandon}). */
export interface AttemptOwner {
  attempted(): void;
}

const NO_QUERY = new Uint8Array(0);

/** A copy of a query sent before the one on the wire (see Attempt#resend). */
interface EarlierCopy {
  /** Its bytes, under its own ID. */
  bytes: Uint8Array;
  /** Told of a message with its ID: true when it answers the copy (and `late` was told). */
  heard(bytes: Uint8Array): boolean;
}

/**
 * Whether `bytes` answers `copy` and shows the server held it: its question, and NOERROR or
 * NXDOMAIN (a REFUSED says the copy was lost all the same; a SERVFAIL may come after the
 * server's own retries, and says nothing of how long answers take).
 */
function answers(bytes: Uint8Array, copy: Uint8Array, questionEnd: number): boolean {
  const rcode = bytes.length >= 12 ? bytes[3]! & 0x0f : -1;
  return (
    (rcode === 0 || rcode === 3) &&
    bytes[5] === 1 &&
    bytes.length >= questionEnd &&
    mismatch(bytes, copy, questionEnd) === undefined
  );
}

/** IDs drawn for one query before it goes on another socket or connection (see Attempt#send). */
const MAX_DRAWS = 16;

/**
 * One attempt of a query: one message on one channel, and the wait for the first message that
 * answers it (RFC 5452 §9.1: ID, QR, opcode and question match; for UDP the kernel already
 * dropped other senders since the socket is connected) and decodes cleanly. Anything else is
 * skipped and the wait goes on until the timeout (a malformed reply is no answer). The object is
 * its own channel listener and timer entry, and the try loop reuses it for each of its tries, so
 * a try allocates nothing.
 */
export class Attempt implements ChannelListener, Timed, AttemptEnd {
  due = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  scheduled = false;
  weak = false;
  /** The accepted answer, when the attempt ended with one. */
  answer: Response | null = null;
  /** Why it ended without an answer. */
  code: DnsErrorCode = codes.TIMEOUT;
  cause: unknown;
  payload = 0;
  overTcp = false;
  /** Attempts made so far for this query (1 during the first). */
  count = 0;
  endpoint: Endpoint | null = null;
  readonly #owner: AttemptOwner;
  readonly #cfg: DispatchConfig;
  readonly #q: Question;
  readonly #questionEnd: number;
  #ch: Channel | null = null;
  /** Its slot on `#ch` (a UDP socket carries several exchanges, each in a slot). */
  #slot = 0;
  #query: Uint8Array = NO_QUERY;
  #maxSize = 0;
  #skipped = 0;
  #bad: unknown;
  #sentAt = 0;
  /** This try was sent again already, its kept TCP connection having closed under it. */
  #reopened = false;
  /** This try went out twice over UDP (see {@link resend}): a second answer may come. */
  #resent = false;
  /** Copies sent before the one on the wire, each under its own ID (see {@link resend}). */
  #copies: EarlierCopy[] | null = null;
  /** Shared by this attempt's watches: set once it timed out (an answer after that is not late). */
  #watching: { over: boolean } | null = null;
  /** The accepted answer was to the copy on the wire at the end, not to an earlier one. */
  answeredLast = true;

  constructor(owner: AttemptOwner, cfg: DispatchConfig, q: Question) {
    this.#owner = owner;
    this.#cfg = cfg;
    this.#q = q;
    this.#questionEnd = 12 + wireNameLength(q.name) + 4;
  }

  /** Sends the query to `endpoint` (over TCP when `overTcp`) and waits up to `timeoutMs`. */
  start(endpoint: Endpoint, overTcp: boolean, payload: number, timeoutMs: number): void {
    const cfg = this.#cfg;
    this.answer = null;
    this.code = codes.TIMEOUT;
    this.cause = undefined;
    this.payload = payload;
    this.overTcp = overTcp;
    this.endpoint = endpoint;
    this.count++;
    this.#skipped = 0;
    this.#bad = undefined;
    this.#sentAt = 0;
    this.#reopened = false;
    this.#resent = false;
    this.#copies = null;
    this.#watching = null;
    this.answeredLast = true;
    const ch = cfg.pool.take(endpoint, overTcp ? 'tcp' : 'udp', cfg);
    this.#ch = ch;
    const slot = ch.attach(this);
    this.#slot = slot;
    // The slot's own buffer: it carries one exchange at a time, and one that did not end cleanly
    // forgets it (a send may still read it), so no send can still be reading these bytes.
    const buf = ch.buffer(slot, MAX_QUERY);
    const q = this.#q;
    this.#query = buf.subarray(0, writeQuery(buf, cfg.runtime.queryId(), q.name, q.qtype, payload));
    // RFC 6891 §6.2.5: a UDP answer is never larger than we said we accept (512 without EDNS).
    this.#maxSize = overTcp
      ? cfg.maxResponseSize
      : Math.min(cfg.maxResponseSize, Math.max(payload, CLASSIC_UDP_PAYLOAD));
    const runtime = cfg.runtime;
    runtime.timers.schedule(this, timeoutMs);
    if (diagnostics.queryOutcome.hasSubscribers) this.#sentAt = runtime.clock.now();
    this.#send();
  }

  /**
   * Sends the query on `#ch`, under an ID no other query in flight on its socket or connection has
   * (RFC 7766 §7; a UDP socket routes answers by ID the same way): drawn again on a clash, and
   * after {@link MAX_DRAWS} clashes (an ID source that repeats itself) on another socket or
   * connection.
   */
  #send(): void {
    const cfg = this.#cfg;
    const query = this.#query;
    let ch = this.#ch!;
    for (let draws = 1; !ch.claim(this.#slot, (query[0]! << 8) | query[1]!); draws++) {
      if (draws % MAX_DRAWS === 0) {
        // The query's bytes stay where they are: a retired socket's slots take no other query.
        ch.retire();
        cfg.pool.give(ch, this.#slot, cfg.socketReuse, true);
        ch = cfg.pool.take(this.endpoint!, ch.protocol, cfg);
        this.#ch = ch;
        this.#slot = ch.attach(this);
      }
      const id = cfg.runtime.queryId();
      query[0] = id >> 8;
      query[1] = id & 0xff;
    }
    ch.uses++;
    cfg.counters.sent++;
    ch.send(this.#slot, query);
    // Published once the query is on the wire, so a subscriber that gives up on it meets a query
    // like any other on the wire (it lingers: see Tries#stop).
    if (diagnostics.querySend.hasSubscribers && this.#ch === ch) this.#publishSend(ch);
  }

  /**
   * Sends the query again on the same channel, over UDP: same port and question, under a new ID
   * (while the socket has room for one), so that an answer tells which copy it answers. `late` is
   * told, once, if the copy on the wire until now (found overdue) is answered after all, now or
   * after the attempt ended; `lateNext` the same of this copy, if it is answered once the attempt
   * ended (until then the owner hears of it): it was late, not dropped (TCP's Eifel detection, RFC
   * 3522, tells a spurious retransmission the same way, by timestamps). A router that still holds
   * an earlier copy answers every copy (dnsmasq 2.90, unbound 1.17, BIND 9.18 and PowerDNS
   * Recursor 4.8 do, from one upstream query); one that dropped it answers the later copy. An
   * answer to any copy ends the attempt. The timeout runs on from the first send. Should no fresh
   * ID be free, the copy goes under the one before's, and the two cannot be told apart.
   */
  resend(late: (() => void) | null = null, lateNext: (() => void) | null = null): void {
    const ch = this.#ch;
    if (ch === null || this.overTcp) return;
    if (late !== null) this.#supersede(ch, late, lateNext);
    this.#resent = true;
    this.#cfg.counters.sent++;
    ch.send(this.#slot, this.#query);
    if (diagnostics.querySend.hasSubscribers) this.#publishSend(ch);
  }

  /**
   * Keeps the copy on the wire as an earlier one, watched for a late answer; the next gets a new
   * ID, and is watched too once the attempt has ended.
   */
  #supersede(ch: Channel, late: () => void, lateNext: (() => void) | null): void {
    if (ch.alias === undefined) return;
    const query = this.#query;
    const runtime = this.#cfg.runtime;
    for (let draws = 0; draws < MAX_DRAWS; draws++) {
      const id = runtime.queryId();
      if (!ch.alias(this.#slot, id)) continue;
      const copy = Uint8Array.from(query);
      const heard = this.#hearing(copy, late);
      ch.watch?.((copy[0]! << 8) | copy[1]!, heard);
      this.#copies ??= [];
      this.#copies.push({ bytes: copy, heard });
      query[0] = id >> 8;
      query[1] = id & 0xff;
      if (lateNext !== null) ch.watch?.(id, this.#hearing(Uint8Array.from(query), lateNext));
      return;
    }
  }

  /** Hears messages with the ID of `copy`: tells `late` once, of the first that answers it. */
  #hearing(copy: Uint8Array, late: () => void): (bytes: Uint8Array) => boolean {
    const questionEnd = this.#questionEnd;
    this.#watching ??= { over: false };
    const watching = this.#watching;
    let told = false;
    return (bytes) => {
      if (told || watching.over || !answers(bytes, copy, questionEnd)) return false;
      told = true;
      late();
      return true;
    };
  }

  /**
   * Stops waiting at once; the owner is not told. The channel goes back fit for the next query: it
   * remembers this query's ID, so that a late answer to it is dropped quietly, not taken for a forgery.
   * Over TCP the exchange leaves its connection to the other queries on it.
   */
  abandon(): void {
    this.#cfg.runtime.timers.unschedule(this);
    const ch = this.#ch;
    if (ch === null) return;
    this.#ch = null;
    ch.forget(this.#slot);
    this.#cfg.pool.give(ch, this.#slot, this.#cfg.socketReuse, true);
  }

  /**
   * A datagram held for the end of the turn (or for its socket to connect) goes out only while the
   * gate's lease has not lapsed: a process paused between the send and the flush, past its lease
   * of a cluster-wide gate, would otherwise send on a permit another process holds now. (A share
   * that shrank is no reason: Redis keeps the permits held recorded until they come back.)
   */
  leaving(): boolean {
    return this.#cfg.gate.lapsed?.() !== true;
  }

  /** Nobody waits for the answer any more, but the query goes on: it must not keep the process alive. */
  linger(): void {
    this.#cfg.runtime.timers.weaken(this);
  }

  message(bytes: Buffer): void {
    const counters = this.#cfg.counters;
    let query = this.#query;
    const copies = this.#copies;
    if (copies !== null && bytes.length >= 2) {
      for (const copy of copies) {
        if (bytes[0] !== copy.bytes[0] || bytes[1] !== copy.bytes[1]) continue;
        // An earlier copy's answer, a later copy having gone under another ID: it was late.
        query = copy.bytes;
        copy.heard(bytes);
        break;
      }
    }
    const verdict = judge(bytes, query, this.#questionEnd, this.#maxSize);
    if (typeof verdict === 'string') {
      // (A late answer to a query given up on never comes here: its socket or connection drops it.)
      counters.skipped++;
      this.#skipped++;
      if (diagnostics.querySkip.hasSubscribers) this.#publishSkip(verdict);
    } else if (verdict instanceof Malformed) {
      counters.malformed++;
      this.#bad = new Error(verdict.reason);
      if (diagnostics.querySkip.hasSubscribers) this.#publishSkip('malformed');
    } else {
      counters.answers++;
      // A socket that saw forgeries or garbage is retired: its port may be known to someone.
      if (this.#skipped > 0 || this.#bad !== undefined) this.#ch!.retire();
      this.answer = verdict;
      this.answeredLast = query === this.#query;
      this.#end();
    }
  }

  error(err: NodeJS.ErrnoException): void {
    // RFC 7766 §6.2.4: a client retries the queries left unanswered on a connection that closes.
    // One the server had answered on before let go of a kept connection (its idle timeout, its
    // limit of queries per connection), which is no fault of this query nor of the server: the
    // query goes once more on another connection within the same try (its timeout runs on), as an
    // HTTP client sends a request again after a stale keep-alive connection. A connection that
    // closes before any answer fails the try, as below.
    if (this.#ch!.reused && !this.#reopened) {
      this.#reopen();
      return;
    }
    // A socket that cannot be opened or used (EMFILE, ENOBUFS, ...), or a TCP peer that hangs up
    // without answering, fails this try as c-ares does, with ECONNREFUSED.
    this.code = codes.CONNREFUSED;
    this.cause = err;
    this.#end();
  }

  expire(): void {
    this.#cfg.counters.timeouts++;
    if (this.#watching !== null) this.#watching.over = true;
    // Malformed replies count for nothing (as in c-ares): the try timed out, with the last one as cause.
    this.code = codes.TIMEOUT;
    this.cause = this.#bad;
    const ch = this.#ch!;
    ch.forget(this.#slot);
    if (this.overTcp) ch.timedOut();
    this.#end();
  }

  /** Sends this try again on another TCP connection (see {@link error}). */
  #reopen(): void {
    const cfg = this.#cfg;
    this.#reopened = true;
    cfg.pool.give(this.#ch!, this.#slot, cfg.socketReuse, false);
    const ch = cfg.pool.take(this.endpoint!, 'tcp', cfg);
    this.#ch = ch;
    this.#slot = ch.attach(this);
    this.#send();
  }

  #end(): void {
    const cfg = this.#cfg;
    cfg.runtime.timers.unschedule(this);
    const ch = this.#ch!;
    this.#ch = null;
    // Sent twice and answered: the other answer may still come, and is no forgery.
    if (this.#resent && this.answer !== null) ch.forget(this.#slot);
    // Answered or timed out, the channel is fit for another query (it knows to drop a late
    // answer); a socket error is not.
    cfg.pool.give(ch, this.#slot, cfg.socketReuse, this.answer !== null || this.code === codes.TIMEOUT);
    if (diagnostics.queryOutcome.hasSubscribers) this.#publishOutcome(ch);
    this.#owner.attempted();
  }

  #publishSend(ch: Channel): void {
    diagnostics.querySend.publish({
      name: this.#q.name,
      type: this.#q.type,
      server: this.endpoint!.label,
      transport: ch.protocol,
      attempt: this.count,
    });
  }

  #publishSkip(reason: string): void {
    diagnostics.querySkip.publish({
      name: this.#q.name,
      type: this.#q.type,
      server: this.endpoint!.label,
      reason,
    });
  }

  #publishOutcome(ch: Channel): void {
    const answer = this.answer;
    const errno = (this.cause as { code?: unknown } | undefined)?.code;
    diagnostics.queryOutcome.publish({
      name: this.#q.name,
      type: this.#q.type,
      server: this.endpoint!.label,
      transport: ch.protocol,
      attempt: this.count,
      outcome:
        answer !== null
          ? answer.flag_tc && !this.overTcp
            ? 'truncated'
            : 'answer'
          : this.code === codes.TIMEOUT
            ? 'timeout'
            : errno === 'ECONNREFUSED'
              ? 'refused'
              : 'error',
      ...(answer === null ? {} : { rcode: answer.rcode }),
      // Measured from the send when someone listened then.
      ms: this.#sentAt === 0 ? 0 : this.#cfg.runtime.clock.now() - this.#sentAt,
    });
  }
}
