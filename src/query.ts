// One call of a Resolver method, from its arguments to the one promise its caller holds.
import type { DispatchConfig } from './dispatcher.js';
import { codes, DnsError, type DnsErrorCode } from './errors.js';
import { Flight } from './flight.js';
import type { ServerAddress } from './servers.js';
import type { DecodedPacket, RecordType } from './wire/codec.js';

/** Turns the answer into the call's result; may throw a DnsError (NXDOMAIN, NODATA, ...). */
export type Finish<T> = (query: Query<T>, message: DecodedPacket, server: ServerAddress) => T;

// A promise executor runs synchronously inside `new Promise`, so one shared executor can hand its
// resolvers out through these two slots: a query's promise then costs no closure.
let capturedResolve: (value: unknown) => void = () => {};
let capturedReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * A query of one resolver call: its job for the dispatcher, the promise it settles exactly once,
 * and how it is cancelled (by the call's signal, the resolver's deadline, or `cancel()`).
 */
export class Query<T> extends Flight {
  readonly promise: Promise<T>;
  /** Whatever `finish` needs besides the query (a record shape). */
  readonly detail: unknown;
  readonly #resolve: (value: T) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #finish: Finish<T>;
  #registry: Set<Query<unknown>> | null = null;
  #signal: AbortSignal | undefined;
  #deadline: NodeJS.Timeout | undefined;

  constructor(
    name: string,
    type: RecordType,
    qtype: number,
    syscall: string,
    hostname: string,
    finish: Finish<T>,
    detail: unknown,
  ) {
    super(name, type, qtype, syscall, hostname);
    this.#finish = finish;
    this.detail = detail;
    this.promise = new Promise<T>(
      capture as (resolve: (value: T) => void, reject: (reason: unknown) => void) => void,
    );
    this.#resolve = capturedResolve;
    this.#reject = capturedReject;
  }

  /**
   * Starts the query: listed in `registry` (for `cancel()`) until it settles, cancelled by
   * `signal` or after `deadlineMs`.
   */
  launch(
    cfg: DispatchConfig,
    held: boolean,
    registry: Set<Query<unknown>>,
    signal: AbortSignal | undefined,
    deadlineMs: number | undefined,
  ): Promise<T> {
    this.#registry = registry;
    registry.add(this as Query<unknown>);
    if (signal !== undefined) {
      this.#signal = signal;
      signal.addEventListener('abort', this, { once: true });
    }
    if (deadlineMs !== undefined) {
      this.#deadline = setTimeout(() => this.abort(undefined, codes.TIMEOUT), deadlineMs);
    }
    this.fly(cfg, held);
    return this.promise;
  }

  /** The signal's abort listener (the EventListener object protocol: no closure per query). */
  handleEvent(): void {
    this.abort(this.#signal?.reason);
  }

  /** Cancels the query: it rejects with `code` (ECANCELLED, or ETIMEOUT at the deadline). */
  abort(reason: unknown, code: DnsErrorCode = codes.CANCELLED): void {
    if (this.cancelled !== undefined) return;
    this.cancelled = new DnsError(code, { syscall: this.syscall, hostname: this.hostname, cause: reason });
    this.interrupt?.(this.cancelled);
  }

  protected answered(message: DecodedPacket, server: ServerAddress): void {
    this.#done();
    let value: T;
    try {
      value = this.#finish(this, message, server);
    } catch (err) {
      this.#reject(err);
      return;
    }
    this.#resolve(value);
  }

  protected failed(error: unknown): void {
    this.#done();
    this.#reject(error);
  }

  #done(): void {
    this.#registry?.delete(this as Query<unknown>);
    this.#signal?.removeEventListener('abort', this);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
  }
}
