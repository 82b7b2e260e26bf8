// An RFC 1035 §5 master-file reader and an authoritative lookup (RFC 1034 §4.3.2) for the test server.
import { isIPv4, isIPv6 } from 'node:net';
import type { Answer } from '../wire/types.js';

interface Token {
  text: string;
  quoted: boolean;
}

interface Entry {
  line: number;
  /** RFC 1035 §5.1: a line that starts with a blank reuses the previous owner. */
  ownerOmitted: boolean;
  tokens: Token[];
}

// Splits the text into entries: one per line, except that parentheses join lines (RFC 1035 §5.1).
function tokenize(text: string): Entry[] {
  const entries: Entry[] = [];
  let line = 1;
  let depth = 0;
  let entry: Entry | undefined;
  let i = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`zone line ${line}: ${why}`);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      if (depth === 0) entry = undefined;
      line++;
      i++;
    } else if (c === ';') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')') {
      depth += c === '(' ? 1 : -1;
      if (depth < 0) fail('unbalanced ")"');
      i++;
    } else {
      if (!entry) {
        const first = i === 0 || text[i - 1] === '\n';
        entry = { line, ownerOmitted: !first, tokens: [] };
        entries.push(entry);
      }
      const quoted = c === '"';
      let j = quoted ? i + 1 : i;
      while (j < text.length) {
        const d = text[j]!;
        if (d === '\\') j += 2;
        else if (quoted ? d === '"' : /[\s;()"]/.test(d)) break;
        else j++;
      }
      if (quoted && j >= text.length) fail('unterminated quoted string');
      entry.tokens.push({ text: text.slice(quoted ? i + 1 : i, j), quoted });
      i = quoted ? j + 1 : j;
    }
  }
  if (depth !== 0) fail('unclosed "("');
  return entries;
}

// RFC 1035 §5.1: `\X` is X itself and `\DDD` is the octet with that decimal value.
function decodeEscapes(text: string, fail: (why: string) => never): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    const digits = text.slice(i + 1, i + 4);
    if (text[i] === '\\' && /^\d{3}$/.test(digits)) {
      if (Number(digits) > 255) fail(`bad escape "\\${digits}"`);
      bytes.push(Number(digits));
      i += 4;
      continue;
    }
    if (text[i] === '\\') i++;
    const ch = String.fromCodePoint(text.codePointAt(i) ?? fail('dangling "\\"'));
    bytes.push(...Buffer.from(ch));
    i += ch.length;
  }
  return Buffer.from(bytes);
}

// A character-string holds at most 255 octets (RFC 1035 §3.3), and dns-packet silently wraps longer
// ones, so a long string becomes several. Cuts avoid UTF-8 continuation bytes so pieces stay text.
function characterStrings(bytes: Buffer): Array<string | Buffer> {
  const out: Array<string | Buffer> = [];
  let start = 0;
  do {
    let end = Math.min(start + 255, bytes.length);
    while (end < bytes.length && end > start + 251 && (bytes[end]! & 0xc0) === 0x80) end--;
    const piece = bytes.subarray(start, end);
    const text = piece.toString('utf8');
    out.push(Buffer.from(text).equals(piece) ? text : Buffer.from(piece));
    start = end;
  } while (start < bytes.length);
  return out;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

// Seconds, or BIND's unit form such as `1h30m`.
function parseTtl(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhdw])+$/i.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhdw])/gi))
    total += Number(n) * UNITS[unit!.toLowerCase()]!;
  return total;
}

// Lower-cased, without the trailing dot: the key every lookup uses (names compare case-insensitively).
function nameKey(name: string): string {
  const bare = name.endsWith('.') && name !== '.' ? name.slice(0, -1) : name;
  return bare.toLowerCase();
}

// The parent of a name (`.` for a single label).
function parentName(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 || name === '.' ? '.' : name.slice(dot + 1);
}

