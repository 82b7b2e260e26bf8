// In-flight coalescing: calls asking a question already on the wire wait for that answer instead
// of sending another, each making its own result, failing on its own, and cancelling alone.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsError, Resolver } from '../src/index.js';
import { Lane } from '../src/lookup/coalesce.js';
import { silent, startTestServer, type TestServer } from '../src/testing/index.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));
const domains = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];

describe('in-flight coalescing', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ zoneFile, delayMs: 30 });
  });
  afterAll(() => server.close());

  it('50 calls for one name send one query; each gets its own equal result', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    const results = await Promise.all(Array.from({ length: 50 }, () => r.resolveMx('yahoo.com')));
    expect(server.stats.queries).toBe(1);
    const [first] = results;
    expect(first!.length).toBeGreaterThan(1);
    for (const result of results) expect(result).toEqual(first);
    // Fresh objects per call: one caller sorting or editing its records touches no other's.
    expect(new Set(results).size).toBe(50);
    expect(new Set(results.map((x) => x[0])).size).toBe(50);
    results[0]![0]!.exchange = 'changed';
    expect(results[1]![0]!.exchange).not.toBe('changed');
  });

  it('shares only the same question: other types, other names and query() go out', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    await Promise.all([
      r.resolveMx('google.com'),
      r.resolveMx('google.com'), // rides
      r.resolve('google.com', 'MX'), // same question: rides
      r.resolveNs('google.com'),
      r.resolveMx('GOOGLE.com'), // the same question: names go out in lower case, as c-ares sends them
      r.resolveMx('yahoo.com'),
      r.query('google.com', 'MX'), // the whole message, never shared
    ]);
    expect(server.stats.queries).toBe(4);
  });

  it('later calls fly afresh once the answer is in', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    await r.resolveMx('google.com');
    await r.resolveMx('google.com');
    expect(server.stats.queries).toBe(2);
  });

  it('coalesce: false sends every call', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], coalesce: false });
    await Promise.all(Array.from({ length: 5 }, () => r.resolveMx('google.com')));
    expect(server.stats.queries).toBe(5);
    expect(() => new Resolver({ coalesce: 'yes' as never })).toThrow(TypeError);
  });

  it('NXDOMAIN and NODATA reach every rider as its own error', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    const errors = await Promise.all([
      r.resolveMx('nope.google.com').catch((e) => e),
      r.resolveMx('nope.google.com').catch((e) => e),
      r.resolveTxt('google.com').catch((e) => e),
      r.resolveTxt('google.com').catch((e) => e),
    ]);
    expect(server.stats.queries).toBe(2);
    expect(errors.map((e) => [e.code, e.syscall, e.hostname])).toEqual([
      ['ENOTFOUND', 'queryMx', 'nope.google.com'],
      ['ENOTFOUND', 'queryMx', 'nope.google.com'],
      ['ENODATA', 'queryTxt', 'google.com'],
      ['ENODATA', 'queryTxt', 'google.com'],
    ]);
    expect(errors[0]).not.toBe(errors[1]);
  });

  it('a cancelled rider rejects alone; the others get the answer from the one query', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    const ac = new AbortController();
    const lead = r.resolveMx('google.com');
    const quitter = r.resolveMx('google.com', { signal: ac.signal }).catch((e) => e);
    const stayer = r.resolveMx('google.com');
    ac.abort('enough');
    expect(await quitter).toMatchObject({ code: 'ECANCELLED', syscall: 'queryMx', hostname: 'google.com' });
    expect((await lead).length).toBeGreaterThan(0);
    expect(await stayer).toEqual(await lead);
    expect(server.stats.queries).toBe(1);
  });

  it('when the first caller cancels, its question stays on the wire for the riders', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server] });
    const ac = new AbortController();
    const lead = r.resolveMx('google.com', { signal: ac.signal }).catch((e) => e);
    const riders = [r.resolveMx('google.com'), r.resolveMx('google.com'), r.resolveMx('google.com')];
    await new Promise((resolve) => setTimeout(resolve, 5)); // the first query is on the wire
    ac.abort('enough');
    expect(await lead).toMatchObject({ code: 'ECANCELLED' });
    const answers = await Promise.all(riders);
    for (const a of answers) expect(a.length).toBeGreaterThan(0);
    expect(server.stats.queries).toBe(1); // the riders got the answer to the leader's query
    // A call made now rides on nothing: the lane was cleared when the answer came.
    await r.resolveMx('google.com');
    expect(server.stats.queries).toBe(2);
  });

  it('cancel() rejects leaders and riders alike and leaves the gate whole', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 2 });
    const calls = Array.from({ length: 10 }, (_, i) => r.resolveMx(domains[i % 2]!).catch((e) => e));
    r.cancel();
    const errors = await Promise.all(calls);
    expect(errors.every((e) => e instanceof DnsError && e.code === 'ECANCELLED')).toBe(true);
    expect((await r.resolveMx('google.com')).length).toBeGreaterThan(0);
  });

  it('riders on a bulk run: 200 names of 5 domains, far fewer queries, every result once', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], concurrency: 16 });
    const names = Array.from({ length: 200 }, (_, i) => domains[i % domains.length]!);
    const seen = new Set<number>();
    for await (const res of r.resolveEach(names, 'MX')) {
      expect(res.ok).toBe(true);
      seen.add(res.index);
    }
    expect(seen.size).toBe(200);
    // 16 in flight hold at most 5 distinct questions: about one query per 3 names or better.
    expect(server.stats.queries).toBeLessThanOrEqual(200 / 3);
  });
});

