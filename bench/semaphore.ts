// Question: what does the gate cost per task? 100,000 no-op tasks queued at once behind
// Semaphore(1) and Semaphore(16), µs per task, median of 5 runs after a warm-up.
// Run: npx tsx bench/semaphore.ts
import { Semaphore } from '../src/semaphore.js';

const TASKS = 100_000;
const RUNS = 5;
const LIMITS = [1, 16] as const;

/** One way of scheduling TASKS no-op tasks under a limit; resolves when all have finished. */
type Scenario = (limit: number) => Promise<void>;

const asyncNoop = async (): Promise<void> => {};
const syncNoop = (): undefined => undefined;

const scenarios: Record<string, Scenario> = {
  // The comparison with p-limit & co: queue async no-ops with run() and wait for all.
  'run(async () => {})': async (limit) => {
    const sem = new Semaphore(limit);
    const all: Promise<void>[] = new Array(TASKS);
    for (let i = 0; i < TASKS; i++) all[i] = sem.run(asyncNoop);
    await Promise.all(all);
  },
  // Synchronous tasks queued behind held tokens, so every one goes through the drain loop
  // (the case that overflows Twisted's stack): the scheduler's own cost with no task promise.
  'run(() => undefined), queued': async (limit) => {
    const sem = new Semaphore(limit);
    for (let i = 0; i < limit; i++) await sem.acquire();
    const all: Promise<undefined>[] = new Array(TASKS);
    for (let i = 0; i < TASKS; i++) all[i] = sem.run(syncNoop);
    for (let i = 0; i < limit; i++) sem.release();
    await Promise.all(all);
  },
  // Bare acquire/release pairs through the queue, as the dispatcher uses the gate.
  'acquire() + release()': async (limit) => {
    const sem = new Semaphore(limit);
    const all: Promise<void>[] = new Array(TASKS);
    for (let i = 0; i < TASKS; i++) all[i] = sem.acquire().then(() => sem.release());
    await Promise.all(all);
  },
};

async function microsPerTask(scenario: Scenario, limit: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await scenario(limit);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1000;
  return elapsed / TASKS;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const rows: string[] = [];
for (const [name, scenario] of Object.entries(scenarios)) {
  const cells: string[] = [];
  for (const limit of LIMITS) {
    await microsPerTask(scenario, limit); // warm-up: let the JIT settle before we measure
    const samples: number[] = [];
    for (let r = 0; r < RUNS; r++) samples.push(await microsPerTask(scenario, limit));
    cells.push(median(samples).toFixed(3));
  }
  rows.push(`| ${name} | ${cells.join(' | ')} |`);
}

console.log(`Semaphore: µs per task, ${TASKS.toLocaleString('en-US')} queued no-op tasks, median of ${RUNS}`);
console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);
console.log(`| scenario | ${LIMITS.map((l) => `limit ${l}`).join(' | ')} |`);
console.log(`|---|${LIMITS.map(() => '---:').join('|')}|`);
for (const row of rows) console.log(row);
