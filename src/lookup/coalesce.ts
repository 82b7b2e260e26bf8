// In-flight coalescing (Twisted Names): a call that asks a question already on the wire rides on
// that query instead of sending another; each rider makes its own result from the shared answer.

/**
 * A call that can lead a query others ride on, or ride on one: the riders are a list linked
 * through them, so joining and leaving is O(1) and allocates nothing.
 */
export interface Rider<T> {
  leader: T | null;
  firstRider: T | null;
  lastRider: T | null;
  prevRider: T | null;
  nextRider: T | null;
}

/** `rider` rides on `leader`'s query, last in line. */
export function join<T extends Rider<T>>(leader: T, rider: T): void {
  rider.leader = leader;
  rider.prevRider = leader.lastRider;
  rider.nextRider = null;
  if (leader.lastRider === null) leader.firstRider = rider;
  else leader.lastRider.nextRider = rider;
  leader.lastRider = rider;
}

/** `rider` leaves its leader's list. */
export function leave<T extends Rider<T>>(rider: T): void {
  const leader = rider.leader!;
  const prev = rider.prevRider;
  const next = rider.nextRider;
  if (prev === null) leader.firstRider = next;
  else prev.nextRider = next;
  if (next === null) leader.lastRider = prev;
  else next.prevRider = prev;
  rider.leader = rider.prevRider = rider.nextRider = null;
}

/** Takes every rider off `leader` (the first of them, linked through `nextRider`), as its query ended. */
export function takeRiders<T extends Rider<T>>(leader: T): T | null {
  const first = leader.firstRider;
  leader.firstRider = leader.lastRider = null;
  for (let r = first; r !== null; r = r.nextRider) r.leader = null;
  return first;
}

/**
 * The queries of one type flying now, by name as sent. A query that lands leaves a tombstone
 * rather than a Map delete: in a bulk run with thousands of distinct names, deletes made V8 rebuild
 * the Map's table over and over, and the peak heap grew by about 15 MiB per million lookups
 * (measured with bench:bulk). Tombstones are swept out when they outnumber the live entries
 * four to one (and are more than 1,024), so the sweep is amortized O(1) per query.
 *
 * @example
 * ```ts
 * const lane = new Lane<Call<unknown>>();
 * lane.set('example.com', call);
 * lane.get('example.com'); // call, until it lands
 * lane.delete('example.com', call);
 * ```
 */
export class Lane<T> {
  #map = new Map<string, T | null>();
  #dead = 0;

  /** The query flying for `name`, if any. */
  get(name: string): T | undefined {
    return this.#map.get(name) ?? undefined;
  }

  set(name: string, query: T): void {
    if (this.#map.get(name) === null) this.#dead--;
    this.#map.set(name, query);
  }

  /** Takes `query` out, if it is the one listed for `name`. */
  delete(name: string, query: T): void {
    const map = this.#map;
    if (map.get(name) !== query) return;
    map.set(name, null);
    if (++this.#dead > 1024 && this.#dead > 4 * (map.size - this.#dead)) {
      const live = new Map<string, T | null>();
      for (const [key, value] of map) if (value !== null) live.set(key, value);
      this.#map = live;
      this.#dead = 0;
    }
  }
}

/**
 * The queries of one resolver flying now, by question (qtype, then name as sent).
 *
 * @example
 * ```ts
 * const lanes: Lanes<Call<unknown>> = new Map();
 * laneFor(lanes, 15).get('example.com');
 * ```
 */
export type Lanes<T> = Map<number, Lane<T>>;

/** The lane of `qtype`, made on first use. */
export function laneFor<T>(lanes: Lanes<T>, qtype: number): Lane<T> {
  let lane = lanes.get(qtype);
  if (lane === undefined) {
    lane = new Lane<T>();
    lanes.set(qtype, lane);
  }
  return lane;
}
