// Defaults and validation of ResolverOptions, once, at the edge, with messages that name the value.

import { checkInt32, invalidArgValue } from './args.js';
import type { DispatchConfig, Gate, TcpMode } from './dispatch/config.js';
import { checkKeys, rangeError, typeError } from './errors.js';
import {
  ADAPTIVE_DEFAULTS,
  type AdaptiveLimit,
  type AdaptiveOptions,
  type AdaptiveSettings,
  adaptiveLimitFor,
} from './gate/adaptive.js';
import { Pace } from './gate/rate.js';
import { Semaphore } from './gate/semaphore.js';
import { type CacheOptions, DnsCache } from './lookup/cache.js';
import { type Clock, type RuntimeOptions, runtimeOf } from './runtime.js';
import { parseServers, type ServerAddress, systemServers } from './servers.js';
import type { Endpoint } from './transport/channel.js';
import { poolFor } from './transport/pool.js';
import { DEFAULT_UDP_PAYLOAD } from './wire/codec.js';

/** Local addresses to send from, by family (`setLocalAddress`). */
export type Local = { 4?: string | undefined; 6?: string | undefined };

/** Each server's adaptive limit under `gate` (shared by the resolvers that share the gate). */
export function limitsFor(
  gate: { readonly limit: number },
  servers: readonly Endpoint[],
  adaptive: AdaptiveSettings | undefined,
  clock: Clock,
): AdaptiveLimit[] | undefined {
  if (adaptive === undefined) return undefined;
  return servers.map((server) => adaptiveLimitFor(gate, server.label, adaptive, clock));
}

/** Where to send, per server: its address with the local address to send from. */
export function endpointsFor(servers: readonly ServerAddress[], local: Local): Endpoint[] {
  return servers.map((server) => ({ ...server, local: local[server.family] }));
}

/**
 * Sockets in flight per resolver unless told otherwise: far below what a home router's
 * dnsmasq forwards at once (`dns-forward-max`, 150 by default) and its NAT table holds.
 */
export const DEFAULT_CONCURRENCY = 16;

/** Node's default number of tries per server. */
export const DEFAULT_TRIES = 4;
/** First-try timeout in ms (c-ares's default); it doubles every round, as in c-ares. */
export const DEFAULT_TIMEOUT = 2000;
/**
 * Exchanges a UDP socket carries before it is replaced by one on a fresh port (a socket also takes
 * no new query once it is 10 s old). Each new port is a NAT entry in a home router for 30 s or
 * more, so fewer is kinder to the router; each reuse lets an off-path attacker who learned the
 * port aim at it longer (RFC 5452 §9.2). 1,000 keeps a bulk job at 1-3 ports per 1,000 queries,
 * and at bulk rates a port still lives only 20-200 ms; every query has a 16-bit random ID and a
 * strict question check.
 */
export const DEFAULT_SOCKET_REUSE = 1000;

/**
 * UDP queries in flight on one socket at most, unless told otherwise (see
 * {@link ResolverOptions.queriesPerSocket}). Chosen from the k sweep of issue 18 (knotd on
 * loopback, 2 cores, k = 1, 4, 8, 16 with `socketReuse` 1,000 and 10,000, at concurrency 2, 16 and
 * 128, 5 interleaved rounds): with 16 and reuse 1,000, c = 16 ran 50,000 q/s against 41,800 for
 * one query per socket rotated every 100, p99 1.7-2.2 ms against 3.1-3.4 (8: 49,900, p99 2.1-3.1);
 * c = 2 the same q/s with p99 0.14-0.32 ms against 0.78-0.91; c = 128 49,200 against 45,500.
 */
export const DEFAULT_QUERIES_PER_SOCKET = 16;

/** The most queries one UDP socket may carry at once: 64 live IDs in 65,536 still leave 10 bits. */
export const MAX_QUERIES_PER_SOCKET = 64;

export function checkInteger(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    const message = `Expected \`${name}\` to be an integer ${range}, got ${shown}`;
    // As node: no number at all is a TypeError (ERR_INVALID_ARG_TYPE); a number out of range, a
    // RangeError (ERR_OUT_OF_RANGE).
    throw typeof value === 'number' ? rangeError(message) : typeError(message);
  }
  return value;
}

