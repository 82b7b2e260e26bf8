// The query path's core behaviours run over every transport × address family, as c-ares' mock
// suite runs each case per family and mode: UDP (the default, `tcp: 'fallback'`) and TCP
// (`tcp: 'always'`), each against a loopback server on 127.0.0.1 and on [::1]. Public API only
// (`src/index.ts`, `src/testing/index.ts`), so it holds across internal restructuring.
import { promises as dns } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsError, Resolver, type ResolverOptions } from '../src/index.js';
import {
  badIdThenGood,
  dropFirst,
  garbageThenGood,
  type MalformedKind,
  malformed,
  malformedThenGood,
  type RcodeName,
  raw,
  rcode,
  type Step,
  silent,
  startTestServer,
  type TestServer,
  type TestServerOptions,
  wrongQuestionThenGood,
} from '../src/testing/index.js';
import { LONG, ZONE } from './helpers/example-zone.js';

const REAL = [
  { exchange: 'mx1.example.test', priority: 10 },
  { exchange: 'mx2.example.test', priority: 20 },
];
const byPriority = <T extends { priority: number }>(list: T[]) =>
  [...list].sort((a, b) => a.priority - b.priority);
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

const transports = [
  { transport: 'UDP', tcp: 'fallback' },
  { transport: 'TCP', tcp: 'always' },
] as const;
const families = [
  { family: 'IPv4', address: '127.0.0.1' },
  { family: 'IPv6', address: '::1' },
] as const;
const matrix = transports.flatMap((t) => families.map((f) => ({ ...t, ...f })));

