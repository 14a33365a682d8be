/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(ts|js)$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, sourceMaps: 'inline' },
    ],
  },
  // cookie (under fastify's inject) ships only ESM, which jest's CommonJS runtime cannot require
  transformIgnorePatterns: ['/node_modules/(?!\\.pnpm/cookie@)(?!cookie/)'],
  // in-process tests run the TypeScript sources; child processes run the built packages
  moduleNameMapper: {
    '^@otel-bandwidth/(core|storage|exporter|instrumentation|aggregator|query-api|cli)$': '<rootDir>/packages/$1/src',
    '^test-support$': '<rootDir>/test/support/index.ts',
  },
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.cjs'],
  testTimeout: 60_000,
  maxWorkers: 2,
};
