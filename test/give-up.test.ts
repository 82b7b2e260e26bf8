// Giving up must never flood the router: calls that time out or are aborted together send
// nothing more, hand their permits to nobody who is about to give up too, and keep their ports.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { silent, startTestServer, type TestServer } from '../src/testing/index.js';

const zone = '$ORIGIN test.\n@ 60 IN SOA ns hm 1 2 3 4 60\nsame 60 IN MX 10 mx.same\n';

/** Settles every promise and counts the rejection codes. */
async function codesOf(calls: Promise<unknown>[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await Promise.allSettled(calls)) {
    const code = r.status === 'fulfilled' ? 'ok' : String((r.reason as { code?: string }).code);
    out[code] = (out[code] ?? 0) + 1;
  }
  return out;
}

describe('give-up storms', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ zone, script: silent() });
  });
  afterAll(() => server.close());

  // timeout 100 ms: two tries start within a 200 ms deadline (at 0 and at 100 ms).
  const TRIES_IN_200 = 2;

  it('2,000 calls with deadline 200 at a gate of 4 send at most 4 × the tries that fit', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], concurrency: 4, deadline: 200, timeout: 100 });
    const calls = Array.from({ length: 2000 }, (_, i) => r.resolve4(`n${i}.test`));
    expect(await codesOf(calls)).toEqual({ ETIMEOUT: 2000 });
    expect(server.stats.queries).toBeLessThanOrEqual(4 * TRIES_IN_200);
    expect(server.stats.sourcePorts.size).toBeLessThanOrEqual(4 + 4);
    expect(r.semaphore.waiting).toBe(0);
    // The given-up tries hold their permits until they time out (the router holds them too).
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(r.semaphore.tokens).toBe(4);
    expect(server.stats.queries).toBeLessThanOrEqual(4 * TRIES_IN_200);
  });

  it('the same with AbortSignal.timeout(200) per call', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], concurrency: 4, timeout: 100 });
    const calls = Array.from({ length: 2000 }, (_, i) =>
      r.resolve4(`n${i}.test`, { signal: AbortSignal.timeout(200) }),
    );
    expect(await codesOf(calls)).toEqual({ ECANCELLED: 2000 });
    expect(server.stats.queries).toBeLessThanOrEqual(4 * TRIES_IN_200);
    expect(server.stats.sourcePorts.size).toBeLessThanOrEqual(4 + 4);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(r.semaphore.tokens).toBe(4);
    expect(server.stats.queries).toBeLessThanOrEqual(4 * TRIES_IN_200);
  });

  it('5,000 coalesced callers with per-call timeouts send at most `tries` queries', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], timeout: 100, tries: 4 });
    const calls = Array.from({ length: 5000 }, () =>
      r.resolveMx('same.test', { signal: AbortSignal.timeout(200) }),
    );
    expect(await codesOf(calls)).toEqual({ ECANCELLED: 5000 });
    // The question stays on the wire for those still waiting: tries at 0 and 100 ms, nothing more.
    expect(server.stats.queries).toBeLessThanOrEqual(TRIES_IN_200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.stats.queries).toBeLessThanOrEqual(TRIES_IN_200);
  });

  it('a leader that gives up leaves its question on the wire for the riders', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], timeout: 100, tries: 2 });
    const leader = new AbortController();
    const first = r.resolveMx('same.test', { signal: leader.signal });
    const riders = Array.from({ length: 3 }, () => r.resolveMx('same.test'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    leader.abort();
    expect(await codesOf([first])).toEqual({ ECANCELLED: 1 });
    expect(server.stats.queries).toBe(1);
    // The riders get what the flight comes to: two tries (100 + 200 ms), then ETIMEOUT.
    expect(await codesOf(riders)).toEqual({ ETIMEOUT: 3 });
    expect(server.stats.queries).toBe(2);
  });

  it('the last rider to leave ends the flight: nothing more is sent', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], timeout: 100, tries: 4 });
    const controllers = Array.from({ length: 3 }, () => new AbortController());
    const calls = controllers.map((c) => r.resolveMx('same.test', { signal: c.signal }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const c of controllers) c.abort();
    expect(await codesOf(calls)).toEqual({ ECANCELLED: 3 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(server.stats.queries).toBe(1);
    expect(r.semaphore.tokens).toBe(r.semaphore.limit);
  });

  it('cancel() rejects the calls in the order they were made', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 2 });
    const order: string[] = [];
    const names = ['a.test', 'b.test', 'same.test', 'c.test', 'same.test', 'd.test'];
    const calls = names.map((n, i) => r.resolveMx(n).catch(() => order.push(`${i}`)));
    r.cancel();
    await Promise.all(calls);
    expect(order).toEqual(['0', '1', '2', '3', '4', '5']);
  });
});

describe('a query that lingers after its caller gave up', () => {
  it('does not keep the process alive (nobody waits for it)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/linger-child.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const t0 = performance.now();
    const status = await new Promise((resolve) => child.on('close', resolve));
    expect(status).toBe(0);
    // ECANCELLED at once; the permit still held by the lingering query (15 of 16 free).
    expect(out).toBe('ECANCELLED 15\n');
    // The lingering try would time out after 5 s; the process is gone long before.
    expect(performance.now() - t0).toBeLessThan(4000);
  });
});
