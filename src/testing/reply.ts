// Reply building for the test server: the zone's answer, and byte surgery on it for fault scripts.
// Every bad reply starts from the real answer (same ID, same question), so only the fault differs.
// Nothing here comes from the client's codec (src/wire/): messages go through dns-packet directly
// (packet.ts), and the byte surgery finds its offsets with the few readers at the end of this file.
import type { Answer, Packet } from '../wire/types.js';
import { decodePacket, encodePacket, SERVER_UDP_PAYLOAD } from './packet.js';
import type { Zone, ZoneAnswer } from './zone.js';

// Header bits (RFC 1035 §4.1.1); dns-packet keeps the opcode and rcode inside `flags`.
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;

/**
 * The rcodes the test server and {@link rcodeReply} speak (RFC 1035 §4.1.1).
 *
 * @example
 * ```ts
 * RCODE.SERVFAIL; // 2
 * ```
 */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/**
 * The name of one of {@link RCODE}.
 *
 * @example
 * ```ts
 * const name: RcodeName = 'REFUSED';
 * ```
 */
export type RcodeName = keyof typeof RCODE;

type OptRecord = Extract<Answer, { type: 'OPT' }>;

function reply(query: Packet, rcode: number, extra: Packet = {}): Packet {
  const flags = query.flags ?? 0;
  return {
    id: query.id,
    type: 'response',
    // Keep the opcode (bits 11-14) and RD. AA only where the zone answered: a REFUSED or NOTIMP
    // comes from no authority (RFC 1035 §4.1.1).
    flags:
      (flags & 0x7800) | (flags & RD) | (rcode === 0 || rcode === 3 ? AA : 0) | rcode | (extra.flags ?? 0),
    questions: query.questions ?? [],
    answers: extra.answers ?? [],
    authorities: extra.authorities ?? [],
    additionals: extra.additionals ?? [],
  };
}

// RFC 6891 §6.1.1: answer an OPT with an OPT, and send none to a client that sent none.
function optFor(query: Packet): Answer[] {
  return query.additionals?.some((r): r is OptRecord => r.type === 'OPT')
    ? [{ type: 'OPT', name: '.', udpPayloadSize: SERVER_UDP_PAYLOAD } as Answer]
    : [];
}

/**
 * The zone's reply to one decoded query, as bytes: pure, no sockets.
 *
 * @example
 * ```ts
 * const bytes = zoneAnswer(new Zone(parseZone(text)), query, 'udp');
 * ```
 */
export function zoneAnswer(zone: Zone, query: Packet, transport: 'udp' | 'tcp'): Buffer {
  const opt = query.additionals?.find((r): r is OptRecord => r.type === 'OPT');
  const additionals = optFor(query);
  const opcode = ((query.flags ?? 0) >> 11) & 0xf;
  const question = query.questions?.[0];
  if (opcode !== 0) return encodePacket(reply(query, RCODE.NOTIMP, { additionals }));
  // RFC 9619: a query carries exactly one question.
  if (!question || query.questions!.length !== 1)
    return encodePacket(reply(query, RCODE.FORMERR, { additionals }));
  const cls = question.class ?? 'IN';
  const found: ZoneAnswer =
    cls === 'IN' || cls === 'ANY'
      ? zone.lookup(question.name, question.type)
      : { rcode: 'REFUSED', answers: [], authorities: [] };
  const full = encodePacket(reply(query, RCODE[found.rcode], { ...found, additionals }));
  // RFC 1035 §4.2.1 and RFC 6891 §6.2.5: over UDP the client's advertised size rules, never below 512.
  const limit = opt ? Math.max(512, opt.udpPayloadSize ?? 0) : 512;
  if (transport === 'tcp' || full.length <= limit) return full;
  // RFC 2181 §9: a truncated reply keeps the question and drops the records that did not fit.
  return encodePacket(reply(query, RCODE[found.rcode], { flags: TC, additionals }));
}

/**
 * A reply with this rcode and no records, echoing the query's ID, opcode, RD and question.
 *
 * @example
 * ```ts
 * const servfail = rcodeReply(query, 'SERVFAIL');
 * ```
 */
export function rcodeReply(query: Packet, name: RcodeName): Buffer {
  return encodePacket(reply(query, RCODE[name], { additionals: optFor(query) }));
}

/**
 * The FORMERR for bytes that do not decode: only the ID and opcode can be trusted (RFC 1035 §4.1.1).
 *
 * @example
 * ```ts
 * formErr(Buffer.from('beef0100000100000000000007', 'hex')).readUInt16BE(0); // 0xbeef
 * ```
 */
