/**
 * The export worker's own thread goes to nice 19, and no other: not the app's thread, and not
 * libuv's thread pool, which the whole process shares and which a thread's priority would pass to
 * if that thread started it. A process of its own, so that nothing has started the pool before.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const FIXTURE = path.join(__dirname, 'fixtures', 'lowered-worker.cjs');
const BUILT = path.join(__dirname, '..', 'dist', 'thread-priority.js');

(process.platform === 'linux' ? describe : describe.skip)('lowerThisThreadPriority', () => {
  it('lowers the calling worker thread to nice 19 and leaves the thread pool it starts at the app’s priority', () => {
    const res = spawnSync(process.execPath, [FIXTURE, BUILT], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '2' }, timeout: 20_000 });
    expect(res.stderr).toBe('');
    // the worker and the pool's two threads were added; only the worker is lowered
    expect(JSON.parse(res.stdout)).toEqual({ notLowered: null, added: 3, niced: ['worker 19'] });
  });
});
