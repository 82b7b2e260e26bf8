/**
 * Node's dns error codes, as `dns.promises` uses them.
 *
 * @example
 * ```ts
 * import { DnsError, codes } from 'dnsgate';
 * try { await resolver.resolveMx('nope.example'); }
 * catch (err) { if (err instanceof DnsError && err.code === codes.NOTFOUND) console.log('no such domain'); }
 * ```
 */
export const codes = {
  NODATA: 'ENODATA',
  FORMERR: 'EFORMERR',
  SERVFAIL: 'ESERVFAIL',
  NOTFOUND: 'ENOTFOUND',
  NOTIMP: 'ENOTIMP',
  REFUSED: 'EREFUSED',
  BADQUERY: 'EBADQUERY',
  BADNAME: 'EBADNAME',
  BADFAMILY: 'EBADFAMILY',
  BADRESP: 'EBADRESP',
  CONNREFUSED: 'ECONNREFUSED',
  TIMEOUT: 'ETIMEOUT',
  EOF: 'EOF',
  FILE: 'EFILE',
  NOMEM: 'ENOMEM',
  DESTRUCTION: 'EDESTRUCTION',
  BADSTR: 'EBADSTR',
  BADFLAGS: 'EBADFLAGS',
  NONAME: 'ENONAME',
  BADHINTS: 'EBADHINTS',
  NOTINITIALIZED: 'ENOTINITIALIZED',
  LOADIPHLPAPI: 'ELOADIPHLPAPI',
  ADDRGETNETWORKPARAMS: 'EADDRGETNETWORKPARAMS',
  CANCELLED: 'ECANCELLED',
  /** Not a DNS code: node's `reverse()` rejects an invalid address with it. */
  INVAL: 'EINVAL',
} as const;

/**
 * One of node's dns error codes (`'ENOTFOUND'`, `'ETIMEOUT'`, ...).
 *
 * @example
 * ```ts
 * const retryable: DnsErrorCode[] = ['ETIMEOUT', 'ESERVFAIL'];
 * ```
 */
export type DnsErrorCode = (typeof codes)[keyof typeof codes];

/**
 * What {@link DnsError} takes besides its code.
 *
 * @example
 * ```ts
 * new DnsError('ETIMEOUT', { syscall: 'queryMx', hostname: 'example.com', server: '127.0.0.1:53' });
 * ```
 */
export interface DnsErrorInit {
  /** The node-style operation, e.g. `queryMx`, `queryTxt`, `getHostByAddr`. */
  syscall: string;
  /** The name that was asked for (or the address, for `reverse`). */
  hostname: string;
  /** What went wrong underneath (a socket error, or one error per server). */
  cause?: unknown;
  /** The server that gave this answer, as `host:port`, when one did. */
  server?: string | undefined;
  /** When every server failed: each server's failure, in the order they came. */
  errors?: DnsError[];
}

/**
 * A DNS failure, shaped like node's: `code`, `syscall`, `hostname`, and the message
 * `` `${syscall} ${code} ${hostname}` ``.
 *
 * @example
 * ```ts
 * import { DnsError } from 'dnsgate';
 * const err = new DnsError('ENOTFOUND', { syscall: 'queryMx', hostname: 'nope.example' });
 * err.message; // 'queryMx ENOTFOUND nope.example'
 * ```
 */
export class DnsError extends Error {
  // Node's own keys, in node's order (`Object.keys`, JSON and console output read alike); `name` is
  // Error's, as node's errors are plain Errors: `String(err)` is `Error: queryMx ENOTFOUND x`.
  readonly errno: undefined = undefined;
  readonly code: DnsErrorCode;
  readonly syscall: string;
  readonly hostname: string;
  /** The server (`host:port`) whose answer or silence led here, when there was one. */
  declare readonly server: string | undefined;
  /** When every server failed: one error per failed try, each naming its `server` and `cause`. */
  declare readonly errors: DnsError[] | undefined;