type Kind = 'name' | 'str' | 'ttl' | 'u8' | 'u16' | 'u32' | 'ipv4' | 'ipv6';
const MAX: Record<string, number> = { ttl: 0xffffffff, u8: 0xff, u16: 0xffff, u32: 0xffffffff };

// RDATA fields in presentation order (RFC 1035 §3.3, RFC 2782, RFC 8659, RFC 3403) as `key:kind`, with
// dns-packet's key names; an empty key means the data is the value itself.
const RDATA: Record<string, string> = {
  A: ':ipv4',
  AAAA: ':ipv6',
  NS: ':name',
  CNAME: ':name',
  PTR: ':name',
  TXT: '',
  MX: 'preference:u16 exchange:name',
  SOA: 'mname:name rname:name serial:u32 refresh:ttl retry:ttl expire:ttl minimum:ttl',
  SRV: 'priority:u16 weight:u16 port:u16 target:name',
  CAA: 'flags:u8 tag:str value:str',
  NAPTR: 'order:u16 preference:u16 flags:str services:str regexp:str replacement:name',
};

/**
 * Parses master-file text into answer records (names without the trailing dot).
 *
 * Handles `$ORIGIN`, `$TTL`, `@`, relative names, an omitted owner, `;` comments, parentheses that span
 * lines, quoted strings with escapes, and the types A, AAAA, NS, CNAME, PTR, MX, TXT, SOA, SRV, CAA and
 * NAPTR (class IN only). The TTL is the record's own, else `$TTL`, else the last one given, else 3600.
 * Throws a `SyntaxError` naming the line for anything else.
 *
 * @example
 * ```ts
 * import { parseZone } from 'dnsgate/testing';
 * const records = parseZone('$TTL 60\n@ IN MX 10 mx1\nmx1 IN A 192.0.2.1\n', 'example.test.');
 * // [{ name: 'example.test', type: 'MX', ttl: 60, data: { preference: 10, exchange: 'mx1.example.test' } }, ...]
 * ```
 */
