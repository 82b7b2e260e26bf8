// Resolver basics over real loopback sockets: results, whole messages, node's error codes.
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsError, Resolver, Semaphore } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));

describe('Resolver', () => {
  let server: TestServer;
  let resolver: Resolver;

  beforeAll(async () => {
    server = await startTestServer({ zoneFile });
    resolver = new Resolver({ servers: [server.server], timeout: 200, tries: 2 });
  });
  afterAll(() => server.close());

  it('resolveMx gives node shape', async () => {
    const mx = await resolver.resolveMx('microsoft.com');
    expect(mx).toEqual([{ exchange: 'mail.messaging.microsoft.com', priority: expect.any(Number) }]);
    expect((await resolver.resolveMx('google.com')).map((r) => r.exchange)).toContain('aspmx.l.google.com');
  });

  it('query gives the whole message with sections and the server', async () => {
    const msg = await resolver.query('yahoo.com', 'MX');
    expect(msg.rcode).toBe('NOERROR');
    expect(msg.flags.aa).toBe(true);
    expect(msg.answers).toHaveLength(13);
    expect(msg.answers[0]).toMatchObject({ name: 'yahoo.com', type: 'MX', class: 'IN' });
    expect(Array.isArray(msg.authorities)).toBe(true);
    expect(Array.isArray(msg.additionals)).toBe(true);
    expect(msg.server).toBe(server.server);
  });

  it('query resolves NXDOMAIN as a message with the SOA in authority', async () => {
    const msg = await resolver.query('nope.google.com', 'MX');
    expect(msg.rcode).toBe('NXDOMAIN');
    expect(msg.answers).toEqual([]);
    expect(msg.authorities[0]?.type).toBe('SOA');
  });

  it('names are case-insensitive and may end in a dot', async () => {
    expect(await resolver.resolveMx('MicroSoft.COM.')).toHaveLength(1);
  });

  it('NXDOMAIN rejects with ENOTFOUND, NODATA with ENODATA', async () => {
    await expect(resolver.resolveMx('nope.google.com')).rejects.toMatchObject({
      code: 'ENOTFOUND',
      syscall: 'queryMx',
    });
    const s = await startTestServer({
      records: [
        {
          type: 'SOA',
          name: 'nodata.test',
          ttl: 60,
          data: { mname: 'ns.nodata.test', rname: 'h.nodata.test', minimum: 60 },
        },
        { type: 'A', name: 'nodata.test', ttl: 60, data: '192.0.2.1' },
      ],
    });
    const r = new Resolver({ servers: [s.server] });
    const err = await r.resolveMx('nodata.test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsError);
    expect(err).toMatchObject({
      code: 'ENODATA',
      syscall: 'queryMx',
      message: 'queryMx ENODATA nodata.test',
    });
    await s.close();
  });

  it('errors read like node', async () => {
    const err = (await resolver.resolveMx('nope.google.com').catch((e) => e)) as DnsError;
    expect(err.message).toBe('queryMx ENOTFOUND nope.google.com');
    expect(err.hostname).toBe('nope.google.com');
    expect(err.code).toBe('ENOTFOUND');
  });

  it.each(['a..b', 'a'.repeat(64), `${`${'a'.repeat(63)}.`.repeat(4)}com`, 'a b.com', ''])(
    'bad name %j is EBADNAME before any packet is sent',
    async (name) => {
      server.resetStats();
      await expect(resolver.resolveMx(name)).rejects.toMatchObject({ code: 'EBADNAME', syscall: 'queryMx' });
      expect(server.stats.queries).toBe(0);
    },
  );

  it('non-ASCII names go out as IDNA', async () => {
    const seen: string[] = [];
    const s = await startTestServer({
      zoneFile,
      handler: (q) => {
        seen.push(q.questions?.[0]?.name ?? '');
        return undefined;
      },
    });
    const r = new Resolver({ servers: [s.server], timeout: 200, tries: 1 });
    await r.resolveMx('bücher.google.com').catch(() => undefined);
    expect(seen).toEqual(['xn--bcher-kva.google.com']);
    await s.close();
  });

  it('rejects bad arguments with TypeError/RangeError', async () => {
    expect(() => new Resolver({ concurrency: 0 })).toThrow(RangeError);
    expect(() => new Resolver({ concurrency: 0 })).toThrow(
      'Expected `concurrency` to be an integer >= 1, got 0',
    );
    expect(() => new Resolver({ timeout: -2 })).toThrow(RangeError);
    expect(() => new Resolver({ tries: 1.5 })).toThrow(RangeError);
    expect(() => new Resolver({ socketReuse: 0 })).toThrow(RangeError);
    expect(() => new Resolver({ servers: ['nope'] })).toThrow(TypeError);
    expect(() => new Resolver({ servers: ['nope'] })).toThrow('Invalid IP address: nope');
    expect(() => new Resolver({ concurrency: 2, semaphore: new Semaphore(2) })).toThrow(TypeError);
    // @ts-expect-error: wrong type on purpose
    expect(() => resolver.query('x.com', 'BOGUS')).toThrow(TypeError);
  });

  it('a silent server gives ETIMEOUT after `tries` sends', async () => {
    const silent = await startTestServer({ zoneFile, handler: () => null });
    const r = new Resolver({ servers: [silent.server], timeout: 50, tries: 3 });
    const err = (await r.resolveMx('google.com').catch((e) => e)) as DnsError;
    expect(err).toBeInstanceOf(DnsError);
    expect(err.code).toBe('ETIMEOUT');
    expect(err.message).toBe('queryMx ETIMEOUT google.com');
    expect(silent.stats.queries).toBe(3);
    expect(r.semaphore.tokens).toBe(r.semaphore.limit);
    await silent.close();
  });

  it('a closed port gives ECONNREFUSED (ICMP on a connected socket), without crashing', async () => {
    const s = await startTestServer({ zoneFile });
    const port = s.port;
    await s.close();
    const r = new Resolver({ servers: [`127.0.0.1:${port}`], timeout: 500, tries: 2 });
    await expect(r.resolveMx('google.com')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('works over IPv6 loopback', async () => {
    const s = await startTestServer({ zoneFile, address: '::1' });
    expect(s.server).toBe(`[::1]:${s.port}`);
    const r = new Resolver({ servers: [s.server] });
    expect(await r.resolveMx('facebook.com')).toEqual([
      { exchange: 'smtpin.mx.facebook.com', priority: expect.any(Number) },
    ]);
    await s.close();
  });

  it('setLocalAddress sends from the given address', async () => {
    const from: string[] = [];
    const s = await startTestServer({
      zoneFile,
      handler: (_q, ctx) => {
        from.push(ctx.rinfo.address);
        return undefined;
      },
    });
    const r = new Resolver({ servers: [s.server], tcp: 'always' });
    r.setLocalAddress('127.0.0.2');
    await r.resolveMx('google.com');
    const u = new Resolver({ servers: [s.server] });
    u.setLocalAddress('127.0.0.3', '::1');
    await u.resolveMx('google.com');
    expect(from).toEqual(['127.0.0.2', '127.0.0.3']);
    r.setLocalAddress('::1'); // one IPv6 address alone, as node takes it
    expect(() => r.setLocalAddress('nope')).toThrow('Invalid IP address.');
    expect(() => r.setLocalAddress('127.0.0.1', '127.0.0.1')).toThrow('Cannot specify two IPv4 addresses.');
    await s.close();
  });
});

describe('a socket that cannot connect', () => {
  it('fails the try with the real errno as cause (ENETUNREACH), sending nothing', async () => {
    const s = await startTestServer({ zoneFile });
    try {
      // A socket bound to ::1 cannot connect to an IPv4-mapped address: ENETUNREACH from connect(),
      // and every address involved is loopback.
      const r = new Resolver({ servers: [`[::ffff:127.0.0.1]:${s.port}`], timeout: 200, tries: 1 });
      r.setLocalAddress('::1');
      const err = (await r.resolveMx('google.com').catch((e) => e)) as DnsError;
      expect(err).toMatchObject({ code: 'ECONNREFUSED' });
      expect(err.cause).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect' });
      expect(s.stats.queries).toBe(0);
      expect(r.semaphore.tokens).toBe(r.semaphore.limit);
    } finally {
      await s.close();
    }
  });
});

describe('setServers while queries are pending (node refuses; dnsgate allows it)', () => {
  it('calls made before keep the servers they started with, even those waiting for a permit', async () => {
    const a = await startTestServer({ zoneFile, delayMs: 50 });
    const b = await startTestServer({ zoneFile });
    try {
      const r = new Resolver({ servers: [a.server], concurrency: 1 });
      const onWire = r.resolveMx('google.com');
      const waiting = r.resolveMx('yahoo.com');
      expect(r.semaphore.waiting).toBe(1);
      r.setServers([b.server]);
      const after = r.resolveMx('microsoft.com');
      await Promise.all([onWire, waiting, after]);
      expect(a.stats.queries).toBe(2);
      expect(b.stats.queries).toBe(1);
      expect(r.getServers()).toEqual([b.server]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('a logged message', () => {
  it('console.log(query()) shows every section, not [Getter/Setter]', async () => {
    const s = await startTestServer({ zoneFile });
    try {
      const r = new Resolver({ servers: [s.server] });
      const shown = inspect(await r.query('nope.google.com', 'MX'), { depth: 4 });
      expect(shown).not.toMatch(/Getter|Setter/);
      expect(shown).toMatch(/questions: \[ \{ name: 'nope\.google\.com', type: 'MX', class: 'IN' \} \]/);
      expect(shown).toMatch(/authorities: \[\s+\{\s+name: 'google\.com',\s+type: 'SOA'/);
    } finally {
      await s.close();
    }
  });
});
