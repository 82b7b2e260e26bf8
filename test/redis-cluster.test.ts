// One budget across processes, on a real redis-server: four worker processes
// (helpers/cluster-worker.ts) share a cluster-wide gate of 20 in front of a home router (dnsmasq,
// dns-forward-max 20, in front of knotd), 10,000 distinct MX lookups split among them. A counting
// relay in front of the router sees every query; Redis's INFO commandstats counts the calls (on the
// default lease, 3 s, once Redis is two leases old). Then the faults, on a lease of 1 s: a worker
// killed, a worker paused past its lease, Redis restarted, Redis gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_SCRIPT } from '../src/redis/lease.js';
import { requireBinaries } from './helpers/bin.js';
import { BULK_ORIGIN, bulkZone } from './helpers/bulk-zone.js';
import { type DnsmasqServer, startDnsmasq } from './helpers/dnsmasq.js';
import { type KnotServer, startKnot } from './helpers/knot.js';
import { type RedisServer, startRedis } from './helpers/redis.js';
import { type Relay, startRelay } from './helpers/relay.js';

const available = requireBinaries(
  ['knotd', 'knotc', 'dnsmasq', 'redis-server'],
  'test/redis-cluster.test.ts',
);

const LOOKUPS = 10_000;
const WORKERS = 4;
const LIMIT = 20;
/** The fault tests' lease (short, so they run fast). */
const LEASE_MS = 1000;
/** createRedisGate's default lease: the first test, which counts the calls, runs on it. */
const DEFAULT_LEASE_MS = 3000;
const worker = fileURLToPath(new URL('./helpers/cluster-worker.ts', import.meta.url));

interface WorkerResult {
  done: number;
  lost: number;
  wrong: number;
  errors: string[];
  calls: number;
  lastError?: string;
  sent: number;
}

/** A worker process, its progress and its result. */
class Worker {
  readonly child: ChildProcess;
  done = 0;
  /** The most processes wanting permits at one of its renewals, from its progress lines. */
  seen = 0;
  /** Its field in the budget's hash. */
  id: string | undefined;
  result: WorkerResult | undefined;
  readonly exited: Promise<number | null>;
  #log = '';

