// The try loop: one query under one permit (taken once, given back once), over the servers in
// turn, round after round, until the outcome table says it is done or the caller stops it.
import { diagnostics } from '../diagnostics.js';
import { codes, DnsError } from '../errors.js';
import type { AdaptiveLimit, OverdueListener, Refusal, TryKind, TryTicket } from '../gate/adaptive.js';
import { type Canceller, cancellerFor, WaitCancel } from '../gate/cancel.js';
import type { Timed } from '../runtime.js';
import type { DecodedPacket } from '../wire/codec.js';
import { Attempt, type AttemptOwner, type Question } from './attempt.js';
import type { DispatchConfig, Gate } from './config.js';
import { kindOf, type Verdict, verdictOf } from './outcome.js';

/** A query as the try loop sees it: what it asks, and the names its errors carry (node's). */
export interface Job extends Question {
  readonly syscall: string;
  readonly hostname: string;
}

/** Whom the try loop tells how the query ended; told once, never after {@link Tries.stop}. */
export interface TryOwner {
  /**
   * A last look before each send and after each wait: a caller whose deadline has passed or whose
   * signal has aborted gives up now (and stops the loop), even if the timer that would say so has
   * not run yet.
   */
  check(): void;
  landed(message: DecodedPacket, server: string): void;
  failed(error: unknown): void;
}

// The loop's states.
const IDLE = 0;
const WAITING = 1;
const PACING = 2;
const ON_WIRE = 3;
/** Stopped with its query on the wire: it keeps socket and permit until the attempt ends. */
const LINGERING = 4;
const DONE = 5;
/** Waiting for room under the server's adaptive limit (holding the query's permit). */
const SERVER_WAIT = 6;
/** Refused: waiting out a backoff, its own permit given back. */
const BACKOFF = 7;

/**
 * REFUSEDs to a query sent alone that make the refusal final (the server's policy): a home router
 * that is full because of other clients says REFUSED too, so one is not enough. (Exported for the
 * simulation in test/helpers/sim.ts, whose clients ask as the try loop does.)
 */
export const POLICY_STRIKES = 3;
/**
 * ...or REFUSEDs to it with company, asked again after an isolated REFUSED (see
 * AdaptiveLimit#refusal): a query refused for congestion may be refused twice or three times
 * running (in the simulation of two clients sharing a router, three lost a lookup in one seed of
 * twelve).
 */
export const POLICY_AGAIN_STRIKES = 5;
/** Policy strikes are counted in units: POLICY_STRIKES alone, or POLICY_AGAIN_STRIKES again, make it final. */
export const POLICY_FINAL = POLICY_STRIKES * POLICY_AGAIN_STRIKES;

/** The units of one policy REFUSED (see POLICY_FINAL). */
export function strikeOf(refusal: Refusal): number {
  return refusal === 'alone' ? POLICY_AGAIN_STRIKES : POLICY_STRIKES;
}

/** Times one attempt is sent again after being found overdue (presumed dropped by a full router). */
const MAX_RESENDS = 2;

// Whose permit the query flies under.
const NONE = 0;
const OWN = 1;
/** Someone else's (a bulk run's), who gives it back. */
const HELD = 2;

/**
 * One query's tries: RFC 1035 §7.2 / c-ares order, every server once per round, `tries` rounds,
 * the timeout doubling each round; what each attempt's end means comes from the outcome table
 * ({@link verdictOf}). The common case, a permit free at once and a final answer to the first
 * try, runs synchronously up to the send and allocates nothing beyond this object and its
 * {@link Attempt}.
 */
