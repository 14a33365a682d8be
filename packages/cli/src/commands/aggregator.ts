import { AlertMonitor, Aggregator, readAggregatorConfig, serveAggregatorMetrics } from '@otel-bandwidth/aggregator';
import { redactUrl } from '@otel-bandwidth/core';
import { connectCheckedMysql, connectRedis } from '../backing-services';
import { ENVIRONMENT_HELP, wantsHelp, type Command } from '../command';

export const aggregatorCommand: Command = {
  name: 'aggregator',
  summary: 'roll the metrics stream into MySQL (run one or more)',
  help: `Usage: otel-bandwidth aggregator

Reads the metrics stream in a consumer group and writes, exactly once, metrics_hourly (requests
served), metrics_client_hourly (calls made), metrics_users_hourly (per user) and metrics_daily,
plus the realtime view in Redis. Run as many as you like: they share the work. An entry it cannot
apply goes to the dead-letter stream with the reason.
Every 5 minutes (and at start) it deletes hourly rows, resolved alerts and batch ledger ids past their retention,
in chunks; metrics_daily is kept. Stops cleanly on SIGTERM or SIGINT, flushing what it holds.

${ENVIRONMENT_HELP}
  OTEL_BANDWIDTH_REDIS_CLUSTER    true: REDIS_URL lists Redis Cluster seed nodes, comma-separated
  OTEL_BANDWIDTH_CONSUMER_GROUP   consumer group (default aggregators)
  OTEL_BANDWIDTH_CONSUMER_NAME    this process's name in it (default host-pid)
  OTEL_BANDWIDTH_FLUSH_INTERVAL   ms between MySQL transactions (default 5000)
  OTEL_BANDWIDTH_FLUSH_MAX_ENTRIES  flush early at this many entries (default 2000)
  OTEL_BANDWIDTH_READ_COUNT       entries per read (default 500)
  OTEL_BANDWIDTH_CLAIM_IDLE       ms before a dead consumer's entries are taken over (default 60000)
  OTEL_BANDWIDTH_MAX_DELIVERIES   deliveries before an entry is dead-lettered (default 5)
  OTEL_BANDWIDTH_RETENTION_DAYS   days of hourly rows kept before today, UTC; older data is
                                  dead-lettered (default 90; 0 keeps them for ever)
  OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS  days an applied batch id is remembered, counted from the
                                  stream's oldest entry (default 7; 0 keeps them for ever)
  OTEL_BANDWIDTH_ALERT_RULES      alert rules: a JSON file's path, or the JSON array itself (README,
                                  "Alerts"); unset, no alerts are raised
  OTEL_BANDWIDTH_ALERT_WEBHOOK_URL  POSTed a JSON body for every alert opened and resolved
  OTEL_BANDWIDTH_ALERT_INTERVAL   ms between evaluations of the rules (default 30000)
  OTEL_BANDWIDTH_ALERT_SETTLE     ms after a minute's end before it is evaluated (default 30000)
  OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT  serve this aggregator's counters for Prometheus at
                                  GET /metrics on this port (0: one the system picks); unset, no server
  OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST  the address it listens on (default 127.0.0.1)`,
  async run(args) {
    if (wantsHelp(args)) {
      process.stdout.write(`${this.help}\n`);
      return 0;
    }
    const config = readAggregatorConfig();
    const redis = await connectRedis(config.redisUrl, { cluster: config.redisCluster });
    const mysql = await connectCheckedMysql(config.mysqlUrl);
    const aggregator = new Aggregator({ redis, mysql, ...config });
    // listening before reading: a port it cannot have stops it before it holds any entry
    let alerts: AlertMonitor | undefined;
    const metrics = config.metricsListen === undefined ? undefined : await serveAggregatorMetrics(aggregator, config.metricsListen, () => alerts?.stats());
    // listening for the signals before saying it runs: a signal sent on that word is not missed
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await aggregator.start();
    alerts =
      config.alertRules.length === 0
        ? undefined
        : new AlertMonitor({
            redis,
            mysql,
            keys: aggregator.keys,
            group: config.group,
            rules: config.alertRules,
            owner: config.consumer,
            intervalMs: config.alertIntervalMs,
            settleMs: config.alertSettleMs,
            webhookUrl: config.alertWebhookUrl,
          });
    alerts?.start();
    process.stdout.write(
      `aggregator ${config.consumer} reading ${aggregator.keys.stream} (group ${config.group}) at ${redactUrl(config.redisUrl)}, writing ${redactUrl(config.mysqlUrl)}\n`,
    );
    if (metrics !== undefined) process.stdout.write(`metrics for Prometheus at ${metrics.url}\n`);
    if (alerts !== undefined) {
      process.stdout.write(
        `alerts: ${config.alertRules.length} rule${config.alertRules.length === 1 ? '' : 's'} (${config.alertRules.map((r) => r.name).join(', ')}) every ${config.alertIntervalMs / 1000} s${config.alertWebhookUrl ? ', with a webhook' : ''}; one aggregator at a time evaluates them\n`,
      );
    }
    const report = setInterval(() => {
      const s = aggregator.stats();
      process.stdout.write(
        `${new Date().toISOString()} batches applied ${s.batchesApplied}, duplicates ${s.duplicateBatches}, dead-lettered ${s.deadLettered}, points left out ${s.pointsRefused}, flushes ${s.flushes}, buffered ${s.entriesBuffered}${s.lastError ? `, last error: ${s.lastError}` : ''}\n`,
      );
    }, 60_000);
    await stopRequested;
    clearInterval(report);
    process.stdout.write(`${new Date().toISOString()} stopping: flushing the ${aggregator.stats().entriesBuffered} entries held\n`);
    // a webhook call in flight is cut off, not waited for: the flush comes first
    await Promise.all([alerts?.stop(), aggregator.stop()]);
    await metrics?.close();
    const s = aggregator.stats();
    process.stdout.write(`${new Date().toISOString()} stopped: batches applied ${s.batchesApplied}, ${s.entriesBuffered} entries left pending in the stream for another aggregator\n`);
    await mysql.close();
    redis.disconnect();
    return 0;
  },
};
