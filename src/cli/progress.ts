// The CLI's progress line on a terminal: one row at the bottom, never wider than the terminal,
// redrawn under every line printed above it. Our own renderer (a dozen lines) rather than a
// progress library: it must share the terminal with result lines on two streams (stdout and
// stderr), which the libraries we looked at leave to the caller anyway.

/** What the line shows. */
export interface ProgressFigures {
  /** Lookups finished, and of them ok / failed; lookups started but not finished. */
  settled: number;
  ok: number;
  failed: number;
  inFlight: number;
  /** Names in all, when known. */
  total: number | undefined;
  /** Queries the resolver sent (coalesced lookups send none; retries send more). */
  queries: number;
  /** Seconds since the run started. */
  seconds: number;
  /** The adaptive gate's working limit and its ceiling (the first server's), when it is on. */
  limit?: { limit: number; ceiling: number } | undefined;
}

/** The widest form of the line that fits in `columns - 1` characters, cut if none does. */
export function progressText(f: ProgressFigures, columns: number | undefined): string {
  const s = Math.max(f.seconds, 0.001);
  const lookups = (f.settled / s).toFixed(0);
  const queries = (f.queries / s).toFixed(0);
  const done = f.total === undefined ? `${f.settled}` : `${f.settled}/${f.total}`;
  const gate = f.limit === undefined ? '' : `, limit ${f.limit.limit}/${f.limit.ceiling}`;
  const counts = `${done} done: ${f.ok} ok, ${f.failed} failed, ${f.inFlight} in flight${gate}, ${lookups} lookups/s, ${queries} queries/s`;
  const forms: string[] = [];
  if (f.total !== undefined && f.total > 0) {
    const filled = Math.round((f.settled / f.total) * 20);
    forms.push(`[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${counts}`);
  }
  forms.push(counts, `${done} done, ${f.ok} ok, ${f.failed} failed, ${lookups}/s`);
  if (columns === undefined || columns < 2) return forms[0]!;
  const room = columns - 1; // the last column would wrap on some terminals
  return forms.find((t) => t.length <= room) ?? forms[forms.length - 1]!.slice(0, room);
}

/** A terminal row that shows progress and stays at the bottom while lines are printed above it. */
export class ProgressLine {
  readonly #write: (text: string) => void;
  #text = '';

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  /** Draws `text` in place of the line shown. */
  draw(text: string): void {
    this.#text = text;
    this.#write(`\r${text}\x1b[K`);
  }

  /**
   * Prints a line above the progress row: the row is erased, `print` writes its line (on stdout or
   * stderr), and the row is drawn again below it, so it never disappears while lines stream.
   */
  above(print: () => void): void {
    if (this.#text === '') {
      print();
      return;
    }
    this.#write('\r\x1b[K');
    print();
    this.#write(`${this.#text}\x1b[K`);
  }

  /** Erases the row for good (before a summary, or at the end). */
  clear(): void {
    if (this.#text !== '') this.#write('\r\x1b[K');
    this.#text = '';
  }
}
