// The cluster-wide gate's lease, against a real redis-server (no persistence, on a free loopback
// port, stopped by pid): grants never pass the limit, expiry gives permits back, a lease call is
// idempotent, SCRIPT FLUSH and a restart over-grant nothing, an unreachable Redis falls to a safe
// share (or to nothing, strictly), and a bad URL is a clear error. Lease expiry on this process's
// side runs on a FakeClock.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisGate, RedisGate } from '../src/redis/index.js';
import { LEASE_SCRIPT } from '../src/redis/lease.js';
import { FakeClock, startTestServer } from '../src/testing/index.js';
import { requireBinaries } from './helpers/bin.js';
import { type RedisServer, startRedis } from './helpers/redis.js';

const available = requireBinaries(['redis-server'], 'test/redis.test.ts');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (real time) until `check` holds, up to `ms`. */
async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = performance.now() + ms;
  while (!check() && performance.now() < end) await sleep(5);
  return check();
}

describe('the cluster-wide gate, its lease calls scripted (no Redis)', () => {
  /**
   * A lease client whose calls the test answers: [granted, processes, guard, fair, contended, live]
   * (and Redis's time, which these tests leave out).
   */
  function scripted() {
    const calls: Array<{
      args: Array<string | number>;
      answer: (r: number[]) => void;
      fail: (e: Error) => void;
    }> = [];
    const client = {
      dnsgateLease: (_key: string, ...args: Array<string | number>) =>
        new Promise<[number, number, number, number, number, number, string]>((resolve, reject) => {
          calls.push({ args, answer: (r) => resolve(r as never), fail: reject });
        }),
      quit: async () => {},
      disconnect: () => {},
      on: (event: string, listener: (err: Error) => void) => {
        if (event === 'ready') ready.push(listener as () => void);
      },
    };
    const ready: Array<() => void> = [];
    /** ioredis connected again (after Redis restarted, or the network came back). */
    const reconnected = () => {
      for (const listener of ready) listener();
    };
    return { client, calls, reconnected };
  }
  const options = { url: 'redis://127.0.0.1:1', key: 'k', limit: 4, leaseMs: 1000 };

  /** A gate on a fake clock whose lease calls the test answers, past its first call (the probe). */
  async function started(extra: object = {}, channel?: ConstructorParameters<typeof RedisGate>[2]) {
    const clock = new FakeClock();
    const { client, calls } = scripted();
    const g = new RedisGate(client, { ...options, clock, ...extra }, channel);
    const probe = g.start();
    calls[0]!.answer([0, 0, 0, 0, 0, 0]);
    await probe;
    return { g, calls, clock };
  }

  /** Closes such a gate, answering its last calls. */
  async function closed(g: RedisGate, calls: ReturnType<typeof scripted>['calls'], clock: FakeClock) {
    const closing = g.close();
    await clock.advance(100);
    for (const c of calls) c.answer([0, 0, 0, 0, 0, 0]);
    await closing;
  }

  it('while a lease call is in flight, or after one failed, no more is taken than the call said was held', async () => {
    const { client, calls } = scripted();
    const g = new RedisGate(client, options);
    const started = g.start();
    calls[0]!.answer([0, 1, 0, 0, 0, 1]);
    await started;
    const first = g.acquire(); // asks for 1
    await sleep(5);
    calls[1]!.answer([2, 1, 0, 2, 0, 1]);
    await first;
    g.release(); // idle: its give-back goes out 50 ms later, saying "held 0"
    await sleep(70);
    expect(calls).toHaveLength(3);
    expect(calls[2]!.args.slice(1, 3)).toEqual([0, 0]); // want 0, held 0
    // The grant of 2 is still current, but Redis may already have taken this process off.
    expect(g.tryAcquire()).toBe(false);
    calls[2]!.fail(new Error('timed out')); // it may have run all the same
    await sleep(1);
    expect(g.tryAcquire()).toBe(false);
    const closing = g.close();
    await sleep(1);
    calls.at(-1)!.answer([0, 0, 0, 0, 0, 0]);
    await closing;
  });

  it("asks the script to read Redis's uptime on its first call, and on the first after each reconnect, not on renewals", async () => {
    const { client, calls, reconnected } = scripted();
    const g = new RedisGate(client, options);
    const started = g.start();
    calls[0]!.answer([0, 1, 0, 0, 0, 1]);
    await started;
    const first = g.acquire();
    await sleep(5);
    calls[1]!.answer([2, 1, 0, 2, 0, 1]);
    await first;
    // The sixth argument: 1 reads the uptime. The first call (start(): want -1) reads nothing in
    // Redis; the first that wants a permit does.
    expect(calls.map((c) => [c.args[1], c.args[5]])).toEqual([
      [-1, 0],
      [1, 1],
    ]);
    reconnected();
    g.release();
    const second = g.acquire();
    await sleep(70);
    const third = g.acquire();
    await sleep(5);
    calls.at(-1)!.answer([2, 1, 0, 2, 0, 1]);
    await Promise.all([second, third]);
    expect(calls.map((c) => c.args[5])).toEqual([0, 1, 1]);
    g.release();
    g.release();
    const closing = g.close();
    await sleep(1);
    for (const c of calls.slice(3)) c.answer([0, 0, 0, 0, 0, 0]);
    await closing;
  });

  it('a renewal put off to the last third that fails there: the process falls to its safe share as when Redis went away', async () => {
    const clock = new FakeClock();
    let answered = 0;
    const at: number[] = [];
    const client = {
      dnsgateLease: (_key: string, ...args: Array<string | number>) => {
        at.push(Math.round(clock.now()));
        const want = Number(args[1]);
        // The probe, the first demand and the 10 ms look are answered; then Redis stops answering
        // (ioredis fails a call after a third of the lease).
        if (++answered <= 3) return Promise.resolve([Math.max(0, Math.min(want, 4)), 1, 0, 4, 0, 1, '0']);
        return new Promise((_, reject) =>
          clock.setTimeout(() => reject(new Error('Command timed out')), 1000 / 3),
        );
      },
      quit: async () => {},
      disconnect: () => {},
      on: () => {},
    } as unknown as ConstructorParameters<typeof RedisGate>[0];
    const g = new RedisGate(client, { ...options, clock });
    await g.start();
    // 250 queries queued, 10 ms each, the last 100 slower (60 ms): at 343 ms the backlog looks done
    // well within the lease, so the renewal is put off to 667 ms (the last third of the lease from
    // the 10 ms look); it fails as the lease runs out.
    let next = 0;
    const worker = async () => {
      while (next < 250) {
        const i = next++;
        await g.run(() => new Promise<void>((r) => clock.setTimeout(r, i < 150 ? 10 : 60))).catch(() => {});
      }
    };
    const running = Promise.all(Array.from({ length: 250 }, worker));
    await clock.advance(1200);
    expect(at.slice(1, 4)).toEqual([0, 10, 667]);
    expect(g.view.leased).toBe(0);
    // A lease after its first failed call was sent, and one more: the safe share (4 ÷ 1).
    await clock.advance(1500);
    expect(g.view.leased).toBe(4);
    await clock.advance(5000);
    await running;
    const closing = g.close();
    await clock.advance(1000);
    await closing;
  });

  it('needing fewer than it holds while another is short, it gives back within 50 ms, also when that came up during a call', async () => {
    const clock = new FakeClock();
    const at: Array<[number, number]> = [];
    let pending: ((r: unknown) => void) | undefined;
    let hold = false;
    const client = {
      dnsgateLease: (_key: string, ...args: Array<string | number>) => {
        at.push([Math.round(clock.now()), Number(args[1])]);
        const want = Math.max(0, Number(args[1]));
        // Another process is short (contended): what this one does not need should go back.
        const reply = [Math.min(want, 4), 2, 0, 4, 1, 2, '0'];
        return hold ? new Promise((resolve) => (pending = resolve)) : Promise.resolve(reply);
      },
      quit: async () => {},
      disconnect: () => {},
      on: () => {},
    } as unknown as ConstructorParameters<typeof RedisGate>[0];
    // With the budget's channel (no message comes here): no look after its grant grew.
    const channel = { subscribe: async () => {}, on: () => {}, disconnect: () => {} };
    const g = new RedisGate(client, { ...options, clock, limit: 8 }, channel);
    await g.start();
    const holds = [g.acquire(), g.acquire(), g.acquire(), g.acquire()];
    await clock.advance(0);
    await Promise.all(holds);
    hold = true;
    await clock.advance(340); // its renewal (at 333 ms) is in flight
    for (let i = 0; i < 3; i++) g.release(); // it needs 1 of its 4
    await clock.advance(5);
    hold = false;
    pending!([4, 2, 0, 4, 1, 2, '0']); // the renewal's reply, from before the releases
    await clock.advance(100);
    expect(at.slice(-2)).toEqual([
      [333, 4],
      [395, 1],
    ]);
    g.release();
    const closing = g.close();
    await clock.advance(100);
    await closing;
  });

  it('asking for more during a call, it asks again as soon as the reply is in, even when permits handed over by message came meanwhile', async () => {
    let hear: (channel: string, message: string) => void = () => {};
    const channel = {
      subscribe: async () => {},
      on: (event: string, listener: (channel: string, message: string) => void) => {
        if (event === 'message') hear = listener;
      },
      disconnect: () => {},
    };
    const { g, calls, clock } = await started({ limit: 10, leaseMs: 3000 }, channel);
    const got = [g.acquire()]; // its first demand: 1
    await clock.advance(0);
    for (let i = 0; i < 5; i++) got.push(g.acquire()); // now it wants 6
    // During that call, after it ran in Redis (at 100 µs), another process hands it 1 (at 150 µs).
    hear('k#', `150 0 2 2 ${g.view.id}:1`);
    calls[1]!.answer([0, 2, 0, 1, 0, 2, '100'] as never);
    await clock.advance(1);
    expect(calls.map((c) => c.args[1])).toEqual([-1, 1, 6]);
    calls[2]!.answer([6, 2, 0, 6, 0, 2, '200'] as never);
    await clock.advance(1);
    await Promise.all(got);
    for (let i = 0; i < 6; i++) g.release();
    await closed(g, calls, clock);
  });

  it('granted nothing and no longer wanting (its callers gave up), it takes its want back within 50 ms', async () => {
    const { g, calls, clock } = await started();
    const abort = new AbortController();
    const waiting = g.acquire({ signal: abort.signal }).catch(() => 'gave up');
    await clock.advance(0);
    abort.abort();
    expect(await waiting).toBe('gave up');
    calls[1]!.answer([0, 2, 1, 0, 0, 2]); // nothing granted: Redis's guard is on
    await clock.advance(60);
    // Its field in Redis still said it wanted 1 (lowering everyone's share): it leaves.
    expect(calls.map((c) => c.args.slice(1, 3))).toEqual([
      [-1, 0],
      [1, 0],
      [0, 0],
    ]);
    await closed(g, calls, clock);
  });

  it('back from Redis being away, it says so on its first call that gets through (it may be on its safe share, and others too)', async () => {
    const { g, calls, clock } = await started();
    const first = g.acquire();
    await clock.advance(0);
    calls[1]!.answer([2, 1, 0, 2, 0, 1]);
    await first;
    // Its renewal fails (Redis away); the next call gets through.
    await clock.advance(340);
    calls[2]!.fail(new Error('Connection is closed.'));
    await clock.advance(260);
    calls[3]!.answer([2, 1, 0, 2, 0, 1]);
    await clock.advance(340);
    // The last argument: 1 on the first call after one failed (that one went out before it knew),
    // 0 again once one got through.
    expect(calls.slice(1, 5).map((c) => c.args.at(-1))).toEqual([0, 0, 1, 0]);
    g.release();
    await closed(g, calls, clock);
  });

  it('below its fair share it asks again after 25 ms, then less often while its grant does not grow (at most every quarter of the renewal period); 25 ms again once it grows', async () => {
    const clock = new FakeClock();
    const at: number[] = [];
    // Nothing granted, its fair share 2: another process holds the permits, and is not told yet.
    let reply = [0, 2, 0, 2, 0, 2];
    const client = {
      dnsgateLease: async () => {
        at.push(clock.now());
        return [...reply, '0'] as [number, number, number, number, number, number, string];
      },
      quit: async () => {},
      disconnect: () => {},
      on: () => {},
    };
    const g = new RedisGate(client, { ...options, clock });
    await g.start();
    const holds = [g.acquire(), g.acquire()];
    await clock.advance(1000);
    const gaps = (from: number) => at.slice(from + 1).map((t, i) => t - at[from + i]!);
    // The call for the two waiters at 0, then 25, 25, 25, 37.5, ... up to 1000 / 3 / 4 (renewals
    // every 333 ms): 14 calls in a second where one every 25 ms made 40.
    const starved = gaps(1);
    expect(starved.slice(0, 3)).toEqual([25, 25, 25]);
    for (let i = 1; i < starved.length; i++) expect(starved[i]!).toBeGreaterThanOrEqual(starved[i - 1]!);
    expect(Math.max(...starved)).toBeCloseTo(1000 / 3 / 4);
    expect(at.length).toBeLessThanOrEqual(16);
    // One permit comes back: still below its share, it asks 25 ms later again.
    reply = [1, 2, 0, 2, 0, 2];
    const grewFrom = at.length;
    await clock.advance(100);
    await holds[0];
    expect(gaps(grewFrom)[0]).toBe(25);
    g.release();
    const closing = g.close();
    await clock.advance(100);
    await closing;
  });
  it('a backlog that will be done with half the lease left puts its first renewal off to the last third; a caller feeding one query per free permit renews on time', async () => {
    /** Lease calls (fake-clock ms, want, held) of a job of `jobs` queries, `fed` at most waiting. */
    const job = async (jobs: number, fed: number) => {
      const clock = new FakeClock();
      const at: Array<[number, number, number]> = [];
      const client = {
        dnsgateLease: async (_key: string, ...args: Array<string | number>) => {
          at.push([clock.now(), Number(args[1]), Number(args[2])]);
          const want = Number(args[1]);
          return [Math.min(want, 4), 1, 0, 4, 0, 1, '0'] as [
            number,
            number,
            number,
            number,
            number,
            number,
            string,
          ];
        },
        quit: async () => {},
        disconnect: () => {},
        on: () => {},
      };
      const g = new RedisGate(client, { ...options, clock });
      await g.start();
      // Each query holds its permit 10 ms: 4 at a time, 2.5 ms a query.
      let next = 0;
      const worker = async () => {
        while (next < jobs) {
          next++;
          await g.run(() => new Promise<void>((r) => clock.setTimeout(r, 10)));
        }
      };
      const running = Promise.all(Array.from({ length: fed }, worker));
      await clock.advance(2000);
      await running;
      await clock.advance(100);
      await g.close();
      return at.slice(1); // after start()
    };
    const times = async (jobs: number, fed: number) => (await job(jobs, fed)).map(([t]) => Math.round(t));
    // (Without the channel a process looks again 10 ms after its grant grew; close() calls at 2,100.)
    // 200 queries, all queued: done at 500 ms. At 343 ms (a third of the lease after the look) 63
    // are left, 158 ms of work, less than half the 657 ms the lease has left: no renewal; the
    // permits go back 50 ms after the end.
    expect(await times(200, 200)).toEqual([0, 10, 550, 2100]);
    // 600 queries, all queued: at 343 ms 463 are left (1,158 ms): renewed then, and on.
    expect(await times(600, 600)).toEqual([0, 10, 343, 677, 1010, 1550, 2100]);
    // 200 queries fed by 4 callers (one per permit, as resolveEach does): nothing waits, nothing
    // shows where the job ends: renewed at 343 ms.
    expect(await times(200, 4)).toEqual([0, 10, 343, 550, 2100]);
  });
});

