import { DiagLogLevel, diag, type DiagLogger } from '@opentelemetry/api';
import { UserUsageTable } from '../src/user-usage';

describe('the per-interval user table', () => {
  const warnings: string[] = [];
  const logger: DiagLogger = {
    error: () => {},
    warn: (message: string) => void warnings.push(message),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  beforeAll(() => diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true }));
  afterAll(() => diag.disable());

  it('keeps at most its limit of users an interval, counts the rest, and says so once', () => {
    const table = new UserUsageTable(2);
    table.add('ann', 10, 100);
    table.add('bob', 20, 200);
    table.add('ann', 1, 1);
    table.add('cy', 30, 300);
    table.add('dee', 40, 400);
    expect(table.drain()).toEqual([
      { id: 'ann', requests: 2, inboundBytes: 11, outboundBytes: 101 },
      { id: 'bob', requests: 1, inboundBytes: 20, outboundBytes: 200 },
    ]);
    expect(table.droppedUsers).toBe(2);
    // the next interval has room again; its drops within the hour go unsaid
    table.add('cy', 30, 300);
    table.add('dee', 40, 400);
    table.add('eve', 50, 500);
    expect(table.drain().map((u) => u.id)).toEqual(['cy', 'dee']);
    expect(table.droppedUsers).toBe(3);
    expect(warnings).toEqual([
      'otel-bandwidth: more than 2 users in one export interval; the usage of the others is not recorded (1 of their requests unrecorded so far). ' +
        'Raise OTEL_BANDWIDTH_MAX_USERS_PER_INTERVAL, or export more often.',
    ]);
  });
});
