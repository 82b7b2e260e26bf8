// Property tests (fast-check): names on the way out, and every byte sequence on the way in.
//
// Names: what toWireName accepts goes on the wire with the exact length RFC 1035 §4.1.2 gives and
// decodes back to itself; what it rejects never reaches a socket. Responses: accept() is the one
// gate between the network and the decoder, so it is fed random bytes, mutated real answers and
// rewritten headers, and must give exactly the verdict an independent reading of RFC 5452 §9.1
// gives, without ever throwing; then the same mutations go through a live Resolver.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { isIP } from 'node:net';
import { domainToASCII, fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, DnsError } from '../src/errors.js';
import { Resolver } from '../src/resolver.js';
import { startTestServer, type TestServer } from '../src/testing/server.js';
import { accept } from '../src/wire/accept.js';
import {
  type Answer,
  agree,
  decodeMessage,
  decodeRecords,
  encodeMessage,
  encodeQuery,
  MalformedMessageError,
  type Packet,
  type RecordType,
} from '../src/wire/codec.js';
import { toWireName } from '../src/wire/names.js';
import { questionEnd } from '../src/wire/validate.js';
import { walk } from '../src/wire/walk.js';
import { openUdpSockets } from './helpers/handles.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));

/** Cases run per property, tallied for the closing note. */
const ran: Record<string, number> = {};
const count = (name: string) => {
  ran[name] = (ran[name] ?? 0) + 1;
};

/** The OPT record encodeQuery adds: root name (1), type, class, TTL, rdlength (10). */
const OPT_BYTES = 11;

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const LABEL_CHARS = [...LETTERS, ...DIGITS, '-', '_'];
const ALNUM = [...LETTERS, ...DIGITS];
// Letters IDNA (UTS 46, as node's url.domainToASCII applies it) maps and punycodes without error.
const UNICODE = [...'üöäéèñçøåßÜÖÉÑжЖдяЯαβλΛΣ中文日本한국'];

const labelOf = (minLength: number, maxLength: number, chars = LABEL_CHARS) =>
  fc.string({ unit: fc.constantFrom(...chars), minLength, maxLength });

/** Drops labels from the end until the text form fits RFC 1035's 253 characters. */
function fit253(labels: string[]): string[] {
  const out = [...labels];
  while (out.length > 1 && out.join('.').length > 253) out.pop();
  return out;
}

/** Valid ASCII names: short ones, long labels, and many tiny labels that reach 253 exactly-ish. */
const asciiLabels = fc
  .oneof(
    fc.array(labelOf(1, 12), { minLength: 1, maxLength: 6 }),
    fc.array(labelOf(1, 63), { minLength: 1, maxLength: 10 }),
    fc.array(labelOf(1, 2), { minLength: 60, maxLength: 130 }),
  )
  .map(fit253);

/** A name and whether it ends with the (optional) root dot. */
const asciiName = fc.tuple(asciiLabels, fc.boolean()).map(([labels, dot]) => ({
  labels,
  name: labels.join('.') + (dot ? '.' : ''),
}));

/** Names with at least one non-ASCII label, which IDNA turns into an `xn--` label. */
const unicodeName = fc
  .tuple(
    fc.array(labelOf(1, 10, [...ALNUM, ...UNICODE]), { minLength: 0, maxLength: 3 }),
    labelOf(1, 8, UNICODE),
    fc.array(labelOf(1, 10, ALNUM), { minLength: 0, maxLength: 2 }),
    fc.boolean(),
  )
  .map(([head, uni, tail, dot]) => [...head, uni, ...tail].join('.') + (dot ? '.' : ''))
  // WHATWG host parsing (which domainToASCII applies) reads a name whose last label is a number as
  // IPv4 and fails; not a DNS rule, and no real TLD is numeric, so such names are left out here.
  .filter((name) => !/(^|\.)(\d+|0x[0-9a-f]*)\.?$/i.test(name));

/**
 * Unicode White_Space and every C0/C1 control, DEL included. (U+FEFF, which JS's `\s` counts as
 * whitespace but Unicode does not, is a default-ignorable that IDNA maps to nothing, as do U+00AD
 * and U+200B: toWireName('a\uFEFFb.com') is 'ab.com', as url.domainToASCII gives. Not generated.)
 */
