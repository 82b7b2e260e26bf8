// RFC 5452 §4 and §9.2, seen from the server: query IDs are unpredictable, and queries in flight
// together leave from distinct source ports, so an off-path forger must guess both.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../src/resolver.js';
import { type QueryContext, startTestServer, type TestServer } from '../src/testing/index.js';
import type { Packet } from '../src/wire/codec.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Pairs (i, i+1) whose IDs step by `delta` (mod 2^16). */
function steps(ids: readonly number[], delta: number): number {
  let n = 0;
  for (let i = 0; i + 1 < ids.length; i++) if (((ids[i + 1]! - ids[i]!) & 0xffff) === delta) n++;
  return n;
}

/** How often the commonest step between consecutive IDs occurs (a linear generator repeats one). */
function commonestStep(ids: readonly number[]): number {
  const counts = new Map<number, number>();
  for (let i = 0; i + 1 < ids.length; i++) {
    const d = (ids[i + 1]! - ids[i]!) & 0xffff;
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return Math.max(...counts.values());
}

describe('query IDs and source ports', () => {
  let server: TestServer;
  /** Every query as it arrives: ID and source port. */
  const arrivals: { id: number; port: number }[] = [];
  /** When set, the handler holds each query this long, tracking the ports held together. */
  let holdMs = 0;
  const held = new Map<number, number>(); // port -> queries held from it
  let peakHeld = 0;
  let peakPorts = new Set<number>();
  let sharedPort = 0;

  beforeAll(async () => {
    server = await startTestServer({
      zoneFile,
      handler: async (query: Packet, ctx: QueryContext) => {
        arrivals.push({ id: query.id!, port: ctx.rinfo.port });
        if (holdMs === 0) return undefined;
        const port = ctx.rinfo.port;
        if (held.has(port)) sharedPort++;
        held.set(port, (held.get(port) ?? 0) + 1);
        const total = [...held.values()].reduce((a, b) => a + b, 0);
        if (total > peakHeld) {
          peakHeld = total;
          peakPorts = new Set(held.keys());
        }
        await sleep(holdMs);
        const left = held.get(port)! - 1;
        if (left === 0) held.delete(port);
        else held.set(port, left);
        return undefined; // the zone answers
      },
    });
  });
  afterAll(() => server.close());

  it('2,000 sequential queries carry unpredictable IDs', async () => {
    arrivals.length = 0;
    const resolver = new Resolver({ servers: [server.server], concurrency: 1, timeout: 1000, tries: 3 });
    const names = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];
    for (let i = 0; i < 2000; i++) {
      const msg = await resolver.query(names[i % names.length]!, 'MX');
      expect(msg.rcode).toBe('NOERROR');
    }
    // Loopback may drop a datagram under load; a retry is a new query with a new ID, counted too.
    expect(arrivals.length).toBeGreaterThanOrEqual(2000);
    const ids = arrivals.map((a) => a.id);
    const distinct = new Set(ids).size;
    // 2,000 draws from 65,536: about 30 repeats expected, never 100.
    expect(distinct).toBeGreaterThanOrEqual(1900);
    // A counter would step by 1 every time; random IDs do so with probability 2^-16 per pair.
    const sequential = steps(ids, 1);
    expect(sequential).toBeLessThanOrEqual(5);
    // Nor any other fixed stride (a linear generator), nor a repeated ID back to back.
    const commonest = commonestStep(ids);
    // (Measured over 2,000 runs of 2,000 crypto IDs: the commonest step occurs 2-4 times, never 5.)
    expect(commonest).toBeLessThanOrEqual(6);
    expect(steps(ids, 0)).toBeLessThanOrEqual(5);
    // Both bytes vary: the high and the low byte each take most of their 256 values.
    expect(new Set(ids.map((id) => id >> 8)).size).toBeGreaterThan(230);
    expect(new Set(ids.map((id) => id & 0xff)).size).toBeGreaterThan(230);
    console.log(
      `[randomness] ${ids.length} IDs: ${distinct} distinct, ${sequential} sequential pairs, commonest step x${commonest}`,
    );
  });

  it('queries in flight together use distinct source ports (concurrency 32)', async () => {
    arrivals.length = 0;
    server.resetStats();
    holdMs = 30;
    peakHeld = 0;
    sharedPort = 0;
    try {
      const resolver = new Resolver({
        servers: [server.server],
        concurrency: 32,
        // A port per query in flight (several queries share a port by default: see udp-share.test.ts).
        queriesPerSocket: 1,
        timeout: 2000,
        tries: 2,
        coalesce: false,
      });
      const results = await Promise.all(Array.from({ length: 320 }, () => resolver.resolveMx('google.com')));
      expect(results.every((r) => r.length === 5)).toBe(true);
    } finally {
      holdMs = 0;
    }
    expect(held.size).toBe(0);
    // The gate filled: 32 queries held at once, from 32 different ports, and never two from one port.
    expect(peakHeld).toBe(32);
    expect(peakPorts.size).toBe(32);
    expect(sharedPort).toBe(0);
    // IDs of this burst are as random as the sequential ones.
    const ids = arrivals.map((a) => a.id);
    expect(new Set(ids).size).toBeGreaterThanOrEqual(ids.length - 10);
    expect(steps(ids, 1)).toBeLessThanOrEqual(5);
    console.log(
      `[randomness] concurrency 32: peak ${peakHeld} held from ${peakPorts.size} ports, ${server.stats.sourcePorts.size} ports in all`,
    );
  });

  it('with socketReuse 1 every query leaves from a fresh, unpredictable port', async () => {
    arrivals.length = 0;
    const resolver = new Resolver({
      servers: [server.server],
      concurrency: 1,
      socketReuse: 1,
      timeout: 1000,
    });
    for (let i = 0; i < 200; i++) await resolver.resolveMx('google.com');
    const ports = arrivals.map((a) => a.port);
    // The OS picks each port (bound to port 0): never the same twice in a row, nor counting up.
    expect(steps(ports, 0)).toBeLessThanOrEqual(2);
    expect(steps(ports, 1)).toBeLessThanOrEqual(5);
    expect(new Set(ports).size).toBeGreaterThanOrEqual(190);
  });
});
