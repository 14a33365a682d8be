import { buildQueryApi, readApiConfig } from '@otel-bandwidth/query-api';
import { connectCheckedMysql, connectRedis } from '../backing-services';
import { ENVIRONMENT_HELP, wantsHelp, type Command } from '../command';

export const apiCommand: Command = {
  name: 'api',
  summary: 'serve the query API',
  help: `Usage: otel-bandwidth api

Serves GET /metrics/realtime and /metrics/endpoints (both with p50/p95/p99), /metrics/minutes,
/metrics/hourly, /metrics/hours, /metrics/daily, /metrics/users, /metrics/alerts, /metrics/status and /healthz; the web dashboard at /dashboard,
the API's OpenAPI 3.1 document at /openapi.json, which describes every parameter, and the pipeline's
health for Prometheus to scrape at /metrics (text exposition format).
/metrics/hourly, /metrics/daily, /metrics/endpoints, /metrics/minutes and /metrics/users answer CSV too (format=csv).

${ENVIRONMENT_HELP}
  OTEL_BANDWIDTH_REDIS_CLUSTER    true: REDIS_URL lists Redis Cluster seed nodes, comma-separated
  OTEL_BANDWIDTH_API_HOST         address to listen on (default 127.0.0.1; 0.0.0.0 in containers)
  OTEL_BANDWIDTH_API_PORT         port (default 4040)
  OTEL_BANDWIDTH_CONSUMER_GROUP   the aggregators' group, for /metrics/status (default aggregators)
  OTEL_BANDWIDTH_STATUS_WARNING_ENTRIES  unapplied entries from which status says "warning" (default 5000)
  OTEL_BANDWIDTH_API_TOKENS       bearer tokens, comma-separated, at least 24 characters each: then every
                                  route but /healthz and the dashboard's files wants one (default: none asked)
  OTEL_BANDWIDTH_API_TLS_CERT     a PEM certificate (chain) file: with OTEL_BANDWIDTH_API_TLS_KEY, serve HTTPS
  OTEL_BANDWIDTH_API_TLS_KEY      its PEM private key file (read at start; default: plain HTTP)`,
  async run(args) {
    if (wantsHelp(args)) {
      process.stdout.write(`${this.help}\n`);
      return 0;
    }
    const config = readApiConfig();
    // a frozen Redis: a 503 within 2 s, not requests that hang
    const redis = await connectRedis(config.redisUrl, { cluster: config.redisCluster, commandTimeoutMs: 2000 });
    const mysql = await connectCheckedMysql(config.mysqlUrl);
    const app = buildQueryApi({ redis, mysql, keyPrefix: config.keyPrefix, consumerGroup: config.consumerGroup, bufferWarning: config.bufferWarning, tokens: config.tokens, tls: config.tls });
    // listening for the signals before saying it runs: a signal sent on that word is not missed
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    const address = await app.listen({ host: config.host, port: config.port });
    const guarded = config.tokens.length > 0 ? ` (a bearer token wanted: ${config.tokens.length} accepted)` : '';
    process.stdout.write(`query API listening on ${address}${guarded}\n`);
    await stopRequested;
    await app.close();
    await mysql.close();
    redis.disconnect();
    return 0;
  },
};
