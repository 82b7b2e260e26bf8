// The adaptive gate: per server, a working limit on queries in flight that finds what the server
// (a home router) can take, between 1 and the hard ceiling the user set. Windowed AIMD as in
// Netflix concurrency-limits' AIMDLimit and Vector's adaptive request concurrency, with TCP's slow
// start (ended early, as HyStart does, when answers slow down) and BlastDNS's loss edge: grow while
// answers come and the limit is actually reached, cut once per window (and RTT) on loss, and
// remember where loss began for a while.
import { diagnostics } from '../diagnostics.js';
import type { Clock, ClockTimer } from '../runtime.js';
import { Semaphore } from './semaphore.js';

/**
 * Tuning of the adaptive gate (`adaptive: { ... }`); every field is optional.
 *
 * @example
 * ```ts
 * new Resolver({ concurrency: 200, adaptive: { initial: 8, decrease: 0.7, edgeMs: 30_000 } });
 * ```
 */
export interface AdaptiveOptions {
  /** The limit to start from (slow start doubles it each window until the first loss); default 8. */
  initial?: number;
  /** The factor a loss multiplies the limit by (0.1..0.95); default 0.7. */
  decrease?: number;
  /** How long the loss edge is remembered, in ms; default 30,000. */
  edgeMs?: number;
  /**
   * Backoff before a refused query is asked again, in ms: 4 round trips of the server, at most
   * this (with jitter; doubling for each refusal not taken for the server's policy); default 20.
   */
  backoffMs?: number;
}

