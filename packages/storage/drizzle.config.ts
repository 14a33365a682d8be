import { defineConfig } from 'drizzle-kit';

// `pnpm db:generate` writes a new migration into packages/storage/drizzle from the schema.
export default defineConfig({
  dialect: 'mysql',
  schema: './packages/storage/src/schema.ts',
  out: './packages/storage/drizzle',
});
