// The shape functions on hand-built answers. Every expected value here is what node (c-ares 1.34)
// returned for the same records on the wire; test/parity.test.ts checks the same against node live.
import { describe, expect, it } from 'vitest';
import {
  emptyResultCode,
  hostName,
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
import type { Answer } from '../src/wire/codec.js';
import { readName } from '../src/wire/read-name.js';

const rr = (type: string, data: unknown, ttl = 60, name = 'x.test'): Answer =>
  ({ name, type, ttl, data }) as Answer;
const soa = (mname: string, rname: string) =>
  rr('SOA', { mname, rname, serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 });
// Key order matters to node parity (JSON, console output), so compare it too.
const json = (v: unknown) => JSON.stringify(v);

/** The labels as wire bytes (a length byte each, then the root). */
const wire = (...labels: (string | number[])[]) =>
  Buffer.concat([
    ...labels.map((l) => {
      const bytes = typeof l === 'string' ? Buffer.from(l, 'latin1') : Buffer.from(l);
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }),
    Buffer.from([0]),
  ]);

describe('names', () => {
  it.each([
    [wire(), '.'],
    [wire('mx', 'Example', 'TEST'), 'mx.Example.TEST'],
    [wire('sp ace', 'test'), 'sp ace.test'],
    [wire([0x63, 0x61, 0x66, 0xc3, 0xa9], 'test'), 'caf\\195\\169.test'],
    [wire('q"\\;()@$', 'test'), 'q\\"\\\\\\;\\(\\)\\@\\$.test'],
    [wire('ctl\u0001\u007f', 'test'), 'ctl\\001\\127.test'],
    [wire('we.ird', 'example'), 'we\\.ird.example'],
    [wire([0xff], 'x'), '\\255.x'],
  ])('the wire name %j reads as %j (c-ares escapes)', (bytes, printed) => {
    expect(readName(bytes, 0)).toBe(printed);
  });

  it('the root is empty, other names are as read', () => {
    expect(hostName('.')).toBe('');
    expect(hostName('john\\.doe.example.test')).toBe('john\\.doe.example.test');
  });

  it('gives the null MX (RFC 7505) an empty exchange', () => {
    expect(toMx([rr('MX', { preference: 0, exchange: '.' })])).toEqual([{ exchange: '', priority: 0 }]);
  });

  it('prints NS, PTR, SRV and NAPTR names as read, and the root is empty everywhere', () => {
    expect(toNs([rr('NS', '.'), rr('NS', 'n\\195\\169.test')])).toEqual(['', 'n\\195\\169.test']);
    expect(toPtr([rr('PTR', 'Host.test')])).toEqual(['Host.test']);
    expect(json(toSrv([rr('SRV', { priority: 1, weight: 2, port: 3, target: '.' })]))).toBe(
      json([{ name: '', port: 3, priority: 1, weight: 2 }]),
    );
    const naptr = {
      order: 1,
      preference: 2,
      flags: 'u',
      services: 'E2U+sip',
      regexp: '!^.*$!x!',
      replacement: '.',
    };
    expect(json(toNaptr([rr('NAPTR', naptr)]))).toBe(
      json([
        { flags: 'u', service: 'E2U+sip', regexp: '!^.*$!x!', replacement: '', order: 1, preference: 2 },
      ]),
    );
  });
});

describe('SOA', () => {
  it('is the first SOA of the answer, as a one-element array', () => {
    const first = toSoa([
      rr('CNAME', 'y.test'),
      soa('ns1.test', 'john\\.doe.test'),
      soa('ns2.test', 'b.test'),
    ]);
    expect(json(first)).toBe(
      json([
        {
          nsname: 'ns1.test',
          hostmaster: 'john\\.doe.test',
          serial: 1,
          refresh: 2,
          retry: 3,
          expire: 4,
          minttl: 5,
        },
      ]),
    );
  });

  it('is an empty array when there is none', () => {
    expect(toSoa([rr('A', '192.0.2.1')])).toEqual([]);
  });
});

describe('CAA', () => {
  it('gives the whole flags octet as critical, the tag as key', () => {
    expect(
      toCaa([
        rr('CAA', { flags: 0, tag: 'issue', value: 'ca.test' }),
        rr('CAA', { flags: 128, tag: 'iodef', value: 'mailto:a@b.test' }),
        rr('CAA', { flags: 1, tag: 'ISSUE', value: 'x' }),
        rr('CAA', { issuerCritical: true, tag: 'issuewild', value: ';' }),
      ]),
    ).toEqual([
      { critical: 0, issue: 'ca.test' },
      { critical: 128, iodef: 'mailto:a@b.test' },
      { critical: 1, ISSUE: 'x' },
      { critical: 128, issuewild: ';' },
    ]);
  });

  it('sets the tag by assignment like node: `critical` overwrites, `__proto__` vanishes', () => {
    const [critical, proto] = toCaa([
      rr('CAA', { flags: 0, tag: 'critical', value: 'zz' }),
      rr('CAA', { flags: 0, tag: '__proto__', value: 'zz' }),
    ]);
    expect(json(critical)).toBe('{"critical":"zz"}');
    expect(json(proto)).toBe('{"critical":0}');
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
  });

  it('reads the value as Latin-1 and stops at a NUL, like a C string', () => {
    expect(toCaa([rr('CAA', { flags: 0, tag: 'issue', value: 'caf\u00e9\u0000rest' })])).toEqual([
      { critical: 0, issue: 'caf\u00c3\u00a9' },
    ]);
  });
});

describe('TXT', () => {
  it('keeps each record as its own list of chunks', () => {
    expect(
      toTxt([rr('TXT', [Buffer.from('v=spf1'), Buffer.from('-all')]), rr('TXT', [Buffer.from('')])]),
    ).toEqual([['v=spf1', '-all'], ['']]);
  });

  it('reads octets as Latin-1 and keeps NULs', () => {
    const octets = Buffer.from([0xc3, 0xa9, 0x20, 0xff, 0x00, 0x41]);
    expect(toTxt([rr('TXT', [octets, 'caf\u00e9'])])).toEqual([
      ['\u00c3\u00a9 \u00ff\u0000A', 'caf\u00c3\u00a9'],
    ]);
  });

  it('takes a lone string or Buffer as one chunk', () => {
    expect(toTxt([rr('TXT', 'one'), rr('TXT', Buffer.from('two'))])).toEqual([['one'], ['two']]);
  });
});

describe('addresses', () => {
  const chain = [
    rr('CNAME', 'alias.test', 100, 'www.test'),
    rr('CNAME', 'host.test', 50, 'alias.test'),
    rr('A', '192.0.2.1', 3000, 'host.test'),
    rr('AAAA', '2001:db8::1', 30, 'host.test'),
  ];

  it('caps each TTL at the lowest CNAME TTL of the answer', () => {
    expect(json(toAddressesWithTtl(chain, { name: 'www.test', type: 'A' }))).toBe(
      json([{ address: '192.0.2.1', ttl: 50 }]),
    );
    expect(toAddressesWithTtl(chain, { name: 'www.test', type: 'AAAA' })).toEqual([
      { address: '2001:db8::1', ttl: 30 },
    ]);
  });

  it('keeps only the asked type, or both without a question', () => {
    expect(toAddresses(chain, { name: 'www.test', type: 'A' })).toEqual(['192.0.2.1']);
    expect(toAddresses(chain)).toEqual(['192.0.2.1', '2001:db8::1']);
  });

  it('ignores owners, as c-ares does', () => {
    expect(toAddresses([rr('A', '192.0.2.1', 60, 'other.test')], { name: 'x.test', type: 'A' })).toEqual([
      '192.0.2.1',
    ]);
  });

  it.each([
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001::1:0:0:0:1', '2001:0:0:1::1'],
    ['::1:0:0:0:0:0', '0:0:1::'],
    ['::ffff:102:304', '::ffff:1.2.3.4'],
    ['::102:304', '::1.2.3.4'],
    ['::ffff:0:0', '::ffff:0.0.0.0'],
    ['::fffe:102:304', '::fffe:102:304'],
    ['::1', '::1'],
    ['::2', '::2'],
    ['::', '::'],
    ['1::', '1::'],
    ['::1:0:0', '::1:0:0'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
  ])('prints AAAA %s as libuv does: %s', (decoded, printed) => {
    expect(toAddresses([rr('AAAA', decoded)])).toEqual([printed]);
  });
});

describe('CNAME', () => {
  it('is the target of the first CNAME, not the end of the chain', () => {
    expect(toCname([rr('CNAME', 'b.test', 60, 'y.test'), rr('CNAME', 'a.test')])).toEqual(['b.test']);
  });

  it('is the asked name, lower-cased, when only A records came back', () => {
    expect(toCname([rr('A', '192.0.2.1')], { name: 'X.Test.', type: 'CNAME' })).toEqual(['x.test']);
    expect(toCname([rr('AAAA', '::1')], { name: 'x.test', type: 'CNAME' })).toEqual([]);
  });
});

describe('ANY', () => {
  const all = [
    soa('ns.test', 'hm.test'),
    rr('CAA', { flags: 0, tag: 'type', value: 'zz' }),
    rr('A', '192.0.2.1', 500),
    rr('AAAA', '2001:db8::1', 400),
    rr('MX', { preference: 10, exchange: 'mx.test' }),
    rr('NS', 'ns.test'),
    rr('TXT', [Buffer.from('a'), Buffer.from('b')]),
    rr('SRV', { priority: 1, weight: 2, port: 3, target: 's.test' }),
    rr('PTR', 'p.test'),
    rr('NAPTR', { order: 1, preference: 2, flags: 'S', services: 'SIP', regexp: '', replacement: '.' }),
    rr('HINFO', { cpu: 'c', os: 'o' }),
  ];

  it("lists in node's order, with the type key last", () => {
    expect(json(toAny(all))).toBe(
      json([
        { address: '192.0.2.1', ttl: 500, type: 'A' },
        { address: '2001:db8::1', ttl: 400, type: 'AAAA' },
        { exchange: 'mx.test', priority: 10, type: 'MX' },
        { value: 'ns.test', type: 'NS' },
        { entries: ['a', 'b'], type: 'TXT' },
        { name: 's.test', port: 3, priority: 1, weight: 2, type: 'SRV' },
        { value: 'p.test', type: 'PTR' },
        { flags: 'S', service: 'SIP', regexp: '', replacement: '', order: 1, preference: 2, type: 'NAPTR' },
        {
          nsname: 'ns.test',
          hostmaster: 'hm.test',
          serial: 1,
          refresh: 2,
          retry: 3,
          expire: 4,
          minttl: 5,
          type: 'SOA',
        },
        { critical: 0, type: 'CAA' },
      ]),
    );
  });

  it('puts one CNAME in place of every A record, and caps the AAAA TTL at it', () => {
    const answers = [rr('A', '192.0.2.1', 500), rr('AAAA', '2001:db8::1', 400), rr('CNAME', 'y.test', 100)];
    expect(json(toAny(answers))).toBe(
      json([
        { value: 'y.test', type: 'CNAME' },
        { address: '2001:db8::1', ttl: 100, type: 'AAAA' },
      ]),
    );
  });

  it('is empty when nothing in the answer has a node shape', () => {
    expect(toAny([rr('HINFO', { cpu: 'c', os: 'o' })])).toEqual([]);
  });
});

describe('emptyResultCode', () => {
  const cnameOnly = [rr('CNAME', 'y.test')];
  it.each([
    ['A', [], 'ENODATA'],
    ['A', cnameOnly, undefined],
    ['AAAA', [rr('TXT', ['t'])], 'ENODATA'],
    ['CNAME', [rr('AAAA', '::1')], 'ENODATA'],
    ['NS', cnameOnly, 'ENODATA'],
    ['PTR', cnameOnly, 'ENODATA'],
    ['MX', cnameOnly, undefined],
    ['TXT', cnameOnly, undefined],
    ['SRV', cnameOnly, undefined],
    ['NAPTR', cnameOnly, undefined],
    ['CAA', cnameOnly, undefined],
    ['ANY', [rr('HINFO', { cpu: 'c', os: 'o' })], undefined],
    ['SOA', cnameOnly, 'EBADRESP'],
    ['SOA', [], 'ENODATA'],
  ] as const)('%s with %j answers: %s', (type, answers, code) => {
    expect(emptyResultCode(type, answers)).toBe(code);
  });
});
