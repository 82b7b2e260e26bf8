// The try loop: take a permit, ask servers in turn, give the permit back when the socket is closed.
import { codes, DnsError, type DnsErrorCode, rcodeToCode } from './errors.js';
import { type Attempt, udpAttempt, type Waiter } from './exchange.js';
import type { ServerAddress } from './servers.js';
import type { SocketPool } from './sockets.js';
import type { DecodedPacket, RecordType } from './wire/codec.js';
import { encodeQuery, newQueryId } from './wire/codec.js';
import { questionEnd } from './wire/validate.js';

/** The gate as the dispatcher uses it. */
export interface Gate {
  readonly limit: number;
  tryAcquire(): boolean;
  acquire(options?: { signal?: AbortSignal }): Promise<void>;
  release(): void;
}

/** Everything one query needs to know about its resolver, fixed when it starts. */
export interface DispatchConfig {
  gate: Gate;
  pool: SocketPool;
  servers: readonly ServerAddress[];
  timeout: number;
  tries: number;
  socketReuse: number;
  udpPayload: number;
}

/** One query in flight: what it asks and how to stop it. */
export interface Job extends Waiter {
  name: string;
  type: RecordType;
  syscall: string;
  hostname: string;
  /** Set once the query is cancelled; checked between steps. */
  cancelled: unknown;
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
 * final; SERVFAIL, REFUSED and NOTIMP move on to the next server (and that server is not asked
 * again); timeouts are retried in the next round.
 */
export async function dispatch(cfg: DispatchConfig, job: Job): Promise<Answered> {
  const { gate } = cfg;
  if (!gate.tryAcquire()) await acquireSlow(gate, job);
  try {
    return await tryServers(cfg, job);
  } finally {
    gate.release();
  }
}

async function acquireSlow(gate: Gate, job: Job): Promise<void> {
  const controller = new AbortController();
  job.interrupt = (reason) => controller.abort(reason);
  try {
    await gate.acquire({ signal: controller.signal });
  } finally {
    job.interrupt = null;
  }
  if (job.cancelled !== undefined) {
    gate.release();
    throw job.cancelled;
  }
}

async function tryServers(cfg: DispatchConfig, job: Job): Promise<Answered> {
  const servers = cfg.servers;
  if (servers.length === 0) throw fail(job, codes.CONNREFUSED, new Error('no nameservers configured'));
  const done = new Array<boolean>(servers.length).fill(false);
  const causes: { server: string; code: DnsErrorCode; cause?: unknown }[] = [];
  let last: DnsErrorCode = codes.TIMEOUT;
  for (let round = 0; round < cfg.tries; round++) {
    const timeout = cfg.timeout * 2 ** round;
    for (let s = 0; s < servers.length; s++) {
      if (done[s]) continue;
      const server = servers[s]!;
      const attempt = await udpOnce(cfg, job, server, timeout);
      if (attempt.ok) {
        const code = rcodeToCode(rcodeNumber(attempt.message));
        if (code === undefined || code === codes.NOTFOUND) return { message: attempt.message, server };
        if (!tryNext.has(code)) throw fail(job, code, undefined, server);
        done[s] = true;
        last = code;
        causes.push({ server: server.label, code });
      } else {
        last = attempt.code;
        causes.push({ server: server.label, code: attempt.code, cause: attempt.cause });
        if (attempt.code === codes.CONNREFUSED) done[s] = true;
      }
    }
    if (done.every(Boolean)) break;
  }
  const error = fail(job, last, causes.length === 1 ? causes[0]!.cause : causes);
  throw error;
}

async function udpOnce(
  cfg: DispatchConfig,
  job: Job,
  server: ServerAddress,
  timeout: number,
): Promise<Attempt> {
  if (job.cancelled !== undefined) throw job.cancelled;
  const id = newQueryId();
  const query = encodeQuery({ id, name: job.name, type: job.type, udpPayload: cfg.udpPayload });
  const ch = cfg.pool.take(server);
  let clean = false;
  try {
    const attempt = await udpAttempt(ch, query, questionEnd(query), timeout, job);
    clean = attempt.ok;
    return attempt;
  } finally {
    cfg.pool.give(ch, cfg.socketReuse, clean);
  }
}

function rcodeNumber(message: DecodedPacket): number {
  // dns-packet decodes rcode to its name; the numeric value is the low 4 bits of the flags.
  return message.flags & 0xf;
}

function fail(job: Job, code: DnsErrorCode, cause?: unknown, server?: ServerAddress): DnsError {
  return new DnsError(code, { syscall: job.syscall, hostname: job.hostname, cause, server: server?.label });
}
