// The command line end to end, in a child process, against the test server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../src/testing/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const zoneFile = join(root, 'fixtures/zones/seed.zone');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { stdin?: string; sigintAfter?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      // Send Ctrl-C once the first answer shows that the run is under way.
      if (options.sigintAfter !== undefined && stdout.includes(options.sigintAfter)) {
        options.sigintAfter = undefined;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
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

  it('a failed name goes to stderr with its code, exit 1', async () => {
    const r = await cli(['mx', '-s', server.server, '--ordered', 'microsoft.com', 'nope.google.com']);
    expect(r.stdout).toBe('microsoft.com   mail.messaging.microsoft.com\n');
    expect(r.stderr).toMatch(/^nope\.google\.com +ENOTFOUND queryMx ENOTFOUND nope\.google\.com\n$/);
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
    [['mx', '-s', 'not-an-ip', 'x.com'], /Invalid nameserver "not-an-ip"/],
    [[], /no command given/],
  ])('bad usage %j: exit 2 with a clear message', async (args, message) => {
    const r = await cli(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
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

  it('demo runs the seed job', async () => {
    const r = await cli(['demo']);
    expect(r.stdout.split('\n').filter((l) => / \S+$/.test(l) && !l.startsWith('peak'))).toHaveLength(25);
    expect(r.stdout).toMatch(/peak in flight at the server: [12] \(gate: 2\)/);
    expect(r.status).toBe(0);
  });
});
