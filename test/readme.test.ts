// Every TypeScript example in README.md type-checks (strict) and runs, against the built-in test
// server: the harness points each `servers: [...]` at it and reads `domains.txt` from a temp file.
// The examples keep the names a user would write; they import 'dnsgate' as a user does. The
// dnsgate/redis example runs against a redis-server of its own (when installed; CI installs it).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedZoneFile, startTestServer, type TestServer } from '../src/testing/index.js';
import { findBinary } from './helpers/bin.js';
import { type RedisServer, startRedis } from './helpers/redis.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const examples = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map(
  (m) => m[1]!,
);
// What the examples ask besides the seed's five domains.
const ZONE = `$ORIGIN example.com.
@ 300 IN SOA ns hm 1 2 3 4 60
@ 300 IN A 93.184.215.14
@ 300 IN MX 10 mx
@ 300 IN TXT "v=spf1 -all"
mx 300 IN A 192.0.2.10
$ORIGIN 2.0.192.in-addr.arpa.
@ 300 IN SOA ns hm 1 2 3 4 60
1 300 IN PTR host.example.com.
`;

describe('README examples', () => {
  let server: TestServer;
  let dir: string;
  let redis: RedisServer | undefined;
  const files: string[] = [];
  beforeAll(async () => {
    server = await startTestServer({ zoneFile: seedZoneFile, zone: ZONE });
    if (findBinary('redis-server') !== undefined) redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-readme-'));
    const domains = join(dir, 'domains.txt');
    writeFileSync(domains, 'google.com\nyahoo.com\nnope.example.com\n');
    examples.forEach((code, i) => {
      const file = join(dir, `example-${i}.mts`);
      const source = code
        .replaceAll(/servers: \[[^\]]*\]/g, `servers: ['${server.server}']`)
        .replaceAll("'domains.txt'", JSON.stringify(domains))
        .replaceAll("'redis://127.0.0.1:6379'", JSON.stringify(redis?.url ?? 'redis://127.0.0.1:1'))
        .replaceAll("from 'dnsgate/redis'", `from ${JSON.stringify(join(root, 'src/redis/index.js'))}`)
        .replaceAll("from 'dnsgate/testing'", `from ${JSON.stringify(join(root, 'src/testing/index.js'))}`)
        .replaceAll("from 'dnsgate'", `from ${JSON.stringify(join(root, 'src/index.js'))}`);
      writeFileSync(file, `${source}\nexport {};\n`);
      files.push(file);
    });
    const compilerOptions = {
      strict: true,
      noEmit: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'ES2022',
      lib: ['ES2023'],
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      skipLibCheck: true,
    };
    // dnsgate's own ambient declarations (dns-packet's subpath modules) come along with its source.
    const ambient = ['dns-packet-classes.d.ts', 'dns-packet-types.d.ts'].map((f) =>
      join(root, 'src/types', f),
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions, files: [...ambient, ...files] }),
    );
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await server.close();
    await redis?.stop();
  });

  it('there are examples to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  it('every example type-checks (strict)', () => {
    let output = '';
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], {
        encoding: 'utf8',
      });
    } catch (e) {
      output = String((e as { stdout?: string }).stdout);
    }
    expect(output).toBe('');
  }, 60_000);

  // In a child process, asynchronously: the test server answers from this process's event loop.
  it.each(examples.map((_, i) => i))(
    'example %i runs to the end',
    async (i) => {
      if (redis === undefined && examples[i]!.includes("'dnsgate/redis'")) {
        console.warn(`README example ${i} (dnsgate/redis) type-checked only: redis-server is not installed`);
        return;
      }
      const child = spawn(process.execPath, ['--import', 'tsx', files[i]!], { cwd: root });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.stdout.resume();
      const status = await new Promise((resolve) => child.on('close', resolve));
      expect(stderr).not.toMatch(/Error|at .*:\d+:\d+/);
      expect(status).toBe(0);
    },
    30_000,
  );
});
