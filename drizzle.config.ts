// drizzle-kit reads this to turn migrations/schema.ts into SQL migrations:
//   npx drizzle-kit generate --name <what-changed>
// The job cache applies migrations/sql/ at start-up (services/jobcache/migrate.ts).
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./migrations/schema.ts",
  out: "./migrations/sql",
  strict: true,
});
