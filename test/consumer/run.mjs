// The package as a consumer gets it: pack the tarball, install it into an empty project, type-check
// an ESM and a CommonJS consumer with `strict` and `skipLibCheck: false` under node16, nodenext and
// bundler resolution, run both against dnsgate/testing's server on loopback, run the installed
// `dnsgate` command, then attw and publint.
// Run after `npm run build`: npm run test:consumer
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const dir = mkdtempSync(join(tmpdir(), 'dnsgate-consumer-'));
const sh = (cmd, args, cwd) => {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
};

try {
  sh('npm', ['pack', '--pack-destination', dir, '--silent'], root);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  sh(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--silent',
      join(dir, tarball),
      '@types/node@^20',
    ],
    app,
  );

  const zone = "'$ORIGIN example.test.\\n@ 60 IN SOA ns hm 1 2 3 4 60\\n@ 60 IN MX 10 mx\\n'";
  const body = (tag) => `
  const server = await startTestServer({ zone: ${zone} });
  try {
    const cache: DnsCache = new DnsCache({ maxEntries: 10 });
    const resolver = new Resolver({ servers: [server.server], concurrency: 2, cache });
    const mx: MxRecord[] = await resolver.resolveMx('example.test');
    await resolver.resolveMx('example.test');
    if (resolver.cache?.size !== 1) throw new Error('expected one cached answer');
    const message: DnsMessage = await resolver.query('example.test', 'MX');
    // Records narrow on their type: our own published types, no @types package needed.
    for (const r of message.answers) if (r.type === 'MX') r.data.exchange.toUpperCase();
    const failed = await resolver.resolveMx('nope.example.test').catch((e: unknown) => e);
    if (!(failed instanceof DnsError) || failed.code !== 'ENOTFOUND') throw new Error('expected ENOTFOUND');
    const settled = await semMap((d: string) => resolver.resolveMx(d), ['example.test']);
    for (const [ok, value] of settled) if (!ok) throw value;
    // dnsgate/redis loads without its optional peer, ioredis, and says what is missing when used.
    const redisOptions: RedisGateOptions = { url: 'redis://127.0.0.1:1', key: 'k', limit: 1 };
    const noClient = await createRedisGate(redisOptions).catch((e: unknown) => e);
    if (!(noClient instanceof Error) || !noClient.message.includes('needs the ioredis package')) throw noClient;
    console.log('${tag}', mx[0]?.exchange, message.rcode, message.answers.length, failed.code, 'redis: needs ioredis');
  } finally {
    await server.close();
  }`;
  const imports =
    "import { DnsCache, DnsError, type DnsMessage, type MxRecord, Resolver, semMap } from 'dnsgate';\nimport { createRedisGate, type RedisGateOptions } from 'dnsgate/redis';\nimport { startTestServer } from 'dnsgate/testing';\n";
  writeFileSync(join(app, 'esm.mts'), `${imports}${body('esm ok:')}\n`);
  writeFileSync(
    join(app, 'cjs.cts'),
    `${imports}async function main(): Promise<void> {${body('cjs ok:')}\n}\nvoid main();\n`,
  );
  const base = { strict: true, skipLibCheck: false, types: ['node'], target: 'ES2022', lib: ['ES2023'] };
  const configs = {
    node16: { ...base, module: 'node16', moduleResolution: 'node16', outDir: 'out-node16' },
    nodenext: { ...base, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out-nodenext' },
    bundler: { ...base, module: 'esnext', moduleResolution: 'bundler', noEmit: true },
  };
  for (const [name, compilerOptions] of Object.entries(configs)) {
    const files = name === 'bundler' ? ['esm.mts'] : ['esm.mts', 'cjs.cts'];
    writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files }));
    sh(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], app);
    console.log(`types: ${name} ok (${files.join(', ')}, skipLibCheck false)`);
  }
  process.stdout.write(sh(process.execPath, ['out-node16/esm.mjs'], app));
  process.stdout.write(sh(process.execPath, ['out-node16/cjs.cjs'], app));
  // The installed command, which shares the library's chunks.
  process.stdout.write(sh(join(app, 'node_modules/.bin/dnsgate'), ['--version'], app));
  const demo = sh(join(app, 'node_modules/.bin/dnsgate'), ['demo'], app);
  if (!demo.includes('peak in flight at the server')) throw new Error(`dnsgate demo printed:\n${demo}`);
  console.log('bin: dnsgate demo ok');
  process.stdout.write(
    sh(
      process.execPath,
      [
        join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'),
        '--pack',
        '.',
        '--format',
        'table-flipped',
      ],
      root,
    ),
  );
  process.stdout.write(sh(process.execPath, [join(root, 'node_modules/publint/src/cli.js')], root));
  console.log('consumer: all passed');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
