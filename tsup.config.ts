import { defineConfig } from 'tsup';

export default defineConfig({
  // The command line is one more entry of the same build, so dist/cli.js imports the library's
  // chunks instead of carrying its own copy; bin/dnsgate.mjs (with the #! line) starts it.
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'redis/index': 'src/redis/index.ts',
    cli: 'src/cli/cli.ts',
  },
  format: ['esm', 'cjs'],
  dts: {
    entry: {
      index: 'src/index.ts',
      'testing/index': 'src/testing/index.ts',
      'redis/index': 'src/redis/index.ts',
    },
  },
  // ioredis is an optional peer dependency, loaded only by dnsgate/redis.
  external: ['ioredis'],
  target: 'node20',
  platform: 'node',
  clean: true,
  sourcemap: true,
  splitting: true,
  // The CommonJS build needs import.meta.url (src/wire/codec.ts loads dns-packet through
  // createRequire); tsup's shim supplies it from __filename.
  shims: true,
});
