// Where the package keeps the seed's zone, wherever the package is installed.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SEED = join('fixtures', 'zones', 'seed.zone');

/** The nearest folder above this module that holds the seed zone: the package's root. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, SEED))) return dir;
    dir = dirname(dir);
  }
  return dirname(fileURLToPath(import.meta.url));
}

/**
 * The path of the seed's zone (the five domains of the Twisted post, their MX records), shipped in
 * the package: a zone to start the test server with from any working directory.
 *
 * @example
 * ```ts
 * import { seedZoneFile, startTestServer } from 'dnsgate/testing';
 * const server = await startTestServer({ zoneFile: seedZoneFile });
 * ```
 */
export const seedZoneFile: string = join(packageRoot(), SEED);
