// The calls of one resolver that have not settled, for `cancel()`.

/** A member of a {@link Registry}: the list is linked through its members. */
export interface Listed<T> {
  prevListed: T | null;
  nextListed: T | null;
}

/**
 * The calls of one resolver that have not settled, oldest first: a list linked through the calls
 * themselves, so joining and leaving it allocates nothing (a Set's table is reallocated as it grows
 * and shrinks, and in a bulk run it does so all the time).
 *
 * @example
 * ```ts
 * const registry = new Registry<Call<unknown>>();
 * registry.add(call);
 * for (const c of registry.list()) c.abort(undefined);
 * ```
 */
export class Registry<T extends Listed<T>> {
  #head: T | null = null;
  #tail: T | null = null;

  add(item: T): void {
    item.prevListed = this.#tail;
    item.nextListed = null;
    if (this.#tail === null) this.#head = item;
    else this.#tail.nextListed = item;
    this.#tail = item;
  }

  remove(item: T): void {
    const { prevListed: prev, nextListed: next } = item;
    if (prev === null) this.#head = next;
    else prev.nextListed = next;
    if (next === null) this.#tail = prev;
    else next.prevListed = prev;
    item.prevListed = item.nextListed = null;
  }

  /** A copy of the members listed now, in the order they joined (so a member may leave meanwhile). */
  list(): T[] {
    const out: T[] = [];
    for (let item = this.#head; item !== null; item = item.nextListed) out.push(item);
    return out;
  }
}
