// Time-dependent behaviour on a clock the test drives (FakeClock): the timeout doubling each round,
// the deadline, the rate (the idle sweep: gate.test.ts). Sockets are real; only time is virtual, so each case
// checks the exact virtual millisecond and takes a few real milliseconds.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsError, Resolver } from '../src/index.js';
import { FakeClock, silent, startTestServer, type TestServer } from '../src/testing/index.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));

/** Waits (in real time, briefly) until the server has seen `n` queries; returns how many it saw. */
async function seen(server: TestServer, n: number): Promise<number> {
  for (let i = 0; i < 400 && server.stats.queries < n; i++) await new Promise((r) => setTimeout(r, 5));
  return server.stats.queries;
}

/** What the server has seen after a short real wait, in which a query that should not come could. */
async function settled(server: TestServer): Promise<number> {
  await new Promise((r) => setTimeout(r, 25));
  return server.stats.queries;
}

describe('time, on a fake clock', () => {
  let quiet: TestServer;
  let zone: TestServer;

  beforeAll(async () => {
    quiet = await startTestServer({ zoneFile, script: silent() });
    zone = await startTestServer({ zoneFile });
  });
  afterAll(async () => {
    await quiet.close();
    await zone.close();
  });

  it.each(['127.0.0.1', '::1'])('a try times out at its timeout, doubling each round (%s)', async (host) => {
    const server =
      host === '::1' ? await startTestServer({ zoneFile, address: '::1', script: silent() }) : quiet;
    try {
      server.resetStats();
      const clock = new FakeClock();
      const resolver = new Resolver({
        servers: [server.server],
        timeout: 1000,
        tries: 3,
        runtime: { clock },
      });
      const call = resolver.resolveMx('google.com');
      const outcome = call.then(
        () => 'answered',
        (e: DnsError) => e.code,
      );
      expect(await seen(server, 1)).toBe(1);
      await clock.advance(999);
      expect(await settled(server)).toBe(1);
      await clock.advance(1); // t = 1000: round 2, timeout 2000
      expect(await seen(server, 2)).toBe(2);
      await clock.advance(1999);
      expect(await settled(server)).toBe(2);
      await clock.advance(1); // t = 3000: round 3, timeout 4000
      expect(await seen(server, 3)).toBe(3);
      await clock.advance(3999);
      await expect(
        Promise.race([outcome, new Promise((r) => setTimeout(() => r('pending'), 20))]),
      ).resolves.toBe('pending');
      await clock.advance(1); // t = 7000: every round timed out
      await expect(outcome).resolves.toBe('ETIMEOUT');
      expect(server.stats.queries).toBe(3);
    } finally {
      if (server !== quiet) await server.close();
    }
  });

  it('the deadline rejects at its moment with ETIMEOUT, and no try goes out after it', async () => {
    quiet.resetStats();
    const clock = new FakeClock();
    const resolver = new Resolver({
      servers: [quiet.server],
      timeout: 2000,
      tries: 4,
      deadline: 5000,
      runtime: { clock },
    });
    const outcome = resolver.resolveMx('google.com').then(
      () => 'answered',
      (e: DnsError) => e.code,
    );
    await clock.advance(4999); // tries at 0 and 2000 (the second waits 4000)
    expect(await seen(quiet, 2)).toBe(2);
    await expect(
      Promise.race([outcome, new Promise((r) => setTimeout(() => r('pending'), 20))]),
    ).resolves.toBe('pending');
    await clock.advance(1);
    await expect(outcome).resolves.toBe('ETIMEOUT');
    await clock.advance(60_000);
    expect(await settled(quiet)).toBe(2);
  });

  it('the rate spaces starts by the clock (10/s: one per 100 ms, each up to 2 ms early)', async () => {
    zone.resetStats();
    const clock = new FakeClock();
    const resolver = new Resolver({ servers: [zone.server], rate: 10, coalesce: false, runtime: { clock } });
    const calls = Array.from({ length: 3 }, () => resolver.resolveMx('google.com'));
    expect(await settled(zone)).toBe(1);
    await clock.advance(97);
    expect(await settled(zone)).toBe(1);
    await clock.advance(1); // t = 98
    expect(await seen(zone, 2)).toBe(2);
    await clock.advance(99);
    expect(await settled(zone)).toBe(2);
    await clock.advance(1); // t = 198
    expect(await seen(zone, 3)).toBe(3);
    await Promise.all(calls);
  });

  it('a fake clock leaves no timer of its own behind', async () => {
    const clock = new FakeClock();
    const resolver = new Resolver({ servers: [zone.server], timeout: 1000, runtime: { clock } });
    await resolver.resolveMx('google.com');
    await clock.advance(5000);
    expect(clock.pending).toBe(0);
  });
});