const BAD_CHARS = Array.from({ length: 0x3001 }, (_, cp) => String.fromCharCode(cp)).filter((c) =>
  /[\p{White_Space}\p{Cc}]/u.test(c),
);

const smallName = fc.array(labelOf(1, 12), { minLength: 1, maxLength: 5 });

/** Names that are not DNS names, tagged with why. */
const invalidName = fc.oneof(
  // An empty label: before any label (a leading dot, or `..` inside), or two trailing dots.
  fc.tuple(smallName, fc.nat(), fc.boolean()).map(([labels, at, doubleDot]) => {
    const out = [...labels];
    if (doubleDot) return { why: 'empty label', name: `${out.join('.')}..` };
    out.splice(at % out.length, 0, '');
    return { why: 'empty label', name: out.join('.') };
  }),
  fc.constantFrom({ why: 'empty', name: '' }, { why: 'empty label', name: '..' }),
  // A label of 64 or more octets, anywhere.
  fc.tuple(smallName, labelOf(64, 100), fc.nat(), fc.boolean()).map(([labels, long, at, dot]) => {
    const out = [...labels];
    out.splice(at % (out.length + 1), 0, long);
    return { why: 'label > 63', name: out.join('.') + (dot ? '.' : '') };
  }),
  // Non-ASCII whose ACE form passes 63 octets.
  fc
    .tuple(labelOf(40, 62, UNICODE), smallName)
    .map(([uni, labels]) => ({ why: 'ACE label > 63', name: [uni, ...labels].join('.') }))
    .filter(({ name }) => (domainToASCII(name).split('.')[0]?.length ?? 0) > 63),
  // Every label fine, the whole more than 253 characters (a trailing dot does not count).
  fc
    .tuple(fc.array(labelOf(20, 63), { minLength: 4, maxLength: 12 }), fc.boolean())
    .filter(([labels]) => labels.join('.').length > 253)
    .map(([labels, dot]) => ({ why: 'name > 253', name: labels.join('.') + (dot ? '.' : '') })),
  // Whitespace or a control character anywhere.
  fc.tuple(smallName, fc.constantFrom(...BAD_CHARS), fc.nat(), fc.boolean()).map(([labels, c, at, dot]) => {
    const text = labels.join('.') + (dot ? '.' : '');
    const i = at % (text.length + 1);
    return {
      why: `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      name: text.slice(0, i) + c + text.slice(i),
    };
  }),
);

/** RFC 1035 §4.1.2 and §3.1: header, the name as length-prefixed labels plus the root, QTYPE, QCLASS. */
function expectedQueryLength(wire: string): number {
  const labels = wire.split('.');
  const octets = labels.reduce((sum, l) => sum + l.length, 0) + labels.length + 1;
  return 12 + octets + 4 + OPT_BYTES;
}

describe('names (fast-check)', () => {
  it('valid ASCII names are accepted, sized exactly, and decode back to themselves', () => {
    const max = [
      `${'a'.repeat(63)}.${'B'.repeat(63)}.${'c'.repeat(63)}.${'D'.repeat(61)}`,
      `${'x.'.repeat(126)}y`,
    ];
    expect(max.map((n) => n.length)).toEqual([253, 253]);
    fc.assert(
      fc.property(asciiName, fc.integer({ min: 0, max: 0xffff }), ({ labels, name }, id) => {
        count('names: valid ASCII');
        const wire = toWireName(name);
        // ASCII is never rewritten but for case, as c-ares sends it: the trailing dot goes, letters are lowered.
        expect(wire).toBe(labels.join('.').toLowerCase());
        const query = encodeQuery({ id, name: wire!, type: 'A', udpPayload: 1232 });
        expect(query.length).toBe(expectedQueryLength(wire!));
        const decoded = decodeMessage(query);
        expect(decoded.id).toBe(id);
        expect(decoded.questions[0]!.name).toBe(wire);
        expect(questionEnd(query)).toBe(query.length - OPT_BYTES);
      }),
      {
        numRuns: 3000,
        examples: [
          [{ labels: max[0]!.split('.'), name: max[0]! }, 0],
          [{ labels: max[1]!.split('.'), name: `${max[1]!}.` }, 0xffff],
        ],
      },
    );
  });

  it('non-ASCII names are converted by IDNA to xn-- labels that go on the wire', () => {
    fc.assert(
      fc.property(unicodeName, (name) => {
        count('names: IDNA');
        const wire = toWireName(name);
        // The documented rule: node's url.domainToASCII (UTS 46, nontransitional), as node does.
        const given = name.replace(/\.$/, '');
        expect(wire).toBe(domainToASCII(given));
        const labels = wire!.split('.');
        const givenLabels = given.split('.');
        expect(labels).toHaveLength(givenLabels.length);
        labels.forEach((label, i) => {
          expect(label).toMatch(/^[a-z0-9_-]{1,63}$/);
          if (/[^\x00-\x7f]/.test(givenLabels[i]!)) expect(label.startsWith('xn--')).toBe(true);
          else expect(label).toBe(givenLabels[i]!.toLowerCase());
        });
        const query = encodeQuery({ id: 1, name: wire!, type: 'MX', udpPayload: 1232 });
        expect(query.length).toBe(expectedQueryLength(wire!));
        expect(decodeMessage(query).questions[0]!.name).toBe(wire);
      }),
      { numRuns: 2000 },
    );
  });

  it('invalid names are rejected by toWireName', () => {
    expect(BAD_CHARS.length).toBeGreaterThan(60);
    fc.assert(
      fc.property(invalidName, ({ name }) => {
        count('names: invalid');
        expect(toWireName(name)).toBeUndefined();
      }),
      {
        numRuns: 3000,
        examples: [
          [
            {
              why: 'name > 253',
              name: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`,
            },
          ],
        ],
      },
    );
  });

  describe('through a Resolver', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer({ zoneFile });
    });
    afterAll(() => server.close());

    it('invalid names reject with EBADNAME before any socket opens', async () => {
      const sockets = openUdpSockets();
      const resolver = new Resolver({ servers: [server.server], concurrency: 4, timeout: 200, tries: 1 });
      await fc.assert(
        fc.asyncProperty(
          invalidName,
          fc.constantFrom('resolve4', 'resolveMx', 'query', 'resolveTxt'),
          async ({ name }, method) => {
            count('names: invalid via Resolver');
            const call =
              method === 'query'
                ? resolver.query(name, 'A')
                : (resolver[method] as (n: string) => Promise<unknown>)(name);
            const err = await call.then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(err).toBeInstanceOf(DnsError);
            expect((err as DnsError).code).toBe(codes.BADNAME);
            expect((err as DnsError).hostname).toBe(name);
          },
        ),
        { numRuns: 400 },
      );
      expect(server.stats.queries).toBe(0);
      expect(resolver.stats.sent).toBe(0);
      expect(resolver.semaphore.tokens).toBe(4);
      expect(openUdpSockets()).toBe(sockets);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/** One query and a real response to it. */
interface Fixture {
  label: string;
  query: Buffer;
  end: number;
  response: Buffer;
}

const QUERY_ID = 0xbeef;

/**
 * An MX answer written by hand with RFC 1035 §4.1.4 compression, which dns-packet never emits:
 * owners point at the question, exchanges are one label plus a pointer.
 */
function compressedMx(query: Buffer, end: number): Buffer {
  const header = Buffer.from(query.subarray(0, 12));
  header.writeUInt16BE(0x8580, 2); // QR AA RD RA, NOERROR
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(3, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  const records = [10, 20, 30].map((pref, i) => {
    const rdata = Buffer.concat([
      Buffer.from([pref >> 8, pref & 255, 3]),
      Buffer.from(`mx${i}`),
      Buffer.from([0xc0, 12]),
    ]);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(15, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(300, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, end), ...records]);
}

/** Records of many types for one owner, for answers built with encodeMessage. */
function richRecords(name: string): Answer[] {
  return [
    { name, type: 'A', ttl: 60, data: '192.0.2.1' },
    { name, type: 'AAAA', ttl: 60, data: '2001:db8::1' },
    { name, type: 'CNAME', ttl: 60, data: `alias.${name}` },
    { name, type: 'MX', ttl: 60, data: { preference: 10, exchange: `mx.${name}` } },
    { name, type: 'TXT', ttl: 60, data: ['v=spf1 -all', 'second'] },
    { name, type: 'SRV', ttl: 60, data: { priority: 1, weight: 2, port: 5060, target: `sip.${name}` } },
    { name, type: 'NS', ttl: 60, data: `ns1.${name}` },
    { name, type: 'PTR', ttl: 60, data: `host.${name}` },
    { name, type: 'CAA', ttl: 60, data: { flags: 0, tag: 'issue', value: 'ca.example' } },
    {
      name,
      type: 'SOA',
      ttl: 60,
      data: {
        mname: `ns1.${name}`,
        rname: `hm.${name}`,
        serial: 1,
        refresh: 2,
        retry: 3,
        expire: 4,
        minimum: 5,
      },
    },
  ] as Answer[];
}

/** A NOERROR response to `query` (decoded) built with encodeMessage, with many record types. */
function richResponse(query: Packet): Buffer {
  const name = query.questions![0]!.name;
  return encodeMessage({
    id: query.id,
    type: 'response',
    flags: 0x0400 | 0x0100 | 0x0080,
    questions: query.questions,
    answers: richRecords(name),
    additionals: query.additionals?.some((r) => r.type === 'OPT')
      ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as Answer]
      : [],
  });
}

/** Asks the test server over a raw loopback socket and returns the datagram it answers with. */
async function askRaw(server: TestServer, query: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    const answer = once(socket, 'message') as Promise<[Buffer]>;
    // Loopback UDP can still drop under load: send again until the answer comes.
    for (let attempt = 0; attempt < 20; attempt++) {
      socket.send(query, server.port, server.address);
      const got = await Promise.race([
        answer,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 250)),
      ]);
      if (got) return got[0];
    }
    throw new Error(`no answer from ${server.server} to ${query.toString('hex')}`);
  } finally {
    socket.close();
  }
}