export class Tries implements AttemptOwner, OverdueListener, Timed {
  due = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  scheduled = false;
  weak = false;
  readonly #cfg: DispatchConfig;
  readonly #job: Job;
  readonly #owner: TryOwner;
  readonly #attempt: Attempt;
  #state = IDLE;
  #permit: number;
  /** Why the loop was stopped (nobody waits for it any more). */
  #stopped: unknown;
  #round = 0;
  #server = 0;
  #payload: number;
  #overTcp: boolean;
  /** Servers not to ask again (they refused, or failed otherwise). */
  #done: boolean[] | null = null;
  #failures: DnsError[] | null = null;
  #abort: Canceller | null = null;
  #waitedFrom = 0;
  /** The adaptive limit of the server the try in flight went to, and its ticket. */
  #limit: AdaptiveLimit | undefined;
  #ticket: TryTicket | null = null;
  /** Tries refused and not taken for policy so far (each waits a longer backoff). */
  #congested = 0;
  /** REFUSEDs to this query taken for the server's policy, in units (see POLICY_FINAL). */
  #policyStrikes = 0;
  /** The REFUSED that ended the try before this one, and its server (-1: none). */
  #refusedBy = -1;
  #refused: TryTicket | null = null;
  /** Retransmissions of the attempt on the wire; and, while one waits for room, its wait. */
  #resends = 0;
  #resendWait: Canceller | null = null;
  /** The ticket found overdue whose copy waits for room to go again (see {@link overdue}). */
  #resending: TryTicket | null = null;
  /** The try on the wire's first ticket found overdue. */
  #firstOverdue: TryTicket | null = null;
  /** When the try on the wire was first sent, by its adaptive limit's clock. */
  #firstSentAt = 0;

  /** `held`: the caller already holds a permit for this query (a bulk run) and gives it back itself. */
  constructor(cfg: DispatchConfig, job: Job, owner: TryOwner, held: boolean) {
    this.#cfg = cfg;
    this.#job = job;
    this.#owner = owner;
    this.#attempt = new Attempt(this, cfg, job);
    this.#permit = held ? HELD : NONE;
    this.#payload = cfg.udpPayload;
    this.#overTcp = cfg.tcp === 'always';
  }

  /** Whether the permit it flies under is someone else's. */
  get held(): boolean {
    return this.#permit === HELD;
  }

