// Reads domain names out of a message the walk has accepted, as c-ares (node) prints them: labels
// joined with '.', the root as '.', and every byte that is not plain printable ASCII escaped as in
// a master file (RFC 1035 §5.1): `\.` for a dot inside a label, `\"` `\$` `\(` `\)` `\;` `\@` `\\`,
// and `\DDD` for control bytes, DEL and every byte over 127 (so `ä` is `\195\164`). Each
// compression target is read once: in an answer section the owners, and the tails of the names
// in the rdata, mostly point at the question name, so most names cost one short label.

/** How each byte is printed: 0 as itself, 1 after a backslash, 2 as a backslash and three digits. */
const ESCAPE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  if (b < 0x20 || b >= 0x7f) ESCAPE[b] = 2;
  else if ('"$().;@\\'.includes(String.fromCharCode(b))) ESCAPE[b] = 1;
}

// Names read since the last `forgetNames()`, by the offset they start at.
const cacheAt: number[] = [];
const cacheText: string[] = [];

/** Where the last {@link readName} ended in place (after its last label, or after its pointer). */
export let nameEnd = 0;

/** Starts a new run of reads (of one section of one message): earlier names are not reused. */
export function forgetNames(): void {
  cacheAt.length = 0;
  cacheText.length = 0;
}

/**
 * The name at `offset` of `buf`, whose names the walk has checked (no loop, no overrun, at most
 * 255 octets). Targets read since {@link forgetNames} are reused when a pointer reaches them.
 */
export function readName(buf: Buffer, offset: number): string {
  const labels = readLabels(buf, offset);
  return labels === '' ? '.' : labels;
}

// The char codes of the labels being read: a name becomes one flat string in one call, rather
// than a rope of one-character strings that lives as long as the name does.
const codes: number[] = [];

/** The labels from `offset` joined with '.', '' for none (the root); sets {@link nameEnd}. */
function readLabels(buf: Buffer, offset: number): string {
  let n = 0;
  let pos = offset;
  for (;;) {
    const len = buf[pos]!;
    if (len === 0) {
      nameEnd = pos + 1;
      return n === 0 ? '' : joined(n);
    }
    if (len >= 0xc0) {
      // RFC 1035 §4.1.4: a pointer ends the name; its target's labels are the rest of it.
      const head = n === 0 ? '' : joined(n); // before reading the target, which reuses `codes`
      const tail = suffix(buf, ((len & 0x3f) << 8) | buf[pos + 1]!);
      nameEnd = pos + 2;
      if (tail === '') return head;
      return head === '' ? tail : `${head}.${tail}`;
    }
    if (n !== 0) codes[n++] = 0x2e;
    const end = pos + 1 + len;
    for (let i = pos + 1; i < end; i++) {
      const b = buf[i]!;
      if (ESCAPE[b] !== 0) return readEscaped(buf, offset);
      codes[n++] = b;
    }
    pos = end;
  }
}

function joined(n: number): string {
  codes.length = n;
  return String.fromCharCode.apply(null, codes);
}

/** {@link readLabels} for a name with a byte to escape. */
function readEscaped(buf: Buffer, offset: number): string {
  let out = '';
  let pos = offset;
  for (;;) {
    const len = buf[pos]!;
    if (len === 0) {
      nameEnd = pos + 1;
      return out;
    }
    if (len >= 0xc0) {
      const tail = suffix(buf, ((len & 0x3f) << 8) | buf[pos + 1]!);
      nameEnd = pos + 2;
      if (tail === '') return out;
      return out === '' ? tail : `${out}.${tail}`;
    }
    let label = '';
    for (let i = pos + 1; i <= pos + len; i++) {
      const b = buf[i]!;
      const how = ESCAPE[b];
      if (how === 0) label += String.fromCharCode(b);
      else if (how === 1) label += `\\${String.fromCharCode(b)}`;
      else label += `\\${String(b).padStart(3, '0')}`;
    }
    out = out === '' ? label : `${out}.${label}`;
    pos += len + 1;
  }
}

/** The labels at a pointer's target, read once. */
function suffix(buf: Buffer, target: number): string {
  for (let i = 0; i < cacheAt.length; i++) if (cacheAt[i] === target) return cacheText[i]!;
  const text = readLabels(buf, target);
  cacheAt.push(target);
  cacheText.push(text);
  return text;
}
