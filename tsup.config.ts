import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    target: 'node20',
    platform: 'node',
    clean: true,
    sourcemap: true,
    splitting: true,
    // The CommonJS build needs import.meta.url (src/wire/codec.ts loads dns-packet through
    // createRequire); tsup's shim supplies it from __filename.
    shims: true,
  },
  {
    // The command line: ESM only (it reads the demo zone next to the package via import.meta.url).
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    banner: { js: '#!/usr/bin/env node' },
  },
]);