export function formErr(bytes: Buffer): Buffer {
  const header = Buffer.alloc(12);
  bytes.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8000 | (bytes.readUInt16BE(2) & 0x7800) | RCODE.FORMERR, 2);
  return header;
}

/**
 * A copy of `bytes` with the message ID set to `id`: fixtures are stored with ID 0 and patched
 * to the live query's ID when sent.
 *
 * @example
 * ```ts
 * const bytes = withId(fixture, query.id!);
 * ```
 */
export function withId(bytes: Buffer, id: number): Buffer {
  const out = Buffer.from(bytes);
  if (out.length >= 2) out.writeUInt16BE(id & 0xffff, 0);
  return out;
}

/**
 * The real answer with its answer section replaced by `records`: a forgery that passes every
 * structural check and differs only in what it claims.
 *
 * @example
 * ```ts
 * const evil = forgedAnswer([{ name: 'example.test', type: 'MX', data: { preference: 10, exchange: 'evil.example' } }]);
 * startTestServer({ zone, script: [badIdThenGood({ forged: evil })] });
 * ```
 */
export function forgedAnswer(records: Answer[]): (answer: Buffer) => Buffer {
  return (answer) => encodePacket({ ...decodePacket(answer), answers: records });
}

// ---- Byte surgery. Offsets follow RFC 1035 §4.1: a 12-byte header, then the question at 12. ----

const TYPE_A = 1;
const TYPE_CNAME = 5;
/** RFC 6895 §3.1: 65280-65534 are for private use, so no decoder gives the carrier a meaning. */
const TYPE_PRIVATE = 65280;
const QUESTION = 12;

/** A compression pointer to `offset` (RFC 1035 §4.1.4: the two top bits set). */
function pointer(offset: number): Buffer {
  return Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);
}

