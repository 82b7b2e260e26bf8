import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** How many handles of one kind (e.g. 'UDPWrap') keep this process alive now (unref'd ones are not listed). */
export function handleCount(kind: string): number {
  return process.getActiveResourcesInfo().filter((r) => r === kind).length;
}

/**
 * UDP sockets this process has open, from the kernel's view (Linux /proc): counts unref'd
 * sockets too, which `getActiveResourcesInfo()` does not list. With `remotePort`, only the
 * sockets connect()ed to that port: a client's sockets to one server, whatever else the process
 * (or a test worker it shares with other files) has open.
 */
export function openUdpSockets(remotePort?: number): number {
  return openSockets('udp', remotePort === undefined ? undefined : [remotePort]);
}

/** TCP connections this process has open to any of `remotePorts`, as {@link openUdpSockets} counts. */
export function openTcpSockets(...remotePorts: number[]): number {
  return openSockets('tcp', remotePorts);
}

function openSockets(kind: 'udp' | 'tcp', remotePorts: number[] | undefined): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // The fd closed while we looked.
    }
  }
  // A set, not a count: /proc/net/udp is read a page at a time, and a socket opened or closed
  // between two reads can shift the table so one line shows up twice.
  const seen = new Set<string>();
  for (const table of [`/proc/net/${kind}`, `/proc/net/${kind}6`]) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const inode = fields[9];
      if (inode === undefined || !inodes.has(inode)) continue;
      // rem_address is ADDR:PORT in hex; an unconnected socket shows port 0000.
      if (
        remotePorts !== undefined &&
        !remotePorts.includes(Number.parseInt(fields[2]?.split(':')[1] ?? '', 16))
      )
        continue;
      seen.add(inode);
    }
  }
  return seen.size;
}

/** `process.getActiveResourcesInfo()` tallied by kind ('UDPWrap', 'Timeout', 'TCPServerWrap', ...). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** The kinds of which `after` holds more active resources than `before`, with both counts. */
export function resourceGrowth(
  before: Map<string, number>,
  after: Map<string, number>,
): Record<string, { before: number; after: number }> {
  const grown: Record<string, { before: number; after: number }> = {};
  for (const [kind, n] of after) {
    const was = before.get(kind) ?? 0;
    if (n > was) grown[kind] = { before: was, after: n };
  }
  return grown;
}

/** File descriptors this process has open now (Linux /proc). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
