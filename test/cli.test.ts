// The command line end to end, in a child process, against the test server.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Io, main } from '../src/cli/cli.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const zoneFile = join(root, 'fixtures/zones/seed.zone');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  stdin?: string;
  /** Send Ctrl-C once stdout holds this text. */
  sigintAfter?: string;
  /** Leave stdin open (closed after 10 s at the latest) instead of ending it after `stdin`. */
  stdinOpen?: boolean;
  /** Close our end of stdout once it holds this text (the reader goes away: EPIPE). */
  hangUpAfter?: string;
}

function cli(args: string[], options: CliOptions = {}): Promise<Run & { afterSigintMs?: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/cli.ts', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    let sigintAt: number | undefined;
    child.stdout.on('data', (d) => {
      stdout += d;
      // Send Ctrl-C once the first answer shows that the run is under way.
      if (options.sigintAfter !== undefined && stdout.includes(options.sigintAfter)) {
        options.sigintAfter = undefined;
        sigintAt = performance.now();
        child.kill('SIGINT');
      }
      if (options.hangUpAfter !== undefined && stdout.includes(options.hangUpAfter)) {
        options.hangUpAfter = undefined;
        child.stdout.destroy();
      }
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    const closeStdin = setTimeout(() => child.stdin.end(), 10_000);
    child.on('close', (status) => {
      clearTimeout(closeStdin);
      const afterSigintMs = sigintAt === undefined ? undefined : performance.now() - sigintAt;
      resolve({ status, stdout, stderr, ...(afterSigintMs === undefined ? {} : { afterSigintMs }) });
    });
    child.stdin.on('error', () => {});
    if (options.stdinOpen) child.stdin.write(options.stdin ?? '');
    else child.stdin.end(options.stdin ?? '');
  });
}

/** Streams for main() in this process: one terminal both outputs are written to, as a user sees it. */
function terminal(): { io: Io; screen: () => string[] } {
  let text = '';
  const sink = () =>
    Object.assign(
      new Writable({
        write(chunk, _enc, done) {
          text += chunk;
          done();
        },
      }),
      { isTTY: true },
    );
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const io: Io = { stdout: sink(), stderr: sink(), stdin };
  // What each line shows: the text after its last carriage return, without erase-line codes.
  const screen = () =>
    text.split('\n').map((line) => line.slice(line.lastIndexOf('\r') + 1).replaceAll('\x1b[K', ''));
  return { io, screen };
}

