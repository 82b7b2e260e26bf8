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
  ])('%j goes on the wire as %j', (name, wire) => {
    expect(toWireName(name)).toBe(wire);
  });

  it.each(['', 'a..b', '.a', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}ab`, 'a b', 'tab\there', 'nul\0'])(
    '%j is not a name',
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
