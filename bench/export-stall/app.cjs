'use strict';
// The app under test: a node:http server answering "ok" to any path, and, when its runner asks
// over IPC, a watch on its own main thread for a window of time: the longest event-loop delay
// (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and the main thread's CPU time in the window
// (exact, from /proc/self/task/<main thread>/schedstat). The variants differ only by what
// `--require` puts in front of it. Prints "listening <port>" once it accepts connections.
const fs = require('node:fs');
const http = require('node:http');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const mainThreadStat = `/proc/self/task/${process.pid}/schedstat`;
const mainThreadCpuMs = () => Number(fs.readFileSync(mainThreadStat, 'utf8').split(' ')[0]) / 1e6;

const server = http.createServer((req, res) => res.end('ok'));
server.keepAliveTimeout = 60_000;

process.on('message', (message) => {
  if (message.type === 'watch') {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const cpu0 = mainThreadCpuMs();
    setTimeout(() => {
      delay.disable();
      process.send({ type: 'watched', maxDelayMs: delay.max / 1e6, cpuMs: mainThreadCpuMs() - cpu0, rssMb: process.memoryUsage.rss() / 1048576 });
    }, message.ms);
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
