// A structural walk over a DNS message, before anyone decodes it: dns-packet accepts trailing
// junk, address records of the wrong length, and pointer chains of any depth (ANCHORS.md).

/** RFC 1035 §3.1: a name is at most 255 octets on the wire, length bytes and root included. */
const MAX_NAME = 255;
/** More pointer hops than any honest name needs (a name has at most 127 labels). */
const MAX_HOPS = 128;

const TYPE_A = 1;
const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_SOA = 6;
const TYPE_PTR = 12;
const TYPE_MX = 15;
const TYPE_AAAA = 28;
const TYPE_SRV = 33;
const TYPE_DNAME = 39;
const CLASS_IN = 1;

/** Where each section of a well-formed message starts. */
export interface Layout {
  /** Offset of the first answer record (right after the question). */
  answers: number;
  authorities: number;
  additionals: number;
  /** Where each record (answer, authority, additional, in order) starts, then where the last one ends. */
  records: number[];
}

/** Thrown (and caught by the caller) when the bytes are not one well-formed message. */
export class MalformedError extends Error {
  override name = 'MalformedError';
}

function bad(why: string): never {
  throw new MalformedError(why);
}

/**
 * Walks the name at `offset` and returns the offset just past it in place. Pointers must point
 * backwards (RFC 1035 §4.1.4, so no loop), at most {@link MAX_HOPS} of them, and the name as
 * read must fit in {@link MAX_NAME} octets.
 */
export function skipName(buf: Uint8Array, offset: number): number {
  let pos = offset;
  let end = -1;
  let hops = 0;
  let length = 1;
  for (;;) {
    if (pos >= buf.length) bad('name runs past the end');
    const len = buf[pos]!;
    if (len === 0) return end < 0 ? pos + 1 : end;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) bad('pointer runs past the end');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= pos) bad('compression pointer does not point backwards');
      if (++hops > MAX_HOPS) bad('too many compression pointers');
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (kind !== 0) bad('unknown label type');
    length += len + 1;
    if (length > MAX_NAME) bad('name longer than 255 octets');
    pos += len + 1;
  }
}

/** Checks the names inside rdata of the types that carry them, each within the rdata. */
function checkRdataNames(buf: Uint8Array, type: number, start: number, end: number): void {
  let at: number;
  switch (type) {
    case TYPE_NS:
    case TYPE_CNAME:
    case TYPE_PTR:
    case TYPE_DNAME:
      at = skipName(buf, start);
      break;
    case TYPE_MX:
      at = skipName(buf, start + 2);
      break;
    case TYPE_SRV:
      at = skipName(buf, start + 6);
      break;
    case TYPE_SOA:
      at = skipName(buf, skipName(buf, start)) + 20;
      break;
    default:
      return;
  }
  if (at !== end) bad('rdata length does not match its contents');
}

/**
 * Walks every record of `buf` without decoding it: counts that the bytes cannot hold, names
 * that loop or overflow, rdata that runs past the end, A/AAAA of the wrong length, and any
 * bytes left over after the last record all throw {@link MalformedError}.
 */
export function walk(buf: Uint8Array): Layout {
  if (buf.length < 12) bad('shorter than a header');
  const qd = (buf[4]! << 8) | buf[5]!;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  // A question needs at least 5 bytes, a record 11: reject impossible counts before looping.
  if (12 + qd * 5 + (an + ns + ar) * 11 > buf.length) bad('header counts more records than the bytes hold');
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = skipName(buf, pos) + 4;
    if (pos > buf.length) bad('question runs past the end');
  }
  const layout: Layout = { answers: pos, authorities: 0, additionals: 0, records: [] };
  const sections = [an, ns, ar];
  for (let s = 0; s < 3; s++) {
    if (s === 1) layout.authorities = pos;
    if (s === 2) layout.additionals = pos;
    for (let i = 0; i < sections[s]!; i++) {
      layout.records.push(pos);
      pos = skipName(buf, pos);
      if (pos + 10 > buf.length) bad('record header runs past the end');
      const type = (buf[pos]! << 8) | buf[pos + 1]!;
      const klass = (buf[pos + 2]! << 8) | buf[pos + 3]!;
      const rdlength = (buf[pos + 8]! << 8) | buf[pos + 9]!;
      const start = pos + 10;
      pos = start + rdlength;
      if (pos > buf.length) bad('rdata runs past the end');
      if (klass === CLASS_IN && type === TYPE_A && rdlength !== 4) bad('A record is not 4 bytes');
      if (klass === CLASS_IN && type === TYPE_AAAA && rdlength !== 16) bad('AAAA record is not 16 bytes');
      checkRdataNames(buf, type, start, pos);
    }
  }
  if (pos !== buf.length) bad(`${buf.length - pos} bytes after the last record`);
  layout.records.push(pos);
  return layout;
}
