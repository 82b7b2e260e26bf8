import { describe, expect, it } from 'vitest';
import { reverseName, toWireName } from '../src/wire/names.js';

describe('names', () => {
  it.each([
    ['example.com', 'example.com'],
    ['example.com.', 'example.com'],
    ['.', '.'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['_sip._tcp.example.com', '_sip._tcp.example.com'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
    // IDNA keeps every label: a numeric last label is no IPv4 address to the converter.
    ['ä.123', 'xn--4ca.123'],
    ['ä.0x10', 'xn--4ca.0x10'],
    ['Bücher.EXAMPLE', 'xn--bcher-kva.example'],
    ['*.bücher.de', '*.xn--bcher-kva.de'],
    ['0/25.2.0.192.in-addr.arpa', '0/25.2.0.192.in-addr.arpa'],
  ])('%j goes on the wire as %j', (name, wire) => {
    expect(toWireName(name)).toBe(wire);
  });

  it.each(['', 'a..b', '.a', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}ab`, 'a b', 'tab\there', 'nul\0'])(
    '%j is not a name',
    (name) => {
      expect(toWireName(name)).toBeUndefined();
    },
  );

  // The URL host parser behind domainToASCII cuts a host at / ? # \\ and decodes %xx: a name
  // with them and a non-ASCII letter came out as a shorter, different name (`ä.evil.com/.bank.com`
  // was asked as `xn--4ca.evil.com`). Such names are refused, never sent as another name.
  it.each([
    'ä.evil.com/.bank.com',
    'bücher.example?.paypal.com',
    'ä#.test',
    'ä\\x.test',
    'ä%41.test',
    'ä:1.test',
    'ä@b.test',
  ])('%j is refused, not shortened', (name) => {
    expect(toWireName(name)).toBeUndefined();
  });

  // c-ares sends only letters, digits and -._*/ (node says EBADNAME for the rest).
  it.each([...'!"#$%&\'()+,:;<=>?@[\\]^`{|}~'].map((c) => `a${c}b.test`))(
    '%j is not a name, as in node',
    (name) => {
      expect(toWireName(name)).toBeUndefined();
    },
  );

  it.each([
    ['192.0.2.1', 4, '1.2.0.192.in-addr.arpa'],
    ['2001:db8::1', 6, `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`],
    ['::1', 6, `1.${'0.'.repeat(31)}ip6.arpa`],
    ['::ffff:192.0.2.1', 6, `1.0.2.0.0.0.0.c.f.f.f.f.${'0.'.repeat(20)}ip6.arpa`],
  ] as const)('reverse of %s is %s', (ip, family, name) => {
    expect(reverseName(ip, family)).toBe(name);
  });
});
