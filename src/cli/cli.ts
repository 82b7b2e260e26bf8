// The command line: `dnsgate mx|resolve|query|demo ...`. Thin: parse, build a Resolver, print.
import { accessSync, constants, createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { DEFAULT_CONCURRENCY } from '../options.js';
import type { RedisGate } from '../redis/gate.js';
import { Resolver } from '../resolver.js';
import type { ResultByType } from '../types.js';
import { runDemo } from './demo.js';
import { formatMessage, formatValue, jsonReplacer } from './format.js';
import { ProgressLine, progressText } from './progress.js';

const USAGE = `Usage:
  dnsgate mx NAME...              mail exchangers of each name
  dnsgate resolve TYPE NAME...    records of TYPE (A AAAA ANY CAA CNAME MX NAPTR NS PTR SOA SRV TXT)
  dnsgate query NAME [TYPE]       the whole response (answer, authority, additional)
  dnsgate demo                    the seed's MX job against the built-in test server

Names come from the arguments, --file PATH, or standard input: one a line; blank lines
and lines starting with # are skipped.

Options:
  -s, --server HOST[:PORT]  nameserver, repeatable ('1.2.3.4:53', '[::1]:5353');
                            default: /etc/resolv.conf
  -c, --concurrency N       sockets in flight at most (default 16); below it the adaptive
                            gate finds what each server takes (shown in the progress row)
      --fixed               no adaptive gate: send up to -c at once, as told
  -r, --rate N              queries started per second at most (default: no limit)
      --redis URL           share one budget with every dnsgate on this Redis and key
                            (redis://host:port): -c and -r then count across all of them
      --redis-key NAME      the budget's name (default: dnsgate)
      --cache               keep answers for their TTL (NXDOMAIN and NODATA for the SOA's
                            negative TTL): a name repeated in the input is asked once
  -t, --timeout MS          first-try timeout (default 2000; doubles each try)
      --tries N             tries per server (default 4)
  -f, --file PATH           read names from PATH ('-' for standard input)
      --json                one JSON object per line, errors included
      --ordered             print in input order (default: as answers come)
  -h, --help                this text
  -V, --version             the version

Exit status: 0 all succeeded, 1 some failed, 2 bad usage, 130 interrupted,
141 output closed (| head).`;

/** Where the command line reads and writes: the process's streams, or test doubles. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

class UsageError extends Error {}

/** A whole number in plain decimal digits (not `1e3`, `0x10`, `-1`). */
function count(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${flag} expects an integer >= ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/** The options that take a number: a value such as `-1` must reach count(), not parseArgs. */
const NUMERIC: Record<string, string> = {
  '-c': 'concurrency',
  '--concurrency': 'concurrency',
  '-r': 'rate',
  '--rate': 'rate',
  '-t': 'timeout',
  '--timeout': 'timeout',
  '--tries': 'tries',
};

/** `-c -1` as `--concurrency=-1`, so the number check (not "ambiguous option") speaks. */
function joinNegatives(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const long = NUMERIC[argv[i]!];
    if (long !== undefined && /^-[\d.]/.test(argv[i + 1] ?? '')) out.push(`--${long}=${argv[++i]}`);
    else out.push(argv[i]!);
  }
  return out;
}

/** The package's version, from its package.json (above dist/cli.js, or two levels above src/cli/cli.ts). */
function version(): string {
  const load = createRequire(import.meta.url);
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = load(path) as { name?: string; version: string };
      if (pkg.name === 'dnsgate') return pkg.version;
    } catch {
      // Not here: the next level up.
    }
  }
  return 'unknown';
}

/**
 * `'::1:53'` is the IPv6 address ::1:53 (::0.1.0.83), not port 53 of ::1: a user who meant the
 * port would send to an address that is not loopback. Said once, on stderr.
 */
function portlessIPv6(server: string): boolean {
  if (isIP(server) !== 6) return false;
  const m = /^(.*):(\d{1,5})$/.exec(server);
  return m !== null && isIP(m[1]!) === 6;
}

/**
 * The names in the stream `open` gives (opened on the first pull), one a line; `signal` closes the
 * reader, so an idle stdin does not keep the process alive after Ctrl-C.
 */
async function* lines(open: () => NodeJS.ReadableStream, signal: AbortSignal): AsyncGenerator<string> {
  const input = open();
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY, signal })) {
    const name = line.trim();
    if (name !== '' && !name.startsWith('#')) yield name;
  }
}

