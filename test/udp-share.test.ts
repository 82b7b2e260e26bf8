// Several queries in flight on one UDP socket (issue 18): distinct IDs per socket, answers routed by
// ID in any order, forgeries and late answers on a shared socket, ICMP refusal, the gate's socket
// cap, and the source ports a NAT sees. Counted from the server's side and from the kernel's.

import { createSocket } from 'node:dgram';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Resolver, Semaphore } from '../src/index.js';
import {
  answer,
  badIdThenGood,
  delay,
  FakeClock,
  startTestServer,
  type TestServer,
} from '../src/testing/index.js';
import { UdpSocket } from '../src/transport/udp.js';
import { encodeQuery } from '../src/wire/codec.js';
import { openUdpSockets } from './helpers/handles.js';
import { numberedZone, serversFor, until } from './helpers/numbered-zone.js';

const { zone: ZONE, name, address } = numberedZone('share.test');
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Queries held at the server now and at their peak, per source port (a handler hook). */
function heldPerPort() {
  const held = new Map<number, Set<number>>();
  let peakOnePort = 0;
  return {
    held,
    get peakOnePort() {
      return peakOnePort;
    },
    /** Records the query arriving from `port` with `id`; returns the function that ends it. */
    arrive(port: number, id: number): () => void {
      const ids = held.get(port) ?? new Set<number>();
      held.set(port, ids);
      // Two queries in flight from one port with one ID: the client broke its own routing.
      expect(ids.has(id)).toBe(false);
      ids.add(id);
      peakOnePort = Math.max(peakOnePort, ids.size);
      return () => {
        ids.delete(id);
        if (ids.size === 0) held.delete(port);
      };
    },
  };
}

