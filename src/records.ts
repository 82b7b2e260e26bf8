// Decoded answers -> exactly what node's dns.promises.Resolver (c-ares 1.34) gives for the same
// response. Every rule here was settled by asking node itself (see test/parity.test.ts): c-ares
// never filters by owner name, prints names in its escaped presentation form, and reads text as
// Latin-1 (node's OneByteString), so these functions do the same.
import type {
  AnyRecord,
  CaaRecord,
  MxRecord,
  NaptrRecord,
  RecordWithTtl,
  SoaRecord,
  SrvRecord,
} from './types.js';
import type { Answer } from './wire/codec.js';
import { ipv6Text } from './wire/names.js';

/**
 * The question a response answers; only `resolveCname` and the address shapes look at it.
 *
 * @example
 * ```ts
 * const q: AskedQuestion = { name: 'www.example.test', type: 'A' };
 * ```
 */
export interface AskedQuestion {
  name: string;
  type: string;
}

// The decoded `data` of each type this module reads (dns-packet's forms).
interface Rdata {
  A: string;
  AAAA: string;
  CNAME: string;
  NS: string;
  PTR: string;
  MX: Extract<Answer, { type: 'MX' }>['data'];
  TXT: Extract<Answer, { type: 'TXT' }>['data'];
  SOA: Extract<Answer, { type: 'SOA' }>['data'];
  SRV: Extract<Answer, { type: 'SRV' }>['data'];
  NAPTR: Extract<Answer, { type: 'NAPTR' }>['data'];
  CAA: Extract<Answer, { type: 'CAA' }>['data'];
}

// Records of one type, in answer order, whatever their owner: c-ares 1.34 never checks owners.
function of<T extends keyof Rdata>(answers: readonly Answer[], type: T): { ttl?: number; data: Rdata[T] }[] {
  return answers.filter((a) => a.type === type) as never;
}

/**
 * A name as c-ares prints it: the root is `''`, no trailing dot, case kept. The wire reader
 * (wire/read-name.ts) already escapes the octets c-ares escapes (`\\.`, `\\@`, `\\195\\169`, ...).
 *
 * @example
 * ```ts
 * hostName('.');                // '' (the null MX `0 .`, RFC 7505)
 * hostName('mx1.Example.test'); // 'mx1.Example.test'
 * ```
 */
export function hostName(name: string): string {
  return name === '.' ? '' : name;
}

// Node turns C strings into JS with OneByteString: Latin-1, cut at the first NUL.
function cString(text: string): string {
  const bytes = Buffer.from(text);
  const nul = bytes.indexOf(0);
  return (nul < 0 ? bytes : bytes.subarray(0, nul)).toString('latin1');
}

/**
 * Addresses with their TTLs, as c-ares gives them: every A (or AAAA) record of the answer, in order,
 * each TTL capped at the lowest CNAME TTL of the answer. Pass the question so only its type is
 * kept; without it both A and AAAA are.
 *
 * @example
 * ```ts
 * toAddressesWithTtl(message.answers, { name: 'www.example.test', type: 'A' }); // [{ address: '192.0.2.30', ttl: 3600 }]
 * ```
 */
export function toAddressesWithTtl(answers: readonly Answer[], question?: AskedQuestion): RecordWithTtl[] {
  const cap = Math.min(...of(answers, 'CNAME').map((a) => a.ttl ?? 0));
  const types = question?.type === 'A' || question?.type === 'AAAA' ? [question.type] : ['A', 'AAAA'];
  return (
    answers.filter((a) => types.includes(a.type)) as { type: string; ttl?: number; data: string }[]
  ).map((a) => ({
    address: a.type === 'AAAA' ? ipv6Text(a.data) : a.data,
    ttl: Math.min(a.ttl ?? 0, cap),
  }));
}

/**
 * The addresses of `resolve4`/`resolve6` (see {@link toAddressesWithTtl}).
 *
 * @example
 * ```ts
 * toAddresses(message.answers, { name: 'example.test', type: 'AAAA' }); // ['2001:db8::10', '2001:db8::11']
 * ```
 */
