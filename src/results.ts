// What a resolver call resolves to, made from the answer: records in node's shape, or the whole
// message. Used as a query's `finish` (see query.ts).
import { codes, DnsError } from './errors.js';
import type { Call } from './lookup/call.js';
import { type AskedQuestion, emptyResultCode } from './records.js';
import type { DnsMessage } from './types.js';
import { type Answer, type DecodedPacket, typeCode } from './wire/codec.js';
import { rcodeOf } from './wire/lazy.js';

type Shape = (answers: Answer[], question?: AskedQuestion) => unknown[];

/** RFC 1035 §4.1.1. */
const RCODE_NXDOMAIN = 3;

/**
 * A records call's result: NXDOMAIN is ENOTFOUND; otherwise the answers in node's shape for the
 * type, or node's error when there are none of it. The question is the one we asked: the answer
 * repeats it (validate.ts compares it byte by byte, letters without case), so it need not be decoded.
 */
export function toRecords(query: Call<unknown[]>, message: DecodedPacket): unknown[] {
  const { syscall, hostname } = query;
  if (rcodeOf(message) === RCODE_NXDOMAIN) throw new DnsError(codes.NOTFOUND, { syscall, hostname });
  const answers = message.answers;
  let usable = answers;
  for (let i = 0; i < answers.length; i++) {
    const a = answers[i]!;
    if (classOf(a) !== 'IN' && a.type !== 'OPT') {
      usable = ofClassIn(query, answers);
      break;
    }
  }
  const records = (query.detail as Shape)(usable, query);
  // Node's rule for an answer with nothing of the type (e.g. only a CNAME): [] or an error.
  const code = records.length === 0 ? emptyResultCode(query.type, answers) : undefined;
  if (code !== undefined) throw new DnsError(code, { syscall, hostname });
  return records;
}

/** Classes c-ares reads past: CH, HS, NONE (RFC 2136). Any other class but IN is EBADRESP. */
const OTHER_CLASSES = new Set(['CH', 'HS', 'UNKNOWN_254']);

/**
 * The answers of class IN (the class we asked): records of another class answer another
 * question, as c-ares reads them (it keeps CH for TXT, and every class for CAA); a class that
 * cannot stand in an answer at all (ANY, CS, 0, ...) makes the message EBADRESP.
 */
function ofClassIn(query: Call<unknown[]>, answers: Answer[]): Answer[] {
  for (const a of answers) {
    if (classOf(a) !== 'IN' && a.type !== 'OPT' && !OTHER_CLASSES.has(classOf(a))) {
      throw new DnsError(codes.BADRESP, { syscall: query.syscall, hostname: query.hostname });
    }
  }
  if (query.type === 'CAA') return answers;
  // c-ares reads TXT of class CH too (`version.bind`), and of every other type class IN only.
  const chaos = query.type === 'TXT';
  return answers.filter((a) => classOf(a) === 'IN' || (chaos && classOf(a) === 'CH'));
}

/** A record's class as c-ares sees the 16 bits (the mDNS cache-flush bit makes it another class). */
function classOf(a: Answer): string {
  const r = a as { class?: string; flush?: boolean };
  return r.flush ? 'FLUSH' : (r.class ?? 'IN');
}

/**
 * `query()`'s result: the whole message. The question, authority and additional sections are
 * read from the wire only when first accessed (a getter per section; assignment replaces it).
 */
export function toMessage(_query: Call<DnsMessage>, message: DecodedPacket, server: string): DnsMessage {
  return {
    id: message.id,
    rcode: message.rcode,
    flags: {
      aa: message.flag_aa,
      tc: message.flag_tc,
      rd: message.flag_rd,
      ra: message.flag_ra,
      ad: message.flag_ad,
      cd: message.flag_cd,
    },
    get questions() {
      return message.questions;
    },
    set questions(value) {
      message.questions = value;
    },
    answers: message.answers,
    get authorities() {
      return message.authorities;
    },
    set authorities(value) {
      message.authorities = value;
    },
    get additionals() {
      return message.additionals;
    },
    set additionals(value) {
      message.additionals = value;
    },
    server,
    // console.log / util.inspect show the sections' data, not `[Getter/Setter]`.
    [INSPECT](): object {
      const { id, rcode, flags, questions, answers, authorities, additionals, server: from } = this;
      return { id, rcode, flags, questions, answers, authorities, additionals, server: from };
    },
  } as DnsMessage;
}

/** Node's util.inspect hook: a symbol in the global registry, so no import of node:util here. */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** The numeric code of each record type name asked for so far. */
const QTYPES = new Map<string, number>();
export function qtypeOf(type: string): number {
  let code = QTYPES.get(type);
  if (code === undefined) {
    code = typeCode(type);
    QTYPES.set(type, code);
  }
  return code;
}
