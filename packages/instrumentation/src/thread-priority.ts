import { readlinkSync, stat } from 'node:fs';
import { constants, setPriority } from 'node:os';

/**
 * Lowers the scheduling priority of the calling thread, and of it alone, to the lowest there is
 * (nice 19). On Linux a thread is a task with an id of its own, and setpriority() given that id
 * changes that one thread; an unprivileged process may always lower a priority. The export
 * worker calls this on itself: where it shares a core with the app's thread, the kernel then
 * runs the export in the time the app leaves (CFS gives a nice-19 task about 1/70 of a core
 * against a busy nice-0 one, and never none, so exports still finish under sustained load).
 *
 * A thread passes its priority on to the threads it starts, and libuv's thread pool, which the
 * whole process shares (the app's fs, dns.lookup, crypto and zlib work), is started by whichever
 * thread first queues work to it: so the pool is made to exist before the priority is lowered
 * (one fs.stat through it), and its threads keep the app's priority.
 *
 * Elsewhere (macOS, Windows) no thread id is at hand, and setPriority(pid) would lower the whole
 * process, app included: nothing is changed. Resolves to why not, or undefined when done.
 */
export function lowerThisThreadPriority(): Promise<string | undefined> {
  if (process.platform !== 'linux') return Promise.resolve(`not on Linux (${process.platform})`);
  return new Promise((resolve) => {
    // whatever it answers, the pool has started by the time it does
    stat(__filename, () => resolve(lowerNow()));
  });
}

function lowerNow(): string | undefined {
  let link: string;
  try {
    // "<pid>/task/<tid>" for the calling thread
    link = readlinkSync('/proc/thread-self');
  } catch (err) {
    return `no /proc/thread-self (${(err as Error).message})`;
  }
  const match = /^(\d+)\/task\/(\d+)$/.exec(link);
  if (match === null || Number(match[1]) !== process.pid) return `unexpected /proc/thread-self: ${link}`;
  const tid = Number(match[2]);
  // the main thread's id is the process id: lowering it would lower the app
  if (tid === process.pid) return 'called on the main thread';
  try {
    // PRIORITY_LOW is nice 19, the lowest
    setPriority(tid, constants.priority.PRIORITY_LOW);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}
