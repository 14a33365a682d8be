/**
 * What the instrumentation records and the aggregator understands: metric names, attribute
 * names, and the route values that stand for folded series. Semantic-convention names where a
 * convention exists.
 */

export const METRIC_SERVER_DURATION = 'http.server.request.duration';
export const METRIC_SERVER_REQUEST_BODY_SIZE = 'http.server.request.body.size';
export const METRIC_SERVER_RESPONSE_BODY_SIZE = 'http.server.response.body.size';
/** Bytes on the wire, headers and framing included (no semantic convention covers them). */
export const METRIC_SERVER_REQUEST_WIRE_SIZE = 'otel_bandwidth.http.server.request.wire.size';
export const METRIC_SERVER_RESPONSE_WIRE_SIZE = 'otel_bandwidth.http.server.response.wire.size';

export const ATTR_SERVICE_NAME = 'service.name';
export const ATTR_HTTP_METHOD = 'http.request.method';
export const ATTR_HTTP_ROUTE = 'http.route';
export const ATTR_HTTP_STATUS = 'http.response.status_code';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_URL_SCHEME = 'url.scheme';
export const ATTR_PROTOCOL_VERSION = 'network.protocol.version';

/** Requests that no route matched (404 without a route template). */
export const ROUTE_UNMATCHED = '(unmatched)';
/** Series past the cardinality limit, folded into one. */
export const ROUTE_OVERFLOW = '(overflow)';

/**
 * Duration histogram boundaries in seconds: the semantic conventions' advice for
 * http.server.request.duration (5 ms to 10 s), with five more below 5 ms (100 µs, 250 µs,
 * 500 µs, 1 ms, 2.5 ms). A Node.js service answers most requests well under 5 ms; with the
 * advice alone they all share one bucket, and a percentile estimated from it says 2.5 ms of a
 * service whose requests take 0.1. The storage keeps one column per bucket of these.
 */
export const DURATION_BOUNDARIES_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** The methods kept as they are; anything else is recorded as `_OTHER` (semantic conventions). */
export const KNOWN_HTTP_METHODS: readonly string[] = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY',
];

/** The instrumentation scope of otel-bandwidth's own HTTP metrics. */
export const INSTRUMENTATION_SCOPE_NAME = '@otel-bandwidth/instrumentation';

// Outbound calls the service makes (node:http client and fetch).
export const METRIC_CLIENT_DURATION = 'http.client.request.duration';
export const METRIC_CLIENT_REQUEST_BODY_SIZE = 'http.client.request.body.size';
export const METRIC_CLIENT_RESPONSE_BODY_SIZE = 'http.client.response.body.size';
export const METRIC_CLIENT_REQUEST_WIRE_SIZE = 'otel_bandwidth.http.client.request.wire.size';
export const METRIC_CLIENT_RESPONSE_WIRE_SIZE = 'otel_bandwidth.http.client.response.wire.size';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
/** The client request's path with ids replaced (`/v1/charges/:id`), no query string. */
export const ATTR_URL_TEMPLATE = 'url.template';
