// cancel() and AbortSignal: before send, while waiting for a permit, in flight, after settling.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsError, Resolver } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));

/** Records how a promise settles, counting settlements. */
function track<T>(p: Promise<T>) {
  const state = { settled: 0, value: undefined as T | undefined, error: undefined as unknown };
  p.then(
    (v) => {
      state.settled++;
      state.value = v;
    },
    (e) => {
      state.settled++;
      state.error = e;
    },
  );
  return state;
}
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('cancellation', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ zoneFile, delayMs: 100 });
  });
  afterAll(() => server.close());

  it('an already-aborted signal rejects with ECANCELLED before any packet is sent', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    const err = await r.resolveMx('google.com', { signal: AbortSignal.abort('stop') }).catch((e) => e);
    expect(err).toBeInstanceOf(DnsError);
    expect(err).toMatchObject({
      code: 'ECANCELLED',
      syscall: 'queryMx',
      message: 'queryMx ECANCELLED google.com',
    });
    expect(err.cause).toBe('stop');
    expect(server.stats.queries).toBe(0);
  });

  it('abort in flight: settles once with ECANCELLED; the query keeps its permit until its late answer', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 1 });
    const controller = new AbortController();
    const q = track(r.resolveMx('google.com', { signal: controller.signal }));
    await tick(20);
    expect(r.semaphore.tokens).toBe(0);
    controller.abort();
    expect(q.settled).toBe(0); // settles in a promise job, synchronously after abort()
    await tick();
    expect(q.settled).toBe(1);
    expect(q.error).toMatchObject({ code: 'ECANCELLED' });
    // The query is still on the wire (the server holds it): its permit waits for the answer.
    expect(r.semaphore.tokens).toBe(0);
    await tick(150); // the server's late reply ends it: the permit comes back, the call stays settled
    expect(q.settled).toBe(1);
    expect(r.semaphore.tokens).toBe(1);
    expect(r.stats.skipped).toBe(0);
  });

  it('abort while waiting for a permit: leaves the queue and never sends', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], concurrency: 1 });
    const first = r.resolveMx('google.com');
    const controller = new AbortController();
    const waiting = track(r.resolveMx('yahoo.com', { signal: controller.signal }));
    await tick(10);
    expect(r.semaphore.waiting).toBe(1);
    controller.abort();
    await tick();
    expect(waiting.error).toMatchObject({ code: 'ECANCELLED', hostname: 'yahoo.com' });
    expect(r.semaphore.waiting).toBe(0);
    await first;
    expect(server.stats.queries).toBe(1);
    expect(r.semaphore.tokens).toBe(1);
  });

  it('abort after settling changes nothing', async () => {
    const r = new Resolver({ servers: [server.server] });
    const controller = new AbortController();
    const q = track(r.resolveMx('microsoft.com', { signal: controller.signal }));
    await tick(150);
    expect(q.settled).toBe(1);
    controller.abort();
    await tick();
    expect(q.settled).toBe(1);
    expect(q.value).toHaveLength(1);
  });

  it('cancel() rejects every pending query of that resolver only, each once, and frees every permit', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 2 });
    const other = new Resolver({ servers: [server.server], concurrency: 2 });
    const mine = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com'].map((d) =>
      track(r.resolveMx(d)),
    );
    const theirs = track(other.resolveMx('twitter.com'));
    await tick(20);
    r.cancel();
    await tick();
    expect(mine.map((q) => [q.settled, (q.error as DnsError)?.code])).toEqual(
      Array(4).fill([1, 'ECANCELLED']),
    );
    expect(r.semaphore.waiting).toBe(0);
    await tick(150);
    // The two queries that were on the wire gave their permits back when their answers came.
    expect(r.semaphore.tokens).toBe(2);
    expect(theirs.settled).toBe(1);
    expect(theirs.value).toHaveLength(5);
    // The resolver still works after cancel().
    expect(await r.resolveMx('facebook.com')).toHaveLength(1);
  });

  it('rejects a signal that is not an AbortSignal with TypeError', async () => {
    const r = new Resolver({ servers: [server.server] });
    // @ts-expect-error: wrong type on purpose
    await expect(r.resolveMx('google.com', { signal: 'nope' })).rejects.toThrow(TypeError);
  });
});