export function parseZone(text: string, origin?: string): Answer[] {
  const records: Answer[] = [];
  let currentOrigin = origin === undefined ? undefined : nameKey(origin) === '.' ? '.' : origin;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let lastOwner: string | undefined;
  for (const { line, ownerOmitted, tokens } of tokenize(text)) {
    const fail = (why: string): never => {
      throw new SyntaxError(`zone line ${line}: ${why}`);
    };
    let at = 0;
    const next = (what: string): Token => tokens[at++] ?? fail(`missing ${what}`);
    const name = (tok: Token): string => {
      let full: string;
      if (tok.text === '@' && !tok.quoted) full = currentOrigin ?? fail('"@" with no $ORIGIN');
      else if (tok.text.endsWith('.')) full = tok.text;
      else if (currentOrigin === undefined) full = fail(`relative name "${tok.text}" with no $ORIGIN`);
      else full = currentOrigin === '.' ? tok.text : `${tok.text}.${currentOrigin}`;
      const bare = full === '.' ? '.' : full.replace(/\.$/, '');
      if (bare.includes('\\')) fail(`escapes in names are not supported: "${tok.text}"`);
      if (bare !== '.' && bare.split('.').some((l) => l.length === 0 || Buffer.byteLength(l) > 63)) {
        fail(`bad name "${tok.text}": labels must be 1..63 octets`);
      }
      if (Buffer.byteLength(bare) > 253) fail(`name too long: "${tok.text}"`);
      return bare;
    };
    const field = (kind: Kind, what: string): unknown => {
      const t = next(what).text;
      if (kind === 'name') return name(tokens[at - 1]!);
      if (kind === 'str') return decodeEscapes(t, fail).toString('utf8');
      if (kind === 'ipv4' || kind === 'ipv6') {
        return (kind === 'ipv4' ? isIPv4 : isIPv6)(t) ? t : fail(`bad ${what} address "${t}"`);
      }
      const value = kind === 'ttl' ? parseTtl(t) : /^\d+$/.test(t) ? Number(t) : undefined;
      return value !== undefined && value <= MAX[kind]! ? value : fail(`bad ${what} "${t}"`);
    };

    const first = tokens[0]!;
    if (!ownerOmitted && !first.quoted && first.text.startsWith('$')) {
      at = 1;
      const directive = first.text.toUpperCase();
      if (directive === '$ORIGIN') currentOrigin = `${name(next('origin'))}.`.replace(/^\.\.$/, '.');
      else if (directive === '$TTL') defaultTtl = field('ttl', 'TTL') as number;
      else fail(`unsupported directive ${first.text}`);
      if (at < tokens.length) fail(`unexpected "${tokens[at]!.text}" after ${first.text}`);
      continue;
    }
    const owner = ownerOmitted ? (lastOwner ?? fail('no previous owner')) : name(next('owner'));
    lastOwner = owner;
    // RFC 1035 §5.1: TTL and class may come in either order, both optional.
    let ttl: number | undefined;
    let type = next('type').text.toUpperCase();
    for (let k = 0; k < 2; k++) {
      const asTtl = ttl === undefined ? parseTtl(type) : undefined;
      if (asTtl !== undefined) ttl = asTtl;
      else if (/^(CH|HS|CS)$/.test(type)) fail(`only class IN is supported, got ${type}`);
      else if (type !== 'IN') break;
      type = next('type').text.toUpperCase();
    }
    if (ttl !== undefined) lastTtl = ttl;
    ttl ??= defaultTtl ?? lastTtl ?? 3600;
    let data: unknown;
    const schema = RDATA[type] ?? fail(`unsupported record type "${type}"`);
    const fields = schema.split(' ').map((f) => f.split(':') as [string, Kind]);
    if (type === 'TXT') {
      if (at >= tokens.length) fail('missing text');
      data = tokens.splice(at).flatMap((tok) => characterStrings(decodeEscapes(tok.text, fail)));
    } else if (fields[0]![0] === '') {
      data = field(fields[0]![1], type);
    } else {
      data = Object.fromEntries(fields.map(([key, kind]) => [key, field(kind, key)]));
    }
    if (at < tokens.length) fail(`unexpected "${tokens[at]!.text}" after ${type} data`);
    records.push({ name: owner, type, class: 'IN', ttl, data } as Answer);
  }
  return records;
}

/**
 * What {@link Zone.lookup} decided: the rcode and the sections of the reply.
 *
 * @example
 * ```ts
 * const { rcode, answers }: ZoneAnswer = zone.lookup('www.example.test', 'A');
 * ```
 */
export interface ZoneAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED';
  answers: Answer[];
  authorities: Answer[];
}

type SoaAnswer = Extract<Answer, { type: 'SOA' }>;

// RFC 1034 §4.3.2 step 3b: a CNAME chain is followed, but a loop must end somewhere.
const MAX_CHAIN = 8;
// `.invalid` (RFC 6761) so the made-up SOA can never be mistaken for real data.
const MADE_UP_SOA = {
  mname: 'ns.invalid',
  rname: 'hostmaster.invalid',
  serial: 1,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 60,
};

// A copy of a record under another owner spelling. dns-packet's encoder rewrites TXT arrays and CAA
// flags in place, so the zone must never hand out its own objects.
function copyAs(record: Answer, name: string): Answer {
  const data = (record as { data?: unknown }).data;
  const copied = Array.isArray(data)
    ? [...data]
    : data && typeof data === 'object' && !Buffer.isBuffer(data)
      ? { ...data }
      : data;
  return { ...record, name, data: copied } as Answer;
}

/**
 * The records of one or more zones, indexed for authoritative answers (RFC 1034 §4.3.2).
 * Every SOA owner is a zone apex. A record under no apex gets one made up at its parent name, so
 * records given in code alone still produce NXDOMAIN and NODATA rather than REFUSED.
 *
 * @example
 * ```ts
 * const zone = new Zone(parseZone('@ SOA ns hm 1 2 3 4 60\nwww A 192.0.2.1\n', 'example.test.'));
 * zone.lookup('WWW.example.test', 'A'); // { rcode: 'NOERROR', answers: [{ name: 'WWW.example.test', ... }] }
 * ```
 */
