// Failover across servers: what moves on to the next server, what is final.
import { afterEach, describe, expect, it } from 'vitest';
import { DnsError, Resolver } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';
import type { Packet } from '../src/wire/codec.js';

const zone =
  '$ORIGIN example.test.\n@ 60 SOA ns hm 1 2 3 4 60\n@ 60 NS ns\n@ 60 MX 10 mx\nonlya 60 A 192.0.2.1\n';
const rcode = (code: number) => (q: Packet) => ({
  id: q.id,
  type: 'response' as const,
  flags: 0x0100 | code,
  questions: q.questions,
});

describe('failover', () => {
  const servers: TestServer[] = [];
  const start = async (handler?: (q: Packet) => Packet | null | undefined) => {
    const s = await startTestServer({ zone, ...(handler ? { handler } : {}) });
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it.each([
    ['silent', () => null, 'ETIMEOUT'],
    ['SERVFAIL', rcode(2), 'ESERVFAIL'],
    ['REFUSED', rcode(5), 'EREFUSED'],
    ['NOTIMP', rcode(4), 'ENOTIMP'],
  ] as const)('a %s first server moves on to a good second', async (_kind, handler, code) => {
    const bad = await start(handler);
    const good = await start();
    const r = new Resolver({ servers: [bad.server, good.server], timeout: 100, tries: 2 });
    expect(await r.resolveMx('example.test')).toEqual([{ exchange: 'mx.example.test', priority: 10 }]);
    expect(bad.stats.queries).toBe(1);
    expect(good.stats.queries).toBe(1);
    // With only the bad one, the error says which code.
    const alone = new Resolver({ servers: [bad.server], timeout: 50, tries: 2 });
    await expect(alone.resolveMx('example.test')).rejects.toMatchObject({ code });
  });

  it('an ICMP-refused first server (nothing listens) moves on at once', async () => {
    const gone = await start();
    const port = gone.port;
    await gone.close();
    servers.pop();
    const good = await start();
    const r = new Resolver({ servers: [`127.0.0.1:${port}`, good.server], timeout: 5000, tries: 2 });
    const t0 = performance.now();
    expect(await r.resolveMx('example.test')).toHaveLength(1);
    // Long before the 5 s timeout: the refusal came back as ECONNREFUSED.
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it.each([
    ['NXDOMAIN', 'nope.example.test', 'ENOTFOUND'],
    ['NODATA', 'onlya.example.test', 'ENODATA'],
  ])('%s is final: no other server is asked', async (_kind, name, code) => {
    const first = await start();
    const second = await start();
    const r = new Resolver({ servers: [first.server, second.server], timeout: 200, tries: 2 });
    await expect(r.resolveMx(name)).rejects.toMatchObject({ code });
    expect(first.stats.queries).toBe(1);
    expect(second.stats.queries).toBe(0);
  });

  it('when every server fails, the error carries each one', async () => {
    const a = await start(rcode(2));
    const b = await start(rcode(5));
    const r = new Resolver({ servers: [a.server, b.server], timeout: 100, tries: 3, adaptive: false });
    const err = (await r.resolveMx('example.test').catch((e) => e)) as DnsError;
    expect(err).toBeInstanceOf(DnsError);
    expect(err.code).toBe('EREFUSED');
    expect(err.errors?.map((e) => [e.server, e.code])).toEqual([
      [a.server, 'ESERVFAIL'],
      [b.server, 'EREFUSED'],
    ]);
    // SERVFAIL and REFUSED are answers: each server was asked once, not once per try.
    expect(a.stats.queries + b.stats.queries).toBe(2);
    // With the adaptive gate, the last server's REFUSED is asked twice more (it may be a full
    // router), and the error still names each server once.
    a.resetStats();
    b.resetStats();
    const adaptive = new Resolver({ servers: [a.server, b.server], timeout: 100, tries: 3 });
    const again = (await adaptive.resolveMx('example.test').catch((e) => e)) as DnsError;
    expect(again.code).toBe('EREFUSED');
    expect(again.errors?.map((e) => [e.server, e.code])).toEqual([
      [a.server, 'ESERVFAIL'],
      [b.server, 'EREFUSED'],
    ]);
    expect([a.stats.queries, b.stats.queries]).toEqual([1, 3]);
  });

  it('timeouts are retried each round, with the timeout doubling', async () => {
    const silent = await start(() => null);
    const r = new Resolver({ servers: [silent.server], timeout: 40, tries: 3 });
    const t0 = performance.now();
    const err = (await r.resolveMx('example.test').catch((e) => e)) as DnsError;
    const took = performance.now() - t0;
    expect(err.code).toBe('ETIMEOUT');
    expect(err.errors).toHaveLength(3);
    expect(silent.stats.queries).toBe(3);
    expect(took).toBeGreaterThanOrEqual(40 + 80 + 160 - 5);
  });

  it('deadline bounds the whole call across tries and servers', async () => {
    const a = await start(() => null);
    const b = await start(() => null);
    const r = new Resolver({ servers: [a.server, b.server], timeout: 300, tries: 4, deadline: 150 });
    const t0 = performance.now();
    await expect(r.resolveMx('example.test')).rejects.toMatchObject({ code: 'ETIMEOUT', syscall: 'queryMx' });
    expect(performance.now() - t0).toBeLessThan(290);
    // The try on the wire keeps its permit until it times out (the server holds the query too).
    expect(r.semaphore.tokens).toBe(r.semaphore.limit - 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.semaphore.tokens).toBe(r.semaphore.limit);
    expect(a.stats.queries + b.stats.queries).toBe(1);
  });
});
