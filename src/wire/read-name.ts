// Reads domain names out of a message the walk has accepted, giving exactly the strings
// dns-packet's name decoder gives (labels as UTF-8, joined with '.', the root as '.'), but reading
// each compression target once: in an answer section the owners, and the tails of the names in
// the rdata, mostly point at the question name, so most names cost one short label.

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

/** The labels from `offset` joined with '.', '' for none (the root); sets {@link nameEnd}. */
function readLabels(buf: Buffer, offset: number): string {
  let text = '';
  let pos = offset;
  for (;;) {
    const len = buf[pos]!;
    if (len === 0) {
      nameEnd = pos + 1;
      return text;
    }
    if (len >= 0xc0) {
      // RFC 1035 §4.1.4: a pointer ends the name; its target's labels are the rest of it.
      const tail = suffix(buf, ((len & 0x3f) << 8) | buf[pos + 1]!);
      nameEnd = pos + 2;
      if (tail === '') return text;
      return text === '' ? tail : `${text}.${tail}`;
    }
    const label = readLabel(buf, pos + 1, len);
    text = text === '' ? label : `${text}.${label}`;
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

/** One label as `Buffer#toString('utf-8')` reads it; ASCII, the common case, without a native call. */
function readLabel(buf: Buffer, start: number, len: number): string {
  const end = start + len;
  let text = '';
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return buf.toString('utf-8', start, end);
    text += String.fromCharCode(b);
  }
  return text;
}
