// The external DNS servers the interop suites drive (Knot DNS, dnsmasq): finding their binaries,
// deciding what a suite does when they are absent (CI fails loudly, a laptop skips loudly), and the
// plumbing both daemons share: a free loopback port, a child process that is always reaped, a probe.
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { accessSync, constants, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DecodedPacket, decodeMessage, encodeMessage, type Packet } from '../../src/wire/codec.js';

/** The one line that installs everything these suites need (Debian / Ubuntu). */
export const APT_LINE = 'apt-get install -y knot knot-dnsutils dnsmasq unbound redis-server tmux';

// Debian puts daemons in /usr/sbin, which is not on an ordinary user's PATH: look there too so a
// non-root developer with the packages installed still runs the suites.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** The absolute path of an executable named `name` on PATH or in the sbin directories, else undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS].filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here (or not executable): keep looking.
    }
  }
  return undefined;
}

/** Like {@link findBinary}, but for callers that already checked with {@link requireBinaries}. */
export function binary(name: string): string {
  const path = findBinary(name);
  if (path === undefined) throw new Error(`${name} not found on PATH or in ${EXTRA_DIRS.join(', ')}`);
  return path;
}

/**
 * Whether every binary in `names` is present. When some are missing: with `CI` set this throws,
 * so the suite fails instead of passing by skipping (CI installs them; a silent skip there would
 * hide the loss of the whole interop suite); without `CI` it warns loudly and returns false, and
 * the caller skips its tests.
 */
export function requireBinaries(names: readonly string[], suite: string): boolean {
  const missing = names.filter((n) => findBinary(n) === undefined);
  if (missing.length === 0) return true;
  const where = `PATH or ${EXTRA_DIRS.join(', ')}`;
  const message = `${suite}: missing ${missing.join(', ')} (looked on ${where}). Install with: ${APT_LINE}`;
  if (inCi()) throw new Error(`${message}. CI must have them, so this suite fails rather than skips.`);
  const bar = '!'.repeat(Math.min(100, message.length));
  console.warn(`\n${bar}\nSKIPPING ${message}\n${bar}\n`);
  return false;
}

// CI=false or CI=0 (some shells export it that way) means "not CI".
function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** A daemon listening on 127.0.0.1, UDP and TCP on one port, and how to stop it. */
export interface LoopbackDaemon {
  address: '127.0.0.1';
  port: number;
  /** `'127.0.0.1:PORT'`, as a Resolver's `servers` takes it. */
  server: string;
  pid: number;
  /** Its temp dir (config, pid file, zones); removed by `stop()`. */
  dir: string;
  /** The last 64 KiB the daemon wrote to stdout and stderr. */
  log(): string;
  /** SIGTERM, SIGKILL if it is still alive after a while, then the temp dir goes. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A port that is free on 127.0.0.1 for both UDP and TCP right now. The OS picks it for UDP; the
 * TCP bind checks the same number, since DNS servers listen on both. Someone may take it before the
 * daemon binds it, so {@link startDaemon} retries with a fresh port when the daemon says so.
 */
export async function freeLoopbackPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const udp = dgram.createSocket('udp4');
    const tcp = net.createServer();
    try {
      udp.bind(0, '127.0.0.1');
      await once(udp, 'listening');
      const { port } = udp.address();
      tcp.listen(port, '127.0.0.1');
      await once(tcp, 'listening');
      return port;
    } catch {
      // TCP port taken: try another.
    } finally {
      try {
        udp.close();
      } catch {
        // Never bound: nothing to close.
      }
      if (tcp.listening) await new Promise((resolve) => tcp.close(resolve));
    }
  }
  throw new Error('no port free for both UDP and TCP on 127.0.0.1 after 50 tries');
}

/**
 * Sends one query to 127.0.0.1:port over UDP and resolves with the decoded reply carrying its ID,
 * or undefined after `timeoutMs` (nobody listening yet, or not answering yet).
 */
