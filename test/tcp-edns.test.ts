// TC -> TCP (RFC 7766) and the EDNS0 fallback (RFC 6891 §7), against the test server.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';
import { encodeMessage, type Packet } from '../src/wire/codec.js';
import { questionEnd } from '../src/wire/validate.js';

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

  // Forwarders cut a reply at the size limit, anywhere after the question: with TC set that is a
  // request to ask over TCP, not a malformed message to wait out (before: 4 UDP tries, ETIMEOUT).
  it.each([
    ['the last record cut short', 7],
    ['every record cut off', -1],
  ])('a UDP reply with TC and %s goes to TCP at once', async (_kind, cut) => {
    server = await startTestServer({
      zoneFile,
      handler: (q, ctx) => {
        if (ctx.transport === 'tcp') return undefined;
        const full = encodeMessage({
          id: q.id,
          type: 'response',
          flags: 0x0200 | 0x0100,
          questions: q.questions,
          answers: [
            {
              type: 'MX',
              name: 'example.test',
              ttl: 60,
              data: { preference: 10, exchange: 'mx1.example.test' },
            },
            {
              type: 'MX',
              name: 'example.test',
              ttl: 60,
              data: { preference: 20, exchange: 'mx2.example.test' },
            },
          ],
        });
        return cut > 0 ? full.subarray(0, full.length - cut) : full.subarray(0, questionEnd(full));
      },
    });
    const r = new Resolver({ servers: [server.server], timeout: 2000 });
    expect(await r.resolveMx('example.test')).toHaveLength(3);
    expect(server.stats.udpQueries).toBe(1);
    expect(server.stats.tcpQueries).toBe(1);
  });

  // RFC 7766 §6.2.1: a connection that closes before the answer is worth another try (as in c-ares);
  // before, it failed the server for good with EBADRESP.
  it('a TCP connection closed before the answer is retried on a new one', async () => {
    let connections = 0;
    server = await startTestServer({
      zoneFile,
      handler: (_q, ctx) => {
        if (++connections > 1) return undefined;
        ctx.hangUp!();
        return null;
      },
    });
    const r = new Resolver({ servers: [server.server], tcp: 'always', timeout: 1000, tries: 3 });
    expect(await r.resolveMx('example.test')).toHaveLength(3);
    expect(server.stats.tcpQueries).toBe(2);
  });

  it('a server that closes every TCP connection: ECONNREFUSED after every try, as in node', async () => {
    server = await startTestServer({
      zoneFile,
      handler: (_q, ctx) => {
        ctx.hangUp!();
        return null;
      },
    });
    const r = new Resolver({ servers: [server.server], tcp: 'always', timeout: 1000, tries: 3 });
    await expect(r.resolveMx('example.test')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(server.stats.tcpQueries).toBe(3);
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

  // RFC 6891 §7 holds on any transport: after a truncated UDP answer, a TCP server that answers
  // FORMERR to the OPT record is asked once more over TCP without it (the outcome table decides
  // both steps; before the query path was split, this case failed with EFORMERR).
  it('a truncated UDP answer, then FORMERR over TCP to OPT: asked again over TCP without it', async () => {
    const seen: string[] = [];
    server = await startTestServer({
      zoneFile,
      handler: (q, ctx) => {
        seen.push(`${ctx.transport}${hasOpt(q) ? '+opt' : ''}`);
        return ctx.transport === 'tcp' ? formerrIfOpt(true)(q) : undefined;
      },
    });
    const r = new Resolver({ servers: [server.server], edns: 512 });
    expect((await r.resolveTxt('long.example.test')).flat().join('').length).toBeGreaterThan(512);
    expect(seen).toEqual(['udp+opt', 'tcp+opt', 'tcp']);
  });

  // The question-less FORMERR is let through only as an answer to OPT: to a query without OPT a
  // bare header that matches the ID is a forgery (RFC 5452 §9.1), skipped, and the next server asked.
  it('with edns: false, a question-less FORMERR is no answer: the next server is asked', async () => {
    const bare = await startTestServer({
      zoneFile,
      handler: (q) => Buffer.from([q.id! >> 8, q.id! & 0xff, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
    });
    server = await startTestServer({ zoneFile });
    try {
      const r = new Resolver({ servers: [bare.server, server.server], edns: false, timeout: 200, tries: 1 });
      expect(await r.resolveMx('example.test')).toHaveLength(3);
      expect(r.stats.skipped).toBe(1);
    } finally {
      await bare.close();
    }
  });

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

  it.each([511, 65536, 1.5])('edns: %j is a RangeError (ERR_OUT_OF_RANGE)', (edns) => {
    expect(() => new Resolver({ servers: ['127.0.0.1:1'], edns })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }),
    );
  });

  // As node's own options: no number at all is a TypeError, a number out of range a RangeError.
  it.each(['1232', true])('edns: %j is a TypeError (ERR_INVALID_ARG_TYPE)', (edns) => {
    expect(() => new Resolver({ servers: ['127.0.0.1:1'], edns: edns as unknown as number })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });
});