describe.skipIf(!available)('the cluster-wide gate on Redis', () => {
  let redis: RedisServer;
  let raw: Redis;
  const gates: RedisGate[] = [];
  let n = 0;
  const key = () => `test-${++n}`;

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
    // A Redis younger than two leases grants only what processes hold already: let it age past that.
    await sleep(2100);
  }, 30_000);
  afterEach(async () => {
    await Promise.all(gates.splice(0).map((g) => g.close()));
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  async function gate(k: string, limit: number, extra: object = {}): Promise<RedisGate> {
    const g = await createRedisGate({ url: redis.url, key: k, limit, leaseMs: 1000, ...extra });
    gates.push(g);
    return g;
  }

  /** Calls the lease script directly: [granted, processes, booting, fair, contended, live, time]. */
  const lease = (k: string, id: string, want: number, held: number, limit: number, leaseMs: number) =>
    raw.eval(LEASE_SCRIPT, 1, k, id, want, held, limit, leaseMs) as Promise<[...number[], string]>;

  it('grants never exceed the limit, and processes that all want more share it fairly', async () => {
    const k = key();
    const all = await Promise.all([gate(k, 10), gate(k, 10), gate(k, 10)]);
    let peak = 0;
    let inFlight = 0;
    const most = [0, 0, 0];
    const sampler = setInterval(() => {
      peak = Math.max(
        peak,
        all.reduce((a, g) => a + g.view.leased, 0),
      );
      all.forEach((g, i) => {
        most[i] = Math.max(most[i]!, g.view.inFlight);
      });
    }, 1);
    const work = all.map((g) =>
      Promise.all(
        Array.from({ length: 600 }, () =>
          g.run(async () => {
            inFlight++;
            peak = Math.max(peak, inFlight);
            await sleep(5);
            inFlight--;
          }),
        ),
      ),
    );
    const started = performance.now();
    const ends = await Promise.all(work.map((w) => w.then(() => performance.now() - started)));
    clearInterval(sampler);
    expect(peak).toBeLessThanOrEqual(10);
    // Each got about a third at some point, and none finished long before the others (a newcomer
    // gets its share at the others' next renewal, a quarter lease).
    for (const m of most) expect(m).toBeGreaterThanOrEqual(3);
    expect(Math.min(...ends)).toBeGreaterThan(0.5 * Math.max(...ends));
  });

  it("300 random calls of five processes, hand-outs and leaves among them: what the live leases record never passes the limit, and a hand-out keeps the taker's expiry", async () => {
    const k = key();
    const limit = 12;
    const ids = ['p0', 'p1', 'p2', 'p3', 'p4'];
    // A small generator with a fixed seed: the same calls every run.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const redisNow = async () => {
      const [sec, usec] = await raw.time();
      return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    };
    let handOuts = 0;
    let leaves = 0;
    for (let call = 0; call < 300; call++) {
      const before = await raw.hgetall(k);
      const id = ids[rand(ids.length)]!;
      // What it holds is never more than Redis records for it (as a gate holds no more than its
      // lease covers); a lease that ran out holds nothing.
      const now = await redisNow();
      const mine = before[id]?.split(' ').map(Number);
      const recorded = mine !== undefined && mine[0]! > now ? mine[1]! : 0;
      const leaving = rand(6) === 0;
      const want = leaving ? 0 : rand(limit + 1);
      const held = leaving ? 0 : rand(recorded + 1);
      if (leaving && mine !== undefined) leaves++;
      await lease(k, id, want, held, limit, 300);
      const after = await raw.hgetall(k);
      const then = await redisNow();
      let sum = 0;
      for (const [f, v] of Object.entries(after)) {
        if (f === '~') continue;
        const [expiry, holds] = v.split(' ').map(Number);
        if (expiry! > then) sum += holds!;
        // Another's field that changed in this call was a hand-out: more permits, expiry kept.
        const was = before[f]?.split(' ').map(Number);
        if (f !== id && was !== undefined && v !== before[f]) {
          handOuts++;
          expect(expiry).toBe(was[0]);
          expect(holds!).toBeGreaterThan(was[1]!);
        }
      }
      expect(
        sum,
        `call ${call}: ${id} want ${want} held ${held}: ${JSON.stringify(after)}`,
      ).toBeLessThanOrEqual(limit);
      // Now and then, time passes: some leases run out.
      if (rand(30) === 0) await sleep(150);
    }
    expect(handOuts).toBeGreaterThan(20);
    expect(leaves).toBeGreaterThan(20);
  });

  it('after a lease with no call while leases were live (Redis stalled), the first back, a newcomer, is granted nothing new: the others may be on their safe share', async () => {
    const k = key();
    expect((await lease(k, 'a', 5, 0, 10, 200))[0]).toBe(5);
    expect((await lease(k, 'b', 5, 0, 10, 200))[0]).toBe(5);
    await sleep(450); // nobody reaches Redis for two leases: 'a' and 'b' fall to 5 each, on their own
    const [granted, , guard] = await lease(k, 'c', 10, 0, 10, 200);
    expect([granted, guard]).toEqual([0, 1]);
    // The same when the first back is a process leaving: it deletes the expired leases, and so
    // records the guard for the newcomer after it.
    const j = key();
    for (const id of ['a', 'b', 'x']) await lease(j, id, 3, 0, 10, 200);
    await sleep(450);
    await lease(j, 'x', 0, 0, 10, 200);
    expect(Object.keys(await raw.hgetall(j))).toEqual(['~']);
    const [grantedAfter, , guardAfter] = await lease(j, 'c', 10, 0, 10, 200);
    expect([grantedAfter, guardAfter]).toEqual([0, 1]);
  });

  it('state lost (a fresh key) and the caller back from Redis being away: the guard runs two leases from then, however old Redis is', async () => {
    const k = key();
    // Redis is older than two leases here: a newcomer on a fresh key gets its share at once.
    expect(((await raw.eval(LEASE_SCRIPT, 1, k, 'new', 4, 0, 10, 300, 0, 0)) as number[])[0]).toBe(4);
    // One back from Redis being away (it may hold its safe share, as may others) gets what it holds.
    const j = key();
    const reply = (await raw.eval(LEASE_SCRIPT, 1, j, 'back', 8, 3, 10, 300, 0, 1)) as number[];
    expect(reply.slice(0, 3)).toEqual([3, 1, 1]);
    expect((await lease(j, 'new', 4, 0, 10, 300)).slice(0, 3)).toEqual([0, 2, 1]);
  });

  it('a lease that runs out gives its permits back (a process killed without a goodbye)', async () => {
    const k = key();
    expect((await lease(k, 'ghost', 10, 10, 10, 400))[0]).toBe(10);
    const g = await gate(k, 10);
    const started = performance.now();
    const done = g.run(() => 'ran');
    await sleep(100);
    expect(g.view.leased).toBe(0); // the ghost holds everything
    expect(await done).toBe('ran');
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(1500);
  });

  it('a lease call is idempotent: the same call twice grants the same and records the same', async () => {
    const k = key();
    await lease(k, 'other', 6, 6, 10, 1000);
    const first = await lease(k, 'me', 8, 2, 10, 1000);
    const recorded = (await raw.hget(k, 'me'))!.split(' ').slice(1);
    const second = await lease(k, 'me', 8, 2, 10, 1000);
    // The same but for the last field: Redis's time, which orders replies and messages.
    expect(second.slice(0, 6)).toEqual(first.slice(0, 6));
    expect(BigInt(second[6]!)).toBeGreaterThan(BigInt(first[6]!));
    expect((await raw.hget(k, 'me'))!.split(' ').slice(1)).toEqual(recorded);
    // other holds 6 and wants 6: this one gets the remaining 4 (its fair share, 5, does not fit).
    expect(first[0]).toBe(4);
    expect(recorded).toEqual(['4', '8']);
  });

  it('a call runs TIME, HGETALL and one HSET; INFO (the uptime) only on fresh state', async () => {
    /** Commands Redis ran during `fn`, by name, less the INFO commandstats that counts them. */
    const ran = async (fn: () => Promise<unknown>) => {
      const count = async () => {
        const by: Record<string, number> = {};
        for (const m of (await raw.info('commandstats')).matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
          by[m[1]!] = Number(m[2]);
        }
        return by;
      };
      const before = await count();
      await fn();
      const after = await count();
      const delta: Record<string, number> = {};
      for (const [name, n] of Object.entries(after)) {
        const d = n - (before[name] ?? 0) - (name === 'info' ? 1 : 0);
        if (d > 0) delta[name] = d;
      }
      return delta;
    };
    const k = key();
    // Fresh state (no guard field yet): the uptime is read, once.
    expect(await ran(() => lease(k, 'a', 4, 0, 10, 1000))).toEqual({
      eval: 1,
      time: 1,
      info: 1,
      hgetall: 1,
      hset: 1,
    });
    // A renewal: no INFO, one HSET for both fields. Another process's first call: the same, and one
    // PUBLISH (the others count it).
    expect(await ran(() => lease(k, 'a', 4, 4, 10, 1000))).toEqual({ eval: 1, time: 1, hgetall: 1, hset: 1 });
    expect(await ran(() => lease(k, 'b', 4, 0, 10, 1000))).toEqual({
      eval: 1,
      time: 1,
      hgetall: 1,
      hset: 1,
      publish: 1,
    });
    // Giving the lease back deletes its field, and reads the rest (for permits to hand on: none
    // here, so no write); the same call again has nothing to delete, and stops there.
    expect(await ran(() => lease(k, 'b', 0, 0, 10, 1000))).toEqual({ eval: 1, hdel: 1, time: 1, hgetall: 1 });
    expect(await ran(() => lease(k, 'b', 0, 0, 10, 1000))).toEqual({ eval: 1, hdel: 1 });
    // An old snapshot loaded (its guard field there, its last call two leases old, a lease live
    // then): the guard is on without the uptime.
    const s = key();
    const [sec, usec] = await raw.time();
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    await raw.hset(s, 'holder', `${now + 1000} 6 6`, '~', `0 ${now - 2000} 1`);
    const heard: string[] = [];
    const sub = new Redis(redis.url);
    await sub.subscribe(`${s}#`);
    sub.on('message', (_channel: string, message: string) => heard.push(message));
    let reply: Array<number | string> = [];
    expect(
      await ran(async () => {
        reply = await lease(s, 'newcomer', 10, 0, 10, 1000);
      }),
    ).toEqual({ eval: 1, time: 1, hgetall: 1, hset: 1, publish: 1 }); // its join: the others count it
    expect(reply.slice(0, 3)).toEqual([0, 2, 1]); // nothing granted, 2 processes want, guard on
    // Its join names no level while the guard is on: the holder keeps its permits (given back, they
    // would sit idle until the guard ends).
    await sleep(50);
    sub.disconnect();
    expect(heard.map((m) => m.split(' ').slice(1).join(' '))).toEqual(['0 2 2']);
  });

  it('a shrunk share records what is still in flight: no one is granted permits not yet given back', async () => {
    const k = key();
    expect((await lease(k, 'a', 10, 0, 10, 1000))[0]).toBe(10);
    await lease(k, 'a', 10, 10, 10, 1000);
    // b arrives: a's fair share drops to 5, but a still has 10 in flight.
    expect((await lease(k, 'b', 10, 0, 10, 1000))[0]).toBe(0);
    const a = await lease(k, 'a', 10, 10, 10, 1000);
    expect(a[0]).toBe(5);
    expect(a[4]).toBe(1); // contended: b waits for permits a holds past its share
    expect((await raw.hget(k, 'a'))!.split(' ')[1]).toBe('10');
    expect((await lease(k, 'b', 10, 0, 10, 1000))[0]).toBe(0);
    // a's queries drain to 5: b gets the other 5.
    await lease(k, 'a', 10, 5, 10, 1000);
    expect((await lease(k, 'b', 10, 0, 10, 1000))[0]).toBe(5);
  });

  it('survives SCRIPT FLUSH: the script is loaded again, and nothing is over-granted', async () => {
    const k = key();
    const [a, b] = await Promise.all([gate(k, 6), gate(k, 6)]);
    let inFlight = 0;
    let peak = 0;
    const job = (g: RedisGate) =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          g.run(async () => {
            peak = Math.max(peak, ++inFlight);
            await sleep(3);
            inFlight--;
          }),
        ),
      );
    const work = Promise.all([job(a), job(b)]);
    await sleep(50);
    await raw.script('FLUSH');
    await work;
    expect(peak).toBeLessThanOrEqual(6);
    expect(a.view.lastError).toBeUndefined();
    expect(b.view.lastError).toBeUndefined();
  });

  it('after a restart a young Redis grants only what processes already hold, until two leases have passed (state lost, or recent state loaded and read with the uptime)', async () => {
    const k = key();
    expect((await lease(k, 'holder', 6, 0, 10, 1000))[0]).toBe(6);
    await redis.restart();
    raw.disconnect();
    raw = new Redis(redis.url);
    // A restart that loaded recent state, its last calls lost (an RDB saved just before a crash):
    // a live lease, the last call 100 ms before the save. Leases granted after it are not shown.
    const s = key();
    const [sec, usec] = await raw.time();
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    await raw.hset(s, 'holder', `${now + 1000} 6 6`, '~', `0 ${now - 100} 1`);
    // A renewal on a connection that has read the uptime already would not see it...
    expect((await lease(s, 'newcomer', 10, 0, 10, 1000)).slice(0, 3)).toEqual([4, 2, 0]);
    // ...but a first call on a new connection (every connection closed with the restart) does.
    const checked = (await raw.eval(LEASE_SCRIPT, 1, s, 'newcomer', 10, 0, 10, 1000, 1)) as number[];
    expect(checked.slice(0, 3)).toEqual([0, 2, 1]);
    // A newcomer, while Redis is younger than two leases: nothing, though its state is empty.
    const [granted, , booting] = await lease(k, 'newcomer', 10, 0, 10, 1000);
    expect(booting).toBe(1);
    expect(granted).toBe(0);
    // The holder says what it holds, and keeps it, renewing as a live process does.
    expect((await lease(k, 'holder', 10, 6, 10, 1000))[0]).toBe(6);
    // Two leases from Redis's start (its uptime comes in whole seconds: up to one more).
    for (let i = 0; i < 7; i++) {
      await sleep(450);
      // 6 while the guard is on; its fair share, 5, after (still recorded as holding 6).
      expect((await lease(k, 'holder', 10, 6, 10, 1000))[0]).toBeGreaterThanOrEqual(5);
      await lease(k, 'newcomer', 10, 0, 10, 1000);
    }
    expect((await lease(k, 'newcomer', 10, 0, 10, 1000))[0]).toBe(4);
  }, 20_000);

  it('Redis unreachable: the lease holds until it runs out, then one lease more, then a safe share ("share") or nothing ("wait")', async () => {
    const k = key();
    const clock = new FakeClock();
    const share = await gate(k, 10, { clock });
    const strict = await gate(k, 10, { clock, whenUnreachable: 'wait' });
    // Both busy: each sees two processes.
    const holds = [share.acquire(), share.acquire(), strict.acquire(), strict.acquire()];
    for (let i = 0; i < 50 && share.view.inFlight + strict.view.inFlight < 4; i++) {
      await clock.advance(0); // the lease calls, on this clock
      await sleep(5);
    }
    await Promise.all(holds);
    // Renewals, until each has seen the other busy.
    for (let i = 0; i < 20 && share.view.processes + strict.view.processes < 4; i++) {
      await clock.advance(250);
      await sleep(20);
    }
    expect([share.view.processes, strict.view.processes]).toEqual([2, 2]);
    await redis.pause();
    try {
      // A renewal each, while their leases are current, that cannot reach Redis.
      await clock.advance(340);
      await until(() => !share.view.reachable && !strict.view.reachable, 5000);
      await clock.advance(700); // both leases have run out
      expect(share.view.current).toBe(false);
      expect(share.view.leased).toBe(0); // one lease more: Redis may only be restarting
      // (counted from the later of the lease's end and a lease after the first failed call)
      await clock.advance(1400);
      expect(share.view.leased).toBe(5); // 10 / the 2 processes seen
      expect(strict.view.leased).toBe(0);
      expect(strict.covers()).toBe(false);
      expect(strict.tryAcquire()).toBe(false);
      expect(share.view.lastError?.message).toMatch(
        new RegExp(`^dnsgate/redis ${redis.url}: renewing the lease of "${k}" failed`),
      );
    } finally {
      redis.resume();
    }
    for (let i = 0; i < 2; i++) share.release();
    for (let i = 0; i < 2; i++) strict.release();
  }, 20_000);

  it('a lease past its time by this process clock covers nothing held (a process paused past its lease)', async () => {
    // A clock whose timers run only when told: a paused process runs none (no renewal), and its
    // monotonic clock still moves.
    let now = 0;
    const due: Array<() => void> = [];
    const clock = {
      now: () => now,
      setTimeout: (fn: () => void) => {
        due.push(fn);
        return {};
      },
      clearTimeout: () => {},
    };
    const g = await gate(key(), 4, { clock });
    const held = g.acquire();
    due.shift()!(); // the lease call for it
    await held;
    expect(g.covers()).toBe(true);
    now = 1000; // paused past its lease: no renewal ran
    // Not renewed yet: the permit held is no longer covered, and no new one is handed out.
    expect(g.view.current).toBe(false);
    expect(g.covers()).toBe(false);
    expect(g.tryAcquire()).toBe(false);
    g.release();
  });

  it('a call that leaves the others permits unheld hands them to those below their share, in their own fields, and names them on the channel', async () => {
    const k = key();
    const heard: string[] = [];
    const sub = new Redis(redis.url);
    await sub.subscribe(`${k}#`);
    sub.on('message', (_channel: string, message: string) => heard.push(message));
    try {
      expect((await lease(k, 'a', 4, 0, 4, 1000))[0]).toBe(4);
      const expiry = async (id: string) => (await raw.hget(k, id))!.split(' ')[0];
      // 'b' is short of its share (2) while 'a' holds past its own: 'a' hears the level.
      expect((await lease(k, 'b', 4, 0, 4, 1000))[0]).toBe(0);
      const bExpires = await expiry('b');
      // 'a' is down to 2: its call records 2 and hands the other 2 to 'b' (its expiry kept).
      expect((await lease(k, 'a', 4, 2, 4, 1000))[0]).toBe(2);
      expect((await raw.hget(k, 'b'))!.split(' ')).toEqual([bExpires, '2', '4']);
      // 'a' leaves: its 2 go to 'b' too, now alone (its share is all 4).
      await lease(k, 'a', 0, 0, 4, 1000);
      expect((await raw.hget(k, 'b'))!.split(' ')).toEqual([bExpires, '4', '4']);
      await sleep(50);
      // "<Redis time, µs> <level, 0 when nobody is short> <live leases> <processes wanting>
      // [<process>:<permits>]...", in order.
      expect(heard.map((m) => m.split(' ').slice(1).join(' '))).toEqual(['2 2 2', '0 2 2 b:2', '0 1 1 b:4']);
      const stamps = heard.map((m) => BigInt(m.split(' ')[0]!));
      expect(stamps[1]! > stamps[0]! && stamps[2]! > stamps[1]!).toBe(true);
    } finally {
      sub.disconnect();
    }
  });

  it("a newcomer gets its share at once, not at the holder's next renewal: the lease script tells the holder on the budget's channel", async () => {
    const k = key();
    // The default lease, 3 s (a holder renews every second), on a Redis past its guard (two leases).
    while (Number(/uptime_in_seconds:(\d+)/.exec(await raw.info('server'))![1]) < 7) await sleep(100);
    const a = await gate(k, 4, { leaseMs: 3000 });
    let stop = false;
    const busy = async (g: RedisGate) => {
      while (!stop) await g.run(() => sleep(5)).catch(() => {});
    };
    const workers: Promise<void>[] = [];
    try {
      workers.push(...Array.from({ length: 8 }, () => busy(a)));
      expect(await until(() => a.view.leased === 4)).toBe(true);
      await sleep(100); // past its look after the grant grew: its next call is the renewal
      const b = await gate(k, 4, { leaseMs: 3000 });
      const joined = performance.now();
      const aCalls = a.view.calls;
      let firstRun = Number.POSITIVE_INFINITY;
      workers.push(
        ...Array.from({ length: 8 }, async () => {
          await b.run(() => {
            firstRun = Math.min(firstRun, performance.now() - joined);
          });
          await busy(b);
        }),
      );
      expect(await until(() => b.view.leased === 2, 2500)).toBe(true);
      // Without the channel it waited for the holder's renewal: 1,111 ms in the run that checked.
      console.log(`newcomer: first permit after ${firstRun.toFixed(0)} ms`);
      expect(firstRun).toBeLessThan(300);
      // The newcomer's share came in the holder's call, by message: one call of the holder's (once
      // it was down to its share), none more of the newcomer's (its first, and the one that asked).
      expect([a.view.calls - aCalls, b.view.calls]).toEqual([1, 2]);
    } finally {
      stop = true;
      await Promise.all(workers);
    }
  });

  it('map() and run() work under the budget as a Semaphore does', async () => {
    const g = await gate(key(), 2);
    let inFlight = 0;
    let peak = 0;
    const results = await g.map(
      async (n: number) => {
        peak = Math.max(peak, ++inFlight);
        await sleep(2);
        inFlight--;
        if (n === 3) throw new Error('three');
        return n * 2;
      },
      [1, 2, 3, 4, 5],
    );
    expect(results.map(([ok, v]) => (ok ? v : (v as Error).message))).toEqual([2, 4, 'three', 8, 10]);
    expect(peak).toBeLessThanOrEqual(2);
    expect(await g.run((a: number, b: number) => a + b, 2, 3)).toBe(5);
    expect(g.view.inFlight).toBe(0);
  });

  it('close() with queries still in flight leaves them recorded until their lease runs out', async () => {
    const k = key();
    const g = await createRedisGate({ url: redis.url, key: k, limit: 4, leaseMs: 1000 });
    await g.acquire();
    await g.acquire();
    const id = g.view.id;
    await g.close();
    expect((await raw.hget(k, id))?.split(' ')[1]).toBe('2');
  });

  it('rate: starts paced at the budget rate split among the busy processes (virtual time)', async () => {
    const k = key();
    const clock = new FakeClock();
    const a = await gate(k, 10, { clock, rate: 100 });
    expect([a.reserve(), a.reserve(), a.reserve()]).toEqual([0, 10, 20]);
    await clock.advance(30);
    expect(a.reserve()).toBe(0);
    // A second busy process: each gets half the rate.
    const b = await gate(k, 10, { clock, rate: 100 });
    const holds = [a.acquire(), b.acquire()];
    for (let i = 0; i < 50 && a.view.processes + b.view.processes < 4; i++) {
      await clock.advance(400);
      await sleep(10);
    }
    await Promise.all(holds);
    await clock.advance(1000);
    expect([a.reserve(), a.reserve()]).toEqual([0, 20]);
    a.release();
    b.release();
  });

  it('a bad URL is a clear error at createRedisGate, naming it; nothing is sent', async () => {
    const closed = `redis://127.0.0.1:${redis.port + 1 === 65536 ? 1 : redis.port + 1}`;
    await expect(createRedisGate({ url: closed, key: 'k', limit: 4, connectTimeoutMs: 500 })).rejects.toThrow(
      new RegExp(`^dnsgate/redis ${closed}: cannot connect`),
    );
    await expect(createRedisGate({ url: 'http://127.0.0.1:6379', key: 'k', limit: 4 })).rejects.toThrow(
      TypeError,
    );
    await expect(createRedisGate({ url: 'not a url', key: 'k', limit: 4 })).rejects.toThrow(/redis:\/\/ URL/);
    await expect(createRedisGate({ url: redis.url, key: '', limit: 4 })).rejects.toThrow(TypeError);
    await expect(createRedisGate({ url: redis.url, key: 'k', limit: 0 })).rejects.toThrow(RangeError);
    await expect(
      createRedisGate({ url: 'redis://:s3cret@127.0.0.1:1', key: 'k', limit: 4, connectTimeoutMs: 300 }),
    ).rejects.toThrow(/redis:\/\/:\*\*\*@127\.0\.0\.1:1: cannot connect/);
  });

  it('a user Redis does not let run the script is a clear error at createRedisGate, naming the URL', async () => {
    await raw.call('ACL', 'SETUSER', 'noscript', 'on', '>pw', '~*', '&*', '+@all', '-eval', '-evalsha');
    try {
      const url = redis.url.replace('redis://', 'redis://noscript:pw@');
      await expect(createRedisGate({ url, key: 'k', limit: 4 })).rejects.toThrow(
        /^dnsgate\/redis redis:\/\/noscript:\*\*\*@127\.0\.0\.1:\d+: the lease script failed: NOPERM/,
      );
    } finally {
      await raw.call('ACL', 'DELUSER', 'noscript');
    }
  });

  describe('the CLI: --redis URL --redis-key NAME', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const cli = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/cli.ts', ...args], { cwd: root });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stdout, stderr }));
        child.stdin.end();
      });

    it('two dnsgate mx processes on one key share -c 4: the server never holds more than 4', async () => {
      const names = Array.from({ length: 120 }, (_, i) => `n${i}.example.test`);
      const zone = [
        '$ORIGIN example.test.',
        '@ 60 SOA ns hm 1 2 3 4 60',
        '@ 60 NS ns',
        ...names.map((n) => `${n}. 60 MX 10 mx.${n}.`),
      ].join('\n');
      const server = await startTestServer({ zone, delayMs: 20 });
      const dir = mkdtempSync(join(tmpdir(), 'dnsgate-cli-redis-'));
      try {
        writeFileSync(join(dir, 'a.txt'), names.slice(0, 60).join('\n'));
        writeFileSync(join(dir, 'b.txt'), names.slice(60).join('\n'));
        const common = ['mx', '--redis', redis.url, '--redis-key', key(), '-c', '4', '-s', server.server];
        const [a, b] = await Promise.all([
          cli([...common, '-f', join(dir, 'a.txt')]),
          cli([...common, '-f', join(dir, 'b.txt')]),
        ]);
        expect([a.status, b.status], a.stderr + b.stderr).toEqual([0, 0]);
        expect((a.stdout + b.stdout).trim().split('\n')).toHaveLength(120);
        expect(server.stats.peakInFlight).toBeLessThanOrEqual(4);
        expect(server.stats.peakInFlight).toBeGreaterThanOrEqual(3);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await server.close();
      }
    }, 30_000);

    it.each([
      [['mx', '--redis-key', 'k', 'x.test'], 2, /--redis-key needs --redis URL/],
      [['mx', '--redis', 'http://127.0.0.1:6379', 'x.test'], 2, /redis:\/\/ or rediss:\/\/ URL/],
      [
        ['mx', '--redis', 'redis://127.0.0.1:1', '-s', '127.0.0.1:9', 'x.test'],
        1,
        /dnsgate\/redis redis:\/\/127\.0\.0\.1:1: cannot connect: connect ECONNREFUSED/,
      ],
    ])(
      '%j exits %i with a clear message',
      async (args, status, message) => {
        const r = await cli(args as string[]);
        expect(r.status).toBe(status);
        expect(r.stderr).toMatch(message);
        expect(r.stdout).toBe('');
      },
      30_000,
    );
  });
});