describe.each(['127.0.0.1', '::1'])('UDP queries sharing a socket on %s', (host) => {
  const serve = serversFor(host, ZONE);
  const resolver = (s: TestServer, options: ConstructorParameters<typeof Resolver>[0] = {}) =>
    // Without the adaptive limit, so that the gate alone says how many queries fly at once (and
    // nothing is sent twice).
    new Resolver({ servers: [s.server], coalesce: false, adaptive: false, ...options });

  it.each([
    ['k queries share one socket: 16 in flight at k = 4 leave from 4 ports, 4 from each', 16, 4, 4],
    ['queriesPerSocket: 1 keeps one query per socket (a port per query in flight)', 8, 1, 8],
  ])('%s', async (_title, concurrency, k, ports) => {
    const track = heldPerPort();
    const s = await serve({
      handler: async (q, ctx) => {
        const end = track.arrive(ctx.rinfo.port, q.id!);
        await sleep(30);
        end();
        return undefined;
      },
    });
    const r = resolver(s, { concurrency, queriesPerSocket: k });
    const batch = range(concurrency);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.peakInFlight).toBe(concurrency);
    expect(s.stats.sourcePorts.size).toBe(ports);
    expect(track.peakOnePort).toBe(k);
    expect(r.stats.skipped).toBe(0);
  });

  it('an ID source that repeats itself: IDs in flight on a socket stay distinct, every answer taken', async () => {
    const ids: number[] = [];
    const s = await serve({
      delayMs: 20,
      handler: (q) => {
        ids.push(q.id!);
        return undefined;
      },
    });
    // Each ID twice in a row: every second draw clashes with the query just sent, and is drawn again.
    let n = 0;
    const r = resolver(s, {
      concurrency: 8,
      queriesPerSocket: 8,
      runtime: { queryId: () => (n++ >> 1) & 0xffff },
    });
    const batch = range(8);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.sourcePorts.size).toBe(1);
    expect(new Set(ids).size).toBe(8);
    expect(r.stats.skipped).toBe(0);
  });

  it('an ID source that always says 42: one socket per query in flight, every answer taken', async () => {
    let peak = 0;
    const s = await serve({
      delayMs: 50,
      handler: () => {
        peak = Math.max(peak, openUdpSockets(s.port));
        return undefined;
      },
    });
    const r = resolver(s, { concurrency: 4, queriesPerSocket: 4, runtime: { queryId: () => 42 } });
    const batch = range(8);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.peakInFlight).toBe(4);
    expect(peak).toBe(4);
    expect(r.stats.skipped).toBe(0);
  });

  it('answers out of order: each call gets its own answer, all from one port', async () => {
    const s = await serve({ script: [delay(80), delay(60), delay(40), delay(20), answer()] });
    const r = resolver(s, { concurrency: 8, queriesPerSocket: 8 });
    const order: number[] = [];
    const batch = range(5);
    const results = await Promise.all(
      batch.map(async (i) => {
        const a = await r.resolve4(name(i));
        order.push(i);
        return a;
      }),
    );
    expect(results).toEqual(batch.map(address));
    expect(order).toEqual([4, 3, 2, 1, 0]);
    expect(s.stats.sourcePorts.size).toBe(1);
    expect(r.stats.skipped).toBe(0);
  });

  it('an unknown ID on a shared socket: skipped and published once, every answer taken, the socket retired', async () => {
    const skips: unknown[] = [];
    const onSkip = (m: unknown) => skips.push(m);
    subscribe('dnsgate:query:skip', onSkip);
    try {
      // The first query's answer is preceded by a copy under another ID; the others are answered.
      const s = await serve({ script: [badIdThenGood({ leadMs: 20 }), answer()] });
      const r = resolver(s, { concurrency: 8, queriesPerSocket: 8, timeout: 2000, tries: 1 });
      const batch = range(3);
      expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
      expect(r.stats).toMatchObject({ sent: 3, answers: 3, skipped: 1, timeouts: 0 });
      expect(skips).toHaveLength(1);
      expect(s.stats.sourcePorts.size).toBe(1);
      // The next query goes out on a fresh port: the retired socket closed with its last query.
      expect(await r.resolve4(name(3))).toEqual(address(3));
      expect(s.stats.sourcePorts.size).toBe(2);
    } finally {
      unsubscribe('dnsgate:query:skip', onSkip);
    }
  });

  it('one query on a shared socket times out: the others are answered, its late answer is no forgery', async () => {
    const clock = new FakeClock();
    // The first query's answer comes 100 ms (real) late; the timeout is on the fake clock.
    const s = await serve({ script: [delay(100), answer()] });
    const r = resolver(s, {
      concurrency: 8,
      queriesPerSocket: 8,
      tries: 1,
      timeout: 1000,
      runtime: { clock },
    });
    const slow = r.resolve4(name(0)).catch((e: { code: string }) => e.code);
    expect(await Promise.all([1, 2, 3].map((i) => r.resolve4(name(i))))).toEqual([1, 2, 3].map(address));
    await clock.advance(1000);
    expect(await slow).toBe('ETIMEOUT');
    // The late answer reaches the socket, which is still in use, and is dropped quietly.
    await until(() => s.stats.inFlight === 0);
    await sleep(20);
    expect(r.stats).toMatchObject({ skipped: 0, malformed: 0, timeouts: 1 });
    expect(await r.resolve4(name(4))).toEqual(address(4));
    // Silence says nothing about the socket: it is kept.
    expect(s.stats.sourcePorts.size).toBe(1);
  });

  it('late answers to 16 queries on a socket that timed out together are dropped quietly, rounds later', async () => {
    // Each answer comes 300 ms after its query, each try times out at 100: the answers land while
    // the next rounds' 16 queries (and their timeouts) pass on the same socket.
    const s = await serve({ delayMs: 300 });
    const r = resolver(s, { concurrency: 16, tries: 1, timeout: 100 });
    const codes = await Promise.all(
      range(64).map((i) => r.resolve4(name(i)).catch((e: { code: string }) => e.code)),
    );
    expect(codes).toEqual(range(64).map(() => 'ETIMEOUT'));
    await until(() => s.stats.inFlight === 0);
    await sleep(20);
    expect(r.stats).toMatchObject({ skipped: 0, timeouts: 64 });
    expect(s.stats.sourcePorts.size).toBe(1);
  });

  it("sockets open, busy or idle, never exceed the gate's limit across servers", async () => {
    let peak = 0;
    const all: TestServer[] = [];
    const handler = () => {
      peak = Math.max(
        peak,
        all.reduce((n, x) => n + openUdpSockets(x.port), 0),
      );
      return undefined;
    };
    all.push(...(await Promise.all([1, 2, 3].map(() => serve({ delayMs: 5, handler })))));
    // Three sockets' worth of permits, two queries per socket, three servers taking turns.
    const semaphore = new Semaphore(3);
    const rs = all.map((s) => resolver(s, { semaphore, queriesPerSocket: 2 }));
    const batch = range(90);
    expect(await Promise.all(batch.map((i) => rs[i % 3]!.resolve4(name(i))))).toEqual(batch.map(address));
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(3);
    expect(semaphore.tokens).toBe(3);
  });

  it('ICMP port unreachable fails every query on the socket at once', async () => {
    // A port nobody listens on: bound, noted, closed.
    const probe = createSocket(host === '::1' ? 'udp6' : 'udp4');
    probe.bind(0, host);
    await once(probe, 'listening');
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const clock = new FakeClock();
    const target = host === '::1' ? `[::1]:${port}` : `${host}:${port}`;
    const r = new Resolver({
      servers: [target],
      coalesce: false,
      adaptive: false,
      concurrency: 4,
      queriesPerSocket: 4,
      tries: 1,
      runtime: { clock },
    });
    // No timer ever fires: only the refusal can end these.
    const codes = await Promise.all(
      range(4).map((i) => r.resolve4(name(i)).catch((e: { code: string }) => e.code)),
    );
    expect(codes).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    expect(openUdpSockets(port)).toBe(0);
  });
});

