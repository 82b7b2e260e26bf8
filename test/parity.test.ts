// Parity with node: node's own dns.promises.Resolver (c-ares), pointed at the same loopback nameserver,
// is the reference for every result, every error code, syscall and hostname.
import { promises as dns } from 'node:dns';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsCache, DnsError, type DnsMessage, Resolver, Semaphore } from '../src/index.js';
import {
  type AskedQuestion,
  emptyResultCode,
  toAddresses,
  toAddressesWithTtl,
  toAny,
  toCaa,
  toCname,
  toMx,
  toNaptr,
  toNs,
  toPtr,
  toSoa,
  toSrv,
  toTxt,
} from '../src/records.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';
import type { RecordType } from '../src/wire/codec.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/example.zone', import.meta.url));

// The part of node's surface compared here.
type Api = Pick<
  dns.Resolver,
  | 'resolve'
  | 'resolve4'
  | 'resolve6'
  | 'resolveAny'
  | 'resolveCaa'
  | 'resolveCname'
  | 'resolveMx'
  | 'resolveNaptr'
  | 'resolveNs'
  | 'resolvePtr'
  | 'resolveSoa'
  | 'resolveSrv'
  | 'resolveTxt'
  | 'reverse'
>;

type Outcome =
  | { value: unknown }
  | { error: { code: unknown; syscall: unknown; hostname: unknown; message: string } };

// Runs inside an async function so a synchronous throw and a rejection compare alike (see the
// rrtype test for the one place node throws synchronously).
async function settle(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { value: await call() };
  } catch (err) {
    const { code, syscall, hostname, message } = err as Error & Record<string, unknown>;
    return { error: { code, syscall, hostname, message } };
  }
}

const RRTYPES = [
  'A',
  'AAAA',
  'ANY',
  'CAA',
  'CNAME',
  'MX',
  'NAPTR',
  'NS',
  'PTR',
  'SOA',
  'SRV',
  'TXT',
] as const;
type RrType = (typeof RRTYPES)[number];

// [label, the rrtype asked, the call]
const METHODS: [string, RrType, (r: Api, name: string) => Promise<unknown>][] = [
  ['resolve4', 'A', (r, n) => r.resolve4(n)],
  ['resolve4 {ttl}', 'A', (r, n) => r.resolve4(n, { ttl: true })],
  ['resolve6', 'AAAA', (r, n) => r.resolve6(n)],
  ['resolve6 {ttl}', 'AAAA', (r, n) => r.resolve6(n, { ttl: true })],
  ['resolveAny', 'ANY', (r, n) => r.resolveAny(n)],
  ['resolveCaa', 'CAA', (r, n) => r.resolveCaa(n)],
  ['resolveCname', 'CNAME', (r, n) => r.resolveCname(n)],
  ['resolveMx', 'MX', (r, n) => r.resolveMx(n)],
  ['resolveNaptr', 'NAPTR', (r, n) => r.resolveNaptr(n)],
  ['resolveNs', 'NS', (r, n) => r.resolveNs(n)],
  ['resolvePtr', 'PTR', (r, n) => r.resolvePtr(n)],
  ['resolveSoa', 'SOA', (r, n) => r.resolveSoa(n)],
  ['resolveSrv', 'SRV', (r, n) => r.resolveSrv(n)],
  ['resolveTxt', 'TXT', (r, n) => r.resolveTxt(n)],
  ...RRTYPES.map((t): [string, RrType, (r: Api, name: string) => Promise<unknown>] => [
    `resolve '${t}'`,
    t,
    (r, n) => r.resolve(n, t as 'A'),
  ]),
];