/** What an adaptive gate decides with, after defaults. */
export interface AdaptiveSettings {
  initial: number;
  decrease: number;
  edgeMs: number;
  backoffMs: number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveSettings = {
  initial: 8,
  decrease: 0.7,
  edgeMs: 30_000,
  backoffMs: 20,
};

/** Slow start doubles the limit at most once per this many ms (or 4 RTTs, if longer). */
const SLOW_START_PERIOD_MS = 20;
/**
 * Slow start ends, before any loss, once the least RTT of a period's answers is above this many
 * times the least of the periods before: a queue is building somewhere, and more in flight would
 * add delay rather than answers (HyStart, RFC 9406, ends TCP's slow start on the same sign).
 */
const QUEUE_RTT_RISE = 1.25;
/** ...and at least this many ms above it (timer resolution: loopback RTTs are tenths of a ms). */
const QUEUE_RTT_FLOOR_MS = 0.1;
/** RTT samples in a period before its least RTT is judged. */
const QUEUE_SAMPLES = 8;
/** The least RTT seen is forgotten after this long (the path may have changed). */
const BASE_RTT_MS = 10_000;
/** A try unanswered for longer than this, and than 2 RTT + 8 RTT deviations, counts as lost. */
const OVERDUE_FLOOR_MS = 20;
/**
 * The limit does not grow while a try has been out longer than this, and than 2 RTT + 4 RTT
 * deviations: it may have been dropped (a router that drops says nothing), and growth would run
 * the limit further past the router before the guard can tell.
 */
const HOLD_FLOOR_MS = 10;
/**
 * A try found overdue whose first copy is answered after all (see {@link AdaptiveLimit.late}) shows
 * how long answers may take: the guard and the hold stay this many times above its wait, for
 * LATE_KEPT_MS after the last such answer. A home router answers from its cache in a millisecond
 * and forwards a miss for tens or hundreds: the RTT estimate follows the many fast answers, and
 * without this every miss past the guard would be taken for a drop.
 */
const LATE_MARGIN = 1.25;
const LATE_KEPT_MS = 10_000;
/** ...and at most this: past it a try counts as dropped whatever answers came late before. */
const LATE_FLOOR_MAX_MS = 1000;
/** Cuts remembered to be taken back (see AdaptiveLimit#undo). */
const UNDO_DEPTH = 16;
/** A timer that fires this much late finds the loop was busy: it judges again a turn later. */
const LATE_MS = 5;
/**
 * RTT samples before the guard judges: the first answers of a run come from a cold path (a router
 * just started, caches empty) and say little about how long answers take.
 */
const WARM_SAMPLES = 16;
/**
 * A try dropped silently was lost at some time between its send and now: a router full when it
 * came drops the newest (it was in flight with `inFlight` others), but one that jostles (unbound,
 * past its jostle-timeout of 200 ms) drops the query it has held longest to take a new one, which
 * may have gone out long before. Sent under a cut since taken back (a limit wrongly low), its
 * `inFlight` says little of the router: the edge is then taken no lower than this share of the
 * limit (in the simulation it was 1 with the limit at 27, and the limit stayed at 1 for 5 s).
 */
const SILENT_EDGE = 0.5;
/**
 * A server is queue-bound (its own CPU the bottleneck, reading queries from a queue it does not
 * count) when its REFUSEDs, which do less work than any answer, take longer than the quickest
 * answers lately (QUEUE_BOUND_OVER_BASE times, at least: they waited in a queue) and a fair share
 * of an answer's round trip (QUEUE_BOUND_SHARE: the wait is not lost in the answers' own); the
 * median of the last QUEUE_BOUND_SAMPLES REFUSEDs (or of those there are, from the first: each
 * REFUSED waited for before judging costs the slow start's overshoot a few ms more; of two, the
 * greater, as of one), none more than QUEUE_BOUND_FORGET_MS apart.
 * dnsmasq on loopback, answering from a fast upstream, refuses past `dns-forward-max` only once
 * 24-30 are offered; its REFUSEDs take 1.8-7 times its quickest answers and a third of an answer's
 * round trip. The queries there past what it holds only wait in its queue: they add delay, not answers.
 * A router whose slots are held by its upstream refuses in a tenth of an answer's round trip or
 * less, and one a network round trip away refuses in about that round trip, under its quickest
 * answer: more in flight than it holds is then what covers the way there and back.
 */
const QUEUE_BOUND_OVER_BASE = 1.25;
const QUEUE_BOUND_SHARE = 0.2;
const QUEUE_BOUND_SAMPLES = 3;
/**
 * After a REFUSED from a queue-bound server, the limit rests at the cut (the edge times `decrease`;
 * the edge is what it held: ours sent before the refused try and still unanswered when its REFUSED
 * came, the most of this run of REFUSEDs, as one reading may be low: answers sent after a REFUSED
 * may be read before it, from other sockets; and at least QUEUE_BOUND_LOW of what was in flight
 * with the REFUSED that began the run) for this long, rather than probing past the edge a window at
 * a time: each probe runs a third past the router's number before the first REFUSED says so. At
 * the cut, not just under the edge: a queue-bound server answers no faster for more in flight than
 * keeps it busy (dnsmasq on loopback: fixed 12, 16 and 20 took the same time), and readings run
 * high as well as low (answers it sent before a REFUSED are read after it: 24-40 in a slow start's
 * burst, holding 20), so that resting just under an edge read high held it past its number, where
 * it refuses seldom, for hundreds of ms (p95 held 21-22 in about one run in twelve).
 */
const QUEUE_BOUND_REST_MS = 1000;
/**
 * dnsmasq on loopback behind a relay, `dns-forward-max` 20: in 38 runs the first reading was
 * 6-32 (median 21), a third of them under 15, with 21-37 in flight. The least share of what was
 * in flight with the first REFUSED that the router is taken to have held.
 */
const QUEUE_BOUND_LOW = 0.5;
/**
 * REFUSEDs this far apart are from different runs of refusals: whether the server is queue-bound
 * is judged afresh. Longer than the rest, so that the probe after a rest is judged with the
 * readings before it.
 */
const QUEUE_BOUND_FORGET_MS = 5000;
/** Tries found overdue, within DROPPING_MS of one another, that count as drops beyond doubt. */
const DROP_BATCH = 3;
/**
 * A REFUSED is isolated when the first try sent after it to end (but for queries asked again after
 * a REFUSED) is answered: a router full of our queries refuses in runs (the room a REFUSED gives
 * back here is sent into at once, while the router is still full), and a name it refuses by policy
 * is refused whatever the load, between answers. A query refused again after an isolated REFUSED
 * is policy (as one refused while alone); those are counted over this many sends: their share of
 * the tries is what the server refuses whatever its load, and a REFUSED with company below the
 * edge is forgiven (counted for nothing) while that share accrues credit for one (see
 * AdaptiveLimit#refusal). A router that blocks 2% of names by policy had its limit cut at each of
 * them before, down to 1 (the simulation's 05-policy: 1.75-1.96x the ideal time; now 1.28-1.34x).
 */
const POLICY_HORIZON = 1000;
/** The credit accrues at the share measured... */
const POLICY_MARGIN = 1.5;
/** ...up to this many REFUSEDs: a full router refuses more at once, and they cut. */
const POLICY_CREDIT_MAX = 3;
/** REFUSEDs waiting to be judged isolated, at most (a server refusing everything makes many). */
const ISOLATING_MAX = 64;
/** How long the server counts as dropping after the last drop beyond doubt. */
const DROPPING_MS = 3000;
/** The guard is looked at again at least this often while tries are out. */
const RECHECK_MS = 25;

/**
 * How one try ended, as the controller counts it: `answer` (NOERROR, NXDOMAIN, NODATA: feeds the
 * RTT estimate and growth), `loss` (REFUSED for congestion, ICMP refused: the server said so at
 * once), `drop` (a timeout: the server said nothing, and the query lost seconds), `neutral`
 * (anything else: SERVFAIL, FORMERR, a caller who gave up).
 */
export type TryKind = 'answer' | 'loss' | 'drop' | 'neutral';

/** How a REFUSED counts, as {@link AdaptiveLimit.refusal} reads it. */
export type Refusal = 'alone' | 'again' | 'forgiven' | 'congestion';

/** Why the limit moved, on `dnsgate:gate:limit`. */
export type LimitReason = 'grow' | 'cut' | 'undo' | 'edge-expired';

/**
 * A snapshot of one server's adaptive gate.
 *
 * @example
 * ```ts
 * for (const { server, limit, edge, losses, rttMs } of resolver.limits) console.log(server, limit);
 * ```
 */
export interface LimitView {
  /** `host:port`. */
  server: string;
  /** The working limit now (queries in flight to this server). */
  limit: number;
  /** The hard ceiling (`concurrency`). */
  ceiling: number;
  /** The limit at which loss last began, while it is remembered. */
  edge: number | undefined;
  inFlight: number;
  /**
   * Tries counted as loss so far (REFUSED for congestion, timeouts, ICMP refused, tries found
   * overdue), less those found overdue that turned out late.
   */
  losses: number;
  /** Cuts of the limit so far (at most one per window), less those taken back. */
  cuts: number;
  /** Smoothed round trip of answers, ms (undefined before the first). */
  rttMs: number | undefined;
}

/**
 * Told when its try is found overdue (presumed dropped): the try loop sends the query again, on
 * the same socket under a new ID, once the limit has room (and calls {@link AdaptiveLimit.late} if
 * the first copy is answered after all).
 */
export interface OverdueListener {
  overdue(ticket: TryTicket): void;
}

/** A try in flight, as the controller tracks it (returned by {@link AdaptiveLimit.sent}). */
export interface TryTicket {
  /** The send's sequence number: tries sent before a cut cannot cut again. */
  seq: number;
  /**
   * Counted as lost already, because it was overdue (see {@link AdaptiveLimit}); its permit of the
   * gate went back then (the server no longer holds it).
   */
  overdue: boolean;
  /** Neighbours among the tries in flight, oldest first. */
  prev: TryTicket | null;
  next: TryTicket | null;
  /** Queries in flight to the server with this one. */
  inFlight: number;
  sentAt: number;
  /** Whom to tell when it is found overdue. */
  owner: OverdueListener | null;
  /**
   * A retransmission of a try presumed dropped: its answer may be the first send's, so its RTT is
   * no sample (Karn's rule).
   */
  retransmit: boolean;
  /** Counted as lost after the cut numbered this (see AdaptiveLimit#undo); -1 if not counted. */
  lostAfter: number;
  /** Found overdue and then answered on its copy after all (see {@link AdaptiveLimit.late}). */
  late: boolean;
  /** The run of tries found overdue it was counted in (AdaptiveLimit#overdueBatch). */
  batch: number;
  /** The newest cut that may be taken back in force at its send (see SILENT_EDGE). */
  under: CutUndo | null;
  /**
   * Refused: whether the first try sent after its REFUSED to end was answered (see
   * POLICY_HORIZON); and whether its query's try before it was refused by this server too.
   */
  isolated: boolean | undefined;
  afterRefused: boolean;
}

/** What a cut changed, to take it back (see {@link AdaptiveLimit.late}). */
interface CutUndo {
  /** The cut's number (AdaptiveLimit#cutNo). */
  no: number;
  /** Tries counted as lost since the cut, the one it was for among them, not yet found late. */
  open: number;
  limit: number;
  threshold: number;
  edge: number | undefined;
  edgeUntil: number;
  cutSeq: number;
  cutAt: number;
  cutEdge: number;
  /** Taken back (see AdaptiveLimit#late). */
  undone: boolean;
}

/**
 * One server's adaptive limit and the FIFO gate that enforces it.
 *
 * @example
 * ```ts
 * const limit = new AdaptiveLimit('127.0.0.1:53', 200, ADAPTIVE_DEFAULTS, realRuntime.clock);
 * if (limit.gate.tryAcquire()) {
 *   const ticket = limit.sent();
 *   limit.ended(ticket, 'answer'); // gives the permit back
 * }
 * ```
 */
export class AdaptiveLimit {
  readonly server: string;
  readonly ceiling: number;
  /** Enforces floor(limit): holders are never preempted when it shrinks. */
  readonly gate: Semaphore;
  readonly settings: AdaptiveSettings;
  /** Told when the limit changes (diagnostics). */
  onChange: ((limit: number, reason: LimitReason) => void) | null = null;
  #limit: number;
  /** Slow start runs below this; congestion avoidance (+1 per window) above it. */
  #threshold: number;
  #edge: number | undefined;
  #edgeUntil = 0;
  /**
   * Until when the server counts as dropping: set for DROPPING_MS by a try that timed out, or by
   * DROP_BATCH tries found overdue within DROPPING_MS of one another (one may only be late).
   * Meanwhile the limit stays below the edge and steps up at most once per hold time: each probe
   * past the edge costs queries a guard time or seconds. It lapses, rather than lasting as long as
   * the edge, so that late answers on a busy machine cannot hold the limit down for long.
   */
  #droppingUntil = Number.NEGATIVE_INFINITY;
  /** Until when the limit rests below the edge after a REFUSED from a queue-bound server. */
  #restingUntil = Number.NEGATIVE_INFINITY;
  /**
   * The last few congestion REFUSEDs, oldest first: each one's round trip over the answers' and
   * over the quickest answers' (see QUEUE_BOUND_SHARE); and when the last came.
   */
  #refusedShares: number[] = [];
  #refusedOverBase: number[] = [];
  #refusedAt = Number.NEGATIVE_INFINITY;
  /**
   * This run of REFUSEDs, since the last cut: the most of ours ahead of a refused try (with it),
   * what was in flight with the one that began it, and the cut (#cutNo) it belongs to.
   */
  #refusedAhead = 0;
  #refusedInFlight = 0;
  #refusedRun = 0;
  /** Tries found overdue lately (reset DROPPING_MS after the last), and when the last was. */
  #overdueSeen = 0;
  #overdueAt = Number.NEGATIVE_INFINITY;
  /** Numbers the runs of #overdueSeen (a new one each time it starts again from 0). */
  #overdueBatch = 0;
  #seq = 0;
  /**
   * Policy REFUSEDs among the last POLICY_HORIZON sends (the send count at each, oldest first); the
   * credit they give (REFUSEDs to forgive), and the send count it was worked out at.
   */
  #policySeqs: number[] = [];
  #credit = 0;
  #creditSeq = 0;
  /** REFUSEDs whose isolation is not known yet, oldest first, and the send count at each. */
  #isolating: TryTicket[] = [];
  #isolatingSeq: number[] = [];
  /** Sequence number of the send at the last cut. */
  #cutSeq = -1;
  /** When the last cut was. */
  #cutAt = Number.NEGATIVE_INFINITY;
  /** The last cut's edge, but for what a queue-bound server held (see #heldEdge). */
  #cutEdge = Number.POSITIVE_INFINITY;
  /**
   * Cuts taken, numbered (not less those taken back); and how to take back the latest ones caused
   * by tries found overdue (a stack, newest last, of at most UNDO_DEPTH).
   */
  #cutNo = 0;
  #undo: CutUndo[] = [];
  /** Until when the server counts as dropping for a try that timed out (see #droppingUntil). */
  #timedOutUntil = Number.NEGATIVE_INFINITY;
  /** The least the guard and the hold may be, from tries that came late (see LATE_MARGIN). */
  #lateFloor = 0;
  #lateAt = Number.NEGATIVE_INFINITY;
  /** Sequence number of the last send that filled the gate. */
  #fullSeq = -1;
  #inFlight = 0;
  #losses = 0;
  #cuts = 0;
  #rtt: number | undefined;
  /** RTT samples taken. */
  #samples = 0;
  /** Mean deviation of answers' RTT (as TCP's RTTVAR, RFC 6298). */
  #rttVar = 0;
  /** Tries in flight, linked oldest to newest: the newest, and the oldest not yet found overdue. */
  #newest: TryTicket | null = null;
  #watch: TryTicket | null = null;
  /** Slow start doubles the limit at most once per period: the limit and time it began at. */
  #periodBase: number;
  #periodStart = 0;
  /**
   * RTT periods (as long as slow start's): when this one began, the least RTT sample in it and how
   * many; the least of the last period (if it had enough), and the least of all lately and when.
   */
  #rttPeriodStart = 0;
  #periodMinRtt = Number.POSITIVE_INFINITY;
  #periodSamples = 0;
  #lastMinRtt = Number.POSITIVE_INFINITY;
  #baseRtt = Number.POSITIVE_INFINITY;
  #baseRttAt = 0;
  /** When the limit last stepped up a whole query below a dropping edge. */
  #steppedAt = Number.NEGATIVE_INFINITY;
  readonly #clock: Clock;
  /** Armed while a try is out that is not yet overdue: a drop must be seen even when nothing else happens. */
  #timer: ClockTimer | undefined;
  /** When the timer was meant to fire. */
  #timerDue = 0;
  /**
   * When the timer last found the event loop busy (it fired late): a try sent before then was out
   * across the stall, and its round trip says more about the loop than about the server.
   */
  #stalledAt = -1;
  readonly #recheck = () => {
    this.#timer = undefined;
    // Fired late, the event loop was busy (a burst of calls made, a GC): answers may be waiting
    // unread in the socket. Judge once they are read, on a turn of the loop that runs on time.
    const now = this.#clock.now();
    if (now - this.#timerDue > LATE_MS) {
      this.#stalledAt = now;
      this.#arm(1);
      return;
    }
    this.#checkOverdue();
  };