/** RFC 5452 §9.1, read independently of src/wire/validate.ts: what accept() must say. */
function expectedVerdict(
  bytes: Buffer,
  query: Buffer,
  end: number,
  maxSize: number,
): 'answer' | 'skip' | 'malformed' {
  if (bytes.length > maxSize || bytes.length < 12) return 'skip';
  if (bytes.readUInt16BE(0) !== query.readUInt16BE(0)) return 'skip'; // ID
  if ((bytes[2]! & 0x80) === 0) return 'skip'; // QR
  if (((bytes[2]! >> 3) & 0xf) !== ((query[2]! >> 3) & 0xf)) return 'skip'; // opcode
  const qd = bytes.readUInt16BE(4);
  const rcode = bytes[3]! & 0xf;
  if (qd === 1) {
    if (bytes.length < end) return 'skip';
    // Case-fold the whole question: query length bytes are <= 63, so they are never letters.
    const fold = (b: Buffer) =>
      Buffer.from(
        b
          .subarray(12, end - 4)
          .toString('latin1')
          .toLowerCase(),
        'latin1',
      );
    if (!fold(bytes).equals(fold(query))) return 'skip';
    if (!bytes.subarray(end - 4, end).equals(query.subarray(end - 4, end))) return 'skip';
  } else if (!(qd === 0 && rcode === 1 && query.readUInt16BE(10) !== 0)) {
    // RFC 6891 §7: only a question-less FORMERR to a query with OPT may skip the echo.
    return 'skip';
  }
  try {
    decodeMessage(bytes);
    return 'answer';
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedMessageError);
    // Truncated (TC) after a matching question: an answer that says "ask over TCP", whatever follows.
    if (qd === 1 && (bytes[2]! & 0x02) !== 0) return 'answer';
    return 'malformed';
  }
}

