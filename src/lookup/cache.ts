// The TTL cache (opt-in): answers kept for their TTL, NXDOMAIN and NODATA for the SOA's negative
// TTL (RFC 2308), bounded by an LRU. It keeps the answer's bytes as they passed every check, and a
// hit reads them again with the TTLs counted down: each call gets fresh objects, as from the wire.

import { checkKeys, rangeError, typeError } from '../errors.js';
import { type DecodedPacket, typeCode } from '../wire/codec.js';
import { type Response, readResponse } from '../wire/lazy.js';
import { toWireName } from '../wire/names.js';
import { aged, keepable } from '../wire/ttl.js';

/**
 * Options of a {@link DnsCache} (`new Resolver({ cache: { ... } })`); every field is optional.
 *
 * @example
 * ```ts
 * new Resolver({ servers: ['127.0.0.1:5353'], cache: { maxEntries: 10_000, minTtl: 5, maxTtl: 3600 } });
 * ```
 */
export interface CacheOptions {
  /** Answers kept at most (the least recently used goes first); an integer from 1, default 5,000. */
  maxEntries?: number;
  /** Seconds an answer is kept at least, whatever its TTL says (0..maxTtl); default 0. */
  minTtl?: number;
  /** Seconds an answer is kept at most (minTtl..2^31-1); default 86,400 (a day). */
  maxTtl?: number;
  /**
   * Keep NXDOMAIN and NODATA answers for min(SOA TTL, SOA MINIMUM) of their authority section
   * (RFC 2308 §5), at most 3 hours and `maxTtl`; default true. Without an SOA they are not kept.
   */
  negative?: boolean;
}

/** RFC 2308 §5: negative answers are kept at most this long (seconds), whatever the SOA says. */
const NEGATIVE_MAX_TTL = 3 * 3600;
const MAX_TTL = 0x7fffffff;

interface Entry {
  readonly key: string;
  /** Neighbours in recency order (a doubly linked list: eviction and a hit's move are O(1)). */
  newer: Entry | null;
  older: Entry | null;
  /** The answer as it arrived, as `latin1` text (see {@link aged}). */
  bytes: string;
  ttlAt: number[];
  server: string;
  storedAt: number;
  expiresAt: number;
  negative: boolean;
}

/** A hit: the answer as it reads now, and where it came from. */
export interface Hit {
  message: Response;
  server: string;
  negative: boolean;
  /** Seconds it stays in the cache. */
  ttl: number;
}

/** The options a DnsCache takes (CacheOptions' keys). */
const CACHE_KEYS: readonly (keyof CacheOptions)[] = ['maxEntries', 'minTtl', 'maxTtl', 'negative'];

/**
 * An answer cache that resolvers share when given the same one (`cache: myCache`). Entries are
 * keyed by name, type and the resolver's server set (class is always IN).
 *
 * @example
 * ```ts
 * import { DnsCache, Resolver } from 'dnsgate';
 * const cache = new DnsCache({ maxEntries: 10_000 });
 * const a = new Resolver({ servers: ['127.0.0.1:5353'], cache });
 * const b = new Resolver({ servers: ['127.0.0.1:5353'], cache }); // b reads what a asked
 * cache.delete('example.com', 'MX');
 * console.log(cache.size);
 * cache.clear();
 * ```
 */
export class DnsCache {
  /** Answers kept at most. */
  readonly maxEntries: number;
  /** Seconds an answer is kept at least. */
  readonly minTtl: number;
  /** Seconds an answer is kept at most. */
  readonly maxTtl: number;
  /** Whether NXDOMAIN and NODATA answers are kept. */
  readonly negative: boolean;
  #entries = new Lru();
  /** Server sets seen, each with the short number its keys carry. */
  #sets = new Map<string, number>();

  constructor(options: CacheOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw typeError(`Expected \`cache\` to be a boolean, an object or a DnsCache, got ${options}`);
    }
    checkKeys(options, CACHE_KEYS, 'cache option');
    this.maxEntries = whole('cache.maxEntries', options.maxEntries ?? 5000, 1, 2 ** 30);
    this.maxTtl = whole('cache.maxTtl', options.maxTtl ?? 86_400, 0, MAX_TTL);
    this.minTtl = whole('cache.minTtl', options.minTtl ?? 0, 0, this.maxTtl);
    const negative = options.negative ?? true;
    if (typeof negative !== 'boolean') {
      throw typeError(`Expected \`cache.negative\` to be a boolean, got ${typeof negative}`);
    }
    this.negative = negative;
    stores.set(this, this.#store());
  }

  /** Entries held (an expired one counts until it is read or pushed out). */
  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every answer. */
  clear(): void {
    this.#entries.clear();
  }

