/**
 * Private redis-server processes for tests that take Redis away (kill it, stop it, start it
 * again) or need a Redis Cluster, without touching the shared Redis other tests use. Every
 * server listens on 127.0.0.1 on a free port, keeps nothing on disk, and is killed when the test
 * file ends (or the jest worker exits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port (and, for Cluster nodes, its bus port + 10000 free as well), below the
 * kernel's range of ephemeral ports (32768 and up by default): a port found free there can be
 * handed to any outgoing connection before redis-server binds it (seen: "Address already in use").
 */
export async function freePort(withBusPort = false): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 12_000 + Math.floor(Math.random() * 10_000);
    if ((await portIsFree(port)) && (!withBusPort || (await portIsFree(port + 10_000)))) return port;
  }
  throw new Error('no free port found');
}

async function waitUntilAnswering(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited (${child.exitCode}): ${output()}`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not yet
    } finally {
      // (disconnecting a client whose connection already ended would arm a 2 s timer for nothing)
      if (probe.status !== 'end') probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} does not answer: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** the server process is running and not stopped */
  readonly answering: boolean;
  /** SIGKILL: connections are refused until start() */
  kill(): Promise<void>;
  /** starts it again, on the same port, empty */
  start(): Promise<void>;
  /** SIGSTOP: connections are accepted by the kernel, nothing is answered */
  pause(): void;
  /** SIGCONT */
  resume(): void;
  /** a client for the test's own use (closed by close()) */
  client(): Redis;
  close(): Promise<void>;
}

/** Starts `redis-server --port N --save '' --appendonly no` on a free loopback port. */
export async function startPrivateRedis(options: { port?: number; extraArgs?: string[]; dir?: string } = {}): Promise<PrivateRedis> {
  let port = options.port ?? (await freePort());
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'obw-redis-'));
  const ownsDir = options.dir === undefined;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, ...(options.extraArgs ?? [])];
  let child: ChildProcess | undefined;
  let paused = false;
  let output = '';
  const clients: Redis[] = [];

  const launch = async (): Promise<void> => {
    output = '';
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.on('data', (b: Buffer) => {
      output = (output + b.toString()).slice(-4000);
    });
    c.stderr?.on('data', (b: Buffer) => {
      output = (output + b.toString()).slice(-4000);
    });
    running.add(c);
    c.once('exit', () => running.delete(c));
    child = c;
    paused = false;
    await waitUntilAnswering(port, c, () => output);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      if (paused) c.kill('SIGCONT');
      c.kill('SIGKILL');
    });
    paused = false;
  };

  // a port of our choosing that something else took in the meantime: another one
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (options.port !== undefined || attempt === 5 || !output.includes('Address already in use')) throw err;
      port = await freePort();
      args[1] = String(port);
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get answering() {
      return child !== undefined && !paused;
    },
    kill,
    start: launch,
    pause: () => {
      child?.kill('SIGSTOP');
      paused = true;
    },
    resume: () => {
      child?.kill('SIGCONT');
      paused = false;
    },
    client: () => {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    close: async () => {
      if (child !== undefined && !paused) {
        await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
      }
      await kill();
      for (const c of clients) if (c.status !== 'end') c.disconnect();
      if (ownsDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivateCluster {
  readonly nodes: PrivateRedis[];
  /** every node as a redis:// URL, comma-separated (what REDIS_URL takes with OTEL_BANDWIDTH_REDIS_CLUSTER=true) */
  readonly seeds: string;
  close(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

/** One node as CLUSTER NODES describes it. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** a replica's master, by id */
  masterId: string | undefined;
  /** a master's slot ranges */
  slots: Array<[number, number]>;
}

/** Parses CLUSTER NODES as the node `client` is connected to sees the cluster. */
export async function clusterNodes(client: Redis): Promise<ClusterNodeInfo[]> {
  const text = String(await client.call('CLUSTER', 'NODES'));
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      return {
        id: id as string,
        port: Number(/:(\d+)@/.exec(address as string)?.[1]),
        role: (flags as string).includes('master') ? ('master' as const) : ('replica' as const),
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((r) => /^\d/.test(r))
          .map((r) => {
            const [lo, hi] = r.split('-').map(Number);
            return [lo as number, hi ?? (lo as number)] as [number, number];
          }),
      };
    });
}

/**
 * A Redis Cluster of `size` masters, each with `replicas` replicas, on free loopback ports:
 * redis-server with --cluster-enabled, then `redis-cli --cluster create`, then waits until every
 * node says cluster_state:ok and every replica's link to its master is up. `nodeTimeoutMs` is
 * how long a silent master goes before the cluster fails it over to a replica.
 */
export async function startPrivateCluster(size = 3, options: { replicas?: number; nodeTimeoutMs?: number } = {}): Promise<PrivateCluster> {
  const replicas = options.replicas ?? 0;
  const total = size * (1 + replicas);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obw-cluster-'));
  const nodes: PrivateRedis[] = [];
  try {
    for (let i = 0; i < total; i++) {
      const port = await freePort(true);
      nodes.push(
        await startPrivateRedis({
          port,
          dir,
          extraArgs: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', `nodes-${port}.conf`,
            '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
          ],
        }),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    const deadline = Date.now() + 30_000;
    for (const node of nodes) {
      const c = node.client();
      for (;;) {
        const info = String(await c.call('CLUSTER', 'INFO'));
        const replication = String(await c.call('INFO', 'replication'));
        // this node's view of the others: every replica known as one (gossip takes a moment)
        const view = await clusterNodes(c);
        if (
          view.filter((n) => n.role === 'replica').length === size * replicas &&
          /cluster_state:ok/.test(info) &&
          new RegExp(`cluster_known_nodes:${total}\\b`).test(info) &&
          (/role:master/.test(replication) || /master_link_status:up/.test(replication))
        )
          break;
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} is not ready: ${info}\n${replication}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // closed now: a client left on a node a test kills keeps retrying until the end
      await c.quit();
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()));
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    nodes,
    seeds: nodes.map((n) => n.url).join(','),
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
