export * from './wire-format';
export * from './http-metrics';
export * from './redis-keys';
export * from './config';
export * from './unreachable';
export * from './realtime-view';
export * from './error-causes';
export * from './stream-group';