/** Runs the command line; resolves to the exit status. */
export async function main(argv: string[], io: Io = process): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const err = (line: string) => io.stderr.write(`${line}\n`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(joinNegatives(argv));
  } catch (e) {
    err(`dnsgate: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  if (values.version) {
    out(version());
    return 0;
  }
  if (positionals.length === 0) {
    err(USAGE);
    return 2;
  }
  let gate: RedisGate | undefined;
  try {
    const [command, ...rest] = positionals;
    if (command === 'demo') {
      const given = Object.keys(values);
      if (rest.length > 0 || given.length > 0) {
        throw new UsageError(
          `demo takes no arguments or options, got ${[...rest, ...given.map((k) => `--${k}`)].join(' ')}`,
        );
      }
      await runDemo(out);
      return 0;
    }
    for (const server of values.server ?? []) {
      if (portlessIPv6(server)) {
        err(
          `dnsgate: note: ${JSON.stringify(server)} is the IPv6 address ${server} (port 53); for a port, write '[address]:port'`,
        );
      }
    }
    if (values['redis-key'] !== undefined && values.redis === undefined) {
      throw new UsageError('--redis-key needs --redis URL');
    }
    const concurrency = count('concurrency', values.concurrency, 1);
    const rate = count('rate', values.rate, 1);
    // One budget across processes: the gate holds -c and -r for all of them.
    gate =
      values.redis === undefined
        ? undefined
        : await (await import('../redis/index.js')).createRedisGate({
            url: values.redis,
            key: values['redis-key'] ?? 'dnsgate',
            limit: concurrency ?? DEFAULT_CONCURRENCY,
            ...(rate === undefined ? {} : { rate }),
          });
    const resolver = new Resolver({
      ...(values.server === undefined ? {} : { servers: values.server }),
      ...(gate !== undefined ? { semaphore: gate } : concurrency === undefined ? {} : { concurrency }),
      ...(values.timeout === undefined ? {} : { timeout: count('timeout', values.timeout, 1) }),
      ...(values.tries === undefined ? {} : { tries: count('tries', values.tries, 1) }),
      ...(gate !== undefined || rate === undefined ? {} : { rate }),
      ...(values.fixed ? { adaptive: false } : {}),
      ...(values.cache ? { cache: true } : {}),
    });
    if (command === 'query') {
      if (rest.length < 1 || rest.length > 2) throw new UsageError('query takes NAME [TYPE]');
      const message = await resolver.query(rest[0]!, (rest[1] ?? 'A').toUpperCase() as 'A');
      if (values.json) out(JSON.stringify(message, jsonReplacer));
      else for (const line of formatMessage(message)) out(line);
      return message.rcode === 'NOERROR' ? 0 : 1;
    }
    let type: keyof ResultByType;
    let names: string[];
    if (command === 'mx') [type, names] = ['MX', rest];
    else if (command === 'resolve' && rest.length > 0)
      [type, names] = [rest[0]!.toUpperCase() as 'A', rest.slice(1)];
    else if (command === 'resolve')
      throw new UsageError(
        'resolve needs a TYPE: dnsgate resolve TYPE NAME... (A AAAA ANY CAA CNAME MX NAPTR NS PTR SOA SRV TXT)',
      );
    else throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return await bulk(resolver, type, command === 'mx', names, values, io, out, err);
  } catch (e) {
    if (e instanceof UsageError || e instanceof TypeError || e instanceof RangeError) {
      err(`dnsgate: ${e.message}`);
      return 2;
    }
    const code = (e as { code?: string }).code;
    err(`dnsgate: ${code === undefined ? String(e) : `${code} (${(e as Error).message})`}`);
    return 1;
  } finally {
    await gate?.close();
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      server: { type: 'string', short: 's', multiple: true },
      concurrency: { type: 'string', short: 'c' },
      rate: { type: 'string', short: 'r' },
      timeout: { type: 'string', short: 't' },
      tries: { type: 'string' },
      file: { type: 'string', short: 'f' },
      json: { type: 'boolean' },
      ordered: { type: 'boolean' },
      fixed: { type: 'boolean' },
      cache: { type: 'boolean' },
      redis: { type: 'string' },
      'redis-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
}

async function bulk(
  resolver: Resolver,
  type: keyof ResultByType,
  seedStyle: boolean,
  names: string[],
  values: ReturnType<typeof parse>['values'],
  io: Io,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  // Ctrl-C, or a reader that went away (EPIPE): stop pulling, cancel what is in flight.
  const controller = new AbortController();
  const { signal } = controller;
  let input: Iterable<string> | AsyncIterable<string> = names;
  let total: number | undefined = names.length;
  if (values.file !== undefined) {
    if (names.length > 0) throw new UsageError('give names as arguments or with --file, not both');
    const path = values.file;
    if (path !== '-') {
      try {
        accessSync(path, constants.R_OK);
      } catch (e) {
        throw new UsageError(
          `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    }
    input = lines(() => {
      if (path === '-') return io.stdin;
      const file = createReadStream(path);
      signal.addEventListener('abort', () => file.destroy(), { once: true });
      return file;
    }, signal);
    total = undefined;
  } else if (names.length === 0) {
    if (io.stdin.isTTY) throw new UsageError('no names given (arguments, --file, or standard input)');
    input = lines(() => io.stdin, signal);
    total = undefined;
  }
  const run = resolver.resolveEach(input, type, { ordered: values.ordered === true, signal });
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  // `dnsgate mx ... | head`: once the reader is gone, every write fails; stop quietly.
  let gone = false;
  const onOutputError = (e: Error) => {
    gone = true;
    controller.abort(e);
  };
  io.stdout.on('error', onOutputError);
  const started = performance.now();
  const tty = io.stderr.isTTY === true;
  // With both streams on the terminal, a result line goes above the progress row, as errors do.
  const shared = tty && (io.stdout as { isTTY?: boolean }).isTTY === true;
  const progress = new ProgressLine((text) => io.stderr.write(text));
  const bar = tty
    ? setInterval(() => {
        const p = run.progress;
        const figures = {
          ...p,
          total,
          queries: resolver.stats.sent,
          seconds: (performance.now() - started) / 1000,
          limit: resolver.limits[0],
        };
        progress.draw(progressText(figures, io.stderr.columns));
      }, 100)
    : undefined;
  bar?.unref();
  const clearBar = () => progress.clear();
  const print = (line: string) => {
    if (gone) return;
    if (shared) progress.above(() => out(line));
    else out(line);
  };
  try {
    for await (const r of run) {
      if (gone) continue;
      if (r.ok && values.json)
        print(JSON.stringify({ name: r.name, type, ok: true, value: r.value }, jsonReplacer));
      else if (r.ok) {
        const list = (Array.isArray(r.value) ? r.value : [r.value]) as unknown[];
        if (seedStyle) {
          const mx = (list as { exchange: string; priority: number }[]).sort(
            (a, b) => a.priority - b.priority,
          );
          for (const m of mx) print(`${r.name.padEnd(15)} ${m.exchange || '.'}`);
        } else for (const v of list) print(`${r.name.padEnd(15)} ${formatValue(type, v)}`);
      } else {
        const e = r.error as { code?: string; message?: string };
        if (values.json)
          print(JSON.stringify({ name: r.name, type, ok: false, code: e.code, message: e.message }));
        // One short form: the name and node's code (the message would only repeat them).
        else progress.above(() => err(`${r.name.padEnd(15)} ${e.code ?? e.message ?? String(r.error)}`));
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
    // As a tool killed by SIGPIPE (128 + 13), without a word: nobody reads any more.
    if (gone) return 141;
    clearBar();
    const p = run.progress;
    err(
      `dnsgate: interrupted after ${p.settled} lookups: ${p.ok} ok, ${p.failed} failed (in-flight ones cancelled)`,
    );
    return 130;
  } finally {
    clearInterval(bar);
    process.removeListener('SIGINT', onSigint);
    io.stdout.removeListener('error', onOutputError);
  }
  clearBar();
  const p = run.progress;
  if (tty) err(`dnsgate: ${p.settled} lookups, ${p.ok} ok, ${p.failed} failed`);
  return p.failed > 0 ? 1 : 0;
}

/**
 * Runs the command line on this process's arguments and sets the exit status: what
 * bin/dnsgate.mjs calls.
 */
export function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  return main(argv).then(
    (status) => {
      process.exitCode = status;
    },
    (e: unknown) => {
      process.stderr.write(`dnsgate: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

// Run when executed as a script (`tsx src/cli.ts`, `node dist/cli.js`), not when imported.
const entry = process.argv[1] ?? '';
if (/(?:^|[\\/])cli\.(?:ts|js|mjs)$/.test(entry)) void run();