describe('dnsgate CLI', () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startTestServer({ zoneFile });
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-cli-'));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mx prints the seed-style lines in input order with --ordered, exit 0', async () => {
    const r = await cli(['mx', '--server', server.server, '--ordered', 'microsoft.com', 'facebook.com']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'microsoft.com   mail.messaging.microsoft.com\nfacebook.com    smtpin.mx.facebook.com\n',
    );
    expect(r.status).toBe(0);
  });

  it('--fixed turns the adaptive gate off and otherwise works alike', async () => {
    const r = await cli([
      'mx',
      '--fixed',
      '-c',
      '4',
      '--server',
      server.server,
      '--ordered',
      'microsoft.com',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('microsoft.com   mail.messaging.microsoft.com\n');
    expect(r.status).toBe(0);
  });

  it('--cache asks a repeated name once (one at a time, so no two ride on one query)', async () => {
    const args = ['mx', '--fixed', '-c', '1', '-s', server.server, '--ordered'];
    const names = ['microsoft.com', 'nope.google.com', 'microsoft.com', 'nope.google.com', 'microsoft.com'];
    server.resetStats();
    const cached = await cli([...args, '--cache', ...names]);
    expect(server.stats.queries).toBe(2);
    server.resetStats();
    const plain = await cli([...args, ...names]);
    expect(server.stats.queries).toBe(5);
    expect(cached.stdout).toBe(plain.stdout);
    expect(cached.stderr).toBe(plain.stderr);
    expect(cached.stdout.split('\n')).toHaveLength(4);
  });

  it('a failed name goes to stderr with its code, exit 1', async () => {
    const r = await cli(['mx', '-s', server.server, '--ordered', 'microsoft.com', 'nope.google.com']);
    expect(r.stdout).toBe('microsoft.com   mail.messaging.microsoft.com\n');
    expect(r.stderr).toBe('nope.google.com ENOTFOUND\n');
    expect(r.status).toBe(1);
  });

  it('--json: one object per line, errors included', async () => {
    const r = await cli([
      'resolve',
      'mx',
      '-s',
      server.server,
      '--json',
      '--ordered',
      'facebook.com',
      'a..b',
    ]);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      {
        name: 'facebook.com',
        type: 'MX',
        ok: true,
        value: [{ exchange: 'smtpin.mx.facebook.com', priority: expect.any(Number) }],
      },
      { name: 'a..b', type: 'MX', ok: false, code: 'EBADNAME', message: 'queryMx EBADNAME a..b' },
    ]);
    expect(r.status).toBe(1);
  });

  it('--file and standard input skip blank lines and # comments', async () => {
    const file = join(dir, 'names.txt');
    writeFileSync(file, '# the seed\n\ngoogle.com\n  \nfacebook.com\n');
    const fromFile = await cli(['mx', '-s', server.server, '--ordered', '--file', file]);
    expect(fromFile.stdout.split('\n').filter(Boolean)).toHaveLength(6);
    const fromStdin = await cli(['mx', '-s', server.server, '--ordered'], { stdin: '# x\nfacebook.com\n\n' });
    expect(fromStdin.stdout).toBe('facebook.com    smtpin.mx.facebook.com\n');
    expect(fromStdin.status).toBe(0);
  });

  it('query prints the whole message', async () => {
    const r = await cli(['query', 'nope.google.com', 'MX', '-s', server.server]);
    expect(r.stdout).toContain(';; NXDOMAIN');
    expect(r.stdout).toContain(';; AUTHORITY');
    expect(r.stdout).toMatch(/google\.com\.\t\d+\tIN\tSOA\t/);
    expect(r.status).toBe(1);
  });

  it.each([
    [['mx', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate', 'x'], /unknown command "frobnicate"/],
    [['mx', '-c', '0', 'x.com'], /--concurrency expects an integer >= 1, got "0"/],
    [['mx', '-s', 'not-an-ip', 'x.com'], /Invalid IP address: not-an-ip/],
    [[], /^Usage:\n {2}dnsgate mx NAME/],
  ])('bad usage %j: exit 2 with a clear message', async (args, message) => {
    const r = await cli(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  // main() in this process: exit status and every line written.
  async function run(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const sink = (add: (s: string) => void) =>
      new Writable({
        write(chunk, _enc, done) {
          add(String(chunk));
          done();
        },
      });
    const io: Io = {
      stdout: sink((t) => (stdout += t)),
      stderr: sink((t) => (stderr += t)),
      stdin: Object.assign(new PassThrough(), { isTTY: true }),
    };
    const status = await main(args, io);
    return { status, stdout, stderr };
  }

  it.each([
    [['mx', '-c', '-1', 'x.com'], 'dnsgate: --concurrency expects an integer >= 1, got "-1"\n'],
    [['mx', '--rate', '-5', 'x.com'], 'dnsgate: --rate expects an integer >= 1, got "-5"\n'],
    [['mx', '-c', '1e3', 'x.com'], 'dnsgate: --concurrency expects an integer >= 1, got "1e3"\n'],
    [['mx', '-c', '0x10', 'x.com'], 'dnsgate: --concurrency expects an integer >= 1, got "0x10"\n'],
    [['mx', '-t', '1.5', 'x.com'], 'dnsgate: --timeout expects an integer >= 1, got "1.5"\n'],
    [['mx', '-f', 'missing.txt'], 'dnsgate: cannot read missing.txt: ENOENT\n'],
    [['demo', 'extra'], 'dnsgate: demo takes no arguments or options, got extra\n'],
    [['demo', '--json'], 'dnsgate: demo takes no arguments or options, got --json\n'],
    [['resolve'], /^dnsgate: resolve needs a TYPE: dnsgate resolve TYPE NAME\.\.\. \(A AAAA/],
  ])('%j: exit 2 with one line', async (args, message) => {
    const r = await run(args);
    expect(r.status).toBe(2);
    if (typeof message === 'string') expect(r.stderr).toBe(message);
    else expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(await run(['--version'])).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' });
    expect((await run(['-V'])).stdout).toBe(`${version}\n`);
  });

  it("'::1:53' as a server: a note that it is an IPv6 address, not port 53 of ::1", async () => {
    const r = await run(['mx', '-s', '::1:53', '-t', '1', '--tries', '1', '-f', '/dev/null']);
    expect(r.stderr).toMatch(
      /note: "::1:53" is the IPv6 address ::1:53 \(port 53\); for a port, write '\[address\]:port'/,
    );
    expect((await run(['mx', '-s', '2001:db8::1', '-f', '/dev/null'])).stderr).not.toMatch(/note:/);
  });

  it('query --json gives rdata bytes in one form, hex, whatever they hold', async () => {
    const txt = await startTestServer({ zone: '$ORIGIN t.test.\n@ 60 IN TXT "abc" "\\255\\000" "414243"\n' });
    try {
      const r = await run(['query', 't.test', 'TXT', '-s', txt.server, '--json']);
      const message = JSON.parse(r.stdout) as { answers: { data: unknown }[] };
      // Printable text, bytes that are not, and text that looks like hex: all the same form.
      expect(message.answers[0]!.data).toEqual([{ hex: '616263' }, { hex: 'ff00' }, { hex: '343134323433' }]);
    } finally {
      await txt.close();
    }
  });

  it('Ctrl-C stops pulling, prints a summary, exits 130', async () => {
    const slow = await startTestServer({ zoneFile, delayMs: 50 });
    const names = Array.from({ length: 2000 }, () => 'facebook.com').join('\n');
    const r = await cli(['mx', '-s', slow.server, '-c', '2'], { stdin: names, sigintAfter: 'facebook.com' });
    await slow.close();
    expect(r.status).toBe(130);
    expect(r.stderr).toMatch(/interrupted after \d+ lookups: \d+ ok, \d+ failed/);
    expect(r.stdout.split('\n').filter(Boolean).length).toBeLessThan(2000);
  });

  it('Ctrl-C while stdin is open but idle: exit 130 at once, not when stdin closes', async () => {
    const r = await cli(['mx', '-s', server.server], {
      stdin: 'facebook.com\n',
      stdinOpen: true,
      sigintAfter: 'facebook.com',
    });
    expect(r.status).toBe(130);
    expect(r.afterSigintMs).toBeLessThan(3000);
  });

  it('a reader that goes away (| head): exit 141 quietly, no EPIPE stack', async () => {
    const names = Array.from({ length: 3000 }, () => 'facebook.com').join('\n');
    const r = await cli(['mx', '-s', server.server], { stdin: names, hangUpAfter: 'facebook.com' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
  });

  it('usage errors leave no SIGINT listener behind (main() in this process)', async () => {
    const before = process.listenerCount('SIGINT');
    const { io } = terminal();
    expect(await main(['resolve', 'BOGUS', 'x.test', '-s', server.server], io)).toBe(2);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('with stdout and stderr on one terminal, no result line lands after the progress bar', async () => {
    const slow = await startTestServer({ zoneFile, delayMs: 250 });
    try {
      const { io, screen } = terminal();
      expect(await main(['mx', '-s', slow.server, '--ordered', 'microsoft.com', 'facebook.com'], io)).toBe(0);
      const shown = screen().filter((l) => l.includes('.com '));
      expect(shown).toEqual([
        'microsoft.com   mail.messaging.microsoft.com',
        'facebook.com    smtpin.mx.facebook.com',
      ]);
    } finally {
      await slow.close();
    }
  });

  it('demo runs the seed job', async () => {
    const r = await cli(['demo']);
    expect(r.stdout.split('\n').filter((l) => / \S+$/.test(l) && !l.startsWith('peak'))).toHaveLength(25);
    expect(r.stdout).toMatch(/peak in flight at the server: [12] \(gate: 2\)/);
    expect(r.status).toBe(0);
  });
});