  /**
   * Makes the permit its own, if it flies under someone else's (whose call is leaving while others
   * ride on this query): false when the gate has none free.
   */
  adopt(): boolean {
    if (this.#permit !== HELD) return true;
    if (!this.#cfg.gate.tryAcquire()) return false;
    this.#permit = OWN;
    return true;
  }

  /** Takes a permit (or waits for one) and sends the first try. */
  start(): void {
    if (this.#state === DONE) return;
    this.#queue();
  }

  /** Takes a permit unless it holds one (or waits for one: `first`, ahead of others), then paces and sends. */
  #queue(first = false): void {
    if (this.#permit === NONE) {
      const gate = this.#cfg.gate;
      if (!gate.tryAcquire()) {
        this.#wait(gate, false, first);
        return;
      }
      this.#permit = OWN;
    }
    this.#begin();
  }

  /**
   * Nobody waits for the query any more: no further try goes out, and the owner is told `failed`
   * with `reason` at once. A query on the wire over UDP keeps its socket and permit until it is
   * answered or times out (the router holds it that long too; a permit freed now would let the
   * next caller send while this query still occupies the router: the give-up storm).
   */
  stop(reason: unknown): void {
    const state = this.#state;
    if (this.#stopped !== undefined || state === DONE || state === LINGERING) return;
    this.#stopped = reason;
    this.#state = DONE;
    if (state === WAITING) {
      this.#abort?.abort(reason);
    } else if (state === SERVER_WAIT) {
      this.#abort?.abort(reason);
      this.#release();
    } else if (state === PACING || state === BACKOFF) {
      this.#cfg.runtime.timers.unschedule(this);
      this.#release();
    } else if (state === ON_WIRE) {
      this.#stopResend();
      if (!this.#overTcp && this.adopt()) {
        this.#state = LINGERING;
        this.#attempt.linger();
      } else {
        // Over TCP the exchange ends at once, and its permit goes back: its connection stays open
        // for the queries pipelined on it and drops the late answer (RFC 7766 §7). So does a query
        // whose permit went back with its caller while the gate had none to spare (its socket,
        // which knows to skip the late answer, is kept).
        this.#attempt.abandon();
        this.#endTry('neutral');
        this.#release();
      }
    } else {
      this.#release();
    }
    this.#owner.failed(reason);
  }

  /**
   * Waits for a permit of the gate and goes on with it; with `coverOnly` (the query flies under a
   * bulk run's permit, no longer covered by a lease), waits until the gate covers one more permit,
   * gives it back at once, and sends.
   */
  async #wait(gate: Gate, coverOnly = false, first = false): Promise<void> {
    this.#state = WAITING;
    const abort = cancellerFor(gate);
    this.#abort = abort;
    this.#waitedFrom = this.#cfg.runtime.clock.now();
    try {
      await gate.acquire({ signal: abort.signal, first });
    } catch (err) {
      this.#abort = null;
      // Stopped while waiting: stop() told the owner already. Any other failure of the gate
      // fails the query.
      if (this.#state === WAITING) {
        this.#state = DONE;
        this.#owner.failed(err);
      }
      return;
    }
    this.#abort = null;
    if (coverOnly) {
      gate.release();
      if (this.#state !== WAITING) return;
      this.#state = IDLE;
      this.#send();
      return;
    }
    this.#permit = OWN;
    // Stopped after the permit was handed over but before this ran: give it back.
    if (this.#state === DONE) {
      this.#release();
      return;
    }
    this.#state = IDLE;
    if (diagnostics.gateWait.hasSubscribers) {
      diagnostics.gateWait.publish({
        limit: gate.limit,
        waiting: gate.waiting ?? 0,
        ms: this.#cfg.runtime.clock.now() - this.#waitedFrom,
      });
    }
    // The permit came from a release that ran before this caller's own deadline or abort timer
    // (or a subscriber gave up just now): a caller that has given up neither paces nor sends.
    this.#owner.check();
    if (this.#state === DONE) return;
    this.#begin();
  }

  #begin(): void {
    const cfg = this.#cfg;
    if (cfg.servers.length === 0) {
      this.#fail(this.#error(codes.CONNREFUSED, new Error('no nameservers configured')));
      return;
    }
    const wait = cfg.pace?.reserve() ?? 0;
    if (wait > 0) {
      this.#state = PACING;
      cfg.runtime.timers.schedule(this, wait);
      return;
    }
    this.#send();
  }

  /** The pace's wait, or a backoff, is over. */
  expire(): void {
    const backoff = this.#state === BACKOFF;
    this.#state = IDLE;
    if (!backoff) {
      this.#send();
      return;
    }
    // Queue again for a permit (the one given back at the refusal), ahead of queries not sent yet
    // (it waited its turn once), then pace and send.
    this.#queue(true);
  }

  #send(): void {
    this.#owner.check();
    if (this.#state === DONE) return;
    const gate = this.#cfg.gate;
    if (gate.covers?.() === false) {
      // A leased gate whose lease ran out (this process was paused past it, say): the permit may
      // be someone else's now. Give it back and wait for one before sending again; a permit held
      // for this query by someone else (a bulk run's) waits until the gate covers one more.
      if (this.#permit === OWN) {
        this.#release();
        void this.#wait(gate);
      } else {
        void this.#wait(gate, true);
      }
      return;
    }
    const limits = this.#cfg.limits;
    if (limits !== undefined) {
      // The server's adaptive limit: a try goes out only with room under it. A server that is full
      // (slow, refusing, black-holing) is passed over for one with room, as c-ares passes over a
      // failing server, so one bad server does not hold up the others; with none free, wait.
      const s = this.#roomAt(limits);
      if (s < 0) {
        this.#waitServer(limits[this.#widest(limits)]!);
        return;
      }
      this.#server = s;
      const limit = limits[s]!;
      this.#limit = limit;
      this.#ticket = limit.sent(this, false, this.#refusedBy === s);
    }
    this.#fire();
  }

  /**
   * With no server free, the one to wait for: the highest limit among those not done with (a
   * failing server's limit is low), the current one on a tie. It becomes the current server.
   */
  #widest(limits: readonly AdaptiveLimit[]): number {
    let best = this.#server;
    for (let s = 0; s < limits.length; s++) {
      if (this.#done?.[s]) continue;
      if (limits[s]!.limit > limits[best]!.limit || this.#done?.[best]) best = s;
    }
    this.#server = best;
    return best;
  }

  /** The first server from the current one on, not done with, whose limit has room (taken); or -1. */
  #roomAt(limits: readonly AdaptiveLimit[]): number {
    const n = limits.length;
    const done = this.#done;
    for (let k = 0; k < n; k++) {
      const s = (this.#server + k) % n;
      if (done?.[s]) continue;
      if (limits[s]!.gate.tryAcquire()) return s;
    }
    return -1;
  }

  /** Sends the try: to the current server, over the current transport, with this round's timeout. */
  #fire(): void {
    this.#state = ON_WIRE;
    this.#resends = 0;
    this.#resending = null;
    this.#firstOverdue = null;
    this.#firstSentAt = this.#ticket?.sentAt ?? 0;
    const cfg = this.#cfg;
    this.#attempt.start(
      cfg.servers[this.#server]!,
      this.#overTcp,
      this.#payload,
      cfg.timeout * 2 ** this.#round,
    );
  }

  async #waitServer(limit: AdaptiveLimit): Promise<void> {
    this.#state = SERVER_WAIT;
    const abort = new WaitCancel();
    this.#abort = abort;
    try {
      await limit.gate.acquire({ signal: abort.signal });
    } catch {
      // Stopped while waiting: stop() gave the query's permit back and told the owner.
      this.#abort = null;
      return;
    }
    this.#abort = null;
    if (this.#state === DONE) {
      limit.gate.release();
      return;
    }
    this.#state = IDLE;
    this.#owner.check();
    if (this.#state === DONE) {
      limit.gate.release();
      return;
    }
    if (this.#cfg.gate.covers?.() === false) {
      // The lease ran out while it waited for room: see #send.
      limit.gate.release();
      this.#state = IDLE;
      this.#send();
      return;
    }
    this.#limit = limit;
    this.#ticket = limit.sent(this, false, this.#refusedBy === this.#server);
    this.#fire();
  }

  /**
   * The adaptive limit found the try on the wire overdue (a full router drops silently, and says
   * nothing until the timeout, seconds later): send the query again, on the same socket under a
   * new ID, once the limit has room for it. The copy found overdue is still answered if it comes,
   * and then the limit learns its ticket was late (see Attempt#resend).
   */
  overdue(ticket: TryTicket): void {
    if (ticket !== this.#ticket || this.#state !== ON_WIRE || this.#overTcp) return;
    this.#firstOverdue ??= ticket;
    if (this.#resends >= MAX_RESENDS) return;
    this.#resends++;
    const limit = this.#limit!;
    this.#ticket = null;
    // It was counted as lost when found overdue; its room goes back once this has queued.
    limit.ended(ticket, 'neutral');
    void this.#resend(limit, ticket);
  }

  /** By when an answer to the try on the wire counts as late rather than lost: its timeout. */
  get #lateBy(): number {
    return this.#firstSentAt + this.#cfg.timeout * 2 ** this.#round;
  }

  /** Waits for room under the limit, ahead of queries not sent yet, and sends the query again. */
  async #resend(limit: AdaptiveLimit, overdue: TryTicket): Promise<void> {
    this.#resending = overdue;
    const abort = new WaitCancel();
    this.#resendWait = abort;
    try {
      await limit.gate.acquire({ signal: abort.signal, first: true });
    } catch {
      return;
    }
    // Answered, timed out or stopped meanwhile: the room goes back unused.
    if (abort.signal.aborted) {
      limit.gate.release();
      return;
    }
    this.#resendWait = null;
    if (this.#cfg.gate.covers?.() === false) {
      // Not sent again on a permit no longer covered: the try waits for its answer or timeout.
      limit.gate.release();
      return;
    }
    this.#resending = null;
    const next = limit.sent(this, true, this.#refusedBy === this.#server);
    this.#ticket = next;
    // A copy found overdue answered after all, by the try's timeout: its ticket was late.
    const by = this.#lateBy;
    this.#attempt.resend(
      () => limit.late(overdue, by),
      () => limit.late(next, by),
    );
  }

  #stopResend(): void {
    const wait = this.#resendWait;
    if (wait === null) return;
    this.#resendWait = null;
    wait.abort();
  }

  /** The try in flight ended: its server's adaptive limit counts it, and gets its room back. */
  #endTry(kind: TryKind): void {
    const ticket = this.#ticket;
    if (ticket === null) return;
    this.#ticket = null;
    this.#limit!.ended(ticket, kind);
  }