/** Feeds bytes to accept() and checks the verdict against {@link expectedVerdict}. */
function check(bytes: Buffer, fx: Fixture, maxSize = 65535): string {
  let verdict: ReturnType<typeof accept>;
  try {
    verdict = accept(bytes, fx.query, fx.end, maxSize);
  } catch (err) {
    throw new Error(`accept() threw on ${bytes.toString('hex')} (${fx.label}): ${(err as Error).stack}`);
  }
  const want = expectedVerdict(bytes, fx.query, fx.end, maxSize);
  expect(verdict.kind, `${fx.label} ${bytes.toString('hex')}`).toBe(want);
  if (verdict.kind === 'answer') {
    expect(verdict.message.id).toBe(fx.query.readUInt16BE(0));
    expect(verdict.message.flag_qr).toBe(true);
  }
  return verdict.kind;
}

type Mutation =
  | { op: 'flip'; at: number; mask: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'splice'; at: number; source: number; start: number; count: number; insert: boolean }
  | { op: 'pointer'; at: number; target: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('flip' as const),
      at: fc.nat(),
      mask: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.constantFrom(0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('extend' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 20 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('splice' as const),
      at: fc.nat(),
      source: fc.nat(),
      start: fc.nat(),
      count: fc.integer({ min: 1, max: 64 }),
      insert: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('pointer' as const), at: fc.nat(), target: fc.nat({ max: 600 }) }),
  },
);

