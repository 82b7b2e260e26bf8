// A structural walk over a DNS message, before anyone decodes it: dns-packet accepts trailing
// junk, address records of the wrong length, and pointer chains of any depth (ANCHORS.md). With
// an `Agree` hook, the walk also proves that the decoder will read every record as exactly its
// rdlength, so a section may be decoded later (or never) without changing the verdict.

/** RFC 1035 §3.1: a name is at most 255 octets on the wire, length bytes and root included. */
const MAX_NAME = 255;
/** More pointer hops than any honest name needs (a name has at most 127 labels). */
const MAX_HOPS = 128;

const TYPE_A = 1;
const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_SOA = 6;
const TYPE_PTR = 12;
const TYPE_HINFO = 13;
const TYPE_MX = 15;
const TYPE_TXT = 16;
const TYPE_RP = 17;
const TYPE_AAAA = 28;
const TYPE_SRV = 33;
const TYPE_NAPTR = 35;
const TYPE_DNAME = 39;
const TYPE_OPT = 41;
const TYPE_DS = 43;
const TYPE_SSHFP = 44;
const TYPE_RRSIG = 46;
const TYPE_NSEC = 47;
const TYPE_DNSKEY = 48;
const TYPE_NSEC3 = 50;
const TYPE_TLSA = 52;
const TYPE_CAA = 257;

/** Where each section of a well-formed message starts. */
export interface Layout {
  /** Offset of the first answer record (right after the question). */
  answers: number;
  authorities: number;
  additionals: number;
  /** Where each record (answer, authority, additional, in order) starts, then where the last one ends. */
  records: number[];
  /** RFC 6891 §6.1.3: the upper 8 bits of the rcode, from the OPT record's TTL (0 without one). */
  extendedRcode: number;
}

/**
 * Whether the decoder reads the record starting at `at` as exactly the bytes up to `end`, without
 * failing. The walk asks only for the types whose rdata the decoder parses in ways the walk does
 * not model (HINFO, CAA, NAPTR, DNSSEC types, OPT with options, ...): rare, so asking costs little.
 */
export type Agree = (buf: Uint8Array, at: number, end: number) => boolean;

/** Thrown (and caught by the caller) when the bytes are not one well-formed message. */
export class MalformedError extends Error {
  override name = 'MalformedError';
}

function bad(why: string): never {
  throw new MalformedError(why);
}

/**
 * Walks the name at `offset` and returns the offset just past it in place. A pointer must point
 * before the start of the labels it continues (RFC 1035 §4.1.4: "a prior occurrence of the same
 * name"), so every hop goes strictly backwards and no loop is possible; at most {@link MAX_HOPS}
 * hops, and the name as read must fit in {@link MAX_NAME} octets.
 */
export function skipName(buf: Uint8Array, offset: number): number {
  let pos = offset;
  let start = offset;
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
      if (target >= start) bad('compression pointer does not point backwards');
      if (++hops > MAX_HOPS) bad('too many compression pointers');
      if (end < 0) end = pos + 2;
      pos = start = target;
      continue;
    }
    if (kind !== 0) bad('unknown label type');
    length += len + 1;
    if (length > MAX_NAME) bad('name longer than 255 octets');
    pos += len + 1;
  }
}

/** The name at `at` must end exactly at `end`. */
function nameFills(buf: Uint8Array, at: number, end: number): void {
  if (skipName(buf, at) !== end) bad('rdata length does not match its contents');
}

/**
 * Checks that the rdata of the record at `at` (rdata from `start` to `end`) reads as exactly its
 * rdlength: fixed sizes, names that fill it, TXT strings that tile it (RFC 1035 §3.3).
 */
