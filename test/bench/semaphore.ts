// Question: what does the gate cost per task, against the usual limiters? 100,000 no-op async
// tasks queued at once behind a limit of 1 and of 16, µs per task, median of 5 runs after a warm-up.
// Run: npx tsx test/bench/semaphore.ts
import { Sema } from 'async-sema';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { Semaphore } from '../../src/gate/semaphore.js';

const TASKS = 100_000;
const RUNS = 5;
const LIMITS = [1, 16] as const;

/** Queues TASKS no-op tasks under `limit`; resolves when all have finished. */
type Scenario = (limit: number) => Promise<unknown>;
const noop = async (): Promise<void> => {};

/** The same loop for every limiter: TASKS calls of `schedule`, then wait for all. */
function queueAll(schedule: () => Promise<unknown>): Promise<unknown> {
  const all = new Array<Promise<unknown>>(TASKS);
  for (let i = 0; i < TASKS; i++) all[i] = schedule();
  return Promise.all(all);
}

const scenarios: Record<string, Scenario> = {
  'dnsgate Semaphore.run': (limit) => {
    const sem = new Semaphore(limit);
    return queueAll(() => sem.run(noop));
  },
  'p-limit': (limit) => {
    const run = pLimit(limit);
    return queueAll(() => run(noop));
  },
  'p-queue': (limit) => {
    const queue = new PQueue({ concurrency: limit });
    return queueAll(() => queue.add(noop));
  },
  'async-sema': (limit) => {
    const sema = new Sema(limit);
    const task = async () => {
      await sema.acquire();
      try {
        await noop();
      } finally {
        sema.release();
      }
    };
    return queueAll(task);
  },
};

async function microsPerTask(scenario: Scenario, limit: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await scenario(limit);
  return Number(process.hrtime.bigint() - t0) / 1000 / TASKS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(
  `Semaphore: µs per task, ${TASKS.toLocaleString('en-US')} queued no-op tasks, median of ${RUNS}\n`,
);
console.log(`| limiter | ${LIMITS.map((l) => `limit ${l}`).join(' | ')} |`);
console.log(`|---|${LIMITS.map(() => '---:').join('|')}|`);
for (const [name, scenario] of Object.entries(scenarios)) {
  const cells: string[] = [];
  for (const limit of LIMITS) {
    await microsPerTask(scenario, limit); // warm-up
    const samples: number[] = [];
    for (let r = 0; r < RUNS; r++) samples.push(await microsPerTask(scenario, limit));
    cells.push(median(samples).toFixed(2));
  }
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
