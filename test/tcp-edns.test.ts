// TC -> TCP (RFC 7766) and the EDNS0 fallback (RFC 6891 §7), against the test server.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';
import type { Packet } from '../src/wire/codec.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/example.zone', import.meta.url));
const hasOpt = (q: Packet) => (q.additionals ?? []).some((a) => a.type === 'OPT');

describe('truncation and TCP', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  /** The long TXT record of example.zone (over 512 bytes), as chunks. */
  const longTxt = async (r: Resolver) => (await r.resolveTxt('long.example.test')).flat().join('').length;

  it('an answer larger than the EDNS size is truncated over UDP and asked again over TCP', async () => {
    server = await startTestServer({ zoneFile });
    const r = new Resolver({ servers: [server.server], edns: 512 });
    expect(await longTxt(r)).toBeGreaterThan(512);
    expect(server.stats.udpQueries).toBe(1);
    expect(server.stats.tcpQueries).toBe(1);
  });

  it('with the default 1232-byte EDNS size the same answer fits in UDP', async () => {
    server = await startTestServer({ zoneFile });
    const r = new Resolver({ servers: [server.server] });
    expect(await longTxt(r)).toBeGreaterThan(512);
    expect(server.stats.tcpQueries).toBe(0);
  });

  it("tcp: 'never' makes a truncated answer an error, never partial data", async () => {
    server = await startTestServer({ zoneFile });
    const r = new Resolver({ servers: [server.server], edns: false, tcp: 'never', tries: 1 });
    await expect(r.resolveTxt('long.example.test')).rejects.toMatchObject({ code: 'EBADRESP' });
    expect(server.stats.tcpQueries).toBe(0);
  });

  it("tcp: 'always' asks over TCP only", async () => {
    server = await startTestServer({ zoneFile });
    const r = new Resolver({ servers: [server.server], tcp: 'always' });
    expect(await r.resolveMx('example.test')).toHaveLength(3);
    expect(server.stats.udpQueries).toBe(0);
    expect(server.stats.tcpQueries).toBe(1);
  });

  it('a TCP connection counts as a socket in flight: the gate still caps the server', async () => {
    server = await startTestServer({ zoneFile, delayMs: 20 });
    const r = new Resolver({ servers: [server.server], concurrency: 3, edns: 512, coalesce: false });
    await Promise.all(Array.from({ length: 12 }, () => r.resolveTxt('long.example.test')));
    expect(server.stats.tcpQueries).toBe(12);
    expect(server.stats.peakInFlight).toBe(3);
    expect(r.semaphore.tokens).toBe(3);
  });

  it('a TCP server that never answers times out the try', async () => {
    server = await startTestServer({
      zoneFile,
      handler: (_q, ctx) => (ctx.transport === 'tcp' ? null : undefined),
    });
    const r = new Resolver({ servers: [server.server], tcp: 'always', timeout: 100, tries: 1 });
    await expect(r.resolveMx('example.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
  });
});

describe('EDNS0', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  const formerrIfOpt = (withQuestion: boolean) => (q: Packet) =>
    hasOpt(q)
      ? { id: q.id, type: 'response' as const, flags: 1, questions: withQuestion ? q.questions : [] }
      : undefined;

  it.each([
    ['with the question', true],
    ['without the question', false],
  ])(
    'a server that answers FORMERR (%s) to OPT is asked once more without it',
    async (_kind, withQuestion) => {
      const seen: boolean[] = [];
      server = await startTestServer({
        zoneFile,
        handler: (q) => {
          seen.push(hasOpt(q));
          return formerrIfOpt(withQuestion)(q);
        },
      });
      const r = new Resolver({ servers: [server.server] });
      expect(await r.resolveMx('example.test')).toHaveLength(3);
      expect(seen).toEqual([true, false]);
    },
  );

  it('edns: false sends no OPT record; edns: 4096 advertises 4096', async () => {
    const sizes: (number | undefined)[] = [];
    server = await startTestServer({
      zoneFile,
      handler: (q) => {
        const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as
          | { udpPayloadSize?: number }
          | undefined;
        sizes.push(opt?.udpPayloadSize);
        return undefined;
      },
    });
    await new Resolver({ servers: [server.server], edns: false }).resolveMx('example.test');
    await new Resolver({ servers: [server.server], edns: 4096 }).resolveMx('example.test');
    expect(sizes).toEqual([undefined, 4096]);
  });

  it.each([511, 65536, 1.5, '1232'])('edns: %j is a RangeError', (edns) => {
    expect(() => new Resolver({ edns: edns as number })).toThrow(RangeError);
  });
});
