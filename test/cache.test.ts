// The TTL cache: a hit sends nothing and takes no permit, answers live for their TTL (which counts
// down in results that show it), NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308), and
// the cache stays within its bound. Counted at the test server; time on a fake clock.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DnsCache, DnsError, Resolver } from '../src/index.js';
import { FakeClock, rcode, silent, startTestServer, type TestServer } from '../src/testing/index.js';

const ZONE = `$ORIGIN cache.test.
@        3600 SOA ns hm 1 7200 900 1209600 60
@        300  MX  10 mx1
mx1      300  A   192.0.2.1
mx1      300  A   192.0.2.2
short    20   A   192.0.2.3
zero     0    A   192.0.2.4
www      60   CNAME mx1
lowsoa   300  A   192.0.2.5
`;

// A zone whose SOA's own TTL (30) is below its MINIMUM (60): the negative TTL is 30.
const LOW_SOA_ZONE = `$ORIGIN low.test.
@        30   SOA ns hm 1 7200 900 1209600 60
@        300  A   192.0.2.9
`;

describe('the TTL cache', () => {
  let server: TestServer;
  let clock: FakeClock;
  const make = (options: Partial<ConstructorParameters<typeof Resolver>[0]> = {}) =>
    new Resolver({ servers: [server.server], runtime: { clock }, cache: true, ...options });

  beforeAll(async () => {
    server = await startTestServer({ zone: ZONE + LOW_SOA_ZONE });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.resetStats();
    clock = new FakeClock();
  });

  it('a hit sends nothing; each call gets fresh objects; query() and resolveMx share the answer', async () => {
    const r = make();
    const first = await r.resolveMx('cache.test');
    expect(server.stats.queries).toBe(1);
    const second = await r.resolveMx('CACHE.test.');
    expect(server.stats.queries).toBe(1);
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
    expect(second[0]).not.toBe(first[0]);
    const message = await r.query('cache.test', 'MX');
    expect(server.stats.queries).toBe(1);
    expect(message.rcode).toBe('NOERROR');
    expect(message.answers).toHaveLength(1);
    // Editing what one caller got changes nothing for the next.
    message.answers.length = 0;
    expect((await r.query('cache.test', 'MX')).answers).toHaveLength(1);
    expect(r.cache?.size).toBe(1);
  });

  it('lives for its TTL, counting down in results that show it, then asks again', async () => {
    const r = make();
    expect(await r.resolve4('mx1.cache.test', { ttl: true })).toEqual([
      { address: '192.0.2.1', ttl: 300 },
      { address: '192.0.2.2', ttl: 300 },
    ]);
    await clock.advance(100_500);
    expect(await r.resolve4('mx1.cache.test', { ttl: true })).toEqual([
      { address: '192.0.2.1', ttl: 200 },
      { address: '192.0.2.2', ttl: 200 },
    ]);
    expect((await r.query('mx1.cache.test', 'A')).answers.map((a) => (a as { ttl?: number }).ttl)).toEqual([
      200, 200,
    ]);
    expect(server.stats.queries).toBe(1);
    await clock.advance(199_499);
    await r.resolve4('mx1.cache.test');
    expect(server.stats.queries).toBe(1);
    await clock.advance(1);
    expect(await r.resolve4('mx1.cache.test', { ttl: true })).toEqual([
      { address: '192.0.2.1', ttl: 300 },
      { address: '192.0.2.2', ttl: 300 },
    ]);
    expect(server.stats.queries).toBe(2);
  });

  it('a CNAME chain is kept as the answer it was, as long as its shortest link', async () => {
    const r = make();
    expect(await r.resolve4('www.cache.test', { ttl: true })).toEqual([
      { address: '192.0.2.1', ttl: 60 },
      { address: '192.0.2.2', ttl: 60 },
    ]);
    await clock.advance(59_999);
    expect(await r.resolve4('www.cache.test')).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(server.stats.queries).toBe(1);
    await clock.advance(1);
    await r.resolve4('www.cache.test');
    expect(server.stats.queries).toBe(2);
  });

  it('NXDOMAIN is kept for min(SOA TTL, SOA MINIMUM) and fails each call with a fresh ENOTFOUND', async () => {
    const r = make();
    const errors: unknown[] = [];
    for (let i = 0; i < 2; i++) errors.push(await r.resolveMx('nope.cache.test').catch((e: unknown) => e));
    expect(server.stats.queries).toBe(1);
    const [a, b] = errors as DnsError[];
    expect(a).toBeInstanceOf(DnsError);
    expect(b).toMatchObject({ code: 'ENOTFOUND', syscall: 'queryMx', hostname: 'nope.cache.test' });
    expect(b).not.toBe(a);
    // query() sees the kept message: NXDOMAIN with its SOA, whose TTL shows no more than the 40 s
    // the entry has left.
    await clock.advance(20_000);
    const message = await r.query('nope.cache.test', 'MX');
    expect(message.rcode).toBe('NXDOMAIN');
    expect(message.authorities.map((x) => [x.type, (x as { ttl?: number }).ttl])).toEqual([['SOA', 40]]);
    expect(server.stats.queries).toBe(1);
    await clock.advance(40_000); // 60 s: the SOA's MINIMUM
    await r.resolveMx('nope.cache.test').catch(() => {});
    expect(server.stats.queries).toBe(2);
  });

  it('NODATA is kept too (ENODATA), and the SOA TTL caps the MINIMUM', async () => {
    const r = make();
    await expect(r.resolveMx('mx1.cache.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await clock.advance(59_999);
    await expect(r.resolveMx('mx1.cache.test')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(server.stats.queries).toBe(1);
    // low.test.'s SOA has TTL 30 and MINIMUM 60: kept 30 s.
    await expect(r.resolveMx('low.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await clock.advance(29_999);
    await expect(r.resolveMx('low.test')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(server.stats.queries).toBe(2);
    await clock.advance(1);
    await expect(r.resolveMx('low.test')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(server.stats.queries).toBe(3);
  });

  it('negative: false keeps no NXDOMAIN; a TTL of 0 is not kept unless minTtl says so; maxTtl caps', async () => {
    const r = make({ cache: { negative: false } });
    await r.resolveMx('nope.cache.test').catch(() => {});
    await r.resolveMx('nope.cache.test').catch(() => {});
    expect(server.stats.queries).toBe(2);
    await r.resolve4('zero.cache.test');
    await r.resolve4('zero.cache.test');
    expect(server.stats.queries).toBe(4);

    server.resetStats();
    const clamped = make({ cache: { minTtl: 5, maxTtl: 10 } });
    await clamped.resolve4('zero.cache.test');
    await clock.advance(4_999);
    await clamped.resolve4('zero.cache.test');
    expect(server.stats.queries).toBe(1);
    await clamped.resolve4('mx1.cache.test');
    await clock.advance(9_000);
    // Kept 10 s, not 300: the TTL shown never outlives the entry.
    expect(await clamped.resolve4('mx1.cache.test', { ttl: true })).toEqual([
      { address: '192.0.2.1', ttl: 1 },
      { address: '192.0.2.2', ttl: 1 },
    ]);
    await clock.advance(1_000);
    await clamped.resolve4('mx1.cache.test');
    expect(server.stats.queries).toBe(3);
  });

  it('keeps the least recently used out past maxEntries', async () => {
    const r = make({ cache: { maxEntries: 2 } });
    await r.resolve4('mx1.cache.test');
    await r.resolve4('short.cache.test');
    await r.resolve4('mx1.cache.test'); // a hit: mx1 is now the most recent
    await r.resolve4('lowsoa.cache.test'); // pushes out short
    expect(r.cache?.size).toBe(2);
    expect(server.stats.queries).toBe(3);
    await r.resolve4('mx1.cache.test');
    expect(server.stats.queries).toBe(3);
    await r.resolve4('short.cache.test');
    expect(server.stats.queries).toBe(4);
  });

  it('a hit takes no permit: it answers while the only permit is held by a query in flight', async () => {
    const r = make({ concurrency: 1, adaptive: false });
    await r.resolve4('mx1.cache.test');
    const quiet = await startTestServer({ script: silent() });
    try {
      const held = new Resolver({ servers: [quiet.server], semaphore: r.semaphore, runtime: { clock } });
      const pending = held.resolve4('a.quiet.test').catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(r.semaphore.tokens).toBe(0);
      expect(await r.resolve4('mx1.cache.test')).toEqual(['192.0.2.1', '192.0.2.2']);
      held.cancel();
      await pending;
    } finally {
      await quiet.close();
    }
  });

  it('calls made at once before the answer ride on one query; later ones hit', async () => {
    const r = make();
    await Promise.all(Array.from({ length: 20 }, () => r.resolveMx('cache.test')));
    expect(server.stats.queries).toBe(1);
    await Promise.all(Array.from({ length: 20 }, () => r.resolveMx('cache.test')));
    expect(server.stats.queries).toBe(1);
  });

  it('resolveEach reads the cache', async () => {
    const r = make();
    const names = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'cache.test' : 'nope.cache.test'));
    const results = [];
    for await (const x of r.resolveEach(names, 'MX')) results.push(x);
    expect(results.filter((x) => x.ok)).toHaveLength(10);
    expect(server.stats.queries).toBe(2);
  });

  it('setServers() clears it; clear(), delete() and size work; the server set is part of the key', async () => {
    const r = make();
    await r.resolve4('mx1.cache.test');
    await r.resolveMx('cache.test');
    expect(r.cache?.size).toBe(2);
    expect(r.cache?.delete('MX1.cache.test.', 'A')).toBe(true);
    expect(r.cache?.delete('mx1.cache.test', 'A')).toBe(false);
    await r.resolve4('mx1.cache.test');
    expect(server.stats.queries).toBe(3);
    r.setServers([server.server]);
    expect(r.cache?.size).toBe(0);
    await r.resolveMx('cache.test');
    expect(server.stats.queries).toBe(4);
    r.cache?.clear();
    expect(r.cache?.size).toBe(0);

    // Shared: a second resolver with the same servers reads what the first asked; one with other
    // servers (the same server by another address form) does not.
    server.resetStats();
    const cache = new DnsCache();
    const a = make({ cache });
    const b = make({ cache });
    const c = new Resolver({ servers: [server.server, '127.0.0.1:1'], runtime: { clock }, cache });
    expect(a.cache).toBe(cache);
    await a.resolveMx('cache.test');
    await b.resolveMx('cache.test');
    expect(server.stats.queries).toBe(1);
    await c.resolveMx('cache.test');
    expect(server.stats.queries).toBe(2);
  });

  it('SERVFAIL and timeouts are not kept; nor is an NXDOMAIN without an SOA', async () => {
    const failing = await startTestServer({ zone: ZONE, script: [rcode('SERVFAIL'), rcode('NXDOMAIN')] });
    try {
      const r = new Resolver({ servers: [failing.server], runtime: { clock }, cache: true, tries: 1 });
      await expect(r.resolveMx('cache.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
      await expect(r.resolveMx('cache.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      await expect(r.resolveMx('cache.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      expect(failing.stats.queries).toBe(3);
      expect(r.cache?.size).toBe(0);
    } finally {
      await failing.close();
    }
  });

  it('publishes dnsgate:cache:hit and dnsgate:cache:miss', async () => {
    const seen: unknown[] = [];
    const onHit = (m: unknown) => seen.push(['hit', m]);
    const onMiss = (m: unknown) => seen.push(['miss', m]);
    subscribe('dnsgate:cache:hit', onHit);
    subscribe('dnsgate:cache:miss', onMiss);
    try {
      const r = make();
      await r.resolveMx('cache.test');
      await clock.advance(1_000);
      await r.resolveMx('cache.test');
      await r.resolveMx('nope.cache.test').catch(() => {});
      await r.resolveMx('nope.cache.test').catch(() => {});
    } finally {
      unsubscribe('dnsgate:cache:hit', onHit);
      unsubscribe('dnsgate:cache:miss', onMiss);
    }
    expect(seen).toEqual([
      ['miss', { name: 'cache.test', type: 'MX' }],
      ['hit', { name: 'cache.test', type: 'MX', negative: false, ttl: 299 }],
      ['miss', { name: 'nope.cache.test', type: 'MX' }],
      ['hit', { name: 'nope.cache.test', type: 'MX', negative: true, ttl: 60 }],
    ]);
  });

  it('bad options are errors that name the option', () => {
    const servers = ['127.0.0.1:53'];
    expect(() => new Resolver({ servers, cache: { maxEntries: 0 } })).toThrow(
      /`cache.maxEntries` to be an integer from 1/,
    );
    expect(() => new Resolver({ servers, cache: { minTtl: 10, maxTtl: 5 } })).toThrow(
      /`cache.minTtl` to be an integer from 0 to 5/,
    );
    expect(() => new Resolver({ servers, cache: { maxTtl: -1 } })).toThrow(RangeError);
    expect(() => new Resolver({ servers, cache: { negative: 'yes' as never } })).toThrow(
      /`cache.negative` to be a boolean/,
    );
    expect(() => new Resolver({ servers, cache: { size: 5 } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => new Resolver({ servers, cache: 5 as never })).toThrow(TypeError);
    expect(new Resolver({ servers }).cache).toBeUndefined();
    expect(new Resolver({ servers, cache: false }).cache).toBeUndefined();
  });
});
