import { domainToASCII } from 'node:url';

/**
 * Checks a name and converts it to the ASCII form that goes on the wire, or returns
 * `undefined` when it cannot be a DNS name: RFC 1035 §2.3.4 (labels 1..63 octets,
 * a name of at most 253 characters in text form, no empty label) and IDNA for non-ASCII
 * (node's `url.domainToASCII`, as node's own resolver does). A trailing dot is allowed;
 * `'.'` is the root.
 */
export function toWireName(name: string): string | undefined {
  let text = name;
  if (text === '.') return '.';
  if (text.endsWith('.')) text = text.slice(0, -1);
  if (text.length === 0) return undefined;
  if (/[^\x21-\x7e]/.test(text)) {
    // Whitespace and control characters are never part of a host name node would send.
    if (/[\x00-\x20\x7f]/.test(text)) return undefined;
    const ascii = domainToASCII(text);
    if (ascii === '') return undefined;
    text = ascii;
  }
  if (text.length > 253) return undefined;
  let start = 0;
  for (;;) {
    const dot = text.indexOf('.', start);
    const end = dot < 0 ? text.length : dot;
    const len = end - start;
    if (len < 1 || len > 63) return undefined;
    if (dot < 0) return text;
    start = dot + 1;
  }
}

/** RFC 1035 §3.5 / RFC 3596 §2.5: the PTR name for a valid IPv4 or IPv6 address. */
export function reverseName(ip: string, family: 4 | 6): string {
  if (family === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  // Expand to 8 groups: '::' stands for the missing zero groups, and a trailing dotted quad
  // (`::ffff:192.0.2.1`) for the last two.
  let text = ip.split('%')[0]!;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail = ''] = text.includes('::') ? text.split('::') : [text, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const nibbles = groups
    .map((g) => g.padStart(4, '0'))
    .join('')
    .toLowerCase();
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}