/** Applies mutations in order; `sources` are other real responses a splice copies from. */
function mutate(base: Buffer, mutations: Mutation[], sources: readonly Buffer[]): Buffer {
  let b = Buffer.from(base);
  for (const m of mutations) {
    const pos = (n: number) => (b.length === 0 ? 0 : n % b.length);
    switch (m.op) {
      case 'flip':
        if (b.length) b[pos(m.at)]! ^= m.mask;
        break;
      case 'set':
        if (b.length) b[pos(m.at)] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, m.at % (b.length + 1));
        break;
      case 'extend':
        b = Buffer.concat([b, m.bytes]);
        break;
      case 'insert': {
        const at = m.at % (b.length + 1);
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      }
      case 'delete': {
        const at = pos(m.at);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
        break;
      }
      case 'splice': {
        const src = sources[m.source % sources.length]!;
        const start = m.start % src.length;
        const chunk = src.subarray(start, start + m.count);
        const at = m.at % (b.length + 1);
        b = Buffer.concat([b.subarray(0, at), chunk, b.subarray(m.insert ? at : at + chunk.length)]);
        break;
      }
      case 'pointer':
        if (b.length >= 2) {
          const at = m.at % (b.length - 1);
          b[at] = 0xc0 | ((m.target >> 8) & 0x3f);
          b[at + 1] = m.target & 0xff;
        }
        break;
    }
  }
  return Buffer.from(b);
}

/** A header field rewritten, or kept (null). */
const field = fc.option(
  fc.oneof(fc.constantFrom(0, 1, 2, 0x8000, 0xffff), fc.integer({ min: 0, max: 0xffff })),
  {
    nil: null,
  },
);