export class Zone {
  #byName = new Map<string, Answer[]>();
  /** Every owner and every ancestor of one: a name in here exists, maybe as an empty non-terminal. */
  #existing = new Set<string>();
  #apexes = new Map<string, SoaAnswer>();

  constructor(records: readonly Answer[]) {
    for (const record of records) {
      if (record.type === 'OPT') continue;
      if (record.type === 'SOA') this.#apexes.set(nameKey(record.name), record);
    }
    const byDepth = [...records].sort((a, b) => a.name.split('.').length - b.name.split('.').length);
    for (const record of byDepth) {
      if (record.type === 'OPT') continue;
      if (this.#apexFor(nameKey(record.name)) === undefined) {
        const soa = {
          name: parentName(nameKey(record.name)),
          type: 'SOA',
          ttl: 3600,
          data: MADE_UP_SOA,
        } as const;
        this.#apexes.set(soa.name, soa);
        this.#add(soa);
      }
      this.#add(record);
    }
  }

  #add(record: Answer): void {
    const key = nameKey(record.name);
    const list = this.#byName.get(key) ?? [];
    list.push(record);
    this.#byName.set(key, list);
    for (let name = key; !this.#existing.has(name); name = parentName(name)) {
      this.#existing.add(name);
      if (name === '.') break;
    }
  }

  // The closest enclosing zone: the longest apex that is the name or one of its ancestors.
  #apexFor(key: string): SoaAnswer | undefined {
    for (let name = key; ; name = parentName(name)) {
      const soa = this.#apexes.get(name);
      if (soa || name === '.') return soa;
    }
  }

  /**
   * Answers one question as an authoritative server would. The first owner keeps the spelling of
   * `qname`; `qtype` is a type name such as `'MX'`, `'ANY'` or `'UNKNOWN_65280'`.
   *
   * @example
   * ```ts
   * const { rcode, answers, authorities } = zone.lookup('nope.example.test', 'A'); // 'NXDOMAIN', [], [SOA]
   * ```
   */
  lookup(qname: string, qtype: string): ZoneAnswer {
    const soa = this.#apexFor(nameKey(qname));
    if (!soa) return { rcode: 'REFUSED', answers: [], authorities: [] };
    // RFC 2308 §3: the SOA of a negative answer carries min(SOA TTL, SOA MINIMUM).
    const answers: Answer[] = [];
    const negativeTtl = Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0);
    const negative = (rcode: 'NOERROR' | 'NXDOMAIN'): ZoneAnswer => ({
      rcode,
      answers,
      authorities: [{ ...copyAs(soa, soa.name), ttl: negativeTtl } as Answer],
    });
    let name = qname;
    for (let hop = 0; hop <= MAX_CHAIN; hop++) {
      const key = nameKey(name);
      const here = this.#byName.get(key);
      // RFC 8020: an empty non-terminal exists (NODATA); only a name with no descendants is NXDOMAIN.
      if (!here) return negative(this.#existing.has(key) ? 'NOERROR' : 'NXDOMAIN');
      const matching = qtype === 'ANY' ? here : here.filter((r) => r.type === qtype);
      if (matching.length > 0) {
        answers.push(...matching.map((r) => copyAs(r, name)));
        return { rcode: 'NOERROR', answers, authorities: [] };
      }
      const cname = here.find((r) => r.type === 'CNAME');
      if (!cname) return negative('NOERROR');
      if (hop === MAX_CHAIN) break;
      answers.push(copyAs(cname, name));
      name = (cname as { data: string }).data;
      // Follow the chain only inside the same zone: elsewhere this server is not the authority.
      if (this.#apexFor(nameKey(name)) !== soa) break;
    }
    return { rcode: 'NOERROR', answers, authorities: [] };
  }
}
