// The application-wide gate (the seed's getSemaphore()) and its semMap.
import { Semaphore, type Settled, show } from './semaphore.js';

/**
 * The shared semaphore's limit. Bulk lookups through a home router are the case to protect:
 * dnsmasq (the resolver in most of them) caps concurrent forwarded queries at `dns-forward-max`,
 * 150 by default, and their NAT tables are small, with one entry per UDP socket. 16 keeps well
 * under both while still resolving hundreds of names a second on a LAN.
 *
 * @example
 * ```ts
 * import { DEFAULT_SHARED_LIMIT, sharedSemaphore } from 'dnsgate';
 * sharedSemaphore().limit = DEFAULT_SHARED_LIMIT * 2; // a router you know can take more
 * ```
 */
export const DEFAULT_SHARED_LIMIT = 16;

// Symbol.for is a registry shared by every module instance in this realm, so the ESM build, the
// CJS build and any duplicated copy in node_modules all find the same semaphore: one budget.
const SHARED_KEY = Symbol.for('dnsgate.sharedSemaphore');

/**
 * The application-wide semaphore (the seed's `getSemaphore()`), created on first use with
 * {@link DEFAULT_SHARED_LIMIT} tokens and kept on `globalThis` under
 * `Symbol.for('dnsgate.sharedSemaphore')`, so every copy of dnsgate in the process (ESM and CJS,
 * or two versions) shares one budget. A worker thread has its own `globalThis`, so its own instance.
 *
 * @example
 * ```ts
 * import { sharedSemaphore } from 'dnsgate';
 * const mx = await sharedSemaphore().run(() => resolver.resolveMx('example.com'));
 * ```
 */
export function sharedSemaphore(): Semaphore {
  const holder = globalThis as { [SHARED_KEY]?: unknown };
  const existing = holder[SHARED_KEY];
  if (existing !== undefined) {
    // Another copy's class is not ours, so instanceof would fail: check the shape instead.
    const s = existing as Partial<Semaphore>;
    if (typeof s.run !== 'function' || typeof s.map !== 'function' || typeof s.acquire !== 'function') {
      throw new TypeError(
        `globalThis[Symbol.for('dnsgate.sharedSemaphore')] holds ${show(existing)}, not a Semaphore`,
      );
    }
    return existing as Semaphore;
  }
  const sem = new Semaphore(DEFAULT_SHARED_LIMIT);
  // Non-enumerable so it stays out of the way of code that walks globalThis; configurable so an
  // application (or a test) can replace it.
  Object.defineProperty(globalThis, SHARED_KEY, {
    value: sem,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return sem;
}

/**
 * The seed's `semMap`: {@link Semaphore.map} on the {@link sharedSemaphore}. Runs `fn(item, ...args)`
 * for each input, at most the shared limit at once, and resolves with settled pairs in input order.
 *
 * @example
 * ```ts
 * import { Resolver, semMap } from 'dnsgate';
 * const resolver = new Resolver();
 * const results = await semMap((name: string) => resolver.resolveMx(name), ['google.com', 'yahoo.com']);
 * for (const [ok, value] of results) console.log(ok ? value : `failed: ${value}`);
 * ```
 */
export function semMap<T, R, A extends unknown[]>(
  fn: (item: T, ...args: A) => R | PromiseLike<R>,
  things: Iterable<T> | AsyncIterable<T>,
  ...args: A
): Promise<Settled<R>[]> {
  return sharedSemaphore().map(fn, things, ...args);
}
