// Out of file descriptors: a child process under `ulimit -n 64` runs a gate of 200 (see
// helpers/emfile-child.ts). EMFILE must fail queries (ECONNREFUSED, as c-ares), never the process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
// Type only: importing the child's module for real would run it.
import type { Tally } from './helpers/emfile-child.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const CHILD_TIMEOUT_MS = 17_000;

interface Summary {
  fds: { atStart: number; withServer: number; afterFlood: number; afterIdle: number };
  flood: Tally & { ms: number; gate: { tokens: number; waiting: number; limit: number } };
  rightAfter: Tally;
  recovered: Tally;
  later: Tally;
  serverQueries: number;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs the child under `ulimit -n 64` with the repo's way of running TS (`node --import tsx`). */
function runChild(): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      ['-c', 'ulimit -n 64 && exec "$NODE" --import tsx test/helpers/emfile-child.ts'],
      {
        cwd: root,
        env: { ...process.env, NODE: process.execPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

describe('EMFILE: a gate far over the fd limit', () => {
  let result: ChildResult;
  let summary: Summary;

  beforeAll(async () => {
    result = await runChild();
    const line = result.stdout.trim().split('\n').pop() ?? '';
    try {
      summary = JSON.parse(line) as Summary;
    } catch {
      // Left undefined: the first test reports the child's exit and stderr.
    }
  }, CHILD_TIMEOUT_MS + 2000);

  it('the child neither crashes nor hangs', () => {
    const why = `exit ${result.code} signal ${result.signal}${result.timedOut ? ' (killed: hung)' : ''}\nstderr:\n${result.stderr}`;
    expect(result.timedOut, why).toBe(false);
    expect(result.code, why).toBe(0);
    expect(result.signal, why).toBeNull();
    expect(summary, `no JSON summary on stdout: ${result.stdout}\n${why}`).toBeDefined();
    console.log(`[emfile] ${JSON.stringify(summary)}`);
  });

  it('400 queries through a gate of 200 each settle once: an answer or a DnsError', () => {
    const { flood } = summary;
    expect(flood.settledOnce).toBe(true);
    expect(flood.notDnsError).toEqual([]);
    const failed = Object.values(flood.failed).reduce((a, b) => a + b, 0);
    expect(flood.ok + failed).toBe(400);
    // The limit was really hit, and it surfaced as ECONNREFUSED carrying the EMFILE.
    expect(flood.emfile).toBeGreaterThan(0);
    expect(Object.keys(flood.failed).filter((c) => c !== 'ECONNREFUSED' && c !== 'ETIMEOUT')).toEqual([]);
    // Some got through: the sockets that fit under the limit answered.
    expect(flood.ok).toBeGreaterThan(0);
    // Every permit came back.
    expect(flood.gate).toEqual({ tokens: 200, waiting: 0, limit: 200 });
  });

  it('right after the flood a sane gate gets every answer (idle sockets give their descriptors back)', () => {
    for (const tally of [summary.rightAfter, summary.recovered, summary.later]) {
      expect(tally.settledOnce).toBe(true);
      expect(tally.notDnsError).toEqual([]);
    }
    // Out of descriptors, every pool closes its idle sockets and the try is repeated, so even
    // right after the flood a sane gate gets every answer.
    expect(summary.rightAfter.ok).toBe(summary.rightAfter.total);
    expect(summary.recovered.ok).toBe(summary.recovered.total);
    expect(summary.later.ok).toBe(summary.later.total);
    // Idle sockets were closed: the fd count is back where it was before the flood.
    expect(summary.fds.afterIdle).toBeLessThanOrEqual(summary.fds.withServer);
  });
});
