// A response as the resolver reads it: header fields at once, the answer section decoded on
// arrival, the question, authority and additional sections only when someone asks for them.
import {
  type Answer,
  agree,
  type DecodedPacket,
  decodeQuestion,
  decodeRecords,
  opcodeName,
  type Question,
  rcodeName,
} from './codec.js';
import { type Layout, MalformedError, walkInto } from './walk.js';

// The walk fills this in place; reading a datagram is synchronous, so one serves every call.
const layout: Layout = { answers: 0, authorities: 0, additionals: 0, records: [], extendedRcode: 0 };

/**
 * Reads a response that already passed the header and question checks: the structural walk
 * over every section (with dns-packet's agreement on the types the walk does not model), then a
 * decode of the answer section alone. Since the walk proved that every record decodes to exactly
 * its bytes, the sections left for later cannot fail when they are read. Throws when the bytes
 * are not one well-formed message.
 */
export function readResponse(bytes: Buffer): Response {
  walkInto(bytes, layout, null, agree);
  const answers: Answer[] = [];
  const end = decodeRecords(bytes, layout.answers, (bytes[6]! << 8) | bytes[7]!, answers);
  // Cannot happen after the walk; checked so a decoder surprise is a malformed message, not a wrong one.
  if (end !== layout.authorities) throw new MalformedError('answer section does not decode to its length');
  const response = new Response(bytes, answers, layout.authorities, layout.additionals);
  if (layout.extendedRcode !== 0) response.fullRcode |= layout.extendedRcode << 4;
  return response;
}

/** The 12-bit rcode of a response (RFC 6891 §6.1.3: the OPT record holds its upper 8 bits). */
export function rcodeOf(message: DecodedPacket): number {
  return (message as Partial<Response>).fullRcode ?? message.flags & 0xf;
}

/** RFC 6891 §9 and RFC 8945 / 7873: names of the rcodes an OPT record extends to. */
const EXTENDED_RCODES = [
  'BADVERS',
  'BADKEY',
  'BADTIME',
  'BADMODE',
  'BADNAME',
  'BADALG',
  'BADTRUNC',
  'BADCOOKIE',
];

/**
 * One decoded response, with dns-packet's field names. `questions`, `authorities` and
 * `additionals` are decoded on first access (and may be replaced by assignment).
 */
export class Response implements DecodedPacket {
  readonly id: number;
  /** The 16 header flag bits without QR, as dns-packet gives them (the rcode is the low 4 bits). */
  readonly flags: number;
  /** The whole rcode: the header's 4 bits and, with an OPT record, its upper 8 (RFC 6891 §6.1.3). */
  fullRcode: number;
  answers: Answer[];
  #bytes: Buffer;
  #authoritiesAt: number;
  #additionalsAt: number;
  #questions: Question[] | undefined;
  #authorities: Answer[] | undefined;
  #additionals: Answer[] | undefined;

  constructor(bytes: Buffer, answers: Answer[], authoritiesAt: number, additionalsAt: number) {
    this.id = (bytes[0]! << 8) | bytes[1]!;
    this.flags = ((bytes[2]! << 8) | bytes[3]!) & 0x7fff;
    this.fullRcode = this.flags & 0xf;
    this.answers = answers;
    this.#bytes = bytes;
    this.#authoritiesAt = authoritiesAt;
    this.#additionalsAt = additionalsAt;
  }

  /** The message as it arrived (do not change it: later sections are decoded from it). */
  get bytes(): Buffer {
    return this.#bytes;
  }

  get type(): 'response' {
    return 'response';
  }
  get flag_qr(): boolean {
    return true; // validate.ts accepts responses only
  }
  get opcode(): string {
    return opcodeName((this.flags >> 11) & 0xf);
  }
  get flag_aa(): boolean {
    return (this.flags & 0x400) !== 0;
  }
  get flag_tc(): boolean {
    return (this.flags & 0x200) !== 0;
  }
  get flag_rd(): boolean {
    return (this.flags & 0x100) !== 0;
  }
  get flag_ra(): boolean {
    return (this.flags & 0x80) !== 0;
  }
  get flag_z(): boolean {
    return (this.flags & 0x40) !== 0;
  }
  get flag_ad(): boolean {
    return (this.flags & 0x20) !== 0;
  }
  get flag_cd(): boolean {
    return (this.flags & 0x10) !== 0;
  }
  get rcode(): string {
    const rcode = this.fullRcode;
    return rcode < 16 ? rcodeName(rcode) : (EXTENDED_RCODES[rcode - 16] ?? `RCODE_${rcode}`);
  }

  /** The question (none in a question-less FORMERR, RFC 6891 §7). */
  get questions(): Question[] {
    this.#questions ??= this.#bytes[5] === 0 ? [] : [decodeQuestion(this.#bytes)];
    return this.#questions;
  }
  set questions(value: Question[]) {
    this.#questions = value;
  }

  get authorities(): Answer[] {
    this.#authorities ??= this.#section(this.#authoritiesAt, 8);
    return this.#authorities;
  }
  set authorities(value: Answer[]) {
    this.#authorities = value;
  }

  get additionals(): Answer[] {
    this.#additionals ??= this.#section(this.#additionalsAt, 10);
    return this.#additionals;
  }
  set additionals(value: Answer[]) {
    this.#additionals = value;
  }

  /** The records of the section at `from` whose count is the header word at `countAt`. */
  #section(from: number, countAt: number): Answer[] {
    const out: Answer[] = [];
    const bytes = this.#bytes;
    decodeRecords(bytes, from, (bytes[countAt]! << 8) | bytes[countAt + 1]!, out);
    return out;
  }
}
