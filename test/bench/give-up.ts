// Question: what does giving up cost when many callers share one question? 100,000 calls for one
// name coalesce on one query to a silent test server; then cancel() (all at once) and, separately,
// one AbortSignal per caller aborted one by one. Milliseconds the event loop is blocked, median of
// 3 runs. Run: npm run bench:give-up
import { Resolver } from '../../src/index.js';
import { silent, startTestServer } from '../../src/testing/index.js';

const CALLERS = Number(process.argv[process.argv.indexOf('--callers') + 1]) || 100_000;
const RUNS = 3;
const server = await startTestServer({
  zone: '$ORIGIN test.\n@ 60 IN SOA ns hm 1 2 3 4 60\n',
  script: silent(),
});

async function once(mode: 'cancel' | 'abort-each'): Promise<number> {
  const r = new Resolver({ servers: [server.server], timeout: 1000, tries: 1 });
  const controllers =
    mode === 'abort-each' ? Array.from({ length: CALLERS }, () => new AbortController()) : [];
  const calls = Array.from({ length: CALLERS }, (_, i) =>
    r
      .resolveMx('same.test', mode === 'abort-each' ? { signal: controllers[i]!.signal } : undefined)
      .catch(() => {}),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t0 = performance.now();
  if (mode === 'cancel') r.cancel();
  else for (const c of controllers) c.abort();
  const ms = performance.now() - t0;
  await Promise.all(calls);
  return ms;
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const mode of ['cancel', 'abort-each'] as const) {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await once(mode));
  console.log(
    `${mode.padEnd(10)} ${CALLERS} coalesced callers: ${median(times).toFixed(1)} ms blocked (runs: ${times.map((t) => t.toFixed(1)).join(', ')})`,
  );
}
await server.close();