// [name, what fixtures/zones/example.zone has there]
const NAMES: [string, string][] = [
  ['example.test', 'apex: 2 A, 2 AAAA, 2 NS, 3 MX, multi-string TXT, 2 CAA, 2 NAPTR, SOA'],
  ['www.example.test', 'CNAME chain www -> alias -> host'],
  ['alias.example.test', 'middle of the chain'],
  ['host.example.test', 'end of the chain: A and AAAA; NODATA for the rest'],
  ['WWW.Example.TEST.', 'the chain, asked in mixed case with a trailing dot'],
  ['short.example.test', 'CNAME with a lower TTL than the A it leads to'],
  ['out.example.test', 'CNAME out of the zone, not followed: NOERROR with only the CNAME'],
  ['dangling.example.test', 'CNAME to a missing name: NXDOMAIN with the CNAME'],
  ['nope.example.test', 'NXDOMAIN'],
  ['sub.example.test', 'empty non-terminal: NODATA, not NXDOMAIN'],
  ['nullmx.example.test', 'null MX `0 .`'],
  ['mixed.example.test', 'MX in mixed case; NS names with "@", "$" and non-ASCII octets'],
  ['bytes.example.test', 'TXT with UTF-8 and non-UTF-8 octets and a NUL'],
  ['quoted.example.test', 'TXT with quotes and a semicolon'],
  // Over 512 bytes: node sends no EDNS, so it gets TC over UDP and asks again over TCP, while
  // dnsgate's 1232-byte EDNS answer fits in UDP. The results must still match (see the stats test).
  ['long.example.test', 'TXT of 780 octets'],
  ['v6.example.test', 'AAAA that dns-packet and libuv print differently'],
  ['caa.example.test', 'CAA with critical 128, issuewild ";", a tag in mixed case'],
  ['_sip._tcp.example.test', 'two SRV'],
  ['_none._tcp.example.test', 'SRV with the root as target'],
  ['enum.example.test', 'NAPTR with a regexp and the root as replacement'],
  ['1.2.0.192.in-addr.arpa', 'PTR in the reverse zone'],
  ['30.2.0.192.in-addr.arpa', 'two PTR'],
  ['2.0.192.in-addr.arpa', 'reverse zone apex: SOA and NS'],
  ['example.org', 'outside every zone: REFUSED'],
];

/**
 * Where dnsgate's resolver.ts, not records.ts, still differs from node: node's answer, or undefined.
 * #records throws ENODATA whenever the shape gives [], but c-ares decides per type once the answer
 * section is not empty (records.ts `emptyResultCode` has the rule).
 */
let server: TestServer;
let node: dns.Resolver;
let gate: Resolver;
let api: { node: Api; gate: Api };

beforeAll(async () => {
  server = await startTestServer({ zoneFile });
  node = new dns.Resolver();
  node.setServers([server.server]);
  gate = new Resolver({ servers: [server.server] });
  // A compile-time check of the drop-in claim: dnsgate's Resolver is assignable to node's surface.
  const typed: Api = gate;
  api = { node, gate: typed };
});
afterAll(() => server.close());

async function compare(call: (r: Api) => Promise<unknown>): Promise<void> {
  const expected = await settle(() => call(api.node));
  const actual = await settle(() => call(api.gate));
  expect(actual).toStrictEqual(expected);
  // Key order too, so JSON and console output match node's.
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
}

describe('every method on every fixture name gives what node gives', () => {
  const cases = NAMES.flatMap(([name, what]) =>
    METHODS.map(([label, type, call]) => ({ label, type, call, name, what })),
  );
  it.each(cases)('$label $name ($what)', ({ call, name }) => compare((r) => call(r, name)));
});

