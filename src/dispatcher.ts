// The try loop: take a permit, ask servers in turn, give the permit back when the socket is closed.
import { codes, DnsError, type DnsErrorCode, rcodeToCode } from './errors.js';
import { type Attempt, attempt, type ExchangeCounters, type Waiter } from './exchange.js';
import type { Pace } from './rate.js';
import type { ServerAddress } from './servers.js';
import type { SocketPool } from './sockets.js';
import { TcpChannel } from './transport/tcp.js';
import type { Endpoint, UdpChannel } from './transport/udp.js';
import type { DecodedPacket, RecordType } from './wire/codec.js';
import { CLASSIC_UDP_PAYLOAD, newQueryId } from './wire/codec.js';
import { MAX_QUERY, wireNameLength, writeQuery } from './wire/encode.js';
import { rcodeOf } from './wire/lazy.js';

const RCODE_FORMERR = 1;
const RCODE_BADVERS = 16;

/** The gate as the dispatcher uses it. */
export interface Gate {
  readonly limit: number;
  tryAcquire(): boolean;
  acquire(options?: { signal?: AbortSignal }): Promise<void>;
  release(): void;
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

/** Everything one query needs to know about its resolver, fixed when it starts. */
export interface DispatchConfig {
  gate: Gate;
  pool: SocketPool;
  servers: readonly ServerAddress[];
  timeout: number;
  tries: number;
  socketReuse: number;
  /** EDNS0 UDP payload size to advertise; 0 sends no OPT record. */
  udpPayload: number;
  tcp: TcpMode;
  /** Local addresses to send from, by family (`setLocalAddress`). */
  local: { 4?: string | undefined; 6?: string | undefined };
  /** The largest response accepted; UDP answers are also held to the size we advertised. */
  maxResponseSize: number;
  counters: ExchangeCounters;
  /** Starts per second, when a pace is set. */
  pace: Pace | undefined;
}

/** One query in flight: what it asks and how to stop it. */
export interface Job extends Waiter {
  name: string;
  type: RecordType;
  /** `type`'s numeric code. */
  qtype: number;
  syscall: string;
  hostname: string;
  /** Set once the query is cancelled (nobody waits for it any more); checked between steps. */
  cancelled: unknown;
  /**
   * Whether the permit it flies under belongs to someone else (a bulk run), who gives it back;
   * may turn false mid-flight, when the query takes a permit of its own.
   */
  held: boolean;
  /**
   * A last look before a send: a caller whose deadline has passed or whose signal has aborted
   * gives up now, even if the timer that would say so has not run yet.
   */
  check(): void;
}

/** The answer of one server, with where it came from. */
export interface Answered {
  message: DecodedPacket;
  server: ServerAddress;
}

/** rcodes that say "this server can't help": ask the next one. */
const tryNext = new Set<DnsErrorCode>([codes.SERVFAIL, codes.REFUSED, codes.NOTIMP]);

/**
 * Runs one query to completion under one permit: RFC 1035 §7.2 / c-ares order, every server
 * once per round, `tries` rounds, the timeout doubling each round. NOERROR and NXDOMAIN are
 * final; SERVFAIL, REFUSED, NOTIMP and ECONNREFUSED move on to the next server (which is not
 * asked again); timeouts are retried in the next round.
 */
export async function dispatch(cfg: DispatchConfig, job: Job): Promise<Answered> {
  // `held`: the caller (a bulk run) already took this query's permit and gives it back itself.
  if (!job.held) {
    const { gate } = cfg;
    if (!gate.tryAcquire()) await acquireSlow(gate, job);
  }
  return underPermit(cfg, job);
}

/**
 * Goes on with a query under a permit already taken, and gives the permit back at the end unless
 * the job's permit is `held` by someone else. `first` is what the first try (round 0, the first
 * server, UDP) already came to, when the fast path in flight.ts made it.
 */
export async function underPermit(cfg: DispatchConfig, job: Job, first?: Attempt): Promise<Answered> {
  try {
    return first === undefined ? await paced(cfg, job) : await tryServers(cfg, job, first);
  } finally {
    if (!job.held) releaseFrom(cfg.gate, job);
  }
}

/**
 * The caller gave up with its query on the wire: the query keeps its socket and a permit until it
 * is answered or times out (see Exchange#linger), and the function returned gives both back then.
 * The job's own permit passes to it (so the try loop must not give it back: `held`); a permit held
 * for the job by a bulk run goes back with the call, so it takes one of its own if the gate has
 * one free. Null (gate full): drop the query at once.
 */
export function afterLingering(
  cfg: DispatchConfig,
  job: Job,
  ch: UdpChannel,
): ((fit: boolean) => void) | null {
  if (job.held && !cfg.gate.tryAcquire()) return null;
  job.held = true;
  return (fit) => {
    cfg.pool.give(ch, cfg.socketReuse, fit);
    releaseFrom(cfg.gate, job);
  };
}

let later: Gate[] = [];

/**
 * Gives a query's permit back. A query that was given up (deadline, signal, `cancel()`) gives it
 * back only after the event loop's current phase: callers that give up at the same moment (their
 * timers due in the same pass, run one by one with promise jobs in between) have all left the
 * queue by then, so the permit never goes to a waiter that is about to give up and would send
 * a query for nobody first. Between such storms and the router stands this one deferral.
 */
export function releaseFrom(gate: Gate, job: Job): void {
  if (job.cancelled === undefined) {
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

const endpointCache = new WeakMap<DispatchConfig, Endpoint[]>();

/** Where to send, per server: its address with the local address to send from. Made once per config. */
export function endpointsOf(cfg: DispatchConfig): Endpoint[] {
  let list = endpointCache.get(cfg);
  if (list === undefined) {
    list = cfg.servers.map((server) => ({ ...server, local: cfg.local[server.family] }));
    endpointCache.set(cfg, list);
  }
  return list;
}

async function paced(cfg: DispatchConfig, job: Job): Promise<Answered> {
  const wait = cfg.pace?.reserve() ?? 0;
  if (wait > 0) await sleep(wait, job);
  return tryServers(cfg, job);
}

/** Waits `ms` under the permit; cancellable like any other wait of the job. */
function sleep(ms: number, job: Job): Promise<void> {
  if (job.cancelled !== undefined) return Promise.reject(job.cancelled);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      job.interrupt = null;
      resolve();
    }, ms);
    job.interrupt = (reason) => {
      clearTimeout(timer);
      job.interrupt = null;
      reject(reason);
    };
  });
}

