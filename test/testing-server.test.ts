// dnsgate/testing from outside: real loopback sockets, our own tiny client, and node's Resolver as referee.
import dgram from 'node:dgram';
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  badIdThenGood,
  delay,
  drop,
  dropFirst,
  duplicate,
  fromOtherAddressThenGood,
  fromOtherPortThenGood,
  jitter,
  malformed,
  malformedThenGood,
  parseZone,
  RCODE,
  type RcodeName,
  rcode,
  runScript,
  type StepContext,
  seeded,
  silent,
  startTestServer,
  type TestServer,
} from '../src/testing/index.js';
import {
  type Answer,
  decodeMessage,
  encodeMessage,
  type Packet,
  type RecordType,
} from '../src/wire/codec.js';

const zoneFile = (name: string) => fileURLToPath(new URL(`../fixtures/zones/${name}.zone`, import.meta.url));
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
const rcodeOf = (p: Packet) => (p.flags ?? 0) & 0xf;
const dataOf = (r: Answer | undefined) => (r as { data: unknown }).data;

function query(
  name: string,
  type: RecordType,
  opts: { id?: number; flags?: number; udpPayload?: number } = {},
) {
  return encodeMessage({
    id: opts.id ?? 4242,
    type: 'query',
    flags: opts.flags ?? RD,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.udpPayload
      ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.udpPayload } as Answer]
      : [],
  });
}

/** One datagram out, the first one back (or null after `waitMs` of silence). */
function udpAsk(server: TestServer, bytes: Buffer, waitMs = 1000): Promise<Buffer | null> {
  const socket = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
  return new Promise((resolve) => {
    const done = (out: Buffer | null) => {
      clearTimeout(timer);
      socket.close(() => resolve(out));
    };
    const timer = setTimeout(() => done(null), waitMs);
    socket.on('message', (msg) => done(msg));
    socket.send(bytes, server.port, server.address);
  });
}

const udpQuery = async (server: TestServer, bytes: Buffer) => decodeMessage((await udpAsk(server, bytes))!);

/** RFC 7766 framing: sends every message on one connection (optionally a byte at a time), reads `expect` replies. */
function tcpAsk(
  server: TestServer,
  messages: Buffer[],
  opts: { dribble?: boolean; halfClose?: boolean } = {},
) {
  const framed = Buffer.concat(
    messages.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m])),
  );
  return new Promise<Packet[]>((resolve, reject) => {
    const socket = net.connect(server.port, server.address);
    const replies: Packet[] = [];
    let pending = Buffer.alloc(0);
    socket.on('connect', async () => {
      if (!opts.dribble) socket.write(framed);
      else for (const byte of framed) await new Promise((r) => socket.write(Buffer.from([byte]), r));
      if (opts.halfClose) socket.end();
    });
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        replies.push(decodeMessage(pending.subarray(2, 2 + pending.readUInt16BE(0))));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (replies.length === messages.length) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(replies));
  });
}

const handles = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;

