import { domainToASCII } from 'node:url';

/** What c-ares accepts in a name it sends: letters, digits and `-._*\/` (anything else is EBADNAME). */
const HOST_CHARS = /^[A-Za-z0-9._*/-]+$/;
/** An ASCII character outside {@link HOST_CHARS}: never part of a name, IDN or not. */
const BAD_ASCII = /[\x00-\x29\x2b\x2c\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]/;

/**
 * Checks a name and converts it to the ASCII form that goes on the wire, or returns
 * `undefined` when it cannot be a DNS name: RFC 1035 §2.3.4 (labels 1..63 octets,
 * a name of at most 253 characters in text form, no empty label), only the characters
 * c-ares sends (so `john@example.com` is EBADNAME, as in node), and IDNA for non-ASCII
 * (UTS #46 via `url.domainToASCII`, as node's resolver converts), in lower case. A trailing dot
 * is allowed; `'.'` is the root.
 */
export function toWireName(name: string): string | undefined {
  let text = name;
  if (text === '.') return '.';
  if (text.endsWith('.')) text = text.slice(0, -1);
  if (text.length === 0) return undefined;
  if (!HOST_CHARS.test(text)) {
    // Non-ASCII. The URL host parser would cut the name at `/` (and `?`, `#`, `\\`, which
    // BAD_ASCII refuses) and ask for a different name; a non-numeric last label (`.a`, taken
    // off again) keeps it from reading `ä.123` as an IPv4 address.
    if (BAD_ASCII.test(text) || text.includes('/')) return undefined;
    const ascii = domainToASCII(`${text}.a`);
    if (!ascii.endsWith('.a')) return undefined;
    text = ascii.slice(0, -2);
    if (!HOST_CHARS.test(text)) return undefined;
  }
  if (text.length > 253) return undefined;
  let start = 0;
  for (;;) {
    const dot = text.indexOf('.', start);
    const end = dot < 0 ? text.length : dot;
    const len = end - start;
    if (len < 1 || len > 63) return undefined;
    // As c-ares: the name goes out in lower case (an answer compressed against our question then
    // reads back in lower case too, as node shows it).
    if (dot < 0) return text.toLowerCase();
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

/**
 * Whether c-ares refuses to ask for `name` (a wire name from {@link toWireName}): RFC 7686 §2,
 * a `.onion` name is never sent to DNS; it fails as ENOTFOUND without a packet.
 */
export function isSpecialUse(name: string): boolean {
  return name.endsWith('.onion');
}

// dns-packet compresses the first zero run rather than the first longest one: records print
// addresses again through this.
/**
 * An IPv6 address as libuv's inet_ntop prints it (node's form): lower case, the first longest run
 * of two or more zero groups as `::`, and `::a.b.c.d` / `::ffff:a.b.c.d` with the dotted quad.
 *
 * @example
 * ```ts
 * ipv6Text('0:0:0:0:0:0:0:1'); // '::1'
 * ipv6Text('::1:53');          // '::0.1.0.83'
 * ```
 */
export function ipv6Text(text: string): string {
  const groups = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [Number.parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = text.split('::');
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  if (h.length + t.length > 8) return text; // not an address dns-packet could have decoded
  const w = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  let base = -1;
  let len = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > len) [base, len] = [i, j - i];
    i = Math.max(j, i + 1);
  }
  if (base === 0 && (len === 6 || (len === 5 && w[5] === 0xffff))) {
    return `::${len === 5 ? 'ffff:' : ''}${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
  }
  const hex = w.map((g) => g.toString(16));
  return base < 0 ? hex.join(':') : `${hex.slice(0, base).join(':')}::${hex.slice(base + len).join(':')}`;
}
