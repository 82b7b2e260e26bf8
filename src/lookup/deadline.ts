// The resolver's `deadline`: a call that has not settled by then fails with ETIMEOUT.
import { codes, type DnsErrorCode } from '../errors.js';
import type { Runtime, Timed } from '../runtime.js';

/** What a deadline ends. */
export interface Abortable {
  abort(reason: unknown, code: DnsErrorCode): void;
}

/**
 * One call's deadline, on the runtime's timer list (so a fake clock drives it in tests). Made only
 * for calls that have one: a call without costs nothing.
 *
 * @example
 * ```ts
 * const deadline = new Deadline(call, runtime, 5000); // call.abort(undefined, 'ETIMEOUT') in 5 s
 * deadline.clear();                                   // it settled first
 * ```
 */
export class Deadline implements Timed {
  due = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  scheduled = false;
  weak = false;
  readonly #call: Abortable;
  readonly #runtime: Runtime;

  constructor(call: Abortable, runtime: Runtime, ms: number) {
    this.#call = call;
    this.#runtime = runtime;
    runtime.deadlines.schedule(this, ms);
  }

  /** Whether it has passed by the clock (its timer may not have run yet). */
  get passed(): boolean {
    return this.due <= this.#runtime.clock.now();
  }

  clear(): void {
    this.#runtime.deadlines.unschedule(this);
  }

  expire(): void {
    this.#call.abort(undefined, codes.TIMEOUT);
  }
}
