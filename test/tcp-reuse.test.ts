// TCP connections kept and pipelined (RFC 7766 §6.2.1, §7): several queries per connection, answers
// in any order, closes and forgeries on a shared connection, the gate's socket cap, the idle sweep.
// Counted from the server's side (connections accepted, open at once) and from the kernel's.

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Resolver, Semaphore } from '../src/index.js';
import {
  answer,
  badIdThenGood,
  delay,
  FakeClock,
  garbageThenGood,
  type TestServer,
  wrongQuestionThenGood,
} from '../src/testing/index.js';
import { openTcpSockets } from './helpers/handles.js';
import { numberedZone, serversFor, until } from './helpers/numbered-zone.js';

const { zone: ZONE, name, address } = numberedZone('reuse.test');

describe.each(['127.0.0.1', '::1'])('TCP reuse and pipelining on %s', (host) => {
  const serve = serversFor(host, ZONE);
  const resolver = (s: TestServer, options: ConstructorParameters<typeof Resolver>[0] = {}) =>
    // Without the adaptive limit, so that the gate alone says how many queries fly at once.
    new Resolver({ servers: [s.server], tcp: 'always', coalesce: false, adaptive: false, ...options });

  it('sequential and concurrent queries share one connection, with distinct IDs in flight', async () => {
    const ids: number[][] = [];
    const s = await serve({
      delayMs: 20,
      handler: (q, ctx) => {
        ids[ctx.connection!] ??= [];
        ids[ctx.connection!]!.push(q.id!);
        return undefined;
      },
    });
    // Each ID twice in a row: every second draw clashes with the query just sent, and is drawn again.
    let n = 0;
    const r = resolver(s, { concurrency: 16, runtime: { queryId: () => (n++ >> 1) & 0xffff } });
    for (let i = 0; i < 5; i++) expect(await r.resolve4(name(i))).toEqual(address(i));
    const batch = Array.from({ length: 16 }, (_, i) => i + 5);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.tcpConnections).toBe(1);
    expect(s.stats.tcpQueries).toBe(21);
    expect(s.stats.peakInFlight).toBe(16);
    const concurrent = ids[0]!.slice(5);
    expect(new Set(concurrent).size).toBe(16);
  });

  it('an ID source that repeats itself still gets every answer: a connection per query in flight', async () => {
    let peak = 0;
    // Long enough a delay that the four are in flight together, sampling as they arrive.
    const s = await serve({
      delayMs: 100,
      handler: () => {
        peak = Math.max(peak, openTcpSockets(s.port));
        return undefined;
      },
    });
    const r = resolver(s, { concurrency: 4, runtime: { queryId: () => 42 } });
    const batch = Array.from({ length: 8 }, (_, i) => i);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.peakInFlight).toBe(4);
    expect(peak).toBe(4);
    expect(r.stats.skipped).toBe(0);
  });

  it('answers out of order: each call gets its own answer, on one connection', async () => {
    const s = await serve({ script: [delay(80), delay(60), delay(40), delay(20), answer()] });
    const r = resolver(s, { concurrency: 8 });
    const batch = [0, 1, 2, 3, 4];
    const order: number[] = [];
    const results = await Promise.all(
      batch.map(async (i) => {
        const a = await r.resolve4(name(i));
        order.push(i);
        return a;
      }),
    );
    expect(results).toEqual(batch.map(address));
    expect(order).toEqual([4, 3, 2, 1, 0]);
    expect(s.stats.tcpConnections).toBe(1);
    expect(r.stats.skipped).toBe(0);
  });

  it('a server that closes after N answers: the rest go again on a new connection, no try lost', async () => {
    // dnsmasq closes a TCP connection after 100 queries; here after 4, with 8 pipelined on it.
    const s = await serve({ tcpMaxQueries: 4, delayMs: 10 });
    const r = resolver(s, { concurrency: 8, tries: 1, timeout: 2000 });
    const batch = Array.from({ length: 8 }, (_, i) => i);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.tcpConnections).toBe(2);
    expect(r.stats.timeouts).toBe(0);
    // One after another: each third query finds its connection closed (or closing) by the server.
    for (let i = 0; i < 6; i++) expect(await r.resolve4(name(i))).toEqual(address(i));
    expect(s.stats.tcpConnections).toBeGreaterThanOrEqual(3);
  });

  it('a kept connection the server closed while idle: the next query opens another, no try lost', async () => {
    const s = await serve({ tcpIdleMs: 20 });
    const r = resolver(s, { tries: 1 });
    expect(await r.resolve4(name(1))).toEqual(address(1));
    await until(() => s.stats.openConnections === 0);
    expect(await r.resolve4(name(2))).toEqual(address(2));
    expect(s.stats.tcpConnections).toBe(2);
  });

  it('one pipelined query never answered in time: it alone times out, its late answer is no forgery', async () => {
    const clock = new FakeClock();
    // The first query's answer comes 100 ms (real) late; the timeout is on the fake clock.
    const s = await serve({ script: [delay(100), answer()] });
    const r = resolver(s, { concurrency: 8, tries: 1, timeout: 1000, runtime: { clock } });
    const slow = r.resolve4(name(0)).catch((e: { code: string }) => e.code);
    const others = await Promise.all([1, 2, 3].map((i) => r.resolve4(name(i))));
    expect(others).toEqual([1, 2, 3].map(address));
    await clock.advance(1000);
    expect(await slow).toBe('ETIMEOUT');
    // The late answer reaches the client on the kept connection, and is dropped quietly.
    await until(() => s.stats.inFlight === 0);
    await sleep(20);
    expect(r.stats.skipped).toBe(0);
    expect(await r.resolve4(name(4))).toEqual(address(4));
    expect(s.stats.tcpConnections).toBe(1);
  });

  it('an unknown ID among pipelined answers: skipped once, every answer taken, the connection retired', async () => {
    const s = await serve({ script: [badIdThenGood(), answer()] });
    const r = resolver(s, { concurrency: 8, timeout: 2000 });
    const batch = [0, 1, 2];
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(r.stats.skipped).toBe(1);
    expect(await r.resolve4(name(3))).toEqual(address(3));
    expect(s.stats.tcpConnections).toBe(2);
  });

  it.each([
    ['a reply under another ID', badIdThenGood()],
    ['a reply for another name', wrongQuestionThenGood()],
    ['garbage', garbageThenGood()],
  ])('%s on a kept connection: skipped, the answer taken, no further query on it', async (_kind, fault) => {
    const s = await serve({ script: [answer(), fault, answer()] });
    const r = resolver(s, { timeout: 2000 });
    for (let i = 0; i < 3; i++) expect(await r.resolve4(name(i))).toEqual(address(i));
    expect(r.stats.skipped).toBe(1);
    // The first two shared a connection; the third went on a new one.
    expect(s.stats.tcpConnections).toBe(2);
  });

  it('many queries at concurrency 100: a few connections, never more than the queries need', async () => {
    const s = await serve({ delayMs: 20 });
    const r = resolver(s, { concurrency: 100 });
    const batch = Array.from({ length: 300 }, (_, i) => i);
    expect(await Promise.all(batch.map((i) => r.resolve4(name(i))))).toEqual(batch.map(address));
    expect(s.stats.peakInFlight).toBe(100);
    // 32 queries in flight per connection at most: 100 need 4.
    expect(s.stats.peakConnections).toBe(4);
    expect(s.stats.tcpConnections).toBe(4);
  });

  it("connections open, busy or idle, never exceed the gate's limit across servers", async () => {
    // Each query, as it arrives, counts this process's connections to the three servers.
    let peak = 0;
    const ports: number[] = [];
    const handler = () => {
      peak = Math.max(peak, openTcpSockets(...ports));
      return undefined;
    };
    const all = await Promise.all([1, 2, 3].map(() => serve({ delayMs: 5, handler })));
    ports.push(...all.map((s) => s.port));
    const semaphore = new Semaphore(2);
    const rs = all.map((s) => resolver(s, { semaphore }));
    const batch = Array.from({ length: 60 }, (_, i) => i);
    const results = await Promise.all(batch.map((i) => rs[i % 3]!.resolve4(name(i))));
    expect(results).toEqual(batch.map(address));
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2);
    expect(semaphore.tokens).toBe(2);
  });

  it('an idle connection is closed after 2 s of rest (fake clock)', async () => {
    const clock = new FakeClock();
    const s = await serve();
    const r = resolver(s, { concurrency: 4, runtime: { clock } });
    await Promise.all([0, 1, 2, 3].map((i) => r.resolve4(name(i))));
    expect(openTcpSockets(s.port)).toBe(1);
    await clock.advance(1999);
    expect(openTcpSockets(s.port)).toBe(1);
    await clock.advance(1);
    expect(openTcpSockets(s.port)).toBe(0);
    await until(() => s.stats.openConnections === 0);
    expect(s.stats.tcpConnections).toBe(1);
  });

  it('a caller that gives up on one pipelined query: the others are answered on the same connection', async () => {
    const s = await serve({ delayMs: 40 });
    const r = resolver(s, { concurrency: 4 });
    const giveUp = new AbortController();
    const calls = [0, 1, 2].map((i) =>
      r.resolve4(name(i), i === 1 ? { signal: giveUp.signal } : {}).catch((e: { code: string }) => e.code),
    );
    await until(() => s.stats.tcpQueries === 3);
    giveUp.abort();
    expect(await calls[1]).toBe('ECANCELLED');
    // Its permit is back at once, while the others are still on the wire.
    await sleep(0);
    expect(r.semaphore.tokens).toBe(2);
    expect(await calls[0]).toEqual(address(0));
    expect(await calls[2]).toEqual(address(2));
    await until(() => s.stats.inFlight === 0);
    await sleep(20);
    expect(r.stats.skipped).toBe(0);
    expect(await r.resolve4(name(3))).toEqual(address(3));
    expect(s.stats.tcpConnections).toBe(1);
    expect(r.semaphore.tokens).toBe(4);
  });
});