export function toAddresses(answers: readonly Answer[], question?: AskedQuestion): string[] {
  return toAddressesWithTtl(answers, question).map((r) => r.address);
}

/**
 * `resolveCname`: one name, the target of the first CNAME of the answer (not the end of the chain).
 * With no CNAME but A records, node gives the asked name (lower-cased, as node sends it).
 *
 * @example
 * ```ts
 * toCname(answersOf('www.example.test', 'CNAME')); // ['alias.example.test']
 * ```
 */
export function toCname(answers: readonly Answer[], question?: AskedQuestion): string[] {
  const [first] = of(answers, 'CNAME');
  if (first) return [hostName(first.data)];
  if (question && of(answers, 'A').length > 0)
    return [hostName(question.name.replace(/\.$/, '').toLowerCase())];
  return [];
}

/**
 * `resolveNs`: every NS target of the answer.
 *
 * @example
 * ```ts
 * toNs(message.answers); // ['ns1.example.test', 'ns2.example.test']
 * ```
 */
export const toNs = (answers: readonly Answer[]): string[] => of(answers, 'NS').map((a) => hostName(a.data));

/**
 * `resolvePtr` and `reverse`: every PTR target of the answer (a CNAME before them is skipped).
 *
 * @example
 * ```ts
 * toPtr(message.answers); // ['ns1.example.test']
 * ```
 */
export const toPtr = (answers: readonly Answer[]): string[] =>
  of(answers, 'PTR').map((a) => hostName(a.data));

/**
 * `resolveMx`; the null MX `0 .` (RFC 7505) has the exchange `''`.
 *
 * @example
 * ```ts
 * toMx(message.answers); // [{ exchange: 'mx1.example.test', priority: 10 }]
 * ```
 */
export const toMx = (answers: readonly Answer[]): MxRecord[] =>
  of(answers, 'MX').map(({ data }) => ({
    exchange: hostName(data.exchange),
    priority: data.preference ?? 0,
  }));

/**
 * `resolveTxt`: each record as its list of character-strings, read as Latin-1 like node (so UTF-8
 * text comes out as its bytes, `'é'` as `'Ã©'`), NULs kept.
 *
 * @example
 * ```ts
 * toTxt(message.answers); // [['v=spf1', '-all']]
 * ```
 */
export const toTxt = (answers: readonly Answer[]): string[][] =>
  of(answers, 'TXT').map(({ data }) =>
    [data].flat().map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).toString('latin1')),
  );

/**
 * `resolveSoa`: the first SOA of the answer, whatever its owner, as a 0- or 1-element array.
 *
 * @example
 * ```ts
 * const [soa] = toSoa(message.answers); // { nsname, hostmaster, serial, refresh, retry, expire, minttl }
 * ```
 */
export function toSoa(answers: readonly Answer[]): SoaRecord[] {
  return of(answers, 'SOA')
    .slice(0, 1)
    .map(({ data }) => ({
      nsname: hostName(data.mname),
      hostmaster: hostName(data.rname),
      serial: data.serial ?? 0,
      refresh: data.refresh ?? 0,
      retry: data.retry ?? 0,
      expire: data.expire ?? 0,
      minttl: data.minimum ?? 0,
    }));
}

/**
 * `resolveSrv`, with node's key order `name, port, priority, weight`.
 *
 * @example
 * ```ts
 * toSrv(message.answers); // [{ name: 'sip.example.test', port: 5060, priority: 10, weight: 60 }]
 * ```
 */
export const toSrv = (answers: readonly Answer[]): SrvRecord[] =>
  of(answers, 'SRV').map(({ data }) => ({
    name: hostName(data.target),
    port: data.port,
    priority: data.priority ?? 0,
    weight: data.weight ?? 0,
  }));

/**
 * `resolveNaptr` (dns-packet's `services` is node's `service`).
 *
 * @example
 * ```ts
 * toNaptr(message.answers); // [{ flags: 'S', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.example.test', order: 100, preference: 10 }]
 * ```
 */