export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (value instanceof AbortSignal) return value;
  throw typeError(`Expected \`signal\` to be an AbortSignal, got ${typeof value}`);
}

/**
 * Options of {@link Resolver}; every one is optional (defaults in README).
 *
 * @example
 * ```ts
 * const options: ResolverOptions = { servers: ['127.0.0.1:5353'], concurrency: 8, rate: 200, timeout: 1000, tries: 2 };
 * const resolver = new Resolver(options);
 * ```
 */
export interface ResolverOptions {
  /** Nameservers, `'1.2.3.4'`, `'1.2.3.4:5353'`, `'::1'`, `'[::1]:5353'`. Default: /etc/resolv.conf, else 127.0.0.1. */
  servers?: string[];
  /** Give this resolver its own gate of this many sockets in flight. Default 16. */
  concurrency?: number;
  /**
   * Share a gate with other resolvers instead: {@link sharedSemaphore}, any Semaphore, or a
   * cluster-wide gate from `dnsgate/redis`.
   */
  semaphore?: Gate;
  /** First-try timeout in ms; doubles each round, as in node (c-ares). `-1` or `0`: the default, 2000. */
  timeout?: number;
  /** Tries per server, as in node (an integer from 1). Default 4. */
  tries?: number;
  /**
   * Exchanges per UDP socket before a fresh port is used; 1 = a fresh port per query. Default
   * 1,000. A socket also takes no new query once it is 10 s old, however few it carried.
   */
  socketReuse?: number;
  /**
   * UDP queries in flight on one socket at once, an integer from 1 to 64. Default 16 (level with 8
   * in the benchmarks' q/s and the lowest p99 at concurrency 16, where one port carries everything).
   *
   * Queries share a socket (one `connect()`ed, OS-chosen port) with distinct random IDs; each answer
   * goes to the query with its ID, and is still checked against its question. Fewer sockets means
   * fewer system calls per answer (one wake-up reads several), fewer ports for a router's NAT
   * table, and a faster resolver. The price is in RFC 5452's terms: a forger who knows the port
   * now hits any of the queries in flight on it, so a guessed ID succeeds with odds up to k in
   * 65,536 rather than 1 in 65,536 (the question check and the port still stand in the way).
   * `1` gives every query in flight a port of its own, as before. A socket that sees a datagram no
   * query on it asked for takes no further query, and closes when the ones it carries end.
   *
   * @example
   * ```ts
   * const ownPorts = new Resolver({ queriesPerSocket: 1 }); // a port of its own per query in flight
   * ```
   */
  queriesPerSocket?: number;
  /** An overall limit in ms for each call, across every try and server; none by default. */
  deadline?: number;
  /** TCP after a truncated UDP answer (`'fallback'`, default), for every query (`'always'`), or never (`'never'`: a truncated answer is an EBADRESP error). */
  tcp?: TcpMode;
  /** EDNS0 UDP payload size to advertise (512..65535, default 1232), or `false` to send no OPT record. */
  edns?: number | false;
  /** At most this many queries started per second, evenly spaced (on top of the in-flight cap); none by default. */
  rate?: number;
  /** The largest response accepted, in bytes (512..65535, default 65535); UDP answers are also held to the EDNS size. */
  maxResponseSize?: number;
  /**
   * A call asking what a call in flight already asks (same name as sent, same type) waits for that
   * answer instead of sending another query, and makes its own result from it. Default `true`;
   * `query()` always sends its own.
   */
  coalesce?: boolean;
  /**
   * The clock (timeouts, deadlines, the rate, the idle sweep) and query-ID source to use instead of
   * real time and `crypto`: for tests, with `FakeClock` from `dnsgate/testing`.
   */
  runtime?: RuntimeOptions;
  /**
   * The adaptive gate (default on): per server, a working limit between 1 and `concurrency` that
   * finds what the server (a home router) can take, from its answers, refusals and timeouts.
   * `false` sends up to `concurrency` at once, as told; an object tunes it.
   */
  adaptive?: boolean | AdaptiveOptions;
  /**
   * Keep answers for their TTL, and NXDOMAIN / NODATA for the SOA's negative TTL (RFC 2308): a
   * question answered from the cache sends nothing and takes no permit. `true` for a cache of
   * 5,000 answers, an options object to size it, or a {@link DnsCache} to share one between
   * resolvers. Off by default (node's Resolver has no cache).
   */
  cache?: boolean | CacheOptions | DnsCache;
}