describe('records.ts alone reproduces node, on the messages dnsgate receives', () => {
  const SHAPE: Record<RrType, (answers: DnsMessage['answers'], q?: AskedQuestion) => unknown[]> = {
    A: toAddresses,
    AAAA: toAddresses,
    ANY: toAny,
    CAA: toCaa,
    CNAME: toCname,
    MX: toMx,
    NAPTR: toNaptr,
    NS: toNs,
    PTR: toPtr,
    SOA: toSoa,
    SRV: toSrv,
    TXT: toTxt,
  };
  const RCODES: Record<string, string> = {
    NXDOMAIN: 'ENOTFOUND',
    REFUSED: 'EREFUSED',
    SERVFAIL: 'ESERVFAIL',
  };
  // What the resolver should do with a message: rcode, then the shape, then emptyResultCode.
  function outcome(message: DnsMessage, type: RrType, ttl: boolean): { value: unknown } | { code: unknown } {
    if (message.rcode !== 'NOERROR') return { code: RCODES[message.rcode] ?? message.rcode };
    const question = message.questions[0];
    const records = ttl
      ? toAddressesWithTtl(message.answers, question)
      : SHAPE[type](message.answers, question);
    const code = records.length === 0 ? emptyResultCode(type, message.answers) : undefined;
    if (code) return { code };
    return { value: type === 'SOA' ? records[0] : records };
  }
  const cases = NAMES.flatMap(([name]) => [
    ...RRTYPES.map((type) => ({ name, type, ttl: false })),
    { name, type: 'A' as const, ttl: true },
    { name, type: 'AAAA' as const, ttl: true },
  ]);
  it.each(cases)('$type $name (ttl: $ttl)', async ({ name, type, ttl }) => {
    const ask = (r: Api) =>
      ttl
        ? (type === 'A' ? r.resolve4 : r.resolve6).call(r, name, { ttl: true })
        : r.resolve(name, type as 'A');
    const reference = await settle(() => ask(node));
    const expected = 'value' in reference ? reference : { code: reference.error.code };
    // query() resolves with NXDOMAIN and NODATA messages but rejects REFUSED (it tries the next server).
    const actual = await gate.query(name, type as RecordType).then(
      (message) => outcome(message, type, ttl),
      (err: { code: unknown }) => ({ code: err.code }),
    );
    expect(actual).toStrictEqual(expected);
    expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
  });
});

describe('reverse', () => {
  it.each([
    ['192.0.2.1', 'one PTR'],
    ['192.0.2.30', 'two PTR'],
    ['2001:db8::30', 'PTR in ip6.arpa'],
    ['2001:DB8:0::30', 'upper case, spelled longer'],
    ['192.0.2.99', 'NXDOMAIN'],
    ['2001:db8::99', 'NXDOMAIN in ip6.arpa'],
    ['nope', 'not an address: EINVAL'],
    ['1.2.3', 'not an address: EINVAL'],
  ])('reverse(%j): %s', (ip) => compare((r) => r.reverse(ip)));

  // c-ares's reverse turns any failure of the server (here REFUSED) into ENOTFOUND; so does dnsgate.
  it.each(['::ffff:192.0.2.1', '10.1.2.3'])('reverse(%j): the server refuses, both say ENOTFOUND', (ip) =>
    compare((r) => r.reverse(ip)),
  );
  it.fails("reverse(''): node's EINVAL has hostname undefined, dnsgate's ''", () =>
    compare((r) => r.reverse('')));
});

describe('errors before any query', () => {
  it.each(['BOGUS', 'a', 'ns', 'HINFO', 'DNAME'])(
    'resolve(name, %j) is a TypeError in both',
    async (rrtype) => {
      for (const r of [api.node, api.gate]) {
        const settled = (async () => r.resolve('example.test', rrtype as 'A'))();
        await expect(settled).rejects.toBeInstanceOf(TypeError);
        await expect(settled).rejects.toThrow(/'rrtype' is invalid/);
      }
    },
  );

  // Node throws ERR_INVALID_ARG_VALUE synchronously; so does dnsgate.
  it('resolve(name, "BOGUS") throws synchronously, as in node', () => {
    let returned: Promise<unknown> | undefined;
    try {
      expect(() => {
        returned = gate.resolve('example.test', 'BOGUS');
      }).toThrow(TypeError);
    } finally {
      returned?.catch(() => {});
    }
  });

  // Object.prototype's keys are no rrtypes, and a non-string is a type error: the same code, message
  // and synchronous throw as node's (before, 'toString' went on the wire as qtype 0).
  it.each<unknown>(['toString', '__proto__', 'constructor', 'valueOf', 5, null])(
    'resolve(name, %j) throws the same TypeError as node, synchronously',
    (rrtype) => {
      const thrown = (r: Api) => {
        try {
          (r.resolve('example.test', rrtype as 'A') as Promise<unknown>).catch(() => {});
        } catch (e) {
          return {
            name: (e as Error).name,
            code: (e as { code?: string }).code,
            message: (e as Error).message,
          };
        }
        return 'no throw';
      };
      expect(thrown(api.gate)).toEqual(thrown(api.node));
      expect(thrown(api.gate)).not.toBe('no throw');
    },
  );

  const BAD_NAMES: [string, string][] = [
    ['a..b', 'empty label'],
    [`${'x'.repeat(64)}.example.test`, '64-octet label'],
    ['..', 'only dots'],
    ['example.test..', 'two trailing dots'],
    ['.example.test', 'leading dot'],
    ['a b.example.test', 'a space'],
    ['john@example.test', 'an @'],
    ['ex%41mple.test', 'a %'],
  ];
  const badCases = BAD_NAMES.flatMap(([name, what]) =>
    METHODS.map(([label, , call]) => ({ label, call, name, what })),
  );
  it.each(badCases)('$label on $what: EBADNAME, same syscall and hostname', ({ call, name }) =>
    compare((r) => call(r, name)),
  );

  // Node sends these as they are (the empty name is the root; c-ares escapes the NUL) and gets REFUSED
  // from this server; dnsgate rejects them before sending. Node's error for '' also lacks `hostname`.
  it.fails.each([
    ['', 'empty name'],
    ['ex\u0000ample.test', 'a NUL'],
  ])('resolve4(%j) (%s): node sends it, dnsgate says EBADNAME', (name) => compare((r) => r.resolve4(name)));
});

