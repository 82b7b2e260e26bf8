// The adaptive gate: per server, a working limit on queries in flight that finds what the server
// (a home router) can take, between 1 and the hard ceiling the user set. Windowed AIMD as in
// Netflix concurrency-limits' AIMDLimit and Vector's adaptive request concurrency, with TCP's slow
// start and BlastDNS's loss edge: grow while answers come and the limit is actually reached, cut
// once per window on loss, and remember where loss began for a while.
import { diagnostics } from '../diagnostics.js';
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
  /** Backoff before a query refused for congestion is asked again, in ms (doubling, with jitter); default 20. */
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

/**
 * How one try ended, as the controller counts it: `answer` (NOERROR, NXDOMAIN, NODATA: feeds the
 * RTT estimate and growth), `loss` (REFUSED for congestion, a timeout, ICMP refused), `neutral`
 * (anything else: SERVFAIL, FORMERR, a caller who gave up).
 */
export type TryKind = 'answer' | 'loss' | 'neutral';

/** Why the limit moved, on `dnsgate:gate:limit`. */
export type LimitReason = 'grow' | 'cut' | 'edge-expired';

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
  /** Tries counted as loss so far (REFUSED for congestion, timeouts, ICMP refused). */
  losses: number;
  /** Cuts of the limit so far (at most one per window). */
  cuts: number;
  /** Smoothed round trip of answers, ms (undefined before the first). */
  rttMs: number | undefined;
}

/** A try in flight, as the controller tracks it (returned by {@link AdaptiveLimit.sent}). */
export interface TryTicket {
  /** The send's sequence number: tries sent before a cut cannot cut again. */
  seq: number;
  /** Queries in flight to the server with this one. */
  inFlight: number;
  sentAt: number;
}

/**
 * One server's adaptive limit and the FIFO gate that enforces it.
 *
 * @example
 * ```ts
 * const limit = new AdaptiveLimit('127.0.0.1:53', 200, ADAPTIVE_DEFAULTS, () => performance.now());
 * if (limit.gate.tryAcquire()) {
 *   const ticket = limit.sent();
 *   limit.ended(ticket, 'answer');
 *   limit.gate.release();
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
  #seq = 0;
  /** Sequence number of the send at the last cut. */
  #cutSeq = -1;
  /** Sequence number of the last send that filled the gate. */
  #fullSeq = -1;
  #inFlight = 0;
  #losses = 0;
  #cuts = 0;
  #rtt: number | undefined;
  readonly #now: () => number;

  constructor(server: string, ceiling: number, settings: AdaptiveSettings, now: () => number) {
    this.server = server;
    this.ceiling = ceiling;
    this.settings = settings;
    this.#now = now;
    this.#limit = Math.min(ceiling, settings.initial);
    this.#threshold = ceiling;
    this.gate = new Semaphore(Math.max(1, Math.floor(this.#limit)));
  }

  /** The working limit now. */
  get limit(): number {
    return this.#limit;
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

  /** A try is sent under a permit of {@link gate}. */
  sent(): TryTicket {
    const inFlight = ++this.#inFlight;
    const seq = this.#seq++;
    if (inFlight >= Math.floor(this.#limit)) this.#fullSeq = seq;
    return { seq, inFlight, sentAt: this.#now() };
  }

  /**
   * Whether a REFUSED to this try is the server's policy rather than congestion: it came while the
   * query was alone, or nearly, on its way to the server.
   */
  isPolicy(ticket: TryTicket): boolean {
    return ticket.inFlight <= 1;
  }

  /** A try ended; call once per {@link sent}. */
  ended(ticket: TryTicket, kind: TryKind): void {
    this.#inFlight--;
    this.#expireEdge();
    if (kind === 'answer') {
      const rtt = this.#now() - ticket.sentAt;
      this.#rtt = this.#rtt === undefined ? rtt : this.#rtt + (rtt - this.#rtt) / 8;
      // No growth unless the limit was reached while this try was out: a caller that sends less
      // than the limit says nothing about what the server could take.
      if (this.#fullSeq < ticket.seq || this.#limit >= this.ceiling) return;
      // Slow start: +1 per answer doubles the limit each window; above the threshold, +1 per window.
      const step = this.#limit < this.#threshold ? 1 : 1 / this.#limit;
      this.#set(Math.min(this.ceiling, this.#limit + step), 'grow');
    } else if (kind === 'loss') {
      this.#losses++;
      // At most one cut per window: tries sent before the last cut saw the old limit.
      if (ticket.seq <= this.#cutSeq) return;
      this.#cutSeq = this.#seq - 1;
      this.#cuts++;
      // Where loss began: the queries in flight when the lost one was sent (in slow start the
      // limit runs ahead of what was actually in flight), and retreat below it.
      const edge = Math.min(this.#limit, ticket.inFlight);
      this.#edge = edge;
      this.#edgeUntil = this.#now() + this.settings.edgeMs;
      const cut = Math.max(1, edge * this.settings.decrease);
      // Retreat below the edge, and grow past it only one step per window while it is remembered.
      this.#threshold = cut;
      this.#set(cut, 'cut');
    }
  }

  #expireEdge(): void {
    if (this.#edge !== undefined && this.#now() >= this.#edgeUntil) {
      this.#edge = undefined;
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
  now: () => number,
): AdaptiveLimit {
  let byServer = limitsByGate.get(gate);
  if (byServer === undefined) {
    byServer = new Map();
    limitsByGate.set(gate, byServer);
  }
  let limit = byServer.get(server);
  if (limit === undefined) {
    limit = new AdaptiveLimit(server, gate.limit, settings, now);
    limit.onChange = (value, reason) => {
      if (diagnostics.gateLimit.hasSubscribers)
        diagnostics.gateLimit.publish({ server, limit: value, reason });
    };
    byServer.set(server, limit);
  }
  return limit;
}