/** One resource record (RFC 1035 §4.1.3), class IN, TTL 60; `rdlength` may lie. */
function record(owner: Buffer, type: number, rdata: Buffer, rdlength = rdata.length): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(60, 4);
  fixed.writeUInt16BE(rdlength, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

/**
 * The real answer cut down to header, question and answer section (authority and additional
 * dropped, their counts zeroed), so a record appended or cut is the last thing in the message.
 * An answer with no records gets one A record for the question name (192.0.2.1, RFC 5737).
 */
function answersOnly(answer: Buffer): Buffer {
  const out = Buffer.from(answer.subarray(0, answersEnd(answer)));
  out.writeUInt32BE(0, 8); // NSCOUNT and ARCOUNT
  return out.readUInt16BE(6) > 0 ? out : append(out, record(pointer(QUESTION), TYPE_A, ip(1)));
}

function ip(last: number): Buffer {
  return Buffer.from([192, 0, 2, last]);
}

/** Appends one record to a message whose answer section is its last, and counts it. */
function append(message: Buffer, rr: Buffer): Buffer {
  const out = Buffer.concat([message, rr]);
  out.writeUInt16BE(out.readUInt16BE(6) + 1, 6);
  return out;
}

/** Where the last record of an {@link answersOnly} message starts its rdata. */
function lastRdata(message: Buffer): number {
  let pos = questionEnd(message);
  let rdata = pos;
  for (let i = message.readUInt16BE(6); i > 0; i--) {
    rdata = skipName(message, pos) + 10;
    pos = rdata + message.readUInt16BE(rdata - 2);
  }
  return rdata;
}

/**
 * A record owned by a name `hops` compression pointers away from the question: a carrier record
 * of a private type holds a chain of pointers, each to the one before, the first to the question.
 */
function pointerChain(hops: number): (answer: Buffer) => Buffer {
  return (answer) => {
    const base = answersOnly(answer);
    const links = hops - 1;
    // The carrier's owner is 2 bytes and its fixed part 10, so its rdata starts 12 bytes in.
    const start = base.length + 12;
    const chain = Buffer.concat(
      Array.from({ length: links }, (_, i) => pointer(i === 0 ? QUESTION : start + 2 * (i - 1))),
    );
    const carried = append(base, record(pointer(QUESTION), TYPE_PRIVATE, chain));
    return append(carried, record(pointer(start + 2 * (links - 1)), TYPE_A, ip(3)));
  };
}

/**
 * The malformed kinds, each a pure function of the real answer. The wire-level checks of RFC 1035
 * §4.1 each have one here; the comment says what a client must notice.
 *
 * @example
 * ```ts
 * const bad = malformed.trailingJunk(answerBytes); // one byte longer than its records
 * ```
 */
export const malformed = {
  /** 48 bytes of noise; its first two bytes are not the query's ID. */
  garbage: (answer: Buffer) => {
    const out = noise(48, 0x5e);
    if (out.readUInt16BE(0) === answer.readUInt16BE(0)) out[0]! ^= 0xff;
    return out;
  },
  /** The real header and question, then noise: it claims to answer, so it is EBADRESP, not a skip. */
  headerThenGarbage: (answer: Buffer) => {
    const head = Buffer.from(answer.subarray(0, questionEnd(answer)));
    head.writeUInt32BE(0x00010001, 4); // QDCOUNT 1, ANCOUNT 1
    head.writeUInt32BE(0, 8); // NSCOUNT 0, ARCOUNT 0
    return Buffer.concat([head, noise(31, 0xba)]);
  },
  /** A zero-length datagram. */
  empty: () => Buffer.alloc(0),
  /** One byte short of a header (RFC 1035 §4.1.1 needs 12). */
  shortHeader: (answer: Buffer) => Buffer.from(answer.subarray(0, 11)),
  /** The last record's rdata cut short by one byte: the message ends where rdlength says it goes on. */
  truncatedRecord: (answer: Buffer) => {
    const base = answersOnly(answer);
    return base.subarray(0, base.length - 1);
  },
  /** The message ends inside the last record's fixed type/class/TTL/rdlength fields. */
  truncatedHeader: (answer: Buffer) => {
    const base = answersOnly(answer);
    return base.subarray(0, lastRdata(base) - 5);
  },
  /** An A record whose rdata stops after 1 of its 4 bytes, at the end of the message. */
  truncatedA: (answer: Buffer) => {
    const rr = record(pointer(QUESTION), TYPE_A, ip(4), 4);
    return append(answersOnly(answer), rr).subarray(0, -3);
  },
  /**
   * The last record's rdlength raised by 8 and 8 zero bytes added: more rdata than its type holds.
   * Only types whose rdata has a shape (names, addresses) show it; a TXT would stay valid.
   */
  overlongRdata: (answer: Buffer) => {
    const base = answersOnly(answer);
    const at = lastRdata(base) - 2;
    base.writeUInt16BE(base.readUInt16BE(at) + 8, at);
    return Buffer.concat([base, Buffer.alloc(8)]);
  },
  /** An extra A record with 16 bytes of rdata (RFC 1035 §3.4.1: an A is 4). */
  aRdlength16: (answer: Buffer) =>
    append(answersOnly(answer), record(pointer(QUESTION), TYPE_A, Buffer.alloc(16, 7))),
  /** ANCOUNT one more than the records present. */
  impossibleCount: (answer: Buffer) => {
    const out = answersOnly(answer);
    out.writeUInt16BE(out.readUInt16BE(6) + 1, 6);
    return out;
  },
  /** ANCOUNT 65535 in a small datagram: rejected before any loop (11 bytes per record at least). */
  hugeCount: (answer: Buffer) => {
    const out = answersOnly(answer);
    out.writeUInt16BE(0xffff, 6);
    return out;
  },
  /** One byte after the last record. */
  trailingJunk: (answer: Buffer) => Buffer.concat([answersOnly(answer), Buffer.from([0])]),
  /**
   * A CNAME whose owner is a pointer forward to its own rdata (which points back at the question):
   * the name reads fine, but RFC 1035 §4.1.4 only allows pointers to a prior occurrence.
   */
  forwardPointer: (answer: Buffer) => {
    const base = answersOnly(answer);
    return append(base, record(pointer(base.length + 12), TYPE_CNAME, pointer(QUESTION)));
  },
  /** A record whose owner is a pointer at itself: a reader that follows it never ends. */
  pointerLoop: (answer: Buffer) => {
    const base = answersOnly(answer);
    return append(base, record(pointer(base.length), TYPE_A, ip(5)));
  },
  /** An owner 129 pointer hops from its labels: each hop points backwards, but no name needs that many. */
  pointerChain129: pointerChain(129),
  /** An owner of four 63-octet labels before the question name: over RFC 1035 §2.3.4's 255 octets. */
  nameOver255: (answer: Buffer) => {
    const label = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]);
    const owner = Buffer.concat([label, label, label, label, pointer(QUESTION)]);
    return append(answersOnly(answer), record(owner, TYPE_A, ip(6)));
  },
} satisfies Record<string, (answer: Buffer) => Buffer>;

/**
 * The name of one of {@link malformed}.
 *
 * @example
 * ```ts
 * const kind: MalformedKind = 'pointerLoop';
 * ```
 */
