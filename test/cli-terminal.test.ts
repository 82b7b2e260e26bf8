// The CLI on a real pseudo-terminal (tmux), as a person sees it: the progress row never wider than
// the terminal, always the bottom row while results and errors stream above it, and gone at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../src/testing/index.js';
import { requireBinaries } from './helpers/bin.js';

const available = requireBinaries(['tmux'], 'test/cli-terminal.test.ts');
const root = fileURLToPath(new URL('..', import.meta.url));
const zoneFile = join(root, 'fixtures/zones/seed.zone');
const PROGRESS = /^(\[[#.]{20}\] )?\d+(\/\d+)? done/;

describe.skipIf(!available)('the progress row on a terminal (tmux)', () => {
  let server: TestServer;
  let dir: string;
  const socket = `dnsgate-test-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

  beforeAll(async () => {
    // Answers held 20 ms at a gate of 4: 400 names take about 2 s, time to look at the screen.
    server = await startTestServer({ zoneFile, delayMs: 20 });
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-tty-'));
    // Every other name does not exist: errors stream on stderr between the results on stdout.
    const names = Array.from({ length: 200 }, (_, i) => `google.com\nnope${i}.google.com`).join('\n');
    writeFileSync(join(dir, 'names.txt'), `${names}\n`);
  });
  afterAll(async () => {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
    rmSync(dir, { recursive: true, force: true });
    await server.close();
  });

  it.each([40, 80])('at %i columns', async (columns) => {
    const session = `w${columns}`;
    const cli = `node --import tsx src/cli/cli.ts mx -s ${server.server} -c 4 -f ${join(dir, 'names.txt')}`;
    tmux(
      'new-session',
      '-d',
      '-x',
      String(columns),
      '-y',
      '20',
      '-s',
      session,
      '-c',
      root,
      `${cli}; sleep 30`,
    );
    const screen = () => tmux('capture-pane', '-p', '-t', session).split('\n');
    try {
      // Mid-run: wait until the row has been drawn and lines have streamed above it.
      let rows: string[] = [];
      for (let i = 0; i < 100; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        rows = screen().filter((r) => r !== '');
        if (rows.some((r) => r.includes('ENOTFOUND')) && PROGRESS.test(rows.at(-1) ?? '')) break;
      }
      const last = rows.at(-1)!;
      expect(last).toMatch(PROGRESS);
      expect(last.length).toBeLessThan(columns);
      // No stale progress rows above it (a wrapped or wiped row would leave one), and no wrapping.
      expect(rows.slice(0, -1).filter((r) => PROGRESS.test(r))).toEqual([]);
      for (const r of rows) expect(r.length).toBeLessThan(columns);
      expect(rows.slice(0, -1).some((r) => /^nope\d+\.google\.com ENOTFOUND$/.test(r))).toBe(true);
      expect(rows.slice(0, -1).some((r) => /^google\.com {6}\S+$/.test(r))).toBe(true);
      console.log(`screen at ${columns} columns, mid-run:\n${rows.slice(-4).join('\n')}`);
      // At the end: the row is gone, the summary is the last line.
      let done: string[] = [];
      for (let i = 0; i < 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        done = screen().filter((r) => r !== '');
        if (done.at(-1)?.startsWith('dnsgate: 400 lookups')) break;
      }
      expect(done.at(-1)).toBe('dnsgate: 400 lookups, 200 ok, 200 failed');
      expect(done.filter((r) => PROGRESS.test(r))).toEqual([]);
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-session', '-t', session]);
    }
  });
});