function checkRdata(
  buf: Uint8Array,
  type: number,
  at: number,
  start: number,
  end: number,
  agree?: Agree,
): void {
  switch (type) {
    case TYPE_A:
      if (end - start !== 4) bad('A record is not 4 bytes');
      return;
    case TYPE_AAAA:
      if (end - start !== 16) bad('AAAA record is not 16 bytes');
      return;
    case TYPE_NS:
    case TYPE_CNAME:
    case TYPE_PTR:
    case TYPE_DNAME:
      nameFills(buf, start, end);
      return;
    case TYPE_MX:
      nameFills(buf, start + 2, end);
      return;
    case TYPE_SRV:
      nameFills(buf, start + 6, end);
      return;
    case TYPE_SOA:
      if (skipName(buf, skipName(buf, start)) + 20 !== end) bad('rdata length does not match its contents');
      return;
    case TYPE_TXT: {
      let p = start;
      while (p < end) p += buf[p]! + 1;
      if (p !== end) bad('TXT strings do not fill the rdata');
      return;
    }
    case TYPE_OPT:
      if (end === start) return; // no options: nothing to parse
      break;
    case TYPE_CAA: {
      // RFC 8659 §4.1: flags, a tag of 1 or more bytes within the rdata, then the value. dns-packet
      // reads the tag by its length byte alone, past the record if the length says so.
      const tag = end - start >= 2 ? buf[start + 1]! : 0;
      if (tag === 0 || start + 2 + tag > end) bad('CAA tag does not fit the rdata');
      break;
    }
    case TYPE_HINFO:
    case TYPE_RP:
    case TYPE_NAPTR:
    case TYPE_DS:
    case TYPE_SSHFP:
    case TYPE_RRSIG:
    case TYPE_NSEC:
    case TYPE_DNSKEY:
    case TYPE_NSEC3:
    case TYPE_TLSA:
      break;
    default:
      return; // opaque rdata: read by its length
  }
  if (agree !== undefined && !agree(buf, at, end)) bad('rdata length does not match its contents');
}

/**
 * Walks every record of `buf` without decoding it: counts that the bytes cannot hold, names
 * that loop or overflow, rdata that runs past the end, A/AAAA of the wrong length, rdata whose
 * contents do not fill its rdlength, and any bytes left over after the last record all throw
 * {@link MalformedError}.
 */
export function walk(buf: Uint8Array, agree?: Agree): Layout {
  const layout: Layout = { answers: 0, authorities: 0, additionals: 0, records: [], extendedRcode: 0 };
  walkInto(buf, layout, layout.records, agree);
  return layout;
}

/** {@link walk}, filling `layout` (and `records`, when given) in place. */
export function walkInto(buf: Uint8Array, layout: Layout, records: number[] | null, agree?: Agree): void {
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
  layout.answers = pos;
  optRcode = 0;
  // One loop over the three sections (one call site: the optimizer compiles the record walk once).
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    if (i === an) layout.authorities = pos;
    if (i === an + ns) layout.additionals = pos;
    records?.push(pos);
    pos = walkRecord(buf, pos, agree);
  }
  // Sections with no records start where the message ends.
  if (an === total) layout.authorities = pos;
  if (an + ns === total) layout.additionals = pos;
  if (pos !== buf.length) bad(`${buf.length - pos} bytes after the last record`);
  records?.push(pos);
  layout.extendedRcode = optRcode;
}

/** The upper rcode bits of the OPT record the walk met last. */
let optRcode = 0;

/** Walks the record at `at` and returns where it ends. */
function walkRecord(buf: Uint8Array, at: number, agree?: Agree): number {
  let pos = skipName(buf, at);
  if (pos + 10 > buf.length) bad('record header runs past the end');
  const type = (buf[pos]! << 8) | buf[pos + 1]!;
  if (type === TYPE_OPT) optRcode = buf[pos + 4]!;
  const rdlength = (buf[pos + 8]! << 8) | buf[pos + 9]!;
  const start = pos + 10;
  pos = start + rdlength;
  if (pos > buf.length) bad('rdata runs past the end');
  checkRdata(buf, type, at, start, pos, agree);
  return pos;
}