  /**
   * Forgets the answer to `name` of `type` (default `'A'`), from every server set; true if there was one.
   *
   * @example
   * ```ts
   * cache.delete('Example.COM.', 'MX'); // names as the resolver takes them
   * ```
   */
  delete(name: string, type = 'A'): boolean {
    const wire = typeof name === 'string' ? toWireName(name) : undefined;
    const qtype = typeof type === 'string' ? typeCode(type) : 0;
    if (wire === undefined || qtype === 0) return false;
    let found = false;
    for (const set of this.#sets.values()) found = this.#entries.delete(keyOf(set, qtype, wire)) || found;
    return found;
  }

  #store(): Store {
    const entries = this.#entries;
    const sets = this.#sets;
    return {
      set(servers) {
        let n = sets.get(servers);
        if (n === undefined) {
          n = sets.size;
          sets.set(servers, n);
        }
        return n;
      },
      get: (key, now) => {
        const entry = entries.get(key);
        if (entry === undefined) return undefined;
        if (now >= entry.expiresAt) {
          entries.delete(key);
          return undefined;
        }
        entries.touch(entry);
        const age = Math.floor((now - entry.storedAt) / 1000);
        const ttl = Math.ceil((entry.expiresAt - now) / 1000);
        return {
          message: readResponse(aged(entry.bytes, entry.ttlAt, age, ttl)),
          server: entry.server,
          negative: entry.negative,
          ttl,
        };
      },
      keep: (key, qtype, message, server, now) => {
        const bytes = (message as Partial<Response>).bytes;
        if (bytes === undefined) return;
        const kept = keepable(bytes, qtype);
        if (kept === undefined || (kept.negative && !this.negative)) return;
        const ttl = Math.min(
          this.maxTtl,
          Math.max(this.minTtl, kept.negative ? Math.min(kept.ttl, NEGATIVE_MAX_TTL) : kept.ttl),
        );
        // RFC 1035 §3.2.1: a TTL of 0 is for this transaction only.
        if (ttl <= 0) return;
        // Whole milliseconds: small integers, which V8 keeps in the object rather than boxed.
        const at = Math.floor(now);
        entries.add({
          key,
          newer: null,
          older: null,
          bytes: bytes.toString('latin1'),
          ttlAt: kept.ttlAt,
          server,
          storedAt: at,
          expiresAt: at + ttl * 1000,
          negative: kept.negative,
        });
        if (entries.size > this.maxEntries) entries.dropOldest();
      },
    };
  }
}

/**
 * Entries by key, in recency order. Not a Map's insertion order with delete-and-set: evicting its
 * first key each time leaves deleted slots at the front that every `keys().next()` walks past
 * (measured: 1,000,000 distinct names through 10,000 entries ran at half the speed).
 */
class Lru {
  #map = new Map<string, Entry>();
  #newest: Entry | null = null;
  #oldest: Entry | null = null;

  get size(): number {
    return this.#map.size;
  }

  get(key: string): Entry | undefined {
    return this.#map.get(key);
  }

  /** Adds `entry` as the newest, in place of one with its key. */
  add(entry: Entry): void {
    this.delete(entry.key);
    this.#map.set(entry.key, entry);
    this.#link(entry);
  }

  /** Makes `entry` the newest. */
  touch(entry: Entry): void {
    if (this.#newest === entry) return;
    this.#unlink(entry);
    this.#link(entry);
  }

  delete(key: string): boolean {
    const entry = this.#map.get(key);
    if (entry === undefined) return false;
    this.#map.delete(key);
    this.#unlink(entry);
    return true;
  }

  dropOldest(): void {
    if (this.#oldest !== null) this.delete(this.#oldest.key);
  }

  clear(): void {
    this.#map.clear();
    this.#newest = this.#oldest = null;
  }

  #link(entry: Entry): void {
    entry.older = this.#newest;
    entry.newer = null;
    if (this.#newest !== null) this.#newest.newer = entry;
    else this.#oldest = entry;
    this.#newest = entry;
  }

  #unlink(entry: Entry): void {
    if (entry.newer !== null) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    if (entry.older !== null) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    entry.newer = entry.older = null;
  }
}

/** What the query path uses of a cache (kept out of {@link DnsCache}'s public surface). */
export interface Store {
  /** The number of a server set (`host:port,...`), for keys. */
  set(servers: string): number;
  get(key: string, now: number): Hit | undefined;
  /** Keeps an accepted answer, if its TTLs allow. */
  keep(key: string, qtype: number, message: DecodedPacket, server: string, now: number): void;
}

const stores = new WeakMap<DnsCache, Store>();

/** The query path's side of `cache`. */
export function storeOf(cache: DnsCache): Store {
  return stores.get(cache)!;
}

/** Where a resolver's calls read and keep answers: a cache and the resolver's server set in it. */
export interface CacheScope {
  readonly store: Store;
  readonly set: number;
}

/** The key of a question (`name` as sent) in a server set. */
export function keyOf(set: number, qtype: number, name: string): string {
  return `${set} ${qtype} ${name}`;
}

function whole(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw rangeError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${shown}`);
  }
  return value;
}
