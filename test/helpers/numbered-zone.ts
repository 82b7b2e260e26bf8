// A zone of numbered names (`n0.ORIGIN` ... with an A record each) for transport tests, and a
// wait for what real sockets report in their own time.
import { setTimeout as sleep } from 'node:timers/promises';

/** `count` names under `origin`, each with one A record: the zone text, the i-th name and its answer. */
export function numberedZone(origin: string, count = 64) {
  return {
    zone: [
      `$ORIGIN ${origin}.`,
      '@ SOA ns hm 1 2 3 4 60',
      ...Array.from({ length: count }, (_, i) => `n${i} A 192.0.2.${i}`),
    ].join('\n'),
    name: (i: number) => `n${i % count}.${origin}`,
    address: (i: number) => [`192.0.2.${i % count}`],
  };
}

/** Waits (a real few ms at a time) until `done()` holds: socket closes and server events are real I/O. */
export async function until(done: () => boolean, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !done(); ) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}