describe("syscall names match node's", () => {
  it.each([
    ['resolve4', 'queryA'],
    ['resolve6', 'queryAaaa'],
    ['resolveAny', 'queryAny'],
    ['resolveCaa', 'queryCaa'],
    ['resolveCname', 'queryCname'],
    ['resolveMx', 'queryMx'],
    ['resolveNaptr', 'queryNaptr'],
    ['resolveNs', 'queryNs'],
    ['resolvePtr', 'queryPtr'],
    ['resolveSoa', 'querySoa'],
    ['resolveSrv', 'querySrv'],
    ['resolveTxt', 'queryTxt'],
  ] as const)('%s -> %s', async (method, syscall) => {
    const call = (r: Api) => (r[method] as (name: string) => Promise<unknown>).call(r, 'nope.example.test');
    for (const r of [api.node, api.gate]) {
      await expect(call(r)).rejects.toMatchObject({
        code: 'ENOTFOUND',
        syscall,
        hostname: 'nope.example.test',
      });
    }
  });

  it('reverse -> getHostByAddr, with the address as hostname', async () => {
    for (const r of [api.node, api.gate]) {
      await expect(r.reverse('192.0.2.99')).rejects.toMatchObject({
        code: 'ENOTFOUND',
        syscall: 'getHostByAddr',
        hostname: '192.0.2.99',
      });
    }
  });
});

describe('transport', () => {
  it('long TXT: node gets TC and retries over TCP, dnsgate fits it in one EDNS UDP reply', async () => {
    server.resetStats();
    const expected = await node.resolveTxt('long.example.test');
    expect(server.stats).toMatchObject({ udpQueries: 1, tcpQueries: 1 });
    server.resetStats();
    expect(await gate.resolveTxt('long.example.test')).toStrictEqual(expected);
    expect(server.stats).toMatchObject({ udpQueries: 1, tcpQueries: 0 });
    expect(expected[0]!.join('')).toBe('a'.repeat(255) + 'b'.repeat(255) + 'c'.repeat(255));
  });
});