  constructor(server: string, ceiling: number, settings: AdaptiveSettings, clock: Clock) {
    this.server = server;
    this.ceiling = ceiling;
    this.settings = settings;
    this.#clock = clock;
    this.#limit = Math.min(ceiling, settings.initial);
    this.#periodBase = this.#limit;
    this.#threshold = ceiling;
    this.gate = new Semaphore(Math.max(1, Math.floor(this.#limit)));
  }

  /** The working limit now. */
  get limit(): number {
    return this.#limit;
  }

  /** Whether the server counts as dropping now (see #droppingUntil). */
  get dropping(): boolean {
    return this.#clock.now() < this.#droppingUntil;
  }

  /** Smoothed round trip of answers, ms (undefined before the first). */
  get rtt(): number | undefined {
    return this.#rtt;
  }

  get view(): LimitView {
    this.#expireEdge();
    return {
      server: this.server,
      limit: Math.floor(this.#limit),
      ceiling: this.ceiling,
      edge: this.#edge === undefined ? undefined : Math.floor(this.#edge),
      inFlight: this.#inFlight,
      losses: this.#losses,
      cuts: this.#cuts,
      rttMs: this.#rtt,
    };
  }

  /**
   * A try is sent under a permit of {@link gate}; `owner` is told if it is found overdue.
   * `afterRefused`: its query's try before it was refused by this server.
   */
  sent(owner: OverdueListener | null = null, retransmit = false, afterRefused = false): TryTicket {
    const inFlight = ++this.#inFlight;
    const seq = this.#seq++;
    if (inFlight >= Math.floor(this.#limit)) this.#fullSeq = seq;
    const ticket: TryTicket = {
      seq,
      inFlight,
      sentAt: this.#clock.now(),
      overdue: false,
      prev: this.#newest,
      next: null,
      owner,
      retransmit,
      lostAfter: -1,
      late: false,
      batch: -1,
      under: this.#undo[this.#undo.length - 1] ?? null,
      isolated: undefined,
      afterRefused,
    };
    if (this.#newest !== null) this.#newest.next = ticket;
    this.#newest = ticket;
    this.#watch ??= ticket;
    if (this.#timer === undefined) this.#armFor(this.#watch);
    return ticket;
  }

  /**
   * Whether a REFUSED to this try is the server's policy rather than congestion: it came while the
   * query was alone, or nearly, on its way to the server.
   */
  isPolicy(ticket: TryTicket): boolean {
    return ticket.inFlight <= 1;
  }

  /**
   * How a REFUSED to this try counts: `alone` or `again`, policy (the server refuses the name
   * whatever its load: the try was alone on its way, see {@link isPolicy}; or the query's REFUSED
   * before this one, `previous`, was isolated, see POLICY_HORIZON), `forgiven` (below the edge,
   * within the share of tries the server has refused by policy lately: counted for nothing, while
   * credit lasts), or `congestion` (loss: call {@link ended} with `loss`).
   */
  refusal(ticket: TryTicket, previous: TryTicket | null): Refusal {
    this.#accrue();
    // (At most ISOLATING_MAX judged at once: the oldest is let go, not isolated.)
    if (this.#isolating.length === ISOLATING_MAX) {
      this.#isolating.shift()!.isolated = false;
      this.#isolatingSeq.shift();
    }
    this.#isolating.push(ticket);
    this.#isolatingSeq.push(this.#seq);
    const policy = this.isPolicy(ticket) ? 'alone' : previous?.isolated === true ? 'again' : undefined;
    if (policy !== undefined) {
      this.#policySeqs.push(this.#seq);
      return policy;
    }
    // Not at or past the edge, where congestion began: a full router refuses there.
    this.#expireEdge();
    const below = this.#edge === undefined || ticket.inFlight < this.#edge;
    if (ticket.overdue || !below || this.#credit < 1) return 'congestion';
    this.#credit--;
    return 'forgiven';
  }

  /** A try sent after REFUSEDs waiting to be judged ended: answered, they were isolated. */
  #isolate(ticket: TryTicket, answered: boolean): void {
    const pending = this.#isolating;
    const seqs = this.#isolatingSeq;
    while (seqs.length > 0 && seqs[0]! <= ticket.seq) {
      const refused = pending.shift()!;
      seqs.shift();
      refused.isolated = answered;
    }
  }

  /** Credit for the sends since the last look, at the policy share lately (see POLICY_HORIZON). */
  #accrue(): void {
    const seqs = this.#policySeqs;
    while (seqs.length > 0 && seqs[0]! <= this.#seq - POLICY_HORIZON) seqs.shift();
    const share = seqs.length / Math.min(POLICY_HORIZON, Math.max(1, this.#seq));
    this.#credit = Math.min(
      POLICY_CREDIT_MAX,
      this.#credit + POLICY_MARGIN * share * (this.#seq - this.#creditSeq),
    );
    this.#creditSeq = this.#seq;
  }

  /** A try ended: counted, and its permit of {@link gate} given back; call once per {@link sent}. */
  ended(ticket: TryTicket, kind: TryKind): void {
    // (Before it leaves the list: what was ahead of it.)
    const queueBound = kind === 'loss' && !ticket.overdue && this.#refused(ticket);
    this.#unlink(ticket);
    if (!ticket.overdue) {
      this.#inFlight--;
      this.gate.release();
    }
    this.#expireEdge();
    // (A query asked again after a REFUSED says nothing of the REFUSEDs before it: it goes ahead of
    // queries not sent yet, so the first sent after a run of REFUSEDs are those asked again; a
    // policy name is refused each time, and the last of a run are policy names asked again.)
    if (this.#isolatingSeq.length > 0 && kind !== 'neutral' && !ticket.afterRefused)
      this.#isolate(ticket, kind === 'answer');
    // Its query is done with it (a ticket waiting to be judged isolated need not hold it).
    ticket.owner = null;
    if (kind === 'answer') {
      const now = this.#clock.now();
      const rtt = now - ticket.sentAt;
      if (ticket.retransmit || ticket.sentAt < this.#stalledAt) {
        // No sample: the answer may be to the first send, or the loop was busy meanwhile.
      } else {
        if (this.#rtt === undefined) {
          this.#rtt = rtt;
          this.#rttVar = rtt / 2;
          this.#samples = 1;
        } else {
          this.#rttVar += (Math.abs(rtt - this.#rtt) - this.#rttVar) / 4;
          this.#rtt += (rtt - this.#rtt) / 8;
          this.#samples++;
        }
        this.#noteRtt(now, rtt);
      }
      // No growth unless the limit was reached while this try was out (a caller that sends less
      // than the limit says nothing about what the server could take), nor from a late answer.
      // Below an edge where tries were dropped (timed out, or found overdue several times), the
      // limit keeps under the edge for a while; where a queue-bound server refused, at the cut
      // (see QUEUE_BOUND_REST_MS).
      const dropping = now < this.#droppingUntil && this.#edge !== undefined;
      const resting = now < this.#restingUntil && this.#edge !== undefined;
      const cap = dropping
        ? Math.max(1, Math.ceil(this.#edge!) - 1)
        : resting
          ? Math.max(1, Math.ceil(this.#edge! * this.settings.decrease))
          : this.ceiling;
      if (ticket.overdue || this.#fullSeq < ticket.seq || this.#limit >= cap) return;
      const watch = this.#watch;
      const hold = Math.max(HOLD_FLOOR_MS, 2 * (this.#rtt ?? 0) + 4 * this.#rttVar, this.#lateBound(now));
      if (watch !== null && now - watch.sentAt > hold) return;
      if (this.#limit < this.#threshold) {
        if (this.#queueing) {
          // Past the knee: slow start ends here, before the loss; growth goes on a window at a time.
          this.#threshold = this.#limit;
          return;
        }
        // Slow start: +1 per answer, doubling the limit once per period of a few RTTs, spread over
        // the period rather than at its start. A router that drops says nothing until the try's
        // timeout; what stops growth is the hold above, a hold time after the first drop, and the
        // limit must not have doubled by then (it did at once, in the first answers of a period).
        const period = this.#period(now);
        if (now - this.#periodStart >= period) {
          this.#periodStart = now;
          this.#periodBase = this.#limit;
        }
        const due = Math.ceil(this.#periodBase * (1 + Math.min(1, (now - this.#periodStart) / period)));
        const limit = Math.min(cap, this.#limit + 1, Math.max(this.#limit, due));
        if (limit > this.#limit) this.#set(limit, 'grow');
        return;
      }
      // Past the threshold: +1 per window; below a dropping edge, also at most one whole step per
      // hold time, for the same reason (at loopback speed a window is a millisecond, and several
      // steps ran past the router before the first one's drop held growth).
      if (dropping && now - this.#steppedAt < hold) return;
      const limit = Math.min(cap, this.#limit + 1 / this.#limit);
      if (Math.floor(limit) > Math.floor(this.#limit)) this.#steppedAt = now;
      this.#set(limit, 'grow');
    } else if (kind === 'drop' || kind === 'loss') {
      // (A try found overdue was counted as lost then; its timeout only confirms the drop.)
      if (ticket.overdue) this.lost(ticket, kind);
      else {
        if (kind === 'drop') this.#timedOut();
        this.#loss(ticket, kind === 'drop', queueBound);
      }
    }
  }

  /**
   * A REFUSED (or ICMP refused) to a try in flight: notes how long it took against the answers'
   * round trips, and what was ahead of it. Whether the server is queue-bound (see
   * QUEUE_BOUND_SHARE).
   */
  #refused(ticket: TryTicket): boolean {
    const now = this.#clock.now();
    // No reading from a try out across a stall of the loop, nor before answers have a round trip.
    if (!(this.#rtt! > 0) || ticket.sentAt < this.#stalledAt) return false;
    const shares = this.#refusedShares;
    const overBase = this.#refusedOverBase;
    // Readings from an earlier run of refusals say nothing of this one.
    if (now - this.#refusedAt > QUEUE_BOUND_FORGET_MS) shares.length = overBase.length = 0;
    this.#refusedAt = now;
    let count = 1;
    for (let t = ticket.prev; t !== null; t = t.prev) if (!t.overdue) count++;
    // The most of this run of REFUSEDs: answers the server sent after a REFUSED may be read before
    // it, from other sockets, so one reading may be low (by half, on loopback), never high by more
    // than the answers on their way. A REFUSED that may cut begins a run, under the cut it makes
    // (see #loss); one that may not, after a cut that no REFUSED began (a timeout, a try found
    // overdue) or from before a stall, begins one under that cut, with what the cut was for.
    if (this.#canCut(ticket)) {
      this.#refusedRun = this.#cutNo + 1;
      this.#refusedAhead = count;
      this.#refusedInFlight = ticket.inFlight;
    } else if (this.#refusedRun !== this.#cutNo) {
      this.#refusedRun = this.#cutNo;
      this.#refusedAhead = count;
      this.#refusedInFlight = this.#cutEdge;
    } else this.#refusedAhead = Math.max(this.#refusedAhead, count);
    const took = now - ticket.sentAt;
    shares.push(took / this.#rtt!);
    overBase.push(took / this.#baseRtt);
    if (shares.length > QUEUE_BOUND_SAMPLES) {
      shares.shift();
      overBase.shift();
    }
    return median(shares) >= QUEUE_BOUND_SHARE && median(overBase) >= QUEUE_BOUND_OVER_BASE;
  }

  /**
   * The edge of a queue-bound server: what it held when it refused lately (see
   * QUEUE_BOUND_REST_MS), never more than the last cut's edge.
   */
  #heldEdge(): number {
    const held = Math.max(1, this.#refusedAhead - 1, QUEUE_BOUND_LOW * this.#refusedInFlight);
    return Math.min(this.#cutEdge, held);
  }

  /**
   * Whether a loss of this try may cut the limit: at most one cut per window, as tries sent before
   * the last cut saw the old limit, and so did tries sent within an RTT of it (a REFUSED comes back
   * at once, and the room it leaves here is sent into at once, while the server still holds what
   * the cut was for).
   */
  #canCut(ticket: TryTicket): boolean {
    return ticket.seq > this.#cutSeq && ticket.sentAt >= this.#cutAt + (this.#rtt ?? 0);
  }

  /**
   * A try found overdue (its ticket ended or not) was lost after all: refused, or it timed out.
   * It never turns late, and the cuts before it stand.
   */
  lost(ticket: TryTicket, kind: 'loss' | 'drop'): void {
    if (!ticket.overdue) return;
    if (kind === 'drop') this.#timedOut();
    this.#undo.length = 0;
  }

  #timedOut(): void {
    this.#timedOutUntil = this.#clock.now() + DROPPING_MS;
    this.#droppingUntil = Math.max(this.#droppingUntil, this.#timedOutUntil);
  }

  /**
   * A try found overdue was answered on its own copy after all, by `by` (its timeout): the copy
   * sent again went under another ID, or had not gone yet. It was late, not dropped: it no longer
   * counts as lost, nor towards a router dropping; once every try counted lost since a cut has
   * turned out late, the cut is taken back, newest first (as TCP's Eifel response, RFC 4015,
   * undoes a spurious timeout's); and the guard and the hold stay above how long it took (at most
   * LATE_FLOOR_MAX_MS), for a while. Once per ticket.
   */
  late(ticket: TryTicket, by = Number.POSITIVE_INFINITY): void {
    const now = this.#clock.now();
    if (!ticket.overdue || ticket.late || now >= by) return;
    ticket.late = true;
    this.#lateFloor = Math.min(
      LATE_FLOOR_MAX_MS,
      Math.max(this.#lateBound(now), LATE_MARGIN * (now - ticket.sentAt)),
    );
    this.#lateAt = now;
    this.#losses--;
    // (Only if it counted towards the tries found overdue lately.)
    if (ticket.batch === this.#overdueBatch && this.#overdueSeen > 0) this.#overdueSeen--;
    // Fewer than DROP_BATCH left: dropping only as long as a timeout says.
    if (this.#overdueSeen < DROP_BATCH) this.#droppingUntil = this.#timedOutUntil;
    const stack = this.#undo;
    const record = stack.find((r) => r.no === ticket.lostAfter);
    if (record === undefined || --record.open > 0) return;
    // Cuts are taken back newest first: one under a cut that stands stays until that one goes.
    let top = stack[stack.length - 1];
    let limit = this.#limit;
    while (top !== undefined && top.open === 0) {
      stack.pop();
      top.undone = true;
      this.#cuts--;
      this.#threshold = top.threshold;
      this.#edge = top.edge;
      this.#edgeUntil = top.edgeUntil;
      this.#cutSeq = top.cutSeq;
      this.#cutAt = top.cutAt;
      this.#cutEdge = top.cutEdge;
      limit = Math.max(limit, top.limit);
      top = stack[stack.length - 1];
    }
    if (limit > this.#limit) this.#set(limit, 'undo');
  }

  /** The least the guard and the hold may be now, from late answers (0 once forgotten). */
  #lateBound(now: number): number {
    return now - this.#lateAt > LATE_KEPT_MS ? 0 : this.#lateFloor;
  }

  /** An RTT sample, for the end of slow start: least per period, and least of all lately. */
  #noteRtt(now: number, rtt: number): void {
    if (now - this.#rttPeriodStart >= this.#period(now)) {
      this.#rttPeriodStart = now;
      this.#lastMinRtt = this.#periodSamples >= QUEUE_SAMPLES ? this.#periodMinRtt : Number.POSITIVE_INFINITY;
      if (this.#lastMinRtt <= this.#baseRtt || now - this.#baseRttAt > BASE_RTT_MS) {
        this.#baseRtt = this.#lastMinRtt;
        this.#baseRttAt = now;
      }
      this.#periodMinRtt = Number.POSITIVE_INFINITY;
      this.#periodSamples = 0;
    }
    this.#periodMinRtt = Math.min(this.#periodMinRtt, rtt);
    this.#periodSamples++;
  }

  /** Slow start's doubling period, and the period of the RTT samples: 20 ms, 4 RTTs, or the late floor. */
  #period(now: number): number {
    // And no shorter than the guard's late floor: a drop is seen that long after the send, and
    // the limit must not have doubled more than once by then.
    return Math.max(SLOW_START_PERIOD_MS, 4 * (this.#rtt ?? 0), this.#lateBound(now));
  }

  /** Whether recent answers come late enough that a queue is building at the server. */
  get #queueing(): boolean {
    const recent = this.#periodSamples >= QUEUE_SAMPLES ? this.#periodMinRtt : this.#lastMinRtt;
    const base = this.#baseRtt;
    return (
      recent !== Number.POSITIVE_INFINITY &&
      recent > Math.max(QUEUE_RTT_RISE * base, base + QUEUE_RTT_FLOOR_MS)
    );
  }

  /** How long a try may go unanswered before it counts as dropped. */
  get #guard(): number {
    return Math.max(
      OVERDUE_FLOOR_MS,
      2 * (this.#rtt ?? 0) + 8 * this.#rttVar,
      this.#lateBound(this.#clock.now()),
    );
  }

  #armFor(ticket: TryTicket | null): void {
    if (ticket === null) return;
    // At least every RECHECK_MS: the guard shrinks as fresh RTT samples come in.
    this.#arm(Math.min(RECHECK_MS, Math.max(1, ticket.sentAt + this.#guard - this.#clock.now() + 1)));
  }

  #arm(ms: number): void {
    this.#timerDue = this.#clock.now() + ms;
    const timer = this.#clock.setTimeout(this.#recheck, ms);
    timer.unref?.();
    this.#timer = timer;
  }

  /**
   * RTT as a guard: a try in flight that has gone unanswered for far longer than answers take (a
   * router that drops when full says nothing until the try's timeout, seconds later) is counted as
   * lost now, by a timer, so also when nothing else happens. The query itself still waits for its
   * answer or its timeout.
   */
  #checkOverdue(): void {
    if (this.#samples < WARM_SAMPLES) {
      this.#armFor(this.#watch);
      return;
    }
    const guard = this.#guard;
    const now = this.#clock.now();
    let found: TryTicket[] | null = null;
    for (let oldest = this.#watch; oldest !== null && now - oldest.sentAt > guard; oldest = this.#watch) {
      oldest.overdue = true;
      this.#watch = oldest.next;
      // Dropped, by all signs: it no longer takes room at the server, nor under the limit.
      this.#inFlight--;
      found ??= [];
      found.push(oldest);
    }
    if (found !== null) {
      // Oldest first: the cut (one per window) is taken where the drops began.
      for (const ticket of found) this.#loss(ticket, true);
      // Several, at once or one at each probe past the edge, is a router dropping, not one late
      // answer: keep below the edge, as after a timeout.
      if (now - this.#overdueAt > DROPPING_MS) {
        this.#overdueSeen = 0;
        this.#overdueBatch++;
      }
      for (const ticket of found) ticket.batch = this.#overdueBatch;
      this.#overdueSeen += found.length;
      this.#overdueAt = now;
      if (this.#overdueSeen >= DROP_BATCH) this.#droppingUntil = now + DROPPING_MS;
      // Their queries queue to be sent again, oldest first and ahead of new ones; then their
      // room under the (cut) limit goes back, to them first.
      for (const ticket of found) ticket.owner?.overdue(ticket);
      for (let i = 0; i < found.length; i++) this.gate.release();
    }
    // Look again when the oldest try still out would be overdue.
    if (this.#timer === undefined) this.#armFor(this.#watch);
  }

  #unlink(ticket: TryTicket): void {
    if (this.#watch === ticket) this.#watch = ticket.next;
    if (ticket.prev !== null) ticket.prev.next = ticket.next;
    if (ticket.next === null) this.#newest = ticket.prev;
    else ticket.next.prev = ticket.prev;
    ticket.prev = ticket.next = null;
  }

  /**
   * A try was lost: the limit is cut, at most once per window. `silent`: dropped (found overdue, or
   * timed out) rather than refused, so when the router was full is not known (see SILENT_EDGE).
   * `queueBound`: refused by a queue-bound server (see QUEUE_BOUND_SHARE).
   */
  #loss(ticket: TryTicket, silent: boolean, queueBound = false): void {
    this.#losses++;
    if (queueBound) this.#restingUntil = this.#clock.now() + QUEUE_BOUND_REST_MS;
    // A loss that cannot turn out late (a REFUSED, a timeout) holds every cut before it.
    if (!ticket.overdue) this.#undo.length = 0;
    const stack = this.#undo;
    if (!this.#canCut(ticket)) {
      // No second cut; but a queue-bound server held what the most of this run of REFUSEDs says
      // (more than the first reading, if that one was low; fewer than the cut's edge, if the
      // server could not be told queue-bound at the cut; never more than the cut's edge), and
      // growth stops below that (a dropping server's cap moves with it). (Not
      // bounded by what this try had in flight with it: a query asked again after a backoff goes
      // out nearly alone, into a router still full of the others. The limit itself is not brought
      // down to it: tried, that left limits of 8-16 in some runs, and slowed two clients sharing a
      // router.)
      if (queueBound && this.#edge !== undefined) this.#edge = this.#heldEdge();
      // The last cut stands unless this one too turns out late.
      const top = stack[stack.length - 1];
      if (top !== undefined) {
        ticket.lostAfter = top.no;
        top.open++;
      }
      return;
    }
    const no = ++this.#cutNo;
    if (ticket.overdue) {
      ticket.lostAfter = no;
      if (stack.length === UNDO_DEPTH) stack.shift();
      stack.push({
        no,
        open: 1,
        limit: this.#limit,
        threshold: this.#threshold,
        edge: this.#edge,
        edgeUntil: this.#edgeUntil,
        cutSeq: this.#cutSeq,
        cutAt: this.#cutAt,
        cutEdge: this.#cutEdge,
        undone: false,
      });
    }
    this.#cutSeq = this.#seq - 1;
    this.#cutAt = this.#clock.now();
    this.#cuts++;
    // Where loss began: the queries in flight when the lost one was sent (in slow start the
    // limit runs ahead of what was actually in flight), and retreat below it. A queue-bound
    // server held only those of them still ahead of the refused one when it refused (see #heldEdge).
    this.#cutEdge = Math.min(
      this.#limit,
      silent && ticket.under?.undone === true
        ? Math.max(ticket.inFlight, SILENT_EDGE * this.#limit)
        : ticket.inFlight,
    );
    const edge = queueBound ? this.#heldEdge() : this.#cutEdge;
    this.#edge = edge;
    this.#edgeUntil = this.#clock.now() + this.settings.edgeMs;
    const cut = Math.max(1, edge * this.settings.decrease);
    // Retreat below the edge, and grow past it only one step per window while it is remembered.
    this.#threshold = cut;
    this.#set(cut, 'cut');
  }

  #expireEdge(): void {
    if (this.#edge !== undefined && this.#clock.now() >= this.#edgeUntil) {
      this.#edge = undefined;
      this.#droppingUntil = Number.NEGATIVE_INFINITY;
      this.#restingUntil = Number.NEGATIVE_INFINITY;
      this.#timedOutUntil = Number.NEGATIVE_INFINITY;
      this.#threshold = this.ceiling;
      this.onChange?.(Math.floor(this.#limit), 'edge-expired');
    }
  }

  #set(limit: number, reason: LimitReason): void {
    const before = Math.floor(this.#limit);
    this.#limit = limit;
    const after = Math.max(1, Math.floor(limit));
    if (after !== before) {
      this.gate.limit = after;
      this.onChange?.(after, reason);
    }
  }
}

/** The median of a few numbers (the upper one of an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

const limitsByGate = new WeakMap<object, Map<string, AdaptiveLimit>>();

/**
 * The adaptive limit of `server` under `gate`, made on first use: resolvers that share a gate
 * share each server's limit, as they share the router behind it. Its ceiling is the gate's limit
 * when it is made.
 */
export function adaptiveLimitFor(
  gate: { readonly limit: number },
  server: string,
  settings: AdaptiveSettings,
  clock: Clock,
): AdaptiveLimit {
  let byServer = limitsByGate.get(gate);
  if (byServer === undefined) {
    byServer = new Map();
    limitsByGate.set(gate, byServer);
  }
  let limit = byServer.get(server);
  if (limit === undefined) {
    limit = new AdaptiveLimit(server, gate.limit, settings, clock);
    limit.onChange = (value, reason) => {
      if (diagnostics.gateLimit.hasSubscribers)
        diagnostics.gateLimit.publish({ server, limit: value, reason });
    };
    byServer.set(server, limit);
  }
  return limit;
}