describe('accept() under fuzz (fast-check)', () => {
  const fixtures: Fixture[] = [];
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ zoneFile });
    const asked: [string, RecordType][] = [
      ['google.com', 'MX'],
      ['Yahoo.COM', 'MX'],
      ['google.com', 'NS'],
      ['microsoft.com', 'SOA'],
      ['nope.google.com', 'A'], // NXDOMAIN with the SOA in authority
      ['google.com', 'TXT'], // NODATA
    ];
    for (const [name, type] of asked) {
      const query = encodeQuery({ id: QUERY_ID, name, type, udpPayload: 1232 });
      fixtures.push({
        label: `zone ${name}/${type}`,
        query,
        end: questionEnd(query),
        response: await askRaw(server, query),
      });
    }
    for (const [name, type] of [
      ['Mixed.Example.TEST', 'ANY'],
      ['_sip._udp.example.test', 'SRV'],
    ] as const) {
      const query = encodeQuery({ id: QUERY_ID, name, type: type as RecordType, udpPayload: 1232 });
      fixtures.push({
        label: `built ${name}/${type}`,
        query,
        end: questionEnd(query),
        response: richResponse(decodeMessage(query)),
      });
    }
    const mxq = encodeQuery({ id: QUERY_ID, name: 'mail.example.test', type: 'MX', udpPayload: 1232 });
    fixtures.push({
      label: 'compressed MX',
      query: mxq,
      end: questionEnd(mxq),
      response: compressedMx(mxq, questionEnd(mxq)),
    });
    // RFC 6891 §7: the question-less FORMERR an old server gives to an OPT.
    const formerr = Buffer.alloc(12);
    formerr.writeUInt16BE(QUERY_ID, 0);
    formerr.writeUInt16BE(0x8001, 2);
    fixtures.push({ label: 'question-less FORMERR', query: mxq, end: questionEnd(mxq), response: formerr });
    // Every fixture is an answer as it stands: the mutations start from accepted bytes.
    for (const fx of fixtures) expect(check(fx.response, fx), fx.label).toBe('answer');
  });

  afterAll(async () => {
    await server.close();
    console.log(
      `[property] fuzz cases run: ${JSON.stringify(ran)}; total ${Object.values(ran).reduce((a, b) => a + b, 0)}`,
    );
  });

  const fixtureIndex = () => fc.nat({ max: 1000 });
  const pick = (i: number) => fixtures[i % fixtures.length]!;

  it('(a) random bytes, bare or behind a matching header and question, never pass for an answer', () => {
    const verdicts: Record<string, number> = {};
    fc.assert(
      fc.property(
        fixtureIndex(),
        fc.uint8Array({ maxLength: 700 }),
        fc.nat({ max: 3 }),
        (i, bytes, shape) => {
          count('accept: random bytes');
          const fx = pick(i);
          let b = Buffer.from(bytes);
          // shape 0: bare; 1: the query's ID; 2: header with QR and the question; 3: the whole real header+question.
          if (shape >= 1 && b.length >= 2) fx.query.copy(b, 0, 0, 2);
          if (shape >= 2) {
            const head = Buffer.from(fx.query.subarray(0, fx.end));
            head[2]! |= 0x80;
            head.writeUInt16BE(1, 4);
            if (shape === 3) fx.response.copy(head, 2, 2, 12);
            b = Buffer.concat([head, b]);
          }
          const kind = check(b, fx);
          verdicts[kind] = (verdicts[kind] ?? 0) + 1;
        },
      ),
      { numRuns: 5000 },
    );
    // The prefixed shapes reach the decoder: the property saw malformed verdicts, not only skips.
    expect(verdicts.malformed ?? 0).toBeGreaterThan(0);
  });

  it('(b) flipped, truncated, extended and spliced real responses', () => {
    const verdicts: Record<string, number> = {};
    fc.assert(
      fc.property(fixtureIndex(), fc.array(mutation, { minLength: 1, maxLength: 6 }), (i, mutations) => {
        count('accept: mutated responses');
        const fx = pick(i);
        const bytes = mutate(
          fx.response,
          mutations,
          fixtures.map((f) => f.response),
        );
        const kind = check(bytes, fx);
        verdicts[kind] = (verdicts[kind] ?? 0) + 1;
      }),
      { numRuns: 5000 },
    );
    // Each verdict was reached: the mutations exercise the whole acceptance path.
    expect(Object.keys(verdicts).sort()).toEqual(['answer', 'malformed', 'skip']);
  });

  /**
   * A name printed with c-ares escapes, as dns-packet prints it: labels as UTF-8, joined by dots
   * (`mail`, as for an SOA rname: with the dots inside a label as `\\.`).
   */
  function unescaped(name: string, mail = false): string {
    if (name === '.') return name;
    const labels: string[] = [];
    let bytes: number[] = [];
    for (let i = 0; i < name.length; i++) {
      const c = name[i]!;
      if (c === '.') {
        labels.push(Buffer.from(bytes).toString('utf-8'));
        bytes = [];
      } else if (c === '\\' && /\d/.test(name[i + 1]!)) {
        bytes.push(Number(name.slice(i + 1, i + 4)));
        i += 3;
      } else if (c === '\\') {
        bytes.push(name.charCodeAt(++i));
      } else {
        bytes.push(name.charCodeAt(i));
      }
    }
    labels.push(Buffer.from(bytes).toString('utf-8'));
    return (mail ? labels.map((l) => l.replace(/\./g, '\\.')) : labels).join('.');
  }
  const NAME_FIELDS = ['exchange', 'target', 'mname', 'rname', 'replacement'];
  function asDnsPacketReads(record: Answer): Answer {
    const r = { ...record } as { name: string; type: string; data?: unknown };
    if (r.type === 'OPT') return r as unknown as Answer;
    r.name = unescaped(r.name);
    if (typeof r.data === 'string' && ['NS', 'CNAME', 'PTR', 'DNAME'].includes(r.type))
      r.data = unescaped(r.data);
    else if (
      r.data !== null &&
      typeof r.data === 'object' &&
      !Buffer.isBuffer(r.data) &&
      !Array.isArray(r.data)
    ) {
      const data = { ...(r.data as Record<string, unknown>) };
      for (const f of NAME_FIELDS) {
        if (typeof data[f] === 'string') data[f] = unescaped(data[f] as string, f === 'rname');
      }
      r.data = data;
    }
    return r as unknown as Answer;
  }

  it('(d) the fast record decoder reads what dns-packet reads, in every message both accept', () => {
    let compared = 0;
    fc.assert(
      fc.property(fixtureIndex(), fc.array(mutation, { minLength: 1, maxLength: 6 }), (i, mutations) => {
        count('decodeRecords vs dns-packet');
        const bytes = mutate(
          pick(i).response,
          mutations,
          fixtures.map((f) => f.response),
        );
        let message: ReturnType<typeof decodeMessage>;
        try {
          message = decodeMessage(bytes);
        } catch {
          return; // malformed: neither reader gets to see it
        }
        const layout = walk(bytes, agree);
        const all: Answer[] = [];
        const total = message.answers.length + message.authorities.length + message.additionals.length;
        let at = layout.records[0] ?? bytes.length;
        // Section by section, as the resolver decodes them (names are reused within a section).
        for (const n of [message.answers.length, message.authorities.length, message.additionals.length]) {
          at = decodeRecords(bytes, at, n, all);
        }
        expect(all).toHaveLength(total);
        // dnsgate prints names as c-ares does (escaped); read back as dns-packet reads them, equal.
        expect(all.map(asDnsPacketReads)).toEqual([
          ...message.answers,
          ...message.authorities,
          ...message.additionals,
        ]);
        compared += total;
      }),
      { numRuns: 5000 },
    );
    expect(compared).toBeGreaterThan(1000);
  });

  it('(c) rewritten header fields: ID, flags and the four counts', () => {
    fc.assert(
      fc.property(
        fixtureIndex(),
        fc.record({ id: field, flags: field, qd: field, an: field, ns: field, ar: field }),
        fc.boolean(),
        (i, h, keepQr) => {
          count('accept: rewritten headers');
          const fx = pick(i);
          const b = Buffer.from(fx.response);
          if (h.id !== null) b.writeUInt16BE(h.id, 0);
          if (h.flags !== null) b.writeUInt16BE(keepQr ? h.flags | 0x8000 : h.flags, 2);
          [h.qd, h.an, h.ns, h.ar].forEach((v, k) => {
            if (v !== null) b.writeUInt16BE(v, 4 + 2 * k);
          });
          check(b, fx);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('a response larger than the size allowed is skipped before it is read', () => {
    fc.assert(
      fc.property(
        fixtureIndex(),
        fc.array(mutation, { maxLength: 3 }),
        fc.integer({ min: 0, max: 700 }),
        (i, m, max) => {
          count('accept: size cap');
          const fx = pick(i);
          const bytes = mutate(
            fx.response,
            m,
            fixtures.map((f) => f.response),
          );
          const kind = check(bytes, fx, max);
          if (bytes.length > max) expect(kind).toBe('skip');
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Mutated responses through a live Resolver
// ---------------------------------------------------------------------------------------------

const KNOWN_CODES = new Set<string>(Object.values(codes));
const TYPES = ['A', 'AAAA', 'MX', 'TXT', 'SRV', 'NS', 'PTR', 'CNAME', 'SOA', 'CAA', 'NAPTR', 'ANY'] as const;

interface LiveCase {
  mutations: Mutation[];
  /** Send the real answer after the mutated one, so a skipped or malformed one is overtaken. */
  thenReal: boolean;
  compressed: boolean;
  type: (typeof TYPES)[number];
  viaQuery: boolean;
}

describe('mutated responses through a live Resolver', () => {
  let server: TestServer;
  let current: LiveCase | undefined;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  /** resolve4/resolve6 results holding an address of the other family (checked in its own test). */
  const wrongFamily: { case: LiveCase; value: unknown }[] = [];

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    server = await startTestServer({
      zoneFile,
      handler: (query) => {
        const c = current;
        if (!c) return null;
        const raw = encodeMessage({ ...query, type: 'query' });
        const end = questionEnd(raw);
        const base = c.compressed ? compressedMx(raw, end) : richResponse(query);
        const bytes = mutate(base, c.mutations, [base]);
        return c.thenReal ? [bytes, base] : bytes;
      },
    });
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await server.close();
  });

  it('every query settles exactly once, with a result or a DnsError of a known code', async () => {
    const resolver = new Resolver({ servers: [server.server], concurrency: 4, timeout: 25, tries: 1 });
    const outcomes: Record<string, number> = {};
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
          thenReal: fc.boolean(),
          compressed: fc.boolean(),
          type: fc.constantFrom(...TYPES),
          viaQuery: fc.boolean(),
        }),
        async (c) => {
          count('live resolver');
          current = c;
          const name = `case${n++}.fuzz.test`;
          const call: Promise<unknown> = c.viaQuery
            ? resolver.query(name, c.type)
            : resolver.resolve(name, c.type);
          let settled = 0;
          let value: unknown;
          let error: unknown;
          const done = call.then(
            (v) => {
              settled++;
              value = v;
            },
            (e: unknown) => {
              settled++;
              error = e;
            },
          );
          const hung = await Promise.race([
            done.then(() => false),
            new Promise((r) => setTimeout(r, 3000, true)),
          ]);
          expect(hung, `${name} never settled`).toBe(false);
          await new Promise((r) => setImmediate(r));
          expect(settled).toBe(1);
          if (error !== undefined) {
            expect(error, String((error as Error)?.stack)).toBeInstanceOf(DnsError);
            expect(KNOWN_CODES.has((error as DnsError).code)).toBe(true);
            outcomes[(error as DnsError).code] = (outcomes[(error as DnsError).code] ?? 0) + 1;
          } else {
            outcomes.ok = (outcomes.ok ?? 0) + 1;
            if (!c.viaQuery && (c.type === 'A' || c.type === 'AAAA')) {
              const family = c.type === 'A' ? 4 : 6;
              const wrong = (value as string[]).filter((a) => isIP(a) !== family);
              if (wrong.length > 0) wrongFamily.push({ case: c, value });
            }
          }
        },
      ),
      { numRuns: 200 },
    );
    current = undefined;
    console.log(
      `[property] live fuzz outcomes: ${JSON.stringify(outcomes)}; resolver stats ${JSON.stringify(resolver.stats)}; server got ${server.stats.udpQueries} UDP, ${server.stats.tcpQueries} TCP`,
    );
    expect(uncaught).toEqual([]);
    expect(resolver.semaphore.tokens).toBe(4);
    expect(resolver.semaphore.waiting).toBe(0);
    expect(outcomes.ok ?? 0).toBeGreaterThan(0);
  });

  it('resolve4 gives only IPv4 addresses and resolve6 only IPv6, whatever else the answer holds', () => {
    // c-ares (node) keeps only records of the asked type; the fuzz answers carry both A and AAAA.
    expect(wrongFamily.slice(0, 3), `${wrongFamily.length} results of the wrong family`).toEqual([]);
  });
});
