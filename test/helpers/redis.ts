// redis-server on a free loopback port, no persistence (`--save '' --appendonly no`), config on the
// command line and its dir in a temp dir; stopped by pid. `restart()` brings a new one up on the
// same port (its state lost, as after a crash without persistence).
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, type LoopbackDaemon, startDaemon } from './bin.js';

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT`. */
  url: string;
  port: number;
  pid(): number;
  /** Stops it (SIGTERM, then SIGKILL) and starts a fresh one on the same port. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** Whether a Redis on `port` answers PING. */
async function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

async function launch(port: number | undefined): Promise<LoopbackDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'dnsgate-redis-'));
  let used = 0;
  return startDaemon({
    label: 'redis-server',
    dir,
    command: async (free) => {
      used = port ?? free;
      return {
        file: binary('redis-server'),
        args: [
          '--port',
          String(used),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--daemonize',
          'no',
        ],
      };
    },
    ready: () => pong(used),
  });
}

/** Starts redis-server (it must be installed: see requireBinaries). */
export async function startRedis(): Promise<RedisServer> {
  let daemon = await launch(undefined);
  const port = daemon.port;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => daemon.pid,
    restart: async () => {
      await daemon.stop();
      daemon = await launch(port);
    },
    pause: () => process.kill(daemon.pid, 'SIGSTOP'),
    resume: () => process.kill(daemon.pid, 'SIGCONT'),
    stop: () => daemon.stop(),
  };
}
