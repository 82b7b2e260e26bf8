// 1,000,000 names through dnsgate's resolveEach (streamed from a generator) vs an eager
// Promise.all + p-limit baseline, at concurrency 128, against the built-in test server running in
// its own process. Each mode runs in a plain-node child process of its own (test/bench/bulk-child.mjs,
// against the built package), so its peak RSS is its own.
// Usage: npm run bench:bulk [-- --names 1000000 --concurrency 128 --modes stream,defaults,stream-8,eager]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const NAMES = arg('names', 1_000_000);
const CONCURRENCY = arg('concurrency', 128);
const child = new URL('./bulk-child.mjs', import.meta.url).pathname;

async function parent(): Promise<void> {
  const serve = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./serve.ts', import.meta.url).pathname],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const [server] = (await once(createInterface({ input: serve.stdout! }), 'line')) as [string];
  const rows: Record<string, number | string>[] = [];
  // stream-8: the same run in a node whose young generation is capped at 8 MB semi-spaces (a
  // node flag for memory-bound jobs): what is left is node itself plus the run's working set.
  const modes = process.argv.includes('--modes')
    ? process.argv[process.argv.indexOf('--modes') + 1]!.split(',')
    : ['stream', 'defaults', 'stream-8', 'eager'];
  for (const mode of modes) {
    const flags = mode === 'stream-8' ? ['--max-semi-space-size=8'] : [];
    const c = spawn(process.execPath, [...flags, child, mode, server, String(NAMES), String(CONCURRENCY)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: c.stdout! }), 'line')) as [string];
    rows.push(JSON.parse(line));
    await once(c, 'close');
  }
  serve.kill('SIGTERM');
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(
    `${NAMES.toLocaleString('en')} MX lookups, concurrency ${CONCURRENCY}, built-in test server in its own process, node ${process.version}\n`,
  );
  console.log('| how | q/s | seconds | peak RSS | ok | failed |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const how =
      r.mode === 'stream'
        ? 'dnsgate `resolveEach` over a generator (`coalesce: false`, 5 names)'
        : r.mode === 'defaults'
          ? 'the same with default options (coalescing on), 3,000 distinct names'
          : r.mode === 'stream-8'
            ? 'the same, in `node --max-semi-space-size=8`'
            : '`Promise.all` + p-limit (eager)';
    console.log(
      `| ${how} | ${Number(r.qps).toFixed(0)} | ${Number(r.seconds).toFixed(1)} | ${mb(Number(r.peakRss))} | ${r.ok} | ${r.failed} |`,
    );
  }
}

await parent();
