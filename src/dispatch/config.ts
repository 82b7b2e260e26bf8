// What the try loop and its attempts know about their resolver, fixed when a query starts.
import type { AdaptiveLimit } from '../gate/adaptive.js';
import type { Pace } from '../gate/rate.js';
import type { Runtime } from '../runtime.js';
import type { Endpoint } from '../transport/channel.js';
import type { SocketPool } from '../transport/pool.js';

/**
 * What a resolver's queries pass to go out: a {@link Semaphore}, a cluster-wide gate from
 * `dnsgate/redis`, or anything with this interface (`new Resolver({ semaphore: gate })`).
 *
 * @example
 * ```ts
 * import { type Gate, Semaphore } from 'dnsgate';
 * const gate: Gate = new Semaphore(8);
 * ```
 */
export interface Gate {
  /** The most permits it hands out at once (the adaptive gate's ceiling). */
  readonly limit: number;
  /** Callers waiting for a permit now, when the gate can tell. */
  readonly waiting?: number;
  /** Free permits now, when the gate can tell. */
  readonly tokens?: number;
  tryAcquire(): boolean;
  /** `first`: ahead of the other waiters (a query asked again after a backoff), where the gate can. */
  acquire(options?: { signal?: AbortSignal; first?: boolean }): Promise<void>;
  release(): void;
  /**
   * Whether the permits held now may still be used to send: a leased gate whose lease ran out
   * says no, and a query then gives its permit back and waits for one before it sends again.
   */
  covers?(): boolean;
  /**
   * True once a leased gate's lease ran out (by this process's clock) with permits held that no
   * safe share covers: the process was paused past it, say, and those permits may be someone
   * else's now. A datagram still waiting to go out is then kept in.
   */
  lapsed?(): boolean;
  /** ms to wait before the next start, for a gate with a rate of its own (0: go now). */
  reserve?(): number;
}

/**
 * When to use TCP: after a truncated UDP answer (default), for every query, or never.
 *
 * @example
 * ```ts
 * const resolver = new Resolver({ tcp: 'never' }); // a truncated answer is EBADRESP
 * ```
 */
export type TcpMode = 'fallback' | 'always' | 'never';

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

/** Everything one query needs to know about its resolver, fixed when it starts. */
export interface DispatchConfig {
  gate: Gate;
  pool: SocketPool;
  /** Where to send, in order: each server's address with the local address to send from. */
  servers: readonly Endpoint[];
  timeout: number;
  tries: number;
  socketReuse: number;
  /** UDP exchanges in flight on one socket at most (`queriesPerSocket`). */
  queriesPerSocket: number;
  /** EDNS0 UDP payload size to advertise; 0 sends no OPT record. */
  udpPayload: number;
  tcp: TcpMode;
  /** The largest response accepted; UDP answers are also held to the size we advertised. */
  maxResponseSize: number;
  counters: ExchangeCounters;
  /** Starts per second, when a pace is set (the resolver's `rate`, the gate's, or both). */
  pace: Pick<Pace, 'reserve'> | undefined;
  /** Each server's adaptive limit, by index in `servers`; undefined with `adaptive: false`. */
  limits: readonly AdaptiveLimit[] | undefined;
  /** Base of the backoff before a query refused for congestion is asked again, ms. */
  backoffMs: number;
  runtime: Runtime;
}
