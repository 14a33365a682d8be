export { buildQueryApi, type QueryApiOptions } from './server';
export { readApiConfig, DEFAULT_API_PORT, type ApiConfig } from './api-config';
export { readRealtime } from './routes/realtime';
export { readHourly } from './routes/hourly';
export { readStatus } from './routes/status';
export { readUsers } from './routes/users';
export { readHours } from './routes/hours';
export { readAlerts } from './routes/alerts';
export * from './schemas';
