#!/usr/bin/env node
// The `dnsgate` command: the CLI in dist/cli.js, which shares the library's chunks.
import { run } from '../dist/cli.js';

await run();
