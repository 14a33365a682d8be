// Writes the synthetic stream with pipelined XADDs, as `services x replicas` exporters would:
// interval by interval, one entry per process. It keeps at most `backlog` entries in the stream
// (the aggregator trims what it acknowledged), so a large stream never has to fit in Redis at
// once. Runs as a child of run.mjs: its parameters come as one JSON argument, and it reports
// over IPC: { primed } once the first `backlog` entries are in, then { done, written, cpuMs }.
import Redis from 'ioredis';
import { encodedBody } from './synthetic.mjs';

const cfg = JSON.parse(process.argv[2]);
const { redisUrl, stream, services, replicas, series, intervals, startMs, backlog } = cfg;
const PIPELINE = 25;

const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
const bodies = [];
for (let k = 0; k < intervals; k++) {
  bodies.push([]);
  for (let s = 0; s < services; s++) bodies[k].push(encodedBody(s, k, series, startMs));
}

const total = services * replicas * intervals;
let written = 0;
let primed = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function room() {
  for (;;) {
    const len = await redis.xlen(stream);
    if (len + PIPELINE <= backlog) return;
    if (!primed) {
      primed = true;
      process.send({ primed: true, written });
    }
    await sleep(20);
  }
}

let pipeline = redis.pipeline();
let queued = 0;
for (let k = 0; k < intervals; k++) {
  for (let p = 0; p < replicas; p++) {
    for (let s = 0; s < services; s++) {
      const { n, body } = bodies[k][s];
      pipeline.xadd(stream, '*', 'v', '1', 'id', `bench-${s}-${p}:${k + 1}`, 'enc', 'json', 'n', n, 'body', body);
      if (++queued === PIPELINE) {
        await room();
        await pipeline.exec();
        written += queued;
        pipeline = redis.pipeline();
        queued = 0;
      }
    }
  }
}
if (queued > 0) {
  await pipeline.exec();
  written += queued;
}
if (!primed) process.send({ primed: true, written });
const usage = process.cpuUsage();
process.send({ done: true, written, total, cpuMs: Math.round((usage.user + usage.system) / 1000) });
redis.disconnect();
process.disconnect();