/** Waits until the UDP handle count holds still: node's own Resolver closes c-ares sockets lazily. */
async function settledUdp(): Promise<void> {
  for (let last = -1, now = handles('UDPWrap'); now !== last; last = now, now = handles('UDPWrap')) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('parseZone', () => {
  it('reads $ORIGIN, $TTL, @, relative and blank owners, parentheses, units and comments', () => {
    const text = [
      '$TTL 1h ; default',
      '$ORIGIN Example.TEST.',
      '@ IN SOA ns1 hostmaster.example.test. ( 7 ; serial',
      '      2h 15m',
      '      1w 300 )',
      '    NS ns1',
      'ns1 60 IN A 192.0.2.1',
      '    IN 120 AAAA 2001:db8::1',
      '$ORIGIN sub',
      'x CNAME ns1.example.test.',
    ].join('\n');
    expect(parseZone(text)).toEqual([
      {
        name: 'Example.TEST',
        type: 'SOA',
        class: 'IN',
        ttl: 3600,
        data: {
          mname: 'ns1.Example.TEST',
          rname: 'hostmaster.example.test',
          serial: 7,
          refresh: 7200,
          retry: 900,
          expire: 604800,
          minimum: 300,
        },
      },
      { name: 'Example.TEST', type: 'NS', class: 'IN', ttl: 3600, data: 'ns1.Example.TEST' },
      { name: 'ns1.Example.TEST', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' },
      { name: 'ns1.Example.TEST', type: 'AAAA', class: 'IN', ttl: 120, data: '2001:db8::1' },
      { name: 'x.sub.Example.TEST', type: 'CNAME', class: 'IN', ttl: 3600, data: 'ns1.example.test' },
    ]);
  });

  it('reads quoted strings with spaces, escaped quotes, \\DDD, semicolons, and splits long ones at 255', () => {
    const long = 'x'.repeat(600);
    const [txt, big, caa] = parseZone(
      `t TXT "a b" "say \\"hi\\"" "semi;colon" bare \\065\\066\nt TXT "${long}"\nt CAA 128 issue "ca.test; account=1"`,
      'example.test',
    );
    expect(dataOf(txt)).toEqual(['a b', 'say "hi"', 'semi;colon', 'bare', 'AB']);
    expect((dataOf(big) as string[]).map((s) => s.length)).toEqual([255, 255, 90]);
    expect(dataOf(caa)).toEqual({ flags: 128, tag: 'issue', value: 'ca.test; account=1' });
  });

  it.each([
    ['www A 192.0.2.1', /line 1: relative name "www" with no \$ORIGIN/],
    ['$ORIGIN a.test.\n\nwww A 300.0.2.1', /line 3: bad A address/],
    ['$ORIGIN a.test.\nwww HINFO "x" "y"', /line 2: unsupported record type "HINFO"/],
    ['$ORIGIN a.test.\nwww MX 70000 mx', /bad preference "70000"/],
    ['$ORIGIN a.test.\n@ SOA ns hm ( 1 2 3 4 5', /unclosed "\("/],
    ['$ORIGIN a.test.\n@ TXT "open', /unterminated quoted string/],
    ['$ORIGIN a.test.\nwww CH A 192.0.2.1', /only class IN/],
  ])('rejects %j', (text, message) => {
    expect(() => parseZone(text)).toThrow(message);
  });
});

describe('example.zone through node:dns', () => {
  let server: TestServer;
  const resolver = new dns.Resolver();
  beforeAll(async () => {
    server = await startTestServer({ zoneFile: zoneFile('example') });
    resolver.setServers([server.server]);
  });
  afterAll(() => server.close());

  it('serves every record type', async () => {
    expect(await resolver.resolveMx('example.test')).toEqual([
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'mx2.example.test', priority: 20 },
      { exchange: 'mx3.example.test', priority: 30 },
    ]);
    expect(await resolver.resolve4('EXAMPLE.test')).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(await resolver.resolve6('example.test')).toEqual(['2001:db8::10', '2001:db8::11']);
    expect(await resolver.resolveTxt('example.test')).toEqual([['v=spf1', '-all']]);
    expect(await resolver.resolveTxt('quoted.example.test')).toEqual([
      ['hello "world"', 'semi; colon', 'unquoted'],
    ]);
    expect(await resolver.resolveSrv('_sip._tcp.example.test')).toEqual([
      { name: 'sip.example.test', port: 5060, priority: 10, weight: 60 },
      { name: 'sip-backup.example.test', port: 5060, priority: 20, weight: 40 },
    ]);
    expect(await resolver.resolveCaa('example.test')).toEqual([
      { critical: 0, issue: 'letsencrypt.org' },
      { critical: 0, iodef: 'mailto:security@example.test' },
    ]);
    const [naptr] = await resolver.resolveNaptr('example.test');
    expect(naptr).toEqual({
      flags: 'S',
      service: 'SIP+D2U',
      regexp: '',
      replacement: '_sip._udp.example.test',
      order: 100,
      preference: 10,
    });
    expect(await resolver.resolveSoa('example.test')).toEqual({
      nsname: 'ns1.example.test',
      hostmaster: 'hostmaster.example.test',
      serial: 2024010101,
      refresh: 7200,
      retry: 900,
      expire: 1209600,
      minttl: 300,
    });
    expect(await resolver.resolveNs('example.test')).toEqual(['ns1.example.test', 'ns2.example.test']);
    expect(await resolver.reverse('192.0.2.2')).toEqual(['ns2.example.test']);
  });

  it('follows the CNAME chain, and maps NXDOMAIN, NODATA, empty non-terminals and REFUSED', async () => {
    expect(await resolver.resolve4('www.example.test')).toEqual(['192.0.2.30']);
    expect(await resolver.resolveCname('www.example.test')).toEqual(['alias.example.test']);
    await expect(resolver.resolve4('nope.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveMx('host.example.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver.resolve4('sub.example.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver.resolve4('a.sub.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve4('example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
  });

  it('node retries a truncated answer over TCP and gets the long TXT', async () => {
    server.resetStats();
    const [txt] = await resolver.resolveTxt('long.example.test');
    expect(txt!.join('')).toBe('a'.repeat(255) + 'b'.repeat(255) + 'c'.repeat(255));
    expect(server.stats).toMatchObject({ udpQueries: 1, tcpQueries: 1, inFlight: 0 });
  });
});

describe('the wire, with our own client', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ zoneFile: zoneFile('example') });
  });
  afterAll(() => server.close());

  it('sets QR and AA, copies ID, RD and the question as asked, and answers with the asked spelling', async () => {
    const reply = await udpQuery(server, query('WwW.Example.TEST', 'A', { id: 777 }));
    expect(reply.id).toBe(777);
    expect(reply.flags! & (AA | RD | TC)).toBe(AA | RD);
    expect(reply.type).toBe('response');
    expect(reply.questions).toEqual([{ name: 'WwW.Example.TEST', type: 'A', class: 'IN' }]);
    expect(reply.answers!.map((a) => [a.name, a.type, dataOf(a)])).toEqual([
      ['WwW.Example.TEST', 'CNAME', 'alias.example.test'],
      ['alias.example.test', 'CNAME', 'host.example.test'],
      ['host.example.test', 'A', '192.0.2.30'],
    ]);
    const noRd = await udpQuery(server, query('host.example.test', 'A', { flags: 0 }));
    expect(noRd.flags! & RD).toBe(0);
  });

  it('puts the SOA in authority for NXDOMAIN and NODATA, with the TTL of its minimum', async () => {
    const nx = await udpQuery(server, query('nope.example.test', 'A'));
    expect(rcodeOf(nx)).toBe(3);
    expect(nx.answers).toEqual([]);
    expect(nx.authorities).toMatchObject([{ name: 'example.test', type: 'SOA', ttl: 300 }]);
    const nodata = await udpQuery(server, query('sub.example.test', 'A'));
    expect(rcodeOf(nodata)).toBe(0);
    expect(nodata.answers).toEqual([]);
    expect(nodata.authorities).toMatchObject([{ type: 'SOA', ttl: 300 }]);
    const ptrNx = await udpQuery(server, query('9.2.0.192.in-addr.arpa', 'PTR'));
    expect(ptrNx.authorities).toMatchObject([{ name: '2.0.192.in-addr.arpa', type: 'SOA' }]);
  });

  it('answers ANY with every record at the name', async () => {
    const reply = await tcpAsk(server, [query('host.example.test', 'ANY' as RecordType)]);
    expect(reply[0]!.answers!.map((a) => a.type)).toEqual(['A', 'AAAA']);
  });

  it('NOTIMP for other opcodes, FORMERR for undecodable queries, silence for runts', async () => {
    const status = await udpQuery(server, query('example.test', 'A', { id: 9, flags: 2 << 11 }));
    expect([status.id, rcodeOf(status), (status.flags! >> 11) & 0xf]).toEqual([9, 4, 2]);
    // A header announcing one question that is not there.
    const garbage = Buffer.from([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 0x65]);
    const formErr = decodeMessage((await udpAsk(server, garbage))!);
    expect([formErr.id, formErr.type, rcodeOf(formErr)]).toEqual([0xbeef, 'response', 1]);
    expect(await udpAsk(server, Buffer.from([1, 2, 3]), 200)).toBeNull();
    expect(server.stats.inFlight).toBe(0);
  });

  it('EDNS: OPT in, OPT out; truncates past 512 without OPT or past the advertised size', async () => {
    const plain = await udpQuery(server, query('long.example.test', 'TXT'));
    expect(plain.flags! & TC).toBe(TC);
    expect([plain.answers, plain.additionals, plain.questions!.length]).toEqual([[], [], 1]);
    const small = await udpQuery(server, query('long.example.test', 'TXT', { udpPayload: 512 }));
    expect(small.flags! & TC).toBe(TC);
    expect(small.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
    const big = await udpQuery(server, query('long.example.test', 'TXT', { udpPayload: 1232 }));
    expect(big.flags! & TC).toBe(0);
    expect(big.answers).toHaveLength(1);
    expect(big.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
  });

  it('TCP: length framing, partial reads, several queries per connection, no truncation', async () => {
    const replies = await tcpAsk(
      server,
      [query('long.example.test', 'TXT', { id: 1 }), query('example.test', 'MX', { id: 2 })],
      {
        dribble: true,
      },
    );
    const byId = new Map(replies.map((r) => [r.id, r]));
    expect(byId.get(1)!.flags! & TC).toBe(0);
    expect((byId.get(1)!.answers![0] as { data: Buffer[] }).data.map((b) => b.length)).toEqual([
      255, 255, 255,
    ]);
    expect(byId.get(2)!.answers).toHaveLength(3);
    const halfClosed = await tcpAsk(server, [query('example.test', 'A')], { halfClose: true });
    expect(halfClosed[0]!.answers).toHaveLength(2);
  });
});

describe('seed.zone', () => {
  const printed: Record<string, string[]> = {
    'google.com': ['aspmx.l', 'alt2.aspmx.l', 'alt3.aspmx.l', 'alt1.aspmx.l', 'alt4.aspmx.l'].map(
      (h) => `${h}.google.com`,
    ),
    'yahoo.com': [...'bdefghijklmna'].map((c) => `${c}.mx.mail.yahoo.com`),
    'microsoft.com': ['mail.messaging.microsoft.com'],
    'facebook.com': ['smtpin.mx.facebook.com'],
    'twitter.com': [
      'alt2.aspmx.l.google.com',
      'ASPMX2.GOOGLEMAIL.com',
      'ASPMX3.GOOGLEMAIL.com',
      'aspmx.l.google.com',
      'alt1.aspmx.l.google.com',
    ],
  };

  it('sorted by preference, gives the article its printed lines back', async () => {
    const server = await startTestServer({ zoneFile: zoneFile('seed') });
    const resolver = new dns.Resolver();
    resolver.setServers([server.server]);
    for (const [domain, exchanges] of Object.entries(printed)) {
      const mx = await resolver.resolveMx(domain);
      expect(new Set(mx.map((m) => m.priority)).size).toBe(mx.length);
      expect(mx.sort((a, b) => a.priority - b.priority).map((m) => m.exchange)).toEqual(exchanges);
    }
    await expect(resolver.resolveMx('nope.google.com')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await server.close();
  });
});

describe('options, stats and lifecycle', () => {
  it('delayMs holds replies so in-flight builds up at the server', async () => {
    const server = await startTestServer({ zoneFile: zoneFile('seed'), delayMs: 100 });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => udpQuery(server, query('google.com', 'MX', { id: i }))),
    );
    expect(server.stats).toMatchObject({
      queries: 8,
      udpQueries: 8,
      tcpQueries: 0,
      inFlight: 0,
      peakInFlight: 8,
    });
    expect(server.stats.sourcePorts.size).toBe(8);
    server.resetStats();
    expect(server.stats).toMatchObject({ queries: 0, peakInFlight: 0 });
    expect(server.stats.sourcePorts.size).toBe(0);
    await server.close();
  });

  it('handler: null is silence, a Packet or Buffer is sent as is, undefined falls through', async () => {
    const seen: string[] = [];
    const server = await startTestServer({
      records: [{ name: 'ok.test', type: 'A', ttl: 5, data: '192.0.2.9' }],
      handler: (q, ctx) => {
        seen.push(`${ctx.transport}:${q.questions![0]!.name}`);
        const name = q.questions![0]!.name;
        if (name === 'silent.test') return null;
        if (name === 'throw.test') throw new Error('scripted fault');
        if (name === 'raw.test') return encodeMessage({ id: q.id, type: 'response', flags: 2 });
        if (name === 'packet.test') return { id: q.id, type: 'response', flags: 5, questions: q.questions };
        return undefined;
      },
    });
    expect(await udpAsk(server, query('silent.test', 'A'), 200)).toBeNull();
    expect(rcodeOf(await udpQuery(server, query('raw.test', 'A')))).toBe(2);
    expect(rcodeOf(await udpQuery(server, query('packet.test', 'A')))).toBe(5);
    expect(rcodeOf(await udpQuery(server, query('throw.test', 'A')))).toBe(2);
    expect((await udpQuery(server, query('ok.test', 'A'))).answers).toMatchObject([
      { data: '192.0.2.9', ttl: 5 },
    ]);
    // Records given alone get a made-up apex at their parent, so a sibling is NXDOMAIN, not REFUSED.
    expect(rcodeOf((await tcpAsk(server, [query('other.test', 'A')]))[0]!)).toBe(3);
    expect(seen).toEqual([
      'udp:silent.test',
      'udp:raw.test',
      'udp:packet.test',
      'udp:throw.test',
      'udp:ok.test',
      'tcp:other.test',
    ]);
    expect(server.stats.inFlight).toBe(0);
    await server.close();
  });

  it('ends a CNAME loop after 8 links, and refuses other classes', async () => {
    const server = await startTestServer({
      zone: '$ORIGIN loop.test.\n@ SOA ns hm 1 2 3 4 60\na CNAME b\nb CNAME a\n',
    });
    const reply = await udpQuery(server, query('a.loop.test', 'A'));
    expect([rcodeOf(reply), reply.answers!.length]).toEqual([0, 8]);
    const chaos = encodeMessage({
      id: 1,
      type: 'query',
      questions: [{ name: 'a.loop.test', type: 'TXT', class: 'CH' }],
    });
    expect(rcodeOf(await udpQuery(server, chaos))).toBe(5);
    await server.close();
  });

  it('listens on ::1 with the same port for UDP and TCP', async () => {
    const server = await startTestServer({ zoneFile: zoneFile('example'), address: '::1' });
    expect(server.server).toBe(`[::1]:${server.port}`);
    const resolver = new dns.Resolver();
    resolver.setServers([server.server]);
    expect(await resolver.resolveTxt('long.example.test')).toHaveLength(1);
    expect(server.stats).toMatchObject({ udpQueries: 1, tcpQueries: 1 });
    await server.close();
  });

  it('close() drops held replies and leaves no UDP, TCP or timer handle behind', async () => {
    const kinds = ['UDPWrap', 'TCPServerWrap', 'TCPSocketWrap'];
    await settledUdp();
    const before = kinds.map(handles);
    const server = await startTestServer({ zoneFile: zoneFile('example'), delayMs: 10_000 });
    expect(handles('UDPWrap')).toBe(before[0]! + 1);
    expect(handles('TCPServerWrap')).toBe(before[1]! + 1);
    const socket = net.connect(server.port, server.address);
    await new Promise((r) => socket.on('connect', r));
    socket.on('error', () => {});
    const mx = query('example.test', 'MX');
    socket.write(Buffer.concat([Buffer.from([0, mx.length]), mx]));
    const silent = udpAsk(server, query('example.test', 'A'), 300);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stats.inFlight).toBe(2);
    const timers = handles('Timeout');
    await server.close();
    expect(handles('Timeout')).toBe(timers - 2);
    expect(server.stats.inFlight).toBe(0);
    expect(await silent).toBeNull();
    socket.destroy();
    // libuv frees a closed handle in the loop's close phase, a turn after 'close' is emitted.
    for (let turn = 0; turn < 2; turn++) await new Promise((r) => setImmediate(r));
    expect(kinds.map(handles)).toEqual(before);
    await server.close(); // idempotent
  });
});

