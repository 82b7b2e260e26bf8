// The only module of the client that imports dns-packet: everything above it sees plain objects and
// Buffers. (The test server does not use this one: it calls dns-packet itself, src/testing/packet.ts.)
import { createRequire } from 'node:module';
import { forgetNames, nameEnd, readName } from './read-name.js';
import { type Agree, walk } from './walk.js';

// dns-packet is CommonJS. An ESM `import` of it makes node start its CommonJS export lexer, which
// costs about 7 MB of RSS for the life of the process (measured on node 20: 41.0 -> 48.0 MB);
// loading it through `require` costs 0.5 MB. Bulk jobs are memory-bound, so: require.
const require = createRequire(import.meta.url);
const packet: typeof import('dns-packet') = require('dns-packet');
const classes: typeof import('dns-packet/classes.js').default = require('dns-packet/classes.js');
const opcodes: typeof import('dns-packet/opcodes.js').default = require('dns-packet/opcodes.js');
const rcodes: typeof import('dns-packet/rcodes.js').default = require('dns-packet/rcodes.js');
const types: typeof import('dns-packet/types.js').default = require('dns-packet/types.js');

export type { Answer, Packet, Question, RecordType } from './types.js';

import type { Answer, Packet, Question, RecordType } from './types.js';

/** RFC 8020 / DNS Flag Day 2020: the EDNS0 UDP payload size that avoids IP fragmentation. */
export const DEFAULT_UDP_PAYLOAD = 1232;

/** RFC 1035 §4.2.1: without EDNS0 a UDP message is at most 512 octets. */
export const CLASSIC_UDP_PAYLOAD = 512;

/** The numeric code of a record type name, or 0 when dns-packet does not know it. */
export function typeCode(type: string): number {
  return types.toType(type);
}

/** The name of a numeric record type (`UNKNOWN_n` for those dns-packet lacks). */
export function typeName(code: number): string {
  return types.toString(code);
}

/** What {@link encodeQuery} needs to build one question. */
export interface QueryOptions {
  id: number;
  name: string;
  type: RecordType;
  /** EDNS0 UDP payload size to advertise; `0` sends no OPT record. */
  udpPayload: number;
  /** RD bit; a stub resolver asks for recursion (default true). */
  recursionDesired?: boolean;
}

/** Encodes a standard query with one question of class IN (and an OPT record unless disabled). */
export function encodeQuery(q: QueryOptions): Buffer {
  return packet.encode({
    id: q.id,
    type: 'query',
    flags: q.recursionDesired === false ? 0 : packet.RECURSION_DESIRED,
    questions: [{ name: q.name, type: q.type, class: 'IN' }],
    additionals:
      q.udpPayload > 0
        ? [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: q.udpPayload,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ]
        : [],
  });
}

/** dns-packet's own name for a message; our Packet (types.ts) is its published shape. */
type DnsPacketMessage = Parameters<typeof packet.encode>[0];

/** Encodes any message (used by the test server). */
export function encodeMessage(message: Packet): Buffer {
  return packet.encode(message as DnsPacketMessage);
}

/** A decoded message: dns-packet's Packet with the fields its decoder always sets. */
export type DecodedPacket = Packet & {
  id: number;
  flags: number;
  rcode: string;
  flag_qr: boolean;
  flag_aa: boolean;
  flag_tc: boolean;
  flag_rd: boolean;
  flag_ra: boolean;
  flag_ad: boolean;
  flag_cd: boolean;
  questions: Question[];
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
};

// dns-packet's per-part decoders, which its type definitions leave out.
interface Coder<T> {
  decode: ((buf: Buffer, offset: number) => T) & { bytes: number };
}
const coders = packet as unknown as {
  question: Coder<Question>;
  answer: Coder<Answer>;
  name: Coder<string>;
  /** The rdata coder of a type name (dns-packet's `renc`); its decode starts at RDLENGTH. */
  record(type: string): Coder<unknown>;
};

/**
 * The walk's hook for record types it does not model: dns-packet must read the record at `at`
 * as exactly the bytes up to `end`, without throwing (see {@link Agree}).
 */
export const agree: Agree = (buf, at, end) => {
  try {
    coders.answer.decode(buf as Buffer, at);
    return at + coders.answer.decode.bytes === end;
  } catch {
    return false;
  }
};

const TYPE_OPT = 41;

/** dns-packet's rdata coder for each type code met so far. */
const rdataCoders = new Map<number, Coder<unknown>>();
function rdataCoder(type: number): Coder<unknown> {
  let coder = rdataCoders.get(type);
  if (coder === undefined) {
    coder = coders.record(types.toString(type));
    rdataCoders.set(type, coder);
  }
  return coder;
}

const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_SOA = 6;
const TYPE_NAPTR = 35;
const TYPE_PTR = 12;
const TYPE_MX = 15;
const TYPE_SRV = 33;
const TYPE_DNAME = 39;

/**
 * Decodes `count` records from `from` into `out`, in a message the walk (with {@link agree}) has
 * accepted: every record then reads as exactly its bytes, so nothing here can throw or drift.
 * Returns where the last record ended. Each record is exactly what dns-packet's record decoder
 * gives (same fields, same values, same order): its rdata decoders read the rdata, except that
 * the names of the commonest types are read by {@link readName}, which gives the same strings
 * while reading each compression target only once.
 */
