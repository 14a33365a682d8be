/**
 * The exporter's own Redis connections (standalone or Cluster). They must never keep the
 * instrumented app alive: sockets are unref'd from the moment they are created, ioredis never
 * reconnects by itself (the exporter does, from unref'd timers), and closing a connection arms
 * no timer that holds the process.
 */
import net from 'node:net';
import tls from 'node:tls';
import Redis, { AbstractConnector, Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';

/** Where the exporter's Redis is: one URL, or the seed nodes of a Cluster. */
export interface RedisSeeds {
  nodes: Array<{ host: string; port: number }>;
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

const DEFAULT_PORT = 6379;

/**
 * Parses a comma-separated list of Cluster seed nodes: `redis://[user:password@]host[:port]`
 * (or `rediss://` for TLS), later ones also as bare `host[:port]`. Scheme and credentials come
 * from the first entry. Throws an Error naming the bad entry.
 */
export function parseRedisSeeds(value: string): RedisSeeds {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new Error('no Redis node given');
  const out: RedisSeeds = { nodes: [], username: undefined, password: undefined, tls: false };
  items.forEach((item, i) => {
    const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(item);
    let u: URL;
    try {
      u = new URL(hasScheme ? item : `redis://${item}`);
    } catch {
      throw new Error(`"${item}" is not a Redis node (expected redis://host:port or host:port)`);
    }
    const scheme = u.protocol.replace(/:$/, '');
    if (scheme !== 'redis' && scheme !== 'rediss') throw new Error(`"${item}" has scheme "${scheme}:", expected redis: or rediss:`);
    if (!u.hostname) throw new Error(`"${item}" names no host`);
    if (i === 0) {
      out.tls = scheme === 'rediss';
      out.username = u.username ? decodeURIComponent(u.username) : undefined;
      out.password = u.password ? decodeURIComponent(u.password) : undefined;
    }
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    out.nodes.push({ host, port: u.port ? Number(u.port) : DEFAULT_PORT });
  });
  return out;
}

interface ConnectOptions {
  host?: string;
  port?: number;
  family?: number;
  path?: string | null;
  tls?: tls.ConnectionOptions;
}

/** ioredis's standalone connector, except that the socket is unref'd as soon as it exists. */
class UnrefConnector extends AbstractConnector {
  private readonly connectOptions: ConnectOptions;

  constructor(options: unknown) {
    super(0);
    this.connectOptions = (options ?? {}) as ConnectOptions;
  }

  connect(_onError: (type: string, err: Error) => void): Promise<net.Socket | tls.TLSSocket> {
    const o = this.connectOptions;
    this.connecting = true;
    return new Promise((resolve, reject) => {
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error('Connection is closed.'));
          return;
        }
        let socket: net.Socket | tls.TLSSocket;
        try {
          if (o.path) socket = net.createConnection({ path: o.path });
          else {
            const target = { host: o.host ?? '127.0.0.1', port: o.port ?? DEFAULT_PORT, ...(o.family ? { family: o.family } : {}) };
            socket = o.tls ? tls.connect({ ...target, ...o.tls }) : net.createConnection(target);
          }
        } catch (err) {
          reject(err);
          return;
        }
        socket.unref();
        socket.once('error', (err: Error) => {
          this.firstError = err;
        });
        this.stream = socket;
        resolve(socket);
      });
    });
  }

  override disconnect(): void {
    this.connecting = false;
    const socket = this.stream as net.Socket | undefined;
    if (!socket) return;
    socket.end();
    // a server that stopped answering never closes its side: give it a moment, then cut
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}

export interface OwnedClientOptions {
  /** a redis:// URL, or with cluster the seed nodes (see parseRedisSeeds) */
  url: string;
  cluster: boolean;
  connectTimeoutMillis: number;
}

/**
 * A client that connects only when told to (`connect()`), never reconnects by itself and never
 * retries a command: the exporter decides when to try again.
 */
export function createOwnedClient(options: OwnedClientOptions): Redis | Cluster {
  const nodeOptions: RedisOptions = {
    Connector: UnrefConnector,
    connectTimeout: options.connectTimeoutMillis,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    // no commandTimeout: the exporter bounds each command with an unref'd timer of its own
  };
  let client: Redis | Cluster;
  if (options.cluster) {
    const seeds = parseRedisSeeds(options.url);
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      clusterRetryStrategy: () => null,
      enableReadyCheck: false,
      maxRedirections: 16,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: options.connectTimeoutMillis,
      redisOptions: {
        ...nodeOptions,
        ...(seeds.username ? { username: seeds.username } : {}),
        ...(seeds.password ? { password: seeds.password } : {}),
        ...(seeds.tls ? { tls: {} } : {}),
      },
    };
    client = new Cluster(seeds.nodes, clusterOptions);
  } else {
    client = new Redis(options.url, { ...nodeOptions, lazyConnect: true, retryStrategy: () => null });
  }
  client.on('error', () => undefined); // failures are handled (and counted) where commands fail
  return client;
}
