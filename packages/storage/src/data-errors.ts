import { causeChain } from '@otel-bandwidth/core';

/**
 * MySQL errors that say a value cannot be stored (out of a column's range, too long, not valid for
 * its type), as opposed to the server being unreachable or the statement being wrong. Writing the
 * same data again fails the same way, so the data must be set aside, not retried.
 */
const DATA_ERRNOS = new Set([
  1048, // ER_BAD_NULL_ERROR: column cannot be null
  1264, // ER_WARN_DATA_OUT_OF_RANGE: out of range value for column
  1265, // WARN_DATA_TRUNCATED
  1292, // ER_TRUNCATED_WRONG_VALUE: incorrect datetime/decimal value
  1300, // ER_INVALID_CHARACTER_STRING
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: incorrect string value
  1367, // ER_ILLEGAL_VALUE_FOR_TYPE
  1406, // ER_DATA_TOO_LONG
  1690, // ER_DATA_OUT_OF_RANGE: BIGINT UNSIGNED value is out of range in `a` + `b`
]);

/** True when MySQL refused a value (drizzle's wrapper looked through to the driver's error). */
export function isMysqlDataError(err: unknown): boolean {
  return causeChain(err).some((e) => typeof e.errno === 'number' && DATA_ERRNOS.has(e.errno));
}
