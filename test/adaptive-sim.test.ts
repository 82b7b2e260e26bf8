// The adaptive gate in virtual time: real AdaptiveLimit instances driven by a discrete-event
// simulation (helpers/sim.ts) of bulk clients against model home routers, one scenario per file in
// test/sim/. A scenario's `expect` ranges are what the controller meets now (with margin); its
// `target` ranges are the targets it misses now: each runs as `it.fails` with what was
// seen, so a fix that meets one turns that test red until its range moves to `expect`.
// SIM_REPORT=1 prints each scenario's figures.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type Metrics, type Range, type Scenario, simulate, summary } from './helpers/sim.js';

const dir = new URL('./sim/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string): Scenario {
  return JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Scenario;
}

/** The metrics outside their ranges (or missing), as `key = value not in [lo, hi]`. */
function outOfRange(m: Metrics, ranges: Record<string, Range>): string[] {
  const out: string[] = [];
  for (const [key, [lo, hi]] of Object.entries(ranges)) {
    const v = m[key];
    if (v === undefined || Number.isNaN(v)) out.push(`${key} missing`);
    else if (v < lo || v > hi) out.push(`${key} = ${v} not in [${lo}, ${hi}]`);
  }
  return out;
}

const figures: string[] = [];
afterAll(() => {
  if (process.env.SIM_REPORT) console.log(figures.join('\n'));
});

it('has scenarios, and a run is a pure function of its scenario', () => {
  expect(files.length).toBeGreaterThanOrEqual(7);
  const s = load('01-refuse-c200.json');
  expect(simulate(s)).toEqual(simulate(s));
});

describe.each(files)('%s', (file) => {
  const scenario = load(file);
  let metrics: Metrics | undefined;
  const run = (): Metrics => {
    if (metrics === undefined) {
      metrics = simulate(scenario);
      figures.push(summary(file, metrics));
      if (process.env.SIM_REPORT === 'all') figures.push(JSON.stringify(metrics));
    }
    return metrics;
  };

  it(`${scenario.name}: within the expected ranges`, () => {
    const m = run();
    expect(outOfRange(m, scenario.expect)).toEqual([]);
    // Every target names a metric the run has: a misspelt one would pass as a known failure.
    for (const key of Object.keys(scenario.target ?? {})) expect(m[key], key).toBeTypeOf('number');
  });

  for (const [key, [lo, hi]] of Object.entries(scenario.target ?? {})) {
    const finding = scenario.findings?.[key] ?? 'missed';
    it.fails(`target ${key} in [${lo}, ${hi}], missed now: ${finding}`, () => {
      expect(outOfRange(run(), { [key]: [lo, hi] })).toEqual([]);
    });
  }
});
