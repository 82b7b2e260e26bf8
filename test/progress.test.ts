// The progress row's text: the widest form that fits, lookups and queries counted apart.
import { describe, expect, it } from 'vitest';
import { type ProgressFigures, ProgressLine, progressText } from '../src/cli/progress.js';

const figures: ProgressFigures = {
  settled: 1200,
  ok: 1100,
  failed: 100,
  inFlight: 16,
  total: 5000,
  queries: 300,
  seconds: 2,
};

describe('progressText', () => {
  it('counts lookups and queries apart (coalesced lookups send no query)', () => {
    expect(progressText(figures, undefined)).toBe(
      '[#####...............] 1200/5000 done: 1100 ok, 100 failed, 16 in flight, 600 lookups/s, 150 queries/s',
    );
  });
  it("shows the adaptive gate's working limit and its ceiling", () => {
    expect(progressText({ ...figures, limit: { limit: 19, ceiling: 200 } }, undefined)).toBe(
      '[#####...............] 1200/5000 done: 1100 ok, 100 failed, 16 in flight, limit 19/200, 600 lookups/s, 150 queries/s',
    );
  });
  it.each([120, 80, 40, 20, 8])('is never wider than %i columns less one', (columns) => {
    expect(progressText(figures, columns).length).toBeLessThan(columns);
  });
  it('drops the bar, then the details, before it cuts', () => {
    expect(progressText(figures, 80)).toBe(
      '1200/5000 done: 1100 ok, 100 failed, 16 in flight, 600 lookups/s, 150 queries/s',
    );
    expect(progressText(figures, 40)).toBe('1200/5000 done, 1100 ok, 100 failed, 600/s'.slice(0, 39));
  });
});

describe('ProgressLine', () => {
  it('draws a line above the row and the row again below it', () => {
    let out = '';
    const line = new ProgressLine((t) => {
      out += t;
    });
    line.above(() => {
      out += 'before\n';
    });
    line.draw('3 done');
    line.above(() => {
      out += 'nope.test ENOTFOUND\n';
    });
    line.clear();
    expect(out).toBe('before\n\r3 done\x1b[K\r\x1b[Knope.test ENOTFOUND\n3 done\x1b[K\r\x1b[K');
  });
});