// Replies built byte by byte, for what a zone file cannot say: other classes, rcodes past 5, an OPT
// record's extended rcode, label bytes that c-ares escapes. Both resolvers ask the same server.
describe('the wire as c-ares reads it', () => {
  const label = (l: string | number[]) => {
    const bytes = typeof l === 'string' ? Buffer.from(l, 'latin1') : Buffer.from(l);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  };
  const name = (...labels: (string | number[])[]) => Buffer.concat([...labels.map(label), Buffer.from([0])]);
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const TYPES: Record<string, number> = {
    A: 1,
    NS: 2,
    CNAME: 5,
    SOA: 6,
    PTR: 12,
    MX: 15,
    TXT: 16,
    SRV: 33,
    NAPTR: 35,
  };
  /** A record owned by the question name (a pointer to offset 12). */
  const rec = (type: string, rdata: Buffer, klass = 1) =>
    Buffer.concat([
      u16(0xc00c),
      u16(TYPES[type]!),
      u16(klass),
      Buffer.from([0, 0, 0, 60]),
      u16(rdata.length),
      rdata,
    ]);
  const WEIRD = name('we.ird', [0xff], 'a@b$', 'sp ace', [0xc3, 0xa4], 'example');
  const RDATA: Record<string, Buffer> = {
    A: Buffer.from([192, 0, 2, 1]),
    NS: WEIRD,
    CNAME: WEIRD,
    PTR: WEIRD,
    MX: Buffer.concat([u16(10), WEIRD]),
    SRV: Buffer.concat([u16(1), u16(2), u16(3), WEIRD]),
    SOA: Buffer.concat([WEIRD, name('host.master', 'x'), Buffer.alloc(20, 1)]),
    NAPTR: Buffer.concat([u16(1), u16(2), label('u'), label('E2U+sip'), label('!^.*$!x!'), WEIRD]),
    TXT: label('hi'),
  };
  // name -> how to answer; the first label says what: rcode-N, class-N, mixed, ext-N, esc
  function reply(
    q: { id: number; questions?: { name: string; type: string }[] },
    queryHasOpt: boolean,
  ): Buffer {
    const { name: qname, type } = q.questions![0]!;
    const [what, arg] = qname.split('.')[0]!.split('-');
    const n = Number(arg);
    const question = Buffer.concat([name(...qname.split('.')), u16(TYPES[type] ?? 1), u16(1)]);
    let rcode = 0;
    let answers: Buffer[] = [];
    let ext = -1;
    const rdata = RDATA[type] ?? RDATA.A!;
    if (what === 'rcode') rcode = n;
    else if (what === 'rcodemx') {
      rcode = n;
      answers = [rec(type, rdata)];
    } else if (what === 'class') answers = [rec(type, rdata, n)];
    else if (what === 'mixed') answers = [rec(type, rdata, 3), rec(type, rdata, 1)];
    else if (what === 'ext') ext = n;
    else if (what === 'esc') answers = [rec(type, rdata)];
    if (ext >= 0 && !queryHasOpt) ext = -1;
    const header = Buffer.concat([
      u16(q.id),
      u16(0x8180 | (rcode & 0xf)),
      u16(1),
      u16(answers.length),
      u16(0),
      u16(ext >= 0 ? 1 : 0),
    ]);
    const opt = ext >= 0 ? Buffer.from([0, 0, 41, 0x10, 0, ext, 0, 0, 0, 0, 0]) : Buffer.alloc(0);
    return Buffer.concat([header, question, ...answers, opt]);
  }
  let wireServer: TestServer;
  let nodeR: dns.Resolver;
  let gateR: Resolver;
  const asked: string[] = [];
  beforeAll(async () => {
    wireServer = await startTestServer({
      handler: (q) => {
        asked.push(q.questions![0]!.name);
        // ext-N: node sends no OPT, so it sees the plain header; dnsgate sees the extended rcode.
        const hasOpt = (q.additionals ?? []).some((a) => a.type === 'OPT');
        return reply(q as never, hasOpt);
      },
    });
    nodeR = new dns.Resolver({ timeout: 500, tries: 1 });
    nodeR.setServers([wireServer.server]);
    gateR = new Resolver({ servers: [wireServer.server], timeout: 500, tries: 1 });
  });
  afterAll(() => wireServer.close());
  const both = async (call: (r: Api) => Promise<unknown>) => {
    const expected = await settle(() => call(nodeR));
    const actual = await settle(() => call(gateR));
    expect(actual).toStrictEqual(expected);
    expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
    return actual;
  };

  it.each(METHODS.filter(([l]) => !l.startsWith('resolve ')).map(([l, , c]) => ({ l, c })))(
    '$l: names keep their bytes, escaped as c-ares prints them',
    async ({ c }) => {
      await both((r) => c(r, 'esc.test'));
    },
  );
  it('an MX exchange reads we\\.ird.\\255.a\\@b\\$.sp ace.\\195\\164.example', async () => {
    expect(await gateR.resolveMx('esc.test')).toEqual([
      { exchange: 'we\\.ird.\\255.a\\@b\\$.sp ace.\\195\\164.example', priority: 10 },
    ]);
  });

  const classes = [3, 4, 254, 255, 2, 0];
  it.each(
    classes.flatMap((k) =>
      METHODS.filter(([l]) => !l.startsWith('resolve ')).map(([l, , c]) => ({ k, l, c })),
    ),
  )('class $k: $l as node', async ({ k, c }) => {
    await both((r) => c(r, `class-${k}.test`));
  });
  it.each(METHODS.filter(([l]) => !l.startsWith('resolve ')).map(([l, , c]) => ({ l, c })))(
    'an IN record among CH ones: $l gives the IN one, as node',
    async ({ c }) => {
      await both((r) => c(r, 'mixed.test'));
    },
  );

  it.each(Array.from({ length: 10 }, (_, i) => i + 6))('rcode %i, no answer: as node', async (n) => {
    await both((r) => r.resolveMx(`rcode-${n}.test`));
  });
  it.each(Array.from({ length: 10 }, (_, i) => i + 6))('rcode %i with an MX answer: as node', async (n) => {
    await both((r) => r.resolveMx(`rcodemx-${n}.test`));
  });
  it.each([1, 2, 7, 16])('extended rcode %i × 16 in the OPT record: the code node gives', async (hi) => {
    // node sends no OPT and sees NOERROR/ENODATA; dnsgate sends OPT and reads the 12-bit rcode
    // (16..23 as c-ares reads them, from 24 ESERVFAIL), so they agree only where c-ares would.
    const out = await settle(() => gateR.resolveMx(`ext-${hi}.test`));
    const full = hi * 16;
    expect(out).toMatchObject(
      full <= 23 ? { error: { code: 'ENODATA' } } : { error: { code: 'ESERVFAIL', syscall: 'queryMx' } },
    );
  });
  it('query() shows the full rcode', async () => {
    expect((await gateR.query('ext-2.test', 'MX').catch((e) => e)).code).toBe('ESERVFAIL');
    expect((await gateR.query('rcodemx-9.test', 'MX')).rcode).toBe('NOTAUTH');
  });

  it('names go out in lower case, as c-ares sends them; hostname keeps the caller spelling', async () => {
    asked.length = 0;
    const n = await settle(() => nodeR.resolveMx('ESC.Test'));
    const g = await settle(() => gateR.resolveMx('ESC.Test'));
    expect(asked).toEqual(['esc.test', 'esc.test']);
    expect(g).toStrictEqual(n);
  });

  it.each(['foo.onion', 'x.y.ONION.', 'a.onion'])(
    '%s: ENOTFOUND, no packet (RFC 7686), as node',
    async (n) => {
      asked.length = 0;
      await both((r) => r.resolve4(n));
      await both((r) => r.resolveMx(n));
      expect(asked).toEqual([]);
    },
  );
});