  constructor(job: object) {
    this.child = spawn(process.execPath, ['--import', 'tsx', worker, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const m = JSON.parse(line) as { done?: number; seen?: number; id?: string; result?: WorkerResult };
          if (m.id !== undefined) this.id = m.id;
          if (m.done !== undefined) this.done = m.done;
          if (m.seen !== undefined) this.seen = Math.max(this.seen, m.seen);
          if (m.result !== undefined) this.result = m.result;
        } catch {
          this.#log += `${line}\n`;
        }
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#log += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get log(): string {
    return this.#log;
  }

  async until(done: number): Promise<void> {
    for (let i = 0; i < 2000 && this.done < done && this.result === undefined; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Until it has made its gate (its first lease call done), or it finished. */
  async started(): Promise<void> {
    for (let i = 0; i < 2000 && this.id === undefined && this.result === undefined; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Until a progress line counted `n` processes wanting permits, or it finished. */
  async seeing(n: number): Promise<void> {
    for (let i = 0; i < 2000 && this.seen < n && this.result === undefined; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * Redis's command counts (INFO commandstats): all, and the lease calls; since `before` less the
 * INFO that counted it, when given. Asked on a connection that sends nothing else (no ready check,
 * RESP2).
 */
async function calls(redis: Redis, before?: { client: number; all: number }) {
  const info = await redis.info('commandstats');
  let client = 0;
  let all = 0;
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    const n = Number(m[2]);
    all += n;
    // The calls processes make: the lease script (EVALSHA, EVAL after a SCRIPT FLUSH or restart).
    if (m[1] === 'evalsha' || m[1] === 'eval') client += n;
  }
  if (before === undefined) return { client, all };
  return { client: client - before.client, all: all - before.all - 1 };
}

describe.skipIf(!available)('one budget across processes, on Redis', () => {
  let knot: KnotServer;
  let router: DnsmasqServer;
  let redis: RedisServer;
  const figures: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(LOOKUPS) } });
    router = await startDnsmasq({ upstream: knot.server, forwardMax: LIMIT });
    // A Redis younger than two leases grants only what processes hold already: the first test,
    // on the default lease, measures the gate past that (its uptime comes in whole seconds).
    const probe = new Redis(redis.url);
    while (
      Number(/uptime_in_seconds:(\d+)/.exec(await probe.info('server'))![1]) <
      (2 * DEFAULT_LEASE_MS) / 1000
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    probe.disconnect();
  }, 30_000);
  afterAll(async () => {
    await redis?.stop();
    await router?.stop();
    await knot?.stop();
    console.log(`cluster:\n${figures.join('\n')}`);
  }, 30_000);

  /** Starts the workers on one key, behind a fresh relay. */
  async function run(
    key: string,
    options: { whenUnreachable?: 'share' | 'wait'; rate?: number; leaseMs?: number } = {},
    slowMs = 0,
  ) {
    const relay: Relay = await startRelay(router.server, 10_000, slowMs);
    const per = LOOKUPS / WORKERS;
    const workers = Array.from(
      { length: WORKERS },
      (_, w) =>
        new Worker({
          url: redis.url,
          key,
          limit: LIMIT,
          leaseMs: LEASE_MS,
          server: relay.server,
          from: w * per,
          to: (w + 1) * per,
          ...options,
        }),
    );
    return { relay, workers };
  }

  /** When Redis was stopped in the test running (Date.now()), for the figures. */
  let stoppedAt: number | undefined;

  async function finish(label: string, relay: Relay, workers: Worker[], started: number) {
    const codes = await Promise.all(workers.map((w) => w.exited));
    const counts = await relay.counts();
    await relay.stop();
    const results = workers.map((w) => w.result);
    figures.push(
      `${label}: ${(performance.now() - started).toFixed(0)} ms; relay max ${counts.max}${stoppedAt === undefined ? '' : ` (${counts.maxAt - stoppedAt} ms after Redis stopped)`}, p95 ${counts.p95} of ${counts.queries} queries; exit codes ${codes.join(',')}; lost ${results.map((r) => r?.lost ?? '-').join(',')}`,
    );
    return { codes, counts, results };
  }

  it(`${WORKERS} workers, one budget of ${LIMIT}: the router never holds more, none lost, at most 1 Redis command per 100 queries`, async () => {
    const counter = new Redis(redis.url, { enableReadyCheck: false, protocol: 2, disableClientInfo: true });
    const before = await calls(counter);
    const started = performance.now();
    const { relay, workers } = await run('plain', { leaseMs: DEFAULT_LEASE_MS });
    const { codes, counts, results } = await finish('plain', relay, workers, started);
    const { client, all } = await calls(counter, before);
    counter.disconnect();
    expect(codes, workers.map((w) => w.log).join('\n')).toEqual([0, 0, 0, 0]);
    for (const r of results) expect(r).toMatchObject({ done: LOOKUPS / WORKERS, lost: 0, wrong: 0 });
    expect(counts.queries).toBeGreaterThanOrEqual(LOOKUPS);
    expect(counts.max).toBeLessThanOrEqual(LIMIT);
    const sent = results.reduce((a, r) => a + r!.sent, 0);
    figures.push(
      `plain: ${sent} queries sent, ${client} lease calls (1 per ${(sent / client).toFixed(0)}), ${all} Redis commands counted with those inside the script (1 per ${(sent / all).toFixed(0)})`,
    );
    // Every command Redis ran for the gates (those inside the lease script too): at most 1 per 100.
    expect(all).toBeLessThanOrEqual(sent / 100);
  }, 60_000);

  it('a worker killed (SIGKILL) mid-run: its permits come back within the lease, the others finish everything', async () => {
    const started = performance.now();
    const { relay, workers } = await run('kill');
    // Killed at a fifth of its own share: mid-run for sure (waiting for every worker to reach 500
    // let a fast one finish, and give its lease back, before the kill).
    await workers[0]!.until(500);
    workers[0]!.child.kill('SIGKILL');
    const killedAt = performance.now();
    const probe = new Redis(redis.url);
    let returnedAfter: number | undefined;
    // Its lease goes once it has run out, at the next lease call of anyone: the other workers', or
    // this probe's (a call that wants one permit, then one that gives it back, in case they have
    // all finished).
    expect(await probe.hexists('kill', workers[0]!.id!)).toBe(1);
    for (let i = 0; i < 400 && returnedAfter === undefined; i++) {
      await probe.eval(LEASE_SCRIPT, 1, 'kill', 'probe', 1, 0, LIMIT, LEASE_MS);
      await probe.eval(LEASE_SCRIPT, 1, 'kill', 'probe', 0, 0, LIMIT, LEASE_MS);
      if ((await probe.hexists('kill', workers[0]!.id!)) === 0) returnedAfter = performance.now() - killedAt;
      else await new Promise((r) => setTimeout(r, 10));
    }
    probe.disconnect();
    const { codes, counts, results } = await finish('kill', relay, workers, started);
    figures.push(
      `kill: the killed worker's lease gone after ${returnedAfter?.toFixed(0)} ms (lease ${LEASE_MS} ms)`,
    );
    expect(returnedAfter).toBeDefined();
    expect(returnedAfter!).toBeLessThanOrEqual(LEASE_MS + 500);
    expect(codes.slice(1)).toEqual([0, 0, 0]);
    for (const r of results.slice(1)) expect(r).toMatchObject({ done: LOOKUPS / WORKERS, lost: 0, wrong: 0 });
    expect(counts.max).toBeLessThanOrEqual(LIMIT);
  }, 60_000);

  it('a worker paused (SIGSTOP) past its lease, then resumed: no overshoot at the router, none lost', async () => {
    const started = performance.now();
    // A slow router (10 ms a query) keeps the others busy, 20 in flight, until it resumes.
    const { relay, workers } = await run('pause', {}, 10);
    await workers[0]!.until(250);
    workers[0]!.child.kill('SIGSTOP');
    // Past its lease and past its tries' 2 s timeout: at SIGCONT its timers fire before it reads the
    // answers waiting in its sockets, and its queries would go again on permits others now hold.
    await new Promise((r) => setTimeout(r, LEASE_MS + 1500));
    workers[0]!.child.kill('SIGCONT');
    const { codes, counts, results } = await finish('pause', relay, workers, started);
    expect(codes).toEqual([0, 0, 0, 0]);
    for (const r of results) expect(r).toMatchObject({ done: LOOKUPS / WORKERS, lost: 0, wrong: 0 });
    expect(counts.max).toBeLessThanOrEqual(LIMIT);
  }, 60_000);

  it('Redis restarted mid-run (its state lost): no overshoot, none lost', async () => {
    const started = performance.now();
    const { relay, workers } = await run('restart');
    await workers[0]!.until(500);
    // Once every worker has made its gate: one whose first call met the restart would fail to
    // start (createRedisGate rejects, as for a Redis down at start), which is another test.
    await Promise.all(workers.map((w) => w.started()));
    await redis.restart();
    const { codes, counts, results } = await finish('restart', relay, workers, started);
    expect(codes, workers.map((w) => w.log).join('\n')).toEqual([0, 0, 0, 0]);
    for (const r of results) expect(r).toMatchObject({ done: LOOKUPS / WORKERS, lost: 0, wrong: 0 });
    expect(counts.max).toBeLessThanOrEqual(LIMIT);
  }, 60_000);

  it('Redis gone for good mid-run: each worker falls to a safe share, no overshoot, none lost, errors name the URL', async () => {
    const started = performance.now();
    // A router that holds each query 3 ms: the run lasts long enough for every worker to renew once
    // after the last one joined, and still meet the failure mid-run.
    const { relay, workers } = await run('gone', {}, 3);
    await workers[0]!.until(500);
    // Once every worker has seen the others (their join messages, or a call): the safe share
    // divides the limit by the most processes a worker has seen (one that took the whole limit
    // alone, and had not heard of the others, would take it all again: see README).
    await Promise.all(workers.map((w) => w.seeing(WORKERS)));
    await redis.stop();
    stoppedAt = Date.now();
    const { codes, counts, results } = await finish('gone', relay, workers, started);
    stoppedAt = undefined;
    redis = await startRedis(); // for any test after this one
    expect(codes).toEqual([0, 0, 0, 0]);
    // Worker 0 had four fifths of its share left (it renews every third of a lease), so it met the
    // failure; another may have finished before it had to renew. Every error names the URL.
    expect(results[0]!.lastError).toBeDefined();
    for (const r of results) {
      expect(r).toMatchObject({ done: LOOKUPS / WORKERS, lost: 0, wrong: 0 });
      if (r!.lastError !== undefined)
        expect(r!.lastError).toMatch(
          /^dnsgate\/redis redis:\/\/127\.0\.0\.1:\d+: renewing the lease of "gone" failed/,
        );
    }
    expect(counts.max).toBeLessThanOrEqual(LIMIT);
  }, 60_000);
});