/** Checks every option once and builds what each query is dispatched with. */
export function buildConfig(options: ResolverOptions): {
  config: DispatchConfig;
  servers: ServerAddress[];
  adaptive: AdaptiveSettings | undefined;
  deadline: number | undefined;
  coalesce: boolean;
  cache: DnsCache | undefined;
} {
  if (typeof options !== 'object' || options === null) {
    throw typeError(
      `Expected \`options\` to be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  checkKeys(options, OPTION_KEYS, 'Resolver option');
  const servers = options.servers === undefined ? systemServers() : parseServers(options.servers);
  if (options.semaphore !== undefined && options.concurrency !== undefined) {
    throw invalidArgValue('Pass either `concurrency` or `semaphore`, not both');
  }
  let gate: Gate;
  if (options.semaphore !== undefined) {
    // By shape, not instanceof: the shared gate may come from another copy of this package (ESM vs CJS).
    if (!isGate(options.semaphore)) throw typeError('Expected `semaphore` to be a Semaphore');
    gate = options.semaphore;
  } else {
    gate = new Semaphore(checkInteger('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY, 1));
  }
  const edns = options.edns ?? DEFAULT_UDP_PAYLOAD;
  const rate = options.rate;
  if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate))) {
    throw rangeError(`Expected \`rate\` to be a number > 0 (queries per second), got ${String(rate)}`);
  }
  const runtime = runtimeOf(checkRuntime(options.runtime));
  const adaptive = checkAdaptive(options.adaptive);
  const endpoints = endpointsFor(servers, {});
  const config: DispatchConfig = {
    gate,
    pool: poolFor(gate, runtime.clock),
    servers: endpoints,
    limits: limitsFor(gate, endpoints, adaptive, runtime.clock),
    backoffMs: (adaptive ?? ADAPTIVE_DEFAULTS).backoffMs,
    // Node's rules: -1 (its default) and 0 mean the default; up to 2^31-1 ms.
    timeout:
      options.timeout === undefined
        ? DEFAULT_TIMEOUT
        : checkInt32(options.timeout, 'options.timeout', -1) || DEFAULT_TIMEOUT,
    tries: options.tries === undefined ? DEFAULT_TRIES : checkInt32(options.tries, 'options.tries', 1),
    socketReuse: checkInteger('socketReuse', options.socketReuse ?? DEFAULT_SOCKET_REUSE, 1),
    queriesPerSocket: checkInteger(
      'queriesPerSocket',
      options.queriesPerSocket ?? DEFAULT_QUERIES_PER_SOCKET,
      1,
      MAX_QUERIES_PER_SOCKET,
    ),
    udpPayload: edns === false ? 0 : checkInteger('edns', edns, 512, 65535),
    tcp: checkTcpMode(options.tcp ?? 'fallback'),
    maxResponseSize: checkInteger('maxResponseSize', options.maxResponseSize ?? 65535, 512, 65535),
    counters: { sent: 0, answers: 0, skipped: 0, malformed: 0, timeouts: 0 },
    pace: paceFor(rate === undefined ? undefined : new Pace(rate, () => runtime.clock.now()), gate),
    runtime,
  };
  const deadline =
    options.deadline === undefined ? undefined : checkInteger('deadline', options.deadline, 1, 2 ** 31 - 1);
  const coalesce = options.coalesce ?? true;
  if (typeof coalesce !== 'boolean') {
    throw typeError(`Expected \`coalesce\` to be a boolean, got ${typeof coalesce}`);
  }
  return { config, servers, adaptive, deadline, coalesce, cache: checkCache(options.cache) };
}

