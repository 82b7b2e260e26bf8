// The message and record shapes dnsgate hands out (`query()`, the test server), declared here so
// that the published types stand on their own: a consumer needs no `@types/*` package for them.
// The field names are the ones dns-packet's decoder gives, which is what dnsgate returns.

/**
 * A record type dnsgate can ask for by name.
 *
 * @example
 * ```ts
 * const type: RecordType = 'MX';
 * ```
 */
export type RecordType =
  | 'A'
  | 'AAAA'
  | 'AFSDB'
  | 'APL'
  | 'AXFR'
  | 'CAA'
  | 'CDNSKEY'
  | 'CDS'
  | 'CERT'
  | 'CNAME'
  | 'DNAME'
  | 'DHCID'
  | 'DLV'
  | 'DNSKEY'
  | 'DS'
  | 'HINFO'
  | 'HIP'
  | 'IXFR'
  | 'IPSECKEY'
  | 'KEY'
  | 'KX'
  | 'LOC'
  | 'MX'
  | 'NAPTR'
  | 'NS'
  | 'NSEC'
  | 'NSEC3'
  | 'NSEC3PARAM'
  | 'NULL'
  | 'OPT'
  | 'PTR'
  | 'RRSIG'
  | 'RP'
  | 'SIG'
  | 'SOA'
  | 'SRV'
  | 'SSHFP'
  | 'TA'
  | 'TKEY'
  | 'TLSA'
  | 'TSIG'
  | 'TXT'
  | 'URI';

/**
 * A record class (RFC 1035 §3.2.4).
 *
 * @example
 * ```ts
 * const klass: RecordClass = 'IN';
 * ```
 */
export type RecordClass = 'IN' | 'CS' | 'CH' | 'HS' | 'ANY';

/**
 * The question of a message.
 *
 * @example
 * ```ts
 * const q: Question = { name: 'example.com', type: 'MX', class: 'IN' };
 * ```
 */
export interface Question {
  name: string;
  type: RecordType;
  class?: RecordClass;
}

interface Base<T, D> {
  type: T;
  /** The owner name, without the trailing dot, as c-ares prints names (`\.`, `\DDD` escapes). */
  name: string;
  ttl?: number;
  class?: RecordClass;
  /** The mDNS cache-flush bit of the class field. */
  flush?: boolean;
  data: D;
}

/** The types whose rdata is one string: an address or a name. */
type OneString = 'A' | 'AAAA' | 'CNAME' | 'DNAME' | 'NS' | 'PTR';
/** The types with rdata shapes of their own below; every other type's data is `unknown`. */
type Shaped = OneString | 'MX' | 'SRV' | 'SOA' | 'TXT' | 'CAA' | 'NAPTR' | 'HINFO' | 'RP' | 'OPT';

/**
 * The EDNS0 pseudo-record (RFC 6891 §6.1.2), in the additional section.
 *
 * @example
 * ```ts
 * const opt = message.additionals.find((r): r is OptAnswer => r.type === 'OPT');
 * ```
 */
export interface OptAnswer {
  type: 'OPT';
  name: string;
  udpPayloadSize?: number;
  extendedRcode?: number;
  ednsVersion?: number;
  flags?: number;
  flag_do?: boolean;
  options?: { code: number; type?: string; data?: Buffer; [field: string]: unknown }[];
}

/**
 * One resource record, its `data` shaped by its `type` (narrow on `type`).
 *
 * @example
 * ```ts
 * for (const r of message.answers) if (r.type === 'MX') console.log(r.data.preference, r.data.exchange);
 * ```
 */
export type Answer =
  | Base<OneString, string>
  | Base<'MX', { preference?: number; exchange: string }>
  | Base<'SRV', { priority?: number; weight?: number; port: number; target: string }>
  | Base<
      'SOA',
      {
        mname: string;
        rname: string;
        serial?: number;
        refresh?: number;
        retry?: number;
        expire?: number;
        minimum?: number;
      }
    >
  | Base<'TXT', string | Buffer | (string | Buffer)[]>
  | Base<'CAA', { flags?: number; tag: string; value: string; issuerCritical?: boolean }>
  | Base<
      'NAPTR',
      {
        order: number;
        preference: number;
        flags: string;
        services: string;
        regexp: string;
        replacement: string;
      }
    >
  | Base<'HINFO', { cpu: string; os: string }>
  | Base<'RP', { mbox: string; txt: string }>
  | Base<Exclude<RecordType, Shaped>, unknown>
  | OptAnswer;

/**
 * A whole message, as the test server's handler sees a query and may return a reply.
 *
 * @example
 * ```ts
 * const reply: Packet = { id: query.id, type: 'response', flags: 0x8180, questions: query.questions, answers: [] };
 * ```
 */
export interface Packet {
  id?: number;
  type?: 'query' | 'response';
  /** The 16 header flag bits (dns-packet's form: QR is `type`). */
  flags?: number;
  rcode?: string;
  questions?: Question[];
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
}