describe('in-flight coalescing when the server fails', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ zoneFile, script: silent() });
  });
  afterAll(() => server.close());

  it('a timeout reaches every rider, named for its own call, after one query`s tries', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], timeout: 30, tries: 2 });
    const errors = await Promise.all([
      r.resolveMx('google.com').catch((e) => e),
      r.resolveMx('google.com').catch((e) => e),
      r.resolve('google.com', 'MX').catch((e) => e),
    ]);
    expect(server.stats.queries).toBe(2); // two tries, for all three calls
    for (const e of errors)
      expect(e).toMatchObject({ code: 'ETIMEOUT', syscall: 'queryMx', hostname: 'google.com' });
    expect(new Set(errors).size).toBe(3);
  });

  it('reverse() and resolvePtr() share a question but keep their own syscall and hostname', async () => {
    const r = new Resolver({ servers: [server.server], timeout: 30, tries: 1 });
    const [a, b] = await Promise.all([
      r.reverse('192.0.2.1').catch((e) => e),
      r.resolvePtr('1.2.0.192.in-addr.arpa').catch((e) => e),
    ]);
    // reverse() says ENOTFOUND for any server failure, as c-ares does; the timeout is its cause.
    expect(a).toMatchObject({ code: 'ENOTFOUND', syscall: 'getHostByAddr', hostname: '192.0.2.1' });
    expect(a.cause).toMatchObject({ code: 'ETIMEOUT', syscall: 'getHostByAddr', hostname: '192.0.2.1' });
    expect(b).toMatchObject({ code: 'ETIMEOUT', syscall: 'queryPtr', hostname: '1.2.0.192.in-addr.arpa' });
  });
});

describe('Lane (the in-flight table behind coalescing)', () => {
  it('keeps live queries across sweeps of many landed ones', () => {
    const lane = new Lane<{ i: number }>();
    const q = (i: number) => ({ i });
    const live = new Map<string, { i: number }>();
    for (let i = 0; i < 20_000; i++) {
      const name = `n${i}.test`;
      const query = q(i);
      lane.set(name, query);
      if (i % 100 === 0) live.set(name, query);
      else lane.delete(name, query);
    }
    for (const [name, query] of live) expect(lane.get(name)).toBe(query);
    expect(lane.get('n1.test')).toBeUndefined();
    // Only the query listed is taken out; a name flies again after it landed.
    lane.delete('n0.test', q(0));
    expect(lane.get('n0.test')).toBe(live.get('n0.test'));
    const again = q(1);
    lane.set('n1.test', again);
    expect(lane.get('n1.test')).toBe(again);
  });
});