/** `cache`: off by default; true or options make one; a DnsCache is shared. */
function checkCache(value: unknown): DnsCache | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return new DnsCache();
  if (value instanceof DnsCache) return value;
  if (typeof value !== 'object' || value === null) {
    throw typeError(
      `Expected \`cache\` to be a boolean, an object or a DnsCache, got ${value === null ? 'null' : typeof value}`,
    );
  }
  return new DnsCache(value as CacheOptions);
}

const OPTION_KEYS: readonly (keyof ResolverOptions)[] = [
  'servers',
  'concurrency',
  'semaphore',
  'timeout',
  'tries',
  'socketReuse',
  'queriesPerSocket',
  'deadline',
  'tcp',
  'edns',
  'rate',
  'maxResponseSize',
  'coalesce',
  'runtime',
  'adaptive',
  'cache',
];

/** `adaptive`: true (default) or an options object turn it on with those settings; false, off. */
function checkAdaptive(value: unknown): AdaptiveSettings | undefined {
  if (value === false) return undefined;
  if (value === undefined || value === true) return ADAPTIVE_DEFAULTS;
  if (typeof value !== 'object' || value === null) {
    throw typeError(
      `Expected \`adaptive\` to be a boolean or an object, got ${value === null ? 'null' : typeof value}`,
    );
  }
  const o = value as AdaptiveOptions;
  checkKeys(o, Object.keys(ADAPTIVE_DEFAULTS), 'adaptive option');
  return {
    initial:
      o.initial === undefined ? ADAPTIVE_DEFAULTS.initial : checkInteger('adaptive.initial', o.initial, 1),
    decrease:
      o.decrease === undefined
        ? ADAPTIVE_DEFAULTS.decrease
        : checkFraction('adaptive.decrease', o.decrease, 0.1, 0.95),
    edgeMs:
      o.edgeMs === undefined
        ? ADAPTIVE_DEFAULTS.edgeMs
        : checkInteger('adaptive.edgeMs', o.edgeMs, 0, 2 ** 31 - 1),
    backoffMs:
      o.backoffMs === undefined
        ? ADAPTIVE_DEFAULTS.backoffMs
        : checkInteger('adaptive.backoffMs', o.backoffMs, 1, 60_000),
  };
}

function checkFraction(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw rangeError(`Expected \`${name}\` to be a number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function checkRuntime(value: unknown): RuntimeOptions | undefined {
  if (value === undefined) return undefined;
  const r = value as RuntimeOptions | null;
  if (typeof r !== 'object' || r === null) throw typeError('Expected `runtime` to be an object');
  const clock = r.clock;
  if (
    clock !== undefined &&
    (typeof clock?.now !== 'function' ||
      typeof clock.setTimeout !== 'function' ||
      typeof clock.clearTimeout !== 'function')
  ) {
    throw typeError('Expected `runtime.clock` to have now(), setTimeout() and clearTimeout()');
  }
  if (r.queryId !== undefined && typeof r.queryId !== 'function') {
    throw typeError('Expected `runtime.queryId` to be a function');
  }
  return r;
}

/** The resolver's own rate and the gate's (a cluster-wide budget), whichever is slower. */
function paceFor(own: Pace | undefined, gate: Gate): DispatchConfig['pace'] {
  if (typeof gate.reserve !== 'function') return own;
  const shared = gate as Required<Pick<Gate, 'reserve'>>;
  if (own === undefined) return shared;
  return { reserve: () => Math.max(own.reserve(), shared.reserve()) };
}

function isGate(value: unknown): value is Gate {
  const g = value as Gate | null;
  return (
    typeof g === 'object' &&
    g !== null &&
    typeof g.acquire === 'function' &&
    typeof g.release === 'function' &&
    typeof g.tryAcquire === 'function' &&
    typeof g.limit === 'number'
  );
}

function checkTcpMode(value: unknown): TcpMode {
  if (value === 'fallback' || value === 'always' || value === 'never') return value;
  throw invalidArgValue(
    `Expected \`tcp\` to be 'fallback', 'always' or 'never', got ${JSON.stringify(value)}`,
  );
}