  constructor(code: DnsErrorCode, init: DnsErrorInit) {
    super(
      `${init.syscall} ${code} ${init.hostname}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.code = code;
    this.syscall = init.syscall;
    this.hostname = init.hostname;
    // Own keys only when they say something, so an error with neither looks like node's.
    if (init.server !== undefined) (this as { server?: string }).server = init.server;
    if (init.errors !== undefined) (this as { errors?: DnsError[] }).errors = init.errors;
  }
}

/**
 * What an rcode (the full 12 bits, RFC 6891 §6.1.3) means for a call, as c-ares reads it:
 * `undefined` for an answer (NOERROR, and the rcodes c-ares reads as one: 6–11 and 16–23, whose
 * records are used and whose empty answer is ENODATA), node's code otherwise (12–15 and from 24
 * on, ESERVFAIL). NXDOMAIN is ENOTFOUND.
 */
export function rcodeToCode(rcode: number): DnsErrorCode | undefined {
  switch (rcode) {
    case 0:
      return undefined;
    case 1:
      return codes.FORMERR;
    case 2:
      return codes.SERVFAIL;
    case 3:
      return codes.NOTFOUND;
    case 4:
      return codes.NOTIMP;
    case 5:
      return codes.REFUSED;
    default:
      return rcode <= 11 || (rcode >= 16 && rcode <= 23) ? undefined : codes.SERVFAIL;
  }
}

/**
 * A TypeError or RangeError with node's `code`, printed as node prints the errors of its JS layer
 * (`TypeError [CODE]: ...`); those its C++ layer throws print plainly (`native`).
 */
export function nodeError<E extends TypeError | RangeError>(
  error: E,
  code: string,
  native = false,
): E & { code: string } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  if (native) return error as E & { code: string };
  Object.defineProperty(error, 'toString', {
    value(this: Error) {
      return `${this.name} [${code}]: ${this.message}`;
    },
    enumerable: false,
    writable: true,
    configurable: true,
  });
  return error as E & { code: string };
}

/**
 * A RangeError for one of dnsgate's own options or arguments, with node's ERR_OUT_OF_RANGE (the
 * message says what it expects).
 *
 * @example
 * ```ts
 * throw rangeError('Expected `concurrency` to be an integer >= 1, got 0');
 * ```
 */
export function rangeError(message: string): RangeError {
  return nodeError(new RangeError(message), 'ERR_OUT_OF_RANGE');
}

/**
 * A TypeError for one of dnsgate's own options or arguments of the wrong type, with node's
 * ERR_INVALID_ARG_TYPE (the message says what it expects).
 *
 * @example
 * ```ts
 * throw typeError('Expected `coalesce` to be a boolean, got string');
 * ```
 */
export function typeError(message: string): TypeError {
  return nodeError(new TypeError(message), 'ERR_INVALID_ARG_TYPE');
}

/**
 * A TypeError for a value of the right type that is not one dnsgate takes, with node's
 * ERR_INVALID_ARG_VALUE.
 *
 * @example
 * ```ts
 * throw valueError("Expected `tcp` to be 'fallback', 'always' or 'never', got \"sometimes\"");
 * ```
 */
export function valueError(message: string): TypeError {
  return nodeError(new TypeError(message), 'ERR_INVALID_ARG_VALUE');
}

/**
 * Throws node's ERR_INVALID_ARG_VALUE for an own key of `options` that is none of `keys`, naming the
 * nearest one if one is close: a typo must not be quietly ignored (`serverz` would fall back to the
 * system's resolver, `orderd` to results in the order they come).
 *
 * @example
 * ```ts
 * checkKeys({ orderd: true }, ['ordered', 'signal'], 'resolveEach option');
 * // TypeError [ERR_INVALID_ARG_VALUE]: Unknown resolveEach option "orderd"; did you mean "ordered"?
 * ```
 */
export function checkKeys(options: object, keys: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (keys.includes(key)) continue;
    const near = keys.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
    const hint = near === undefined ? `; options are ${keys.join(', ')}` : `; did you mean "${near}"?`;
    throw valueError(`Unknown ${what} "${key}"${hint}`);
  }
}

/** Levenshtein distance, for a hint (option names are short). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