  attempted(): void {
    // The copy on the wire at the end, if it was found overdue: its copy waiting for room to go
    // again, or its ticket (sent again twice already).
    const last = this.#resending ?? (this.#ticket?.overdue === true ? this.#ticket : null);
    this.#resending = null;
    this.#stopResend();
    const attempt = this.#attempt;
    // Under the adaptive gate a REFUSED may be a full router: asked again later. It is loss
    // (congestion) unless the query was alone on its way to the server, or is refused again when
    // its last REFUSED was isolated: then it may be the server's policy, counted for nothing, and
    // final once it has said so a few times; or unless it is forgiven, within the share of tries
    // the server refuses by policy lately (see AdaptiveLimit#refusal).
    const ticket = this.#ticket;
    const adaptive = this.#cfg.limits !== undefined;
    let verdict = verdictOf(attempt, this.#cfg.tcp, adaptive);
    const refused = verdict.step === 'later';
    // (Not for a caller who left: its try counts for nothing. With no ticket, the copy found
    // overdue waiting for room: congestion, as the cuts before it stand.)
    const state = this.#state;
    const refusal =
      refused && ticket !== null && state !== LINGERING && state !== DONE
        ? this.#limit!.refusal(ticket, this.#refusedBy === this.#server ? this.#refused : null)
        : null;
    const policy = refusal === 'alone' || refusal === 'again';
    this.#refusedBy = refused ? this.#server : -1;
    this.#refused = refused ? ticket : null;
    const kind = kindOf(attempt, verdict, adaptive && (refusal === null || refusal === 'congestion'));
    // Answered on the copy found overdue last, after all: late, not dropped (whoever waits).
    if (last !== null && kind === 'answer' && attempt.answeredLast) this.#limit!.late(last, this.#lateBy);
    if (state === LINGERING) {
      // Its caller left: the try counts for neither growth nor loss.
      this.#endTry('neutral');
      this.#state = DONE;
      this.#release();
      return;
    }
    // Stopped once the attempt had ended (by a diagnostics subscriber): the owner was told.
    if (state === DONE) {
      this.#endTry('neutral');
      return;
    }
    this.#state = IDLE;
    // Refused or timed out after a copy was found overdue, whichever copy it was: lost, and the
    // cuts before it stand (a ticket on the wire not found overdue tells #endTry the same).
    if ((kind === 'loss' || kind === 'drop') && this.#firstOverdue !== null)
      this.#limit!.lost(this.#firstOverdue, kind);
    // Answered on an earlier copy: the one on the wire says nothing (the router may have dropped
    // it), and the earlier one's ticket was counted when it was found overdue.
    this.#endTry(attempt.answeredLast ? kind : 'neutral');
    if (policy && (this.#otherServer() || this.#strike(refusal))) verdict = { ...verdict, step: 'next' };
    switch (verdict.step) {
      case 'answer':
        this.#state = DONE;
        this.#release();
        this.#owner.landed(attempt.answer!, attempt.endpoint!.label);
        return;
      case 'noEdns':
        this.#payload = 0;
        this.#send();
        return;
      case 'tcp':
        this.#overTcp = true;
        this.#send();
        return;
      case 'fail':
        this.#fail(this.#error(verdict.code!, verdict.cause, attempt.endpoint!.label));
        return;
      case 'later':
        this.#later(verdict, !policy);
        return;
      default: {
        this.#failures ??= [];
        this.#failures.push(this.#error(verdict.code!, verdict.cause, attempt.endpoint!.label));
        if (verdict.step === 'next') {
          this.#done ??= new Array<boolean>(this.#cfg.servers.length).fill(false);
          this.#done[this.#server] = true;
        }
        this.#advance();
      }
    }
  }

  /**
   * Refused: give the permit back, wait a backoff (with jitter; doubling for each refusal taken
   * for congestion), and queue again for the same server; after twice `tries` refusals for
   * congestion the query fails with them.
   */
  #later(verdict: Verdict, congested: boolean): void {
    const cfg = this.#cfg;
    if (congested && ++this.#congested > 2 * cfg.tries) {
      this.#failures ??= [];
      this.#failures.push(this.#error(verdict.code!, verdict.cause, this.#attempt.endpoint!.label));
      this.#exhausted();
      return;
    }
    // Its own permit goes back; one a bulk run holds for it stays (the run gives it back when the
    // query settles): given up, the query would wait for a second one from the same gate, and a
    // run holding every permit for queries that were all refused waited forever.
    if (this.#permit === OWN) this.#release();
    this.#state = BACKOFF;
    // A few round trips of this server (its limit was just cut: the router drains meanwhile), at
    // most backoffMs; doubling for each refusal taken for congestion (not for those taken for
    // policy: the query is asked again to make sure, not into a full router).
    const rtt = this.#limit?.rtt;
    const first = rtt === undefined ? cfg.backoffMs : Math.min(cfg.backoffMs, Math.max(1, 4 * rtt));
    const base = first * 2 ** Math.max(0, this.#congested - 1);
    cfg.runtime.timers.schedule(this, base * (0.5 + Math.random()));
  }

  /** A policy REFUSED counts against the query: whether it makes the refusal final. */
  #strike(refusal: Refusal): boolean {
    this.#policyStrikes += strikeOf(refusal);
    return this.#policyStrikes >= POLICY_FINAL;
  }

  /** Whether a server other than the current one may still be asked. */
  #otherServer(): boolean {
    const n = this.#cfg.servers.length;
    for (let s = 0; s < n; s++) if (s !== this.#server && !this.#done?.[s]) return true;
    return false;
  }

  /** On to the next server not done with, this round or the next; or the query fails. */
  #advance(): void {
    const cfg = this.#cfg;
    const n = cfg.servers.length;
    const done = this.#done;
    let s = this.#server + 1;
    while (s < n && done !== null && done[s]) s++;
    if (s >= n) {
      this.#round++;
      s = 0;
      while (s < n && done !== null && done[s]) s++;
      if (this.#round >= cfg.tries || s >= n) {
        this.#exhausted();
        return;
      }
    }
    this.#server = s;
    this.#payload = cfg.udpPayload;
    this.#overTcp = cfg.tcp === 'always';
    this.#send();
  }

  /** Every server failed: the last failure names the code; all of them ride along. */
  #exhausted(): void {
    const failures = this.#failures!;
    const last = failures[failures.length - 1]!;
    this.#fail(
      new DnsError(last.code, {
        syscall: this.#job.syscall,
        hostname: this.#job.hostname,
        cause: last.cause,
        server: last.server,
        errors: failures,
      }),
    );
  }

  #fail(error: DnsError): void {
    this.#state = DONE;
    this.#release();
    this.#owner.failed(error);
  }

  /** The one place the permit goes back. */
  #release(): void {
    if (this.#permit === OWN) releaseFrom(this.#cfg.gate, this.#stopped !== undefined);
    this.#permit = NONE;
  }

  #error(code: DnsError['code'], cause?: unknown, server?: string): DnsError {
    return new DnsError(code, { syscall: this.#job.syscall, hostname: this.#job.hostname, cause, server });
  }
}

let later: Gate[] = [];

/**
 * Gives a permit back. One of a query that was given up (deadline, signal, `cancel()`) goes back
 * only after the event loop's current phase: callers that give up at the same moment (their timers
 * due in the same pass, run one by one with promise jobs in between) have all left the queue by
 * then, so the permit never goes to a waiter that is about to give up and would send a query for
 * nobody first. Between such storms and the router stands this one deferral.
 */
function releaseFrom(gate: Gate, givenUp: boolean): void {
  if (!givenUp) {
    gate.release();
    return;
  }
  if (later.length === 0) setImmediate(releaseLater);
  later.push(gate);
}

function releaseLater(): void {
  const gates = later;
  later = [];
  for (const gate of gates) gate.release();
}