// Rows as tuples so each name reads `UDP over IPv6 > ...` (object keys would print quoted).
describe.each(matrix.map((row) => [row.transport, row.family, row] as const))('%s over %s', (_t, _f, row) => {
  const { transport, tcp, address } = row;
  const udp = transport === 'UDP';
  const servers: TestServer[] = [];
  const start = async (options: TestServerOptions = {}) => {
    const server = await startTestServer({ zone: ZONE, address, ...options });
    servers.push(server);
    return server;
  };
  const started = (script?: Step | Step[]) => start(script === undefined ? {} : { script });
  // Explicit loopback servers only, never resolv.conf; small timeouts keep the file quick.
  const resolverFor = (list: TestServer[], options: ResolverOptions = {}) =>
    new Resolver({ servers: list.map((s) => s.server), tcp, timeout: 50, tries: 1, ...options });
  /** Every query the server saw came over this row's transport: `n` of them. */
  const sawOnly = (server: TestServer, n: number) =>
    expect(server.stats).toMatchObject({ udpQueries: udp ? n : 0, tcpQueries: udp ? 0 : n });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  describe('answers and negative answers', () => {
    it("an MX answer has node's shape (node's own resolver, over UDP, agrees)", async () => {
      const server = await started();
      const mx = await resolverFor([server]).resolveMx('example.test');
      expect(byPriority(mx)).toEqual(REAL);
      sawOnly(server, 1);
      const node = new dns.Resolver({ timeout: 1000, tries: 1 });
      node.setServers([server.server]);
      expect(byPriority(mx)).toEqual(byPriority(await node.resolveMx('example.test')));
    });

    it.each([
      ['NXDOMAIN', 'ENOTFOUND', 'nope.example.test'],
      ['NODATA', 'ENODATA', 'onlya.example.test'],
    ] as const)('%s rejects with %s, shaped like node', async (_kind, code, name) => {
      const server = await started();
      const err = await resolverFor([server])
        .resolveMx(name)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DnsError);
      expect(err).toMatchObject({
        code,
        syscall: 'queryMx',
        hostname: name,
        message: `queryMx ${code} ${name}`,
      });
      sawOnly(server, 1);
      const node = new dns.Resolver({ timeout: 1000, tries: 1 });
      node.setServers([server.server]);
      const theirs = (await node.resolveMx(name).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err).toMatchObject({
        code: theirs.code,
        syscall: theirs.syscall,
        hostname: (theirs as { hostname?: string }).hostname,
        message: theirs.message,
      });
    });
  });

  describe('failover', () => {
    it.each([
      ['SERVFAIL', 'ESERVFAIL'],
      ['REFUSED', 'EREFUSED'],
    ] as const)('%s from the first server: the second answers', async (name: RcodeName, code) => {
      const bad = await started(rcode(name));
      const good = await started();
      expect(byPriority(await resolverFor([bad, good]).resolveMx('example.test'))).toEqual(REAL);
      sawOnly(bad, 1);
      sawOnly(good, 1);
      // Alone, the bad server's rcode is the error, and it was asked once: an rcode is an answer
      // (as node; with the adaptive gate on, a REFUSED is asked twice more first: it may be a
      // full router, see adaptive.test.ts).
      bad.resetStats();
      const alone = resolverFor([bad], { tries: 2, adaptive: false });
      await expect(alone.resolveMx('example.test')).rejects.toMatchObject({
        code,
        syscall: 'queryMx',
        hostname: 'example.test',
        server: bad.server,
      });
      sawOnly(bad, 1);
      bad.resetStats();
      await expect(resolverFor([bad], { tries: 2 }).resolveMx('example.test')).rejects.toMatchObject({
        code,
      });
      sawOnly(bad, name === 'REFUSED' ? 3 : 1);
    });
  });

  describe('replies that do not answer the query', () => {
    it.each([
      ['a wrong ID', badIdThenGood()],
      ['a wrong question', wrongQuestionThenGood()],
    ])('%s before the good reply: skipped, the good answer is taken', async (_kind, step) => {
      const server = await started(step);
      const r = resolverFor([server], { timeout: 500 });
      expect(byPriority(await r.resolveMx('example.test'))).toEqual(REAL);
      expect(r.stats).toMatchObject({ sent: 1, answers: 1, skipped: 1, malformed: 0, timeouts: 0 });
      sawOnly(server, 1);
    });
  });

  describe('a silent server', () => {
    it('the try times out; the next round asks again and is answered', async () => {
      const server = await started(dropFirst(1));
      const r = resolverFor([server], { tries: 2 });
      expect(byPriority(await r.resolveMx('example.test'))).toEqual(REAL);
      expect(r.stats).toMatchObject({ sent: 2, answers: 1, timeouts: 1 });
      sawOnly(server, 2);
    });

    it('the try times out; the next server in the round answers', async () => {
      const quiet = await started(silent());
      const good = await started();
      const r = resolverFor([quiet, good]);
      expect(byPriority(await r.resolveMx('example.test'))).toEqual(REAL);
      expect(r.stats).toMatchObject({ sent: 2, answers: 1, timeouts: 1 });
      sawOnly(quiet, 1);
      sawOnly(good, 1);
    });

    it('with tries: 1 and no other server: ETIMEOUT', async () => {
      const server = await started(silent());
      const r = resolverFor([server]);
      await expect(r.resolveMx('example.test')).rejects.toMatchObject({
        code: 'ETIMEOUT',
        syscall: 'queryMx',
        hostname: 'example.test',
        server: server.server,
      });
      expect(r.stats).toMatchObject({ sent: 1, answers: 0, timeouts: 1 });
      sawOnly(server, 1);
    });
  });

  // As garbage.test.ts: a bad message before the real answer costs nothing; alone, it is as good
  // as silence and the try times out (c-ares ignores such replies too).
  describe('malformed replies', () => {
    it.each<MalformedKind>(['truncatedRecord', 'trailingJunk', 'pointerLoop'])(
      '%s then the good reply: the good one is accepted, counted malformed',
      async (kind) => {
        const server = await started(malformedThenGood(kind));
        const r = resolverFor([server], { timeout: 500 });
        expect(byPriority(await r.resolveMx('example.test'))).toEqual(REAL);
        expect(r.stats).toMatchObject({ sent: 1, answers: 1, malformed: 1, skipped: 0 });
        sawOnly(server, 1);
      },
    );

    it('garbage then the good reply: the good one is accepted, the garbage skipped', async () => {
      const server = await started(garbageThenGood());
      const r = resolverFor([server], { timeout: 500 });
      expect(byPriority(await r.resolveMx('example.test'))).toEqual(REAL);
      expect(r.stats).toMatchObject({ sent: 1, answers: 1, skipped: 1, malformed: 0 });
      sawOnly(server, 1);
    });

    // The code is ETIMEOUT, not EBADRESP; the last malformed reply rides along as the cause.
    it('only malformed replies: ETIMEOUT after every try, never a throw', async () => {
      const server = await started(raw(malformed.truncatedRecord));
      const r = resolverFor([server], { tries: 2 });
      await expect(r.resolveMx('example.test')).rejects.toMatchObject({
        code: 'ETIMEOUT',
        server: server.server,
        cause: expect.any(Error),
      });
      expect(r.stats).toMatchObject({ sent: 2, answers: 0, malformed: 2, timeouts: 2 });
      sawOnly(server, 2);
    });
  });

  // TCP has no size limit and `tcp: 'always'` never asks over UDP, so no answer is ever truncated
  // there: the UDP -> TCP fallback exists only for UDP.
  it.runIf(udp)('a truncated answer is asked again over TCP under the same resolver', async () => {
    const server = await started();
    const r = resolverFor([server], { edns: 512, timeout: 500 });
    expect(await r.resolveTxt('long.example.test')).toEqual([LONG]);
    expect(server.stats).toMatchObject({ udpQueries: 1, tcpQueries: 1 });
    expect(r.semaphore.tokens).toBe(r.semaphore.limit);
  });

  it('cancel(): every pending call rejects with ECANCELLED, once, and the permits come back', async () => {
    const server = await start({ delayMs: 100 });
    const r = resolverFor([server], { concurrency: 2, coalesce: false, timeout: 1000 });
    const names = ['example.test', 'example.test', 'onlya.example.test', 'nope.example.test'];
    const outcomes: unknown[][] = names.map(() => []);
    const calls = names.map((name, i) =>
      r.resolveMx(name).then(
        (v) => outcomes[i]!.push(v),
        (e: unknown) => outcomes[i]!.push(e),
      ),
    );
    await tick(20);
    // Two on the wire, two waiting for a permit.
    expect(server.stats.queries).toBe(2);
    expect(r.semaphore.waiting).toBe(2);
    r.cancel();
    await Promise.all(calls);
    for (const [i, seen] of outcomes.entries()) {
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeInstanceOf(DnsError);
      expect(seen[0]).toMatchObject({ code: 'ECANCELLED', syscall: 'queryMx', hostname: names[i] });
    }
    // The two on the wire give their permits back by the time their late answers are due.
    await tick(150);
    expect(r.semaphore.tokens).toBe(2);
    expect(r.semaphore.waiting).toBe(0);
    sawOnly(server, 2);
    // Still usable afterwards.
    expect(byPriority(await r.resolveMx('example.test'))).toEqual(REAL);
  });

  it('the gate: with concurrency 2, never more than 2 queries in flight at the server', async () => {
    const server = await start({ delayMs: 20 });
    const r = resolverFor([server], { concurrency: 2, coalesce: false, timeout: 1000 });
    const results = await Promise.all(Array.from({ length: 12 }, () => r.resolveMx('example.test')));
    for (const mx of results) expect(byPriority(mx)).toEqual(REAL);
    sawOnly(server, 12);
    expect(server.stats.peakInFlight).toBe(2);
    expect(r.semaphore.tokens).toBe(2);
  });
});
