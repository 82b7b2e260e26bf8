// A small zone for behaviour tests: two MX, a name with only an A record, and a TXT answer too
// long for 512 bytes.

/** Three TXT strings of 200 bytes: over 512 bytes, so with `edns: 512` the UDP answer is truncated. */
export const LONG = ['a', 'b', 'c'].map((c) => c.repeat(200));

export const ZONE = [
  '$ORIGIN example.test.',
  '@ 60 SOA ns hm 1 2 3 4 60',
  '@ 60 NS ns',
  '@ 60 MX 10 mx1',
  '@ 60 MX 20 mx2',
  'onlya 60 A 192.0.2.1',
  `long 60 TXT ${LONG.map((s) => `"${s}"`).join(' ')}`,
].join('\n');