async function acquireSlow(gate: Gate, job: Job): Promise<void> {
  const controller = new AbortController();
  job.interrupt = (reason) => controller.abort(reason);
  try {
    await gate.acquire({ signal: controller.signal });
  } finally {
    job.interrupt = null;
  }
  // The permit came from a release that ran before this caller's own deadline or abort timer.
  job.check();
  if (job.cancelled !== undefined) {
    releaseFrom(gate, job);
    throw job.cancelled;
  }
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

async function tryServers(cfg: DispatchConfig, job: Job, first?: Attempt): Promise<Answered> {
  const servers = cfg.servers;
  if (servers.length === 0) throw fail(job, codes.CONNREFUSED, new Error('no nameservers configured'));
  const endpoints = endpointsOf(cfg);
  const done = new Array<boolean>(servers.length).fill(false);
  const failures: DnsError[] = [];
  let given = first;
  for (let round = 0; round < cfg.tries; round++) {
    const timeout = cfg.timeout * 2 ** round;
    for (let s = 0; s < servers.length; s++) {
      if (done[s]) continue;
      const server = servers[s]!;
      const result = await askServer(cfg, job, endpoints[s]!, timeout, given);
      given = undefined;
      if (result.ok) {
        const code = rcodeToCode(rcodeOf(result.message));
        if (code === undefined || code === codes.NOTFOUND) return { message: result.message, server };
        if (!tryNext.has(code)) throw fail(job, code, undefined, server);
        done[s] = true;
        failures.push(fail(job, code, undefined, server));
      } else {
        failures.push(fail(job, result.code, result.cause, server));
        if (result.code !== codes.TIMEOUT && !worthRetrying(result.cause)) done[s] = true;
      }
    }
    if (done.every(Boolean)) break;
  }
  // Every server failed: the last failure names the code; all of them ride along.
  const last = failures[failures.length - 1]!;
  throw new DnsError(last.code, {
    syscall: job.syscall,
    hostname: job.hostname,
    cause: last.cause,
    server: last.server,
    errors: failures,
  });
}

/**
 * One server, one round: UDP (or TCP when told), then the fallbacks a stub owes a server:
 * RFC 6891 §7, FORMERR to a query with OPT → ask once more without it; RFC 7766 §5 / RFC 1035
 * §4.2.1, a truncated UDP answer → discard it and ask over TCP under the same permit.
 */
async function askServer(
  cfg: DispatchConfig,
  job: Job,
  endpoint: Endpoint,
  timeout: number,
  first?: Attempt,
): Promise<Attempt> {
  const overTcp = cfg.tcp === 'always';
  let payload = cfg.udpPayload;
  let result = first ?? (await once(cfg, job, endpoint, timeout, payload, overTcp));
  // RFC 6891 §7: FORMERR to a query with OPT, or BADVERS (16): ask again without it.
  const rcode = result.ok ? rcodeOf(result.message) : 0;
  if (payload > 0 && (rcode === RCODE_FORMERR || rcode === RCODE_BADVERS)) {
    payload = 0;
    result = await once(cfg, job, endpoint, timeout, payload, overTcp);
  }
  if (result.ok && result.message.flag_tc && !overTcp) {
    if (cfg.tcp === 'never') {
      return {
        ok: false,
        code: codes.BADRESP,
        cause: new Error('truncated answer and TCP is off'),
        anomaly: false,
      };
    }
    result = await once(cfg, job, endpoint, timeout, payload, true);
  }
  return result;
}

async function once(
  cfg: DispatchConfig,
  job: Job,
  endpoint: Endpoint,
  timeout: number,
  udpPayload: number,
  tcp: boolean,
): Promise<Attempt> {
  job.check();
  if (job.cancelled !== undefined) throw job.cancelled;
  const qtype = job.qtype;
  const end = 12 + wireNameLength(job.name) + 4;
  const pool = cfg.pool;
  if (tcp) {
    // A TCP connection counts as a socket in flight, under the permit this query holds.
    pool.reserve();
    const ch = new TcpChannel(endpoint);
    try {
      const buf = Buffer.allocUnsafe(MAX_QUERY);
      const query = buf.subarray(0, writeQuery(buf, newQueryId(), job.name, qtype, udpPayload));
      return await attempt(ch, query, end, timeout, cfg.maxResponseSize, cfg.counters, job);
    } finally {
      ch.close();
      pool.unreserve();
    }
  }
  const ch = pool.take(endpoint);
  // The socket's own buffer: it carries one exchange at a time, and a socket whose exchange did
  // not end cleanly is closed, never reused, so no send can still be reading these bytes.
  ch.buffer ??= Buffer.allocUnsafe(MAX_QUERY);
  const buf = ch.buffer;
  const query = buf.subarray(0, writeQuery(buf, newQueryId(), job.name, qtype, udpPayload));
  // Given up or timed out, the socket is fit for another query (it knows to drop a late answer);
  // a socket error is not.
  let clean = true;
  let lingering = false;
  const linger = () => {
    const after = afterLingering(cfg, job, ch);
    lingering = after !== null;
    return after;
  };
  try {
    // RFC 6891 §6.2.5: a UDP answer is never larger than we said we accept (512 without EDNS).
    const maxSize = Math.min(cfg.maxResponseSize, Math.max(udpPayload, CLASSIC_UDP_PAYLOAD));
    const result = await attempt(ch, query, end, timeout, maxSize, cfg.counters, job, linger);
    clean = result.ok || result.code === codes.TIMEOUT;
    return result;
  } finally {
    if (!lingering) pool.give(ch, cfg.socketReuse, clean);
  }
}

function fail(job: Job, code: DnsErrorCode, cause?: unknown, server?: ServerAddress): DnsError {
  return new DnsError(code, { syscall: job.syscall, hostname: job.hostname, cause, server: server?.label });
}