export async function probe(
  port: number,
  query: Packet,
  timeoutMs = 250,
): Promise<DecodedPacket | undefined> {
  const id = Math.floor(Math.random() * 0x10000);
  const bytes = encodeMessage({ ...query, id, type: 'query' });
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<DecodedPacket | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      const done = (reply: DecodedPacket | undefined) => {
        clearTimeout(timer);
        resolve(reply);
      };
      socket.on('error', () => done(undefined));
      socket.on('message', (msg) => {
        try {
          const reply = decodeMessage(msg);
          if (reply.id === id) done(reply);
        } catch {
          // Not DNS, or not whole: keep waiting.
        }
      });
      socket.send(bytes, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** The TXT strings of the first TXT answer of a reply, joined, or undefined. */
export function txtOf(reply: DecodedPacket | undefined): string | undefined {
  const txt = reply?.answers.find((r) => r.type === 'TXT');
  if (txt === undefined) return undefined;
  const data = (txt as { data: unknown }).data;
  return (Array.isArray(data) ? data : [data]).map((d) => String(d)).join('');
}

/** How {@link startDaemon} runs one daemon. */
export interface DaemonSpec {
  /** For messages: `'knotd'`, `'dnsmasq'`. */
  label: string;
  /** Its temp dir, created by the caller; removed on stop or on a failed start. */
  dir: string;
  /** The command line for a given port. Called again with a new port after a clash. */
  command(port: number): Promise<{ file: string; args: string[] }>;
  /** Resolves true once the daemon on `port` is ours and ready to answer. */
  ready(port: number): Promise<boolean>;
  /** How long to wait for `ready`; default 15 s (CI machines run test files in parallel). */
  readyTimeoutMs?: number;
  /** Log lines that mean it will never be ready (a zone that fails to load): give up at once. */
  fatal?: RegExp;
}

// Both daemons say this when the port was taken between our check and their bind.
const PORT_CLASH = /address already in use|EADDRINUSE/i;
const LOG_LIMIT = 64 * 1024;
const STOP_GRACE_MS = 5000;

/**
 * Starts a daemon in the foreground on a free loopback port and waits until `ready` says so. On a
 * port clash it retries on another port; on any other early exit, or no readiness in time, it
 * kills the child, removes the temp dir and throws with the daemon's own words.
 */
export async function startDaemon(spec: DaemonSpec): Promise<LoopbackDaemon> {
  const readyTimeout = spec.readyTimeoutMs ?? 15_000;
  let lastLog = '';
  try {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const port = await freeLoopbackPort();
      const { file, args } = await spec.command(port);
      const child = spawnGuarded(file, args, spec.dir);
      const daemon = track(child, spec, port);
      const deadline = Date.now() + readyTimeout;
      let ok = false;
      try {
        const hopeless = () => PORT_CLASH.test(daemon.log()) || (spec.fatal?.test(daemon.log()) ?? false);
        while (daemon.alive() && !hopeless() && Date.now() < deadline) {
          if (await spec.ready(port)) {
            ok = true;
            break;
          }
          await sleep(25);
        }
      } finally {
        // Whatever went wrong (even a throwing probe), no daemon outlives a failed start.
        if (!ok || !daemon.alive()) await daemon.kill();
      }
      if (ok && daemon.alive()) return daemon.handle;
      // Read after kill(), which waits for the pipes to drain: the reason may come after the exit.
      lastLog = daemon.log();
      if (!PORT_CLASH.test(lastLog)) {
        const why =
          Date.now() >= deadline
            ? `not ready after ${readyTimeout} ms`
            : spec.fatal?.test(lastLog)
              ? 'failed'
              : 'exited early';
        throw new Error(`${spec.label} ${why} (${file} ${args.join(' ')}):\n${lastLog}`);
      }
    }
    throw new Error(`${spec.label}: port taken on every try:\n${lastLog}`);
  } catch (err) {
    await rm(spec.dir, { recursive: true, force: true });
    throw err;
  }
}

// setpriv (util-linux) execs the daemon with PR_SET_PDEATHSIG, so the kernel kills it if this test
// process dies without running its hooks (SIGKILL from a runner, a crash). It execs, so the pid is
// the daemon's own. Without setpriv the daemon is spawned directly and the 'exit' hook must do.
function spawnGuarded(file: string, args: string[], cwd: string): ChildProcess {
  const setpriv = process.platform === 'linux' ? findBinary('setpriv') : undefined;
  const [command, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', file, ...args]] : [file, args];
  return spawn(command, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

// Wires up one child: its output kept in a bounded buffer, its exit awaited, and a last-resort kill
// when the test process exits without calling stop() (a crash, or a hook timing out).
function track(child: ChildProcess, spec: DaemonSpec, port: number) {
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  // Always read both pipes: a daemon blocked on a full pipe stops answering.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      keep(Buffer.from(`spawn failed: ${err.message}\n`));
      exited = true;
      resolve();
    });
  });
  // 'close' comes once stdout and stderr are drained too; a forked helper of the daemon could hold
  // them open, so it is waited for only briefly.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const onProcessExit = () => {
    if (!exited) child.kill('SIGKILL');
    rmSync(spec.dir, { recursive: true, force: true });
  };
  process.once('exit', onProcessExit);

  const kill = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    }
    const grace = new AbortController();
    await Promise.race([closed, sleep(1000, undefined, { signal: grace.signal }).catch(() => {})]);
    grace.abort();
    process.removeListener('exit', onProcessExit);
  };
  let stopping: Promise<void> | undefined;
  const handle: LoopbackDaemon = {
    address: '127.0.0.1',
    port,
    server: `127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    dir: spec.dir,
    log: () => output,
    stop: () => {
      stopping ??= (async () => {
        await kill();
        await rm(spec.dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  return { handle, alive: () => !exited, log: () => output, kill };
}
