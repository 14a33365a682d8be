export { driveTraffic, type TrafficTarget, type EndpointCount, type TrafficOptions, type TrafficResult } from './traffic-generator';
export { printComparison, type ComparisonRow, type Figures } from './comparison-table';
export { connectRedis, connectCheckedMysql } from './backing-services';