export function decodeRecords(buf: Buffer, from: number, count: number, out: Answer[]): number {
  forgetNames();
  let pos = from;
  for (let i = 0; i < count; i++) {
    const start = pos;
    const owner = readName(buf, pos);
    pos = nameEnd;
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    if (type === TYPE_OPT) {
      // RFC 6891 §6.1.2: OPT's fields mean something else; dns-packet has its own form for it.
      out.push(coders.answer.decode(buf, start));
      pos = start + coders.answer.decode.bytes;
      continue;
    }
    const klass = (buf[pos + 2]! << 8) | buf[pos + 3]!;
    const ttl = buf.readUInt32BE(pos + 4);
    const rdata = pos + 10;
    pos = rdata + ((buf[pos + 8]! << 8) | buf[pos + 9]!);
    let data: unknown;
    switch (type) {
      case TYPE_NS:
      case TYPE_CNAME:
      case TYPE_PTR:
      case TYPE_DNAME:
        data = readName(buf, rdata);
        break;
      case TYPE_MX:
        data = { preference: buf.readUInt16BE(rdata), exchange: readName(buf, rdata + 2) };
        break;
      case TYPE_SRV:
        data = {
          priority: buf.readUInt16BE(rdata),
          weight: buf.readUInt16BE(rdata + 2),
          port: buf.readUInt16BE(rdata + 4),
          target: readName(buf, rdata + 6),
        };
        break;
      case TYPE_SOA: {
        const mname = readName(buf, rdata);
        const rname = readName(buf, nameEnd);
        const at = nameEnd;
        data = {
          mname,
          rname,
          serial: buf.readUInt32BE(at),
          refresh: buf.readUInt32BE(at + 4),
          retry: buf.readUInt32BE(at + 8),
          expire: buf.readUInt32BE(at + 12),
          minimum: buf.readUInt32BE(at + 16),
        };
        break;
      }
      case TYPE_NAPTR: {
        // dns-packet reads the strings; the replacement is a name, printed as every other name.
        const naptr = rdataCoder(type).decode(buf, rdata - 2) as { replacement: string };
        let at = rdata + 4;
        for (let s = 0; s < 3; s++) at += buf[at]! + 1;
        naptr.replacement = readName(buf, at);
        data = naptr;
        break;
      }
      default:
        data = rdataCoder(type).decode(buf, rdata - 2);
    }
    out.push({
      name: owner,
      type: types.toString(type),
      ttl,
      class: classes.toString(klass & 0x7fff),
      flush: (klass & 0x8000) !== 0,
      data,
    } as Answer);
  }
  return pos;
}

/** The question at offset 12 of a walked message. */
export function decodeQuestion(buf: Buffer): Question {
  return coders.question.decode(buf, 12);
}

/** dns-packet's name of an rcode (`'NOERROR'`, `'NXDOMAIN'`, ...). */
export function rcodeName(rcode: number): string {
  return rcodes.toString(rcode);
}

/** dns-packet's name of an opcode (`'QUERY'`, ...). */
export function opcodeName(opcode: number): string {
  return opcodes.toString(opcode);
}

/** Thrown by {@link decodeMessage} when the bytes are not one well-formed message. */
export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

/**
 * Decodes a whole message, after a structural walk that rejects what dns-packet lets through
 * (see ANCHORS.md): trailing bytes, impossible counts, address records of the wrong length,
 * names over 255 octets or behind more than 128 pointers. Records are then decoded one by one
 * at the offsets the walk found, and each must fill exactly its rdlength: dns-packet reads most
 * rdata by its contents, so a record whose contents and rdlength disagree could otherwise make
 * the two readers see different records in the same bytes. Throws {@link MalformedMessageError}.
 */
export function decodeMessage(bytes: Buffer): DecodedPacket {
  try {
    const layout = walk(bytes, agree);
    const message = decodeHeader(bytes);
    // The acceptance check allows one question, or none on a FORMERR (RFC 6891 §7).
    if (layout.answers > 12) message.questions = [coders.question.decode(bytes, 12)];
    const counts = [bytes.readUInt16BE(6), bytes.readUInt16BE(8), bytes.readUInt16BE(10)];
    const sections = [message.answers, message.authorities, message.additionals];
    const offsets = layout.records;
    let r = 0;
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s]!; i++, r++) {
        const at = offsets[r]!;
        sections[s]!.push(coders.answer.decode(bytes, at));
        if (coders.answer.decode.bytes !== offsets[r + 1]! - at)
          throw new Error('rdata length does not match its contents');
      }
    }
    return message;
  } catch (err) {
    throw new MalformedMessageError(`malformed message: ${(err as Error).message}`);
  }
}

/** The 12-byte header in dns-packet's decoded form (RFC 1035 §4.1.1). */
function decodeHeader(b: Buffer): DecodedPacket {
  const flags = b.readUInt16BE(2);
  return {
    id: b.readUInt16BE(0),
    type: flags & 0x8000 ? 'response' : 'query',
    flags: flags & 0x7fff,
    flag_qr: (flags & 0x8000) !== 0,
    opcode: opcodes.toString((flags >> 11) & 0xf),
    flag_aa: (flags & 0x400) !== 0,
    flag_tc: (flags & 0x200) !== 0,
    flag_rd: (flags & 0x100) !== 0,
    flag_ra: (flags & 0x80) !== 0,
    flag_z: (flags & 0x40) !== 0,
    flag_ad: (flags & 0x20) !== 0,
    flag_cd: (flags & 0x10) !== 0,
    rcode: rcodes.toString(flags & 0xf),
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  } as DecodedPacket;
}