export type MalformedKind = keyof typeof malformed;

/**
 * The same chain as `malformed.pointerChain129` at any length: 128 hops is the most a client
 * should follow, so `chainOfHops(128)` is the well-formed control.
 *
 * @example
 * ```ts
 * const ok = chainOfHops(128)(answerBytes);
 * ```
 */
export const chainOfHops = pointerChain;

/** Deterministic noise: a multiplicative sequence, so every run sends the same bytes. */
function noise(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (seed + i * 167) & 0xff));
}

// ---- Offsets in a message, read without the client's walk (src/wire/walk.ts). These trust the
// message, which is the server's own answer or a copy of it: they only throw past the end. ----

/** Where the name at `at` ends: after its root label, or after the pointer that finishes it. */
function skipName(m: Buffer, at: number): number {
  for (;;) {
    if (at >= m.length) throw new RangeError('name runs past the end of the message');
    const len = m[at]!;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2;
    if ((len & 0xc0) !== 0) throw new RangeError('unknown label type');
    at += len + 1;
  }
}

/** Where the first question (RFC 1035 §4.1.2: a name, then type and class) ends. */
function questionEnd(m: Buffer): number {
  return skipName(m, QUESTION) + 4;
}

/** Where the answer section ends: past every question, then ANCOUNT records (RFC 1035 §4.1.3). */
function answersEnd(m: Buffer): number {
  let pos = QUESTION;
  for (let i = m.readUInt16BE(4); i > 0; i--) pos = skipName(m, pos) + 4;
  for (let i = m.readUInt16BE(6); i > 0; i--) {
    const rdata = skipName(m, pos) + 10;
    pos = rdata + m.readUInt16BE(rdata - 2);
  }
  if (pos > m.length) throw new RangeError('answer section runs past the end of the message');
  return pos;
}

/** Byte offset of the question's type (the question's last 4 bytes are type then class). */
const qtypeAt = (m: Buffer) => questionEnd(m) - 4;

/**
 * Ways a response can fail to answer its query (RFC 5452 §9.1), plus two spellings that must
 * still match (`caseFlipped`, RFC 4343) or not (`dotInLabel`). Each returns a changed copy.
 *
 * @example
 * ```ts
 * const forged = mismatched.id(answerBytes); // the same reply under another ID
 * ```
 */
export const mismatched = {
  /** ID plus one. */
  id: (m: Buffer) => withId(m, m.readUInt16BE(0) + 1),
  /** One letter of the question name changed to another letter (not just its case). */
  question: (m: Buffer) => {
    const out = Buffer.from(m);
    const first = out[QUESTION + 1]! | 0x20;
    out[QUESTION + 1] = first === 0x78 ? 0x79 : 0x78; // 'x', or 'y' if it was an x
    return out;
  },
  /** QTYPE changed: A becomes AAAA, anything else A. */
  type: (m: Buffer) => {
    const out = Buffer.from(m);
    out.writeUInt16BE(out.readUInt16BE(qtypeAt(m)) === TYPE_A ? 28 : TYPE_A, qtypeAt(m));
    return out;
  },
  /** QCLASS changed to CH (3). */
  class: (m: Buffer) => {
    const out = Buffer.from(m);
    out.writeUInt16BE(3, qtypeAt(m) + 2);
    return out;
  },
  /** QR cleared: a query, not a response. */
  queryBit: (m: Buffer) => {
    const out = Buffer.from(m);
    out[2]! &= 0x7f;
    return out;
  },
  /** Every ASCII letter of the question name in the other case: still the same name (RFC 4343). */
  caseFlipped: (m: Buffer) => {
    const out = Buffer.from(m);
    for (let i = QUESTION; out[i] !== 0; i += out[i]! + 1) {
      for (let j = i + 1; j <= i + out[i]!; j++) {
        const c = out[j]! | 0x20;
        if (c >= 0x61 && c <= 0x7a) out[j]! ^= 0x20;
      }
    }
    return out;
  },
  /**
   * The first two labels joined into one with a `.` byte between them: `\1a\1b` becomes `\3a.b`,
   * the same length and the same text, but one label where the query had two.
   */
  dotInLabel: (m: Buffer) => {
    const out = Buffer.from(m);
    const first = out[QUESTION]!;
    const second = QUESTION + 1 + first;
    if (first === 0 || out[second] === 0) throw new RangeError('dotInLabel needs a name of two labels');
    out[QUESTION] = first + 1 + out[second]!;
    out[second] = 0x2e;
    return out;
  },
} satisfies Record<string, (message: Buffer) => Buffer>;
