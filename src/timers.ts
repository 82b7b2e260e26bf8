// One timer for every attempt's timeout: a list sorted by due time and a single node timer armed
// for its head. Arming and cancelling a wait is a few pointer writes instead of a setTimeout and
// a clearTimeout per query; most waits end with an answer long before they are due.

/** Something that waits for a due time; {@link schedule} links it into the list. */
export interface Timed {
  /** When it is due, in `performance.now()` milliseconds. */
  due: number;
  prev: Timed | null;
  next: Timed | null;
  /** Whether it is in the list now. */
  scheduled: boolean;
  /** Whether it may not keep the process alive (see {@link weaken}). */
  weak: boolean;
  /** Called once when it is due, after it has left the list. */
  expire(): void;
}

/** The longest delay node's setTimeout takes as given (2^31 - 1 ms). */
const MAX_DELAY = 2 ** 31 - 1;

let head: Timed | null = null;
let tail: Timed | null = null;
/** The node timer, armed for `armedFor`; it keeps the process alive only while something waits. */
let timer: NodeJS.Timeout | undefined;
let armedFor = Number.POSITIVE_INFINITY;
let refed = false;
/** Entries that keep the process alive: in the list and not weakened. */
let strong = 0;

/**
 * Calls `t.expire()` in `ms` milliseconds unless {@link unschedule} comes first. While anything
 * is scheduled, the process stays alive (as a pending setTimeout would keep it).
 *
 * @example
 * ```ts
 * schedule(exchange, 2000); // exchange.expire() in 2 s
 * unschedule(exchange);     // the answer came first
 * ```
 */
export function schedule(t: Timed, ms: number): void {
  const due = performance.now() + ms;
  t.due = due;
  t.scheduled = true;
  t.weak = false;
  strong++;
  // Waits of one duration end in the order they start, so the new one almost always goes last.
  let after = tail;
  while (after !== null && after.due > due) after = after.prev;
  t.prev = after;
  t.next = after === null ? head : after.next;
  if (t.next === null) tail = t;
  else t.next.prev = t;
  if (after === null) head = t;
  else after.next = t;
  if (!refed) {
    refed = true;
    timer?.ref();
  }
  if (due < armedFor) arm(due);
}

/** Takes `t` out of the list; nothing happens if it is not in it. */
export function unschedule(t: Timed): void {
  if (!t.scheduled) return;
  t.scheduled = false;
  if (t.prev === null) head = t.next;
  else t.prev.next = t.next;
  if (t.next === null) tail = t.prev;
  else t.next.prev = t.prev;
  t.prev = t.next = null;
  if (!t.weak) release();
}

/**
 * Lets `t` fire without keeping the process alive: a query whose caller gave up waits on for its
 * late answer (to hold its permit as long as the router holds the query), but nobody waits for it.
 */
export function weaken(t: Timed): void {
  if (!t.scheduled || t.weak) return;
  t.weak = true;
  release();
}

function release(): void {
  // Nothing anyone waits for: let the process exit. The timer stays armed, unref'd, and fires
  // (for weak entries) or lapses harmlessly.
  if (--strong === 0 && refed) {
    refed = false;
    timer?.unref();
  }
}

function arm(due: number): void {
  if (timer !== undefined) clearTimeout(timer);
  armedFor = due;
  // Node's timers fire by the loop's cached clock, which may lag: never ask for less than 1 ms.
  // Nor more than node's maximum (about 24.8 days; beyond it node fires after 1 ms, and the list
  // would re-arm every millisecond): a far wait fires early, finds nothing due, and re-arms.
  timer = setTimeout(fire, Math.min(MAX_DELAY, Math.max(1, Math.ceil(due - performance.now()))));
  if (!refed) timer.unref();
}

function fire(): void {
  timer = undefined;
  armedFor = Number.POSITIVE_INFINITY;
  // A timer may fire a fraction of a millisecond early by performance.now(): round in its favour.
  const now = performance.now() + 1;
  // What expires may schedule again (a retry); those are due later than `now`, so the loop ends.
  try {
    while (head !== null && head.due <= now) {
      const t = head;
      unschedule(t);
      t.expire();
    }
  } finally {
    if (head !== null && head.due < armedFor) arm(head.due);
  }
}