describe('a datagram held for the end of the turn', () => {
  it('is not sent once its exchange is over (its permit is back; a process stopped meanwhile must not send it on resuming)', async () => {
    const s = await startTestServer({ zone: ZONE });
    const socket = new UdpSocket({ address: '127.0.0.1', port: s.port, family: 4, label: s.server }, 8);
    try {
      const listener = { message() {}, error() {} };
      // Eight exchanges in one turn, while the socket connects: their datagrams wait, and go out
      // together at the end of the turn (more than BURST attached). Four end before that.
      const slots = range(8).map(() => socket.attach(listener));
      for (const slot of slots) {
        const bytes = encodeQuery({ id: 100 + slot, name: name(slot), type: 'A', udpPayload: 1232 });
        expect(socket.claim(slot, 100 + slot)).toBe(true);
        socket.send(slot, bytes);
      }
      for (const slot of slots.slice(4)) socket.detach(slot);
      await until(() => s.stats.queries >= 4);
      await sleep(50);
      expect(s.stats.queries).toBe(4);
    } finally {
      socket.close();
      await s.close();
    }
  });
});

describe('source ports at concurrency 16', () => {
  it.each([
    [1, 16],
    [8, 3],
    [undefined, 2],
  ])('queriesPerSocket %s: 1,000 queries use at most %i ports (and ≤ 20)', async (k, most) => {
    const s = await startTestServer({ zone: ZONE });
    try {
      // Defaults otherwise (the adaptive gate, socketReuse 1,000), as a user would run it.
      const r = new Resolver({
        servers: [s.server],
        concurrency: 16,
        coalesce: false,
        ...(k === undefined ? {} : { queriesPerSocket: k }),
      });
      let next = 0;
      const worker = async () => {
        while (next < 1000) {
          const i = next++;
          expect(await r.resolve4(name(i))).toEqual(address(i));
        }
      };
      await Promise.all(range(16).map(worker));
      const ports = s.stats.sourcePorts.size;
      console.log(`[udp-share] 1,000 queries at c=16, k=${k}: ${ports} source ports`);
      // k = 1: 16 sockets of about 62 queries each; k = 8: two sockets of about 500 each; the
      // default 16: one socket, which retires at 1,000 (a second may carry the last few).
      expect(ports).toBeLessThanOrEqual(most);
      expect(ports).toBeLessThanOrEqual(20);
    } finally {
      await s.close();
    }
  });

  it('a socket takes no new query after 10 s, however few it carried: a slow stream moves to fresh ports (fake clock)', async () => {
    const s = await startTestServer({ zone: ZONE });
    try {
      const clock = new FakeClock();
      const r = new Resolver({ servers: [s.server], coalesce: false, runtime: { clock } });
      const portOf = async (i: number) => {
        const before = new Set(s.stats.sourcePorts);
        expect(await r.resolve4(name(i))).toEqual(address(i));
        return [...s.stats.sourcePorts].find((p) => !before.has(p)) ?? 'same';
      };
      const first = await portOf(0);
      expect(first).not.toBe('same');
      // Never idle for the 2 s that close a socket: a query every 1.5 s.
      for (let t = 1; t < 7; t++) {
        await clock.advance(1500);
        expect(await portOf(t)).toBe('same');
      }
      await clock.advance(999); // 9,999 ms old
      expect(await portOf(7)).toBe('same');
      await clock.advance(1);
      // 10,000 ms old, 8 queries carried of 1,000: a fresh port.
      expect(await portOf(8)).not.toBe('same');
      expect(s.stats.sourcePorts.size).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('queriesPerSocket takes an integer from 1 to 64, and names itself when it is not one', () => {
    for (const bad of [0, 65, 1.5, '8', Number.NaN]) {
      expect(() => new Resolver({ servers: ['127.0.0.1'], queriesPerSocket: bad as number })).toThrow(
        /`queriesPerSocket` to be an integer from 1 to 64/,
      );
    }
    expect(() => new Resolver({ servers: ['127.0.0.1'], queriesPerSocket: 64 })).not.toThrow();
    expect(() => new Resolver({ servers: ['127.0.0.1'], queriesPerSocket: 1 })).not.toThrow();
  });
});
