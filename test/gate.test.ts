// The gate, seen from the server: never more queries in flight, nor UDP sockets open, than the limit.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver, Semaphore } from '../src/index.js';
import { FakeClock, startTestServer, type TestServer } from '../src/testing/index.js';
import { openUdpSockets } from './helpers/handles.js';

// Each test asks a few names over and over to fill the gate: `coalesce: false` sends every call.
const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));
const domains = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];

describe('the gate caps queries and sockets in flight', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ zoneFile, delayMs: 20 });
  });
  afterAll(() => server.close());

  it.each([1, 2, 16])('limit %i: 200 MX queries reach exactly the limit in flight', async (limit) => {
    // A server of its own, so every socket connected to its port belongs to this resolver.
    let peakSockets = 0;
    const own = await startTestServer({
      zoneFile,
      delayMs: 20,
      // Runs as each query arrives: count the UDP sockets of this process connected to the server.
      handler: () => {
        peakSockets = Math.max(peakSockets, openUdpSockets(own.port));
        return undefined;
      },
    });
    const resolver = new Resolver({ servers: [own.server], concurrency: limit, coalesce: false });
    const names = Array.from({ length: 200 }, (_, i) => domains[i % domains.length]!);
    const results = await Promise.all(names.map((n) => resolver.resolveMx(n)));
    expect(results.every((r) => r.length > 0)).toBe(true);
    expect(own.stats.queries).toBe(200);
    expect(own.stats.peakInFlight).toBe(limit);
    expect(peakSockets).toBeGreaterThan(0);
    expect(peakSockets).toBeLessThanOrEqual(limit);
    // Reuse keeps the ports a router sees few: at most one per permit for 200 queries.
    expect(own.stats.sourcePorts.size).toBeLessThanOrEqual(limit * 2);
    await own.close();
  });

  /**
   * Runs `fn` with a resolver of its own test server behind a leased gate as dnsgate/redis makes
   * one, over a Semaphore of 4: `covers()` turns false when its share shrinks or its lease runs
   * out, `lapsed()` only when the lease runs out.
   */
  async function withLeasedGate(
    timeout: number,
    fn: (own: TestServer, resolver: Resolver, state: { covered: boolean; lapsed: boolean }) => Promise<void>,
  ): Promise<void> {
    const own = await startTestServer({ zoneFile });
    const sem = new Semaphore(4);
    const state = { covered: true, lapsed: false };
    const gate = {
      get limit() {
        return sem.limit;
      },
      tryAcquire: () => sem.tryAcquire(),
      acquire: (options?: { signal?: AbortSignal }) => sem.acquire(options),
      release: () => sem.release(),
      covers: () => state.covered,
      lapsed: () => state.lapsed,
    };
    try {
      const resolver = new Resolver({
        servers: [own.server],
        semaphore: gate,
        adaptive: false,
        timeout,
        tries: 2,
      });
      await fn(own, resolver, state);
    } finally {
      await own.close();
    }
  }

  it('a datagram held for its socket to connect is not sent once the lease lapsed (a process paused past it)', () =>
    withLeasedGate(100, async (own, resolver, state) => {
      const answer = resolver.resolveMx('google.com');
      // The send was decided with the lease current; its fresh socket connects on a later turn,
      // by when the lease ran out (as for a process stopped in between).
      state.covered = false;
      state.lapsed = true;
      await new Promise((r) => setTimeout(r, 50));
      expect(own.stats.queries).toBe(0);
      // A new lease: the query goes again after its timeout.
      state.covered = true;
      state.lapsed = false;
      expect((await answer).length).toBeGreaterThan(0);
      expect(own.stats.queries).toBe(1);
    }));

  it('a datagram held for its socket to connect still goes when the share only shrank (the lease current: Redis keeps what is held recorded)', () =>
    withLeasedGate(2000, async (own, resolver, state) => {
      const answer = resolver.resolveMx('google.com');
      state.covered = false; // another process joined: this one holds more than its new share
      await new Promise((r) => setTimeout(r, 50));
      // Sent on connect, not kept in until a timeout (which cost the cluster gate 70% of its q/s).
      expect(own.stats.queries).toBe(1);
      state.covered = true;
      expect((await answer).length).toBeGreaterThan(0);
    }));

  it('resolvers sharing one Semaphore share one budget', async () => {
    server.resetStats();
    const semaphore = new Semaphore(3);
    const a = new Resolver({ servers: [server.server], semaphore, coalesce: false });
    const b = new Resolver({ servers: [server.server], semaphore, coalesce: false });
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).resolveMx(domains[i % domains.length]!)),
    );
    expect(server.stats.peakInFlight).toBe(3);
    expect(semaphore.tokens).toBe(3);
  });

  it('socketReuse: 1 uses a fresh source port per query', async () => {
    server.resetStats();
    const resolver = new Resolver({ servers: [server.server], concurrency: 2, socketReuse: 1 });
    for (let i = 0; i < 10; i++) await resolver.resolveMx('google.com');
    expect(server.stats.sourcePorts.size).toBe(10);
  });

  it('reuses one socket for sequential queries on one permit', async () => {
    server.resetStats();
    const resolver = new Resolver({ servers: [server.server], concurrency: 4, socketReuse: 5 });
    for (let i = 0; i < 10; i++) await resolver.resolveMx('google.com');
    // 10 queries, rotated after 5 each: two ports.
    expect(server.stats.sourcePorts.size).toBe(2);
  });

  it('idle sockets close on their own after 2 s of rest (by a fake clock), leaving no UDP socket open', async () => {
    const clock = new FakeClock();
    const before = openUdpSockets(server.port);
    const resolver = new Resolver({ servers: [server.server], concurrency: 8, runtime: { clock } });
    await Promise.all(Array.from({ length: 40 }, () => resolver.resolveMx('google.com')));
    expect(openUdpSockets(server.port)).toBeGreaterThan(before);
    await clock.advance(1999);
    expect(openUdpSockets(server.port)).toBeGreaterThan(before);
    await clock.advance(1);
    expect(openUdpSockets(server.port)).toBeLessThanOrEqual(before);
  });
});