export const toNaptr = (answers: readonly Answer[]): NaptrRecord[] =>
  of(answers, 'NAPTR').map(({ data }) => ({
    flags: data.flags,
    service: data.services,
    regexp: data.regexp,
    replacement: hostName(data.replacement),
    order: data.order,
    preference: data.preference,
  }));

/**
 * `resolveCaa`: `{ critical: <flags octet>, [tag]: value }`. Set by plain assignment, as node does,
 * so a tag `critical` replaces the flags and a tag `__proto__` is dropped.
 *
 * @example
 * ```ts
 * toCaa(message.answers); // [{ critical: 0, issue: 'letsencrypt.org' }, { critical: 128, iodef: 'mailto:security@example.test' }]
 * ```
 */
export const toCaa = (answers: readonly Answer[]): CaaRecord[] =>
  of(answers, 'CAA').map(({ data }) => {
    const record: Record<string, string | number> = {
      critical: data.flags ?? (data.issuerCritical ? 128 : 0),
    };
    record[cString(data.tag)] = cString(data.value);
    return record as unknown as CaaRecord;
  });

/**
 * `resolveAny`, in node's order: one CNAME (its first) in place of every A record when the answer
 * has a CNAME, else the A records; then AAAA, MX, NS, TXT, SRV, PTR, NAPTR, the first SOA, CAA.
 *
 * @example
 * ```ts
 * toAny(message.answers); // [{ address: '192.0.2.10', ttl: 3600, type: 'A' }, ..., { exchange: 'mx1.example.test', priority: 10, type: 'MX' }, ...]
 * ```
 */
export function toAny(answers: readonly Answer[]): AnyRecord[] {
  const tag =
    <T extends AnyRecord['type']>(type: T) =>
    <R extends object>(r: R) => ({ ...r, type });
  const value =
    <T extends 'CNAME' | 'NS' | 'PTR'>(type: T) =>
    (v: string) => ({ value: v, type });
  const cname = toCname(answers);
  return [
    ...(cname.length > 0
      ? cname.map(value('CNAME'))
      : toAddressesWithTtl(answers, { name: '', type: 'A' }).map(tag('A'))),
    ...toAddressesWithTtl(answers, { name: '', type: 'AAAA' }).map(tag('AAAA')),
    ...toMx(answers).map(tag('MX')),
    ...toNs(answers).map(value('NS')),
    ...toTxt(answers).map((entries) => ({ entries, type: 'TXT' as const })),
    ...toSrv(answers).map(tag('SRV')),
    ...toPtr(answers).map(value('PTR')),
    ...toNaptr(answers).map(tag('NAPTR')),
    ...toSoa(answers).map(tag('SOA')),
    ...toCaa(answers).map(tag('CAA')),
  ];
}

/**
 * What node does when a shape above gives `[]`: the error code it rejects with, or `undefined`
 * when it resolves to `[]`. An empty answer section is always ENODATA. Otherwise c-ares's parsers
 * differ: A/AAAA resolve to `[]` if a CNAME came back (the chain ends without an address), MX, TXT,
 * SRV, NAPTR, CAA and ANY resolve to `[]`, SOA is EBADRESP, and the rest ENODATA.
 *
 * @example
 * ```ts
 * const records = shape(message.answers, question);
 * const code = records.length === 0 ? emptyResultCode('MX', message.answers) : undefined;
 * if (code) throw new DnsError(code, { syscall, hostname });
 * ```
 */
export function emptyResultCode(
  type: string,
  answers: readonly Answer[],
): 'ENODATA' | 'EBADRESP' | undefined {
  if (answers.length === 0) return 'ENODATA';
  switch (type) {
    case 'A':
    case 'AAAA':
      return answers.some((a) => a.type === 'CNAME') ? undefined : 'ENODATA';
    case 'MX':
    case 'TXT':
    case 'SRV':
    case 'NAPTR':
    case 'CAA':
    case 'ANY':
      return undefined;
    case 'SOA':
      return 'EBADRESP';
    default:
      return 'ENODATA';
  }
}
