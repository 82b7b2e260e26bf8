// The public types of the resolver's results and options (index.ts re-exports them).
import type { ExchangeCounters } from './dispatch/config.js';
import type { Answer, Question } from './wire/codec.js';

/**
 * Node's `MxRecord`.
 *
 * @example
 * ```ts
 * const mx: MxRecord = { exchange: 'mx1.example.test', priority: 10 };
 * ```
 */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/**
 * Node's `RecordWithTtl` (`resolve4`/`resolve6` with `{ ttl: true }`).
 *
 * @example
 * ```ts
 * const a: RecordWithTtl = { address: '192.0.2.1', ttl: 300 };
 * ```
 */
export interface RecordWithTtl {
  address: string;
  ttl: number;
}

/**
 * Node's `SoaRecord`.
 *
 * @example
 * ```ts
 * const soa: SoaRecord = { nsname: 'ns1.example.test', hostmaster: 'hostmaster.example.test',
 *   serial: 1, refresh: 7200, retry: 900, expire: 1209600, minttl: 300 };
 * ```
 */
export interface SoaRecord {
  nsname: string;
  hostmaster: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minttl: number;
}

/**
 * Node's `SrvRecord`.
 *
 * @example
 * ```ts
 * const srv: SrvRecord = { name: 'sip.example.test', port: 5060, priority: 10, weight: 60 };
 * ```
 */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  name: string;
}

/**
 * Node's `NaptrRecord`.
 *
 * @example
 * ```ts
 * const naptr: NaptrRecord = { flags: 'S', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.example.test',
 *   order: 100, preference: 10 };
 * ```
 */
export interface NaptrRecord {
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
  order: number;
  preference: number;
}

/**
 * Node's `CaaRecord`: `critical` is the whole flags octet (0, or 128 with the issuer-critical bit),
 * and the tag, case kept, is the key of the value: `issue`, `issuewild`, `iodef`, or any other.
 *
 * @example
 * ```ts
 * const caa: CaaRecord = { critical: 0, issue: 'letsencrypt.org' };
 * ```
 */
export interface CaaRecord {
  critical: number;
  issue?: string;
  issuewild?: string;
  iodef?: string;
  contactemail?: string;
  contactphone?: string;
}

/**
 * One record of `resolveAny`: node's record shape of that type with its `type` added (last).
 *
 * @example
 * ```ts
 * const rr: AnyRecord = { exchange: 'mx1.example.test', priority: 10, type: 'MX' };
 * if (rr.type === 'A') console.log(rr.address, rr.ttl);
 * ```
 */
export type AnyRecord =
  | (RecordWithTtl & { type: 'A' | 'AAAA' })
  | { value: string; type: 'CNAME' | 'NS' | 'PTR' }
  | (MxRecord & { type: 'MX' })
  | { entries: string[]; type: 'TXT' }
  | (SrvRecord & { type: 'SRV' })
  | (NaptrRecord & { type: 'NAPTR' })
  | (SoaRecord & { type: 'SOA' })
  | (CaaRecord & { type: 'CAA' });

/**
 * What a resolver has counted since it was made (see {@link Resolver.stats}).
 *
 * @example
 * ```ts
 * const { sent, answers, skipped, malformed, timeouts }: ResolverStats = resolver.stats;
 * ```
 */
export type ResolverStats = Readonly<ExchangeCounters>;

/**
 * Per-call options: the last argument of every lookup.
 *
 * @example
 * ```ts
 * await resolver.resolveMx('example.com', { signal: AbortSignal.timeout(500) });
 * ```
 */
export interface CallOptions {
  /** Aborting rejects the call with ECANCELLED and frees its permit. */
  signal?: AbortSignal;
}

/**
 * Options of `resolve4` / `resolve6`.
 *
 * @example
 * ```ts
 * await resolver.resolve4('example.com', { ttl: true }); // [{ address, ttl }]
 * ```
 */
export interface TtlOptions extends CallOptions {
  /** Return `[{ address, ttl }]` instead of addresses. */
  ttl?: boolean;
}

/**
 * What `resolve(name, rrtype)` and `resolveEach(names, rrtype)` give for each rrtype.
 *
 * @example
 * ```ts
 * const mx: ResultByType['MX'] = await resolver.resolve('example.com', 'MX');
 * ```
 */
export interface ResultByType {
  A: string[];
  AAAA: string[];
  ANY: AnyRecord[];
  CAA: CaaRecord[];
  CNAME: string[];
  MX: MxRecord[];
  NAPTR: NaptrRecord[];
  NS: string[];
  PTR: string[];
  SOA: SoaRecord;
  SRV: SrvRecord[];
  TXT: string[][];
}

/**
 * Header flags of a response.
 *
 * @example
 * ```ts
 * const { flags } = await resolver.query('example.com', 'SOA');
 * if (flags.aa) console.log('authoritative');
 * ```
 */
export interface MessageFlags {
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated. */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  /** Authentic data (DNSSEC). */
  ad: boolean;
  /** Checking disabled (DNSSEC). */
  cd: boolean;
}

/**
 * A whole response, as Twisted gives it: answers, authority and additional sections.
 *
 * @example
 * ```ts
 * const msg: DnsMessage = await resolver.query('nope.example.com', 'MX');
 * if (msg.rcode === 'NXDOMAIN') console.log('negative TTL from', msg.authorities[0]);
 * ```
 */
export interface DnsMessage {
  id: number;
  /** `'NOERROR'`, `'NXDOMAIN'`, ... */
  rcode: string;
  flags: MessageFlags;
  questions: Question[];
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** The server that answered, `host:port`. */
  server: string;
}