/** The first `count` datagrams that come back (fewer after `maxMs`), on an unconnected socket that hears any sender. */
function udpCollect(server: TestServer, bytes: Buffer, count: number, maxMs = 1000) {
  const socket = dgram.createSocket('udp4');
  const got: Array<{ msg: Buffer; address: string; port: number; at: number }> = [];
  const start = performance.now();
  return new Promise<typeof got>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      socket.close(() => resolve(got));
    };
    const timer = setTimeout(done, maxMs);
    socket.on('message', (msg, rinfo) => {
      got.push({ msg, ...rinfo, at: performance.now() - start });
      if (got.length === count) done();
    });
    socket.send(bytes, server.port, server.address);
  });
}

describe('scripted faults', () => {
  const records: Answer[] = [{ name: 'ok.test', type: 'A', ttl: 5, data: '192.0.2.9' }];

  it('one step per query, the last repeating; the handler goes first and uses no step', async () => {
    const server = await startTestServer({
      records,
      handler: (q) => (q.questions![0]!.name === 'h.test' ? [undefined] : undefined),
      script: [dropFirst(1), rcode('REFUSED'), answer()],
    });
    const ask = () => udpAsk(server, query('ok.test', 'A'), 150);
    expect(await ask()).toBeNull();
    expect(rcodeOf(decodeMessage((await udpAsk(server, query('h.test', 'A')))!))).toBe(3);
    expect(rcodeOf(decodeMessage((await ask())!))).toBe(0); // dropFirst's own answer()
    expect(rcodeOf(decodeMessage((await ask())!))).toBe(5);
    for (let i = 0; i < 2; i++) expect(decodeMessage((await ask())!).answers).toHaveLength(1);
    expect(server.stats).toMatchObject({ queries: 6, inFlight: 0 });
    expect(server.errors).toEqual([]);
    await server.close();
  });

  it('sends each datagram at its time and in order, holding inFlight until the last', async () => {
    const server = await startTestServer({ records, script: [duplicate(3), delay(80), badIdThenGood()] });
    const dups = await udpCollect(server, query('ok.test', 'A', { id: 1 }), 3);
    expect(dups.map((d) => d.msg.readUInt16BE(0))).toEqual([1, 1, 1]);
    const late = udpCollect(server, query('ok.test', 'A', { id: 2 }), 1);
    await new Promise((r) => setTimeout(r, 40));
    expect(server.stats.inFlight).toBe(1);
    const [held] = await late;
    expect(held!.at).toBeGreaterThanOrEqual(70);
    const pair = await udpCollect(server, query('ok.test', 'A', { id: 3 }), 2);
    expect(pair.map((d) => d.msg.readUInt16BE(0))).toEqual([4, 3]); // the bad ID first, then the real
    expect(server.stats.inFlight).toBe(0);
    await server.close();
  });

  it('malformed kinds keep the ID and question of the real answer', async () => {
    const server = await startTestServer({ records, script: malformedThenGood('trailingJunk') });
    const [bad, good] = await udpCollect(server, query('ok.test', 'A', { id: 77 }), 2);
    expect(bad!.msg.subarray(0, 2)).toEqual(good!.msg.subarray(0, 2));
    expect(bad!.msg.subarray(12, 29)).toEqual(good!.msg.subarray(12, 29));
    expect(bad!.msg.length).toBe(good!.msg.length + 1); // the real answer has no OPT to drop here
    expect(() => decodeMessage(bad!.msg)).toThrow(/after the last record/);
    await server.close();
  });

  it('sends from another port and from 127.0.0.2, and close() closes those sockets too', async () => {
    await settledUdp();
    const before = handles('UDPWrap');
    const server = await startTestServer({
      records,
      script: [fromOtherPortThenGood(10), fromOtherAddressThenGood(10)],
    });
    const [otherPort, main] = await udpCollect(server, query('ok.test', 'A'), 2);
    expect([otherPort!.address, main!.address, main!.port]).toEqual(['127.0.0.1', '127.0.0.1', server.port]);
    expect(otherPort!.port).not.toBe(server.port);
    expect(otherPort!.msg).toEqual(main!.msg);
    const [otherAddress, main2] = await udpCollect(server, query('ok.test', 'A'), 2);
    expect(otherAddress!.address).toBe('127.0.0.2');
    expect(main2!.address).toBe('127.0.0.1');
    await settledUdp(); // the collecting sockets are freed a loop turn after they close
    expect(handles('UDPWrap')).toBe(before + 3);
    expect(server.errors).toEqual([]);
    await server.close();
    expect(handles('UDPWrap')).toBe(before);
  });

  it('an IPv6 server has no other address: the error is kept, the real answer still goes', async () => {
    const server = await startTestServer({ records, address: '::1', script: fromOtherAddressThenGood(5) });
    expect(decodeMessage((await udpAsk(server, query('ok.test', 'A')))!).answers).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.errors.map((e) => e.message)).toEqual([
      'cannot send from otherAddress: no other loopback address for IPv6 (only ::1)',
    ]);
    await server.close();
  });

  it('a step that throws is a SERVFAIL, and the error is kept', async () => {
    const server = await startTestServer({
      records,
      script: () => {
        throw new Error('broken step');
      },
    });
    expect(rcodeOf(decodeMessage((await udpAsk(server, query('ok.test', 'A')))!))).toBe(2);
    expect(server.errors.map((e) => e.message)).toEqual(['broken step']);
    await server.close();
  });

  describe('steps without sockets', () => {
    const q = decodeMessage(query('ok.test', 'A', { id: 5, udpPayload: 1232 }));
    const real = Buffer.from('real');
    const ctx = (index: number): StepContext => ({
      transport: 'udp',
      rinfo: { address: '127.0.0.1', port: 1 },
      index,
    });

    it('drop and jitter with a seeded rng repeat exactly, and stay in bounds', () => {
      const pattern = (rng: () => number) => {
        const next = runScript(drop(0.5, rng));
        return Array.from({ length: 40 }, (_, i) => next(q, real, ctx(i)).length).join('');
      };
      expect(pattern(seeded(7))).toBe(pattern(seeded(7)));
      expect(pattern(seeded(7))).not.toBe(pattern(seeded(8)));
      expect(pattern(seeded(7))).toMatch(/^(?=.*0)(?=.*1)[01]+$/);
      const delays = Array.from(
        { length: 200 },
        (_, i) => jitter(5, 50, seeded(3))(q, real, ctx(i))[0]!.afterMs!,
      );
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(5);
      expect(Math.max(...delays)).toBeLessThan(50);
      expect(silent()(q, real, ctx(0))).toEqual([]);
    });

    it.each(['FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'] as RcodeName[])(
      'rcode(%s) echoes ID, question and OPT, and sets only that rcode',
      (name) => {
        const [{ bytes }] = rcode(name)(q, real, ctx(0)) as [{ bytes: Buffer }];
        const reply = decodeMessage(bytes);
        expect([reply.id, rcodeOf(reply), reply.type, reply.answers]).toEqual([
          5,
          RCODE[name],
          'response',
          [],
        ]);
        expect(reply.questions).toEqual(q.questions);
        expect(reply.additionals).toMatchObject([{ type: 'OPT' }]);
      },
    );

    it('an empty script is refused; lists nest one level', () => {
      expect(() => runScript([])).toThrow(RangeError);
      const next = runScript([dropFirst(2), malformedThenGood('empty', 3)]);
      expect([0, 1, 2, 3, 4].map((i) => next(q, real, ctx(i)).length)).toEqual([0, 0, 1, 2, 2]);
      expect(malformed.empty()).toHaveLength(0);
    });
  });
});
