// One exchange, seen from outside: which datagrams are taken as the answer.
import { afterEach, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';
import type { Packet } from '../src/wire/codec.js';

const zone = '$ORIGIN example.test.\n@ 60 SOA ns hm 1 2 3 4 60\n@ 60 NS ns\n@ 60 MX 10 mx\n';

/** The zone's answer for `q`, with one thing changed. */
const forged = (q: Packet, change: Partial<Packet>): Packet => ({
  id: q.id,
  type: 'response',
  flags: 0x0400,
  questions: q.questions,
  answers: [
    { type: 'MX', name: 'example.test', ttl: 60, data: { preference: 99, exchange: 'evil.example' } },
  ],
  ...change,
});

describe('accepting an answer', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  it('a wrong ID first, then the right answer: the right answer, in one try', async () => {
    server = await startTestServer({
      zone,
      handler: (q) => [forged(q, { id: (q.id! + 1) & 0xffff }), undefined],
    });
    const r = new Resolver({ servers: [server.server], timeout: 1000, tries: 1 });
    expect(await r.resolveMx('example.test')).toEqual([{ exchange: 'mx.example.test', priority: 10 }]);
    expect(server.stats.queries).toBe(1);
  });

  it.each([
    ['not a response (QR=0)', (q: Packet) => forged(q, { type: 'query' })],
    [
      'another question name',
      (q: Packet) => forged(q, { questions: [{ name: 'other.test', type: 'MX', class: 'IN' }] }),
    ],
    [
      'another type',
      (q: Packet) => forged(q, { questions: [{ name: 'example.test', type: 'A', class: 'IN' }] }),
    ],
    [
      'another class',
      (q: Packet) => forged(q, { questions: [{ name: 'example.test', type: 'MX', class: 'CH' }] }),
    ],
  ])('%s is skipped and the real answer still wins', async (_kind, make) => {
    server = await startTestServer({ zone, handler: (q) => [make(q), undefined] });
    const r = new Resolver({ servers: [server.server], timeout: 1000, tries: 1 });
    expect(await r.resolveMx('example.test')).toEqual([{ exchange: 'mx.example.test', priority: 10 }]);
  });

  it('only forgeries: ETIMEOUT after every try', async () => {
    server = await startTestServer({ zone, handler: (q) => forged(q, { id: (q.id! + 1) & 0xffff }) });
    const r = new Resolver({ servers: [server.server], timeout: 50, tries: 2 });
    await expect(r.resolveMx('example.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(server.stats.queries).toBe(2);
  });

  it('the question name compares without ASCII case', async () => {
    server = await startTestServer({
      zone,
      handler: (q) => [forged(q, { questions: [{ name: 'EXAMPLE.test', type: 'MX', class: 'IN' }] })],
    });
    const r = new Resolver({ servers: [server.server], timeout: 1000, tries: 1 });
    expect(await r.resolveMx('example.test')).toEqual([{ exchange: 'evil.example', priority: 99 }]);
  });

  it('every query carries EDNS0 with a 1232-byte payload and a random ID', async () => {
    const seen: Packet[] = [];
    server = await startTestServer({
      zone,
      handler: (q) => {
        seen.push(q);
        return undefined;
      },
    });
    const r = new Resolver({ servers: [server.server] });
    for (let i = 0; i < 50; i++) await r.resolveMx('example.test');
    const opt = seen[0]!.additionals?.find((a) => a.type === 'OPT') as
      | { udpPayloadSize?: number }
      | undefined;
    expect(opt?.udpPayloadSize).toBe(1232);
    expect(new Set(seen.map((q) => q.id)).size).toBeGreaterThan(45);
  });
});