describe('BADVERS (RFC 6891 §7)', () => {
  it('a BADVERS reply to a query with OPT is asked again without it, as FORMERR is', async () => {
    const queries: boolean[] = [];
    const server = await startTestServer({
      zoneFile,
      handler: (q) => {
        const hasOpt = (q.additionals ?? []).some((a) => a.type === 'OPT');
        queries.push(hasOpt);
        if (!hasOpt) return undefined; // the zone answers
        const id = q.id ?? 0;
        const header = Buffer.from([id >> 8, id & 0xff, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 1]);
        const qname = Buffer.concat([
          ...q
            .questions![0]!.name.split('.')
            .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
          Buffer.from([0, 0, 15, 0, 1]),
        ]);
        return Buffer.concat([header, qname, Buffer.from([0, 0, 41, 0x10, 0, 1, 0, 0, 0, 0, 0])]);
      },
    });
    try {
      const r = new Resolver({ servers: [server.server] });
      const mx = await r.resolveMx('example.test');
      expect(mx.length).toBeGreaterThan(0);
      expect(queries).toEqual([true, false]);
      expect((await r.resolveMailHosts('example.test')).source).toBe('mx');
    } finally {
      await server.close();
    }
  });
});

// What a drop-in must throw where node throws: class, code, message, and synchronously.
describe("node's argument rules", () => {
  type Thrown = { sync: boolean; name?: string; code?: unknown; message?: string; str?: string } | 'no error';
  const outcome = (call: () => unknown): Promise<Thrown> | Thrown => {
    let p: unknown;
    try {
      p = call();
    } catch (e) {
      const err = e as Error & { code?: unknown };
      return { sync: true, name: err.name, code: err.code, message: err.message, str: String(err) };
    }
    if (!(p instanceof Promise)) return 'no error';
    return p.then(
      () => 'no error' as const,
      (e: Error & { code?: unknown }) => ({
        sync: false,
        name: e.name,
        code: e.code,
        message: e.message,
        str: String(e),
      }),
    );
  };
  const fresh = () => {
    const n = new dns.Resolver({ timeout: 300, tries: 1 });
    n.setServers([server.server]);
    return {
      node: n as unknown as Record<string, (...a: unknown[]) => unknown>,
      gate: new Resolver({ servers: [server.server], timeout: 300, tries: 1 }) as unknown as Record<
        string,
        (...a: unknown[]) => unknown
      >,
    };
  };
  const sameAsNode = async (method: string, args: unknown[]) => {
    const { node: n, gate: g } = fresh();
    const expected = await outcome(() => n[method]!(...args));
    const actual = await outcome(() => g[method]!(...args));
    expect(actual).toEqual(expected);
    return actual;
  };

  const NOT_STRINGS: unknown[] = [
    123,
    undefined,
    null,
    [],
    {},
    Symbol('x'),
    () => 1,
    function named() {},
    10n ** 40n,
    true,
  ];
  const LOOKUPS = [
    'resolve',
    'resolve4',
    'resolve6',
    'resolveAny',
    'resolveCaa',
    'resolveCname',
    'resolveMx',
    'resolveNaptr',
    'resolveNs',
    'resolvePtr',
    'resolveSoa',
    'resolveSrv',
    'resolveTxt',
    'reverse',
  ];
  it.each(LOOKUPS.flatMap((m) => NOT_STRINGS.map((v, i) => ({ m, v, i }))))(
    '$m(not a string #$i) throws ERR_INVALID_ARG_TYPE synchronously, as node',
    async ({ m, v }) => {
      const out = await sameAsNode(m, [v]);
      expect(out).toMatchObject({ sync: true, code: 'ERR_INVALID_ARG_TYPE' });
    },
  );
  it('resolveMx() and resolve() throw as node does', async () => {
    await sameAsNode('resolveMx', []);
    await sameAsNode('resolve', []);
  });
  it("reverse('foobar') rejects with EINVAL, as node", async () => {
    expect(await sameAsNode('reverse', ['foobar'])).toMatchObject({ sync: false, code: 'EINVAL' });
  });

  const OPTION_VALUES: unknown[] = [
    -2,
    -1,
    0,
    1,
    1.5,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 40,
    '5',
    Number.NaN,
    Number.POSITIVE_INFINITY,
    null,
  ];
  it.each(['timeout', 'tries'].flatMap((k) => OPTION_VALUES.map((v) => ({ k, v }))))(
    'new Resolver({ $k: $v }) accepts or throws as node',
    ({ k, v }) => {
      const make = (C: new (o: object) => unknown) => outcome(() => new C({ [k]: v }));
      expect(make(Resolver as never)).toEqual(make(dns.Resolver as never));
    },
  );
  it('timeout -1 and 0 mean the default, as in node', () => {
    for (const timeout of [-1, 0]) expect(() => new Resolver({ servers: [], timeout })).not.toThrow();
  });
  it("dnsgate's own options and arguments carry node's codes too, as its node-mirrored ones do", () => {
    const r = new Resolver({ servers: [] });
    const cases: Array<[() => unknown, string, string]> = [
      [() => new Resolver({ concurrency: 0 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Resolver({ edns: 100 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => new Resolver({ coalesce: 'no' } as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => new Resolver('x' as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [() => new Resolver({ tcp: 'sometimes' } as never), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [() => new Semaphore(0), 'RangeError', 'ERR_OUT_OF_RANGE'],
      [() => r.resolveEach(123 as never, 'MX'), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [make, name, code] of cases) expect(outcome(make)).toMatchObject({ sync: true, name, code });
    expect(outcome(() => new Resolver({ concurrency: 0 }))).toMatchObject({
      str: 'RangeError [ERR_OUT_OF_RANGE]: Expected `concurrency` to be an integer >= 1, got 0',
    });
  });
  it('an unknown option is a TypeError naming it (a typo must not fall back to the system resolver)', () => {
    expect(() => new Resolver({ serverz: ['127.0.0.1'] } as never)).toThrow(
      /Unknown Resolver option "serverz"; did you mean "servers"\?/,
    );
  });
  it('an unknown option of resolveEach or of a DnsCache is a TypeError naming it, thrown at once', () => {
    const r = new Resolver({ servers: ['127.0.0.1:53'] });
    expect(() => r.resolveEach(['a.test'], 'MX', { orderd: true } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARG_VALUE',
        message: 'Unknown resolveEach option "orderd"; did you mean "ordered"?',
      }),
    );
    expect(() => new DnsCache({ maxEntrie: 10 } as never)).toThrow(
      /Unknown cache option "maxEntrie"; did you mean "maxEntries"\?/,
    );
    expect(() => new Resolver({ servers: ['127.0.0.1:53'], cache: { size: 5 } as never })).toThrow(
      /Unknown cache option "size"; options are maxEntries, minTtl, maxTtl, negative/,
    );
  });

  const SERVER_LISTS: unknown[] = [
    '1.2.3.4',
    [1],
    ['foobar'],
    ['1.2.3.4:'],
    [' 1.2.3.4'],
    ['[::1]'],
    // biome-ignore lint/suspicious/noSparseArray: node compacts sparse arrays
    ['127.0.0.1', , '127.0.0.2'],
    ['[::0]:53'],
    ['::0'],
    ['0:0:0:0:0:0:0:1'],
    ['FE80::1%eth0'],
    ['1.2.3.4', '1.2.3.4'],
    ['1.2.3.4', '1.2.3.4:53'],
    ['[1.2.3.4]:53'],
    ['::1:53'],
    ['[2001:DB8::1]:5353', '127.0.0.1:5353'],
    [],
  ];
  it.each(SERVER_LISTS.map((list, i) => ({ list, i })))(
    'setServers(list #$i) then getServers(), as node',
    ({ list }) => {
      const run = (r: { setServers(s: unknown): void; getServers(): string[] }) => {
        const thrown = outcome(() => r.setServers(list));
        return { thrown, servers: r.getServers() };
      };
      const n = new dns.Resolver();
      n.setServers(['127.0.0.9']);
      const g = new Resolver({ servers: ['127.0.0.9'] });
      expect(run(g as never)).toEqual(run(n as never));
    },
  );

  const LOCAL: unknown[][] = [
    ['::1'],
    ['127.0.0.1'],
    ['127.0.0.1', '::1'],
    ['::1', '127.0.0.1'],
    [],
    [1],
    ['127.0.0.1', 1],
    ['foo'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::2'],
  ];
  it.each(LOCAL.map((args, i) => ({ args, i })))('setLocalAddress(args #$i) as node', async ({ args }) => {
    await sameAsNode('setLocalAddress', args);
  });

  it("a DNS error reads as node's: name 'Error', node's own keys in node's order, instanceof DnsError", async () => {
    const n = (await node.resolveMx('nope.example.test').catch((e: Error) => e)) as Error;
    const g = (await gate.resolveMx('nope.example.test').catch((e: Error) => e)) as Error;
    expect(g).toBeInstanceOf(DnsError);
    expect(g.name).toBe(n.name);
    expect(String(g)).toBe(String(n));
    expect(g.stack!.split('\n')[0]).toBe(n.stack!.split('\n')[0]);
    expect(Object.keys(g)).toEqual(Object.keys(n));
  });
});
