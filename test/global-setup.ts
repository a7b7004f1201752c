/**
 * Vitest globalSetup: what the whole run needs from the machine, brought once before the first test worker
 * starts and removed after the last. Today that is PostgreSQL (test/helpers/provision-postgres.ts: the
 * machine's at TEST_DATABASE_URL's default when it answers, else a private server for the run). The browser
 * for the dashboard suite is found or unpacked by that suite itself (test/helpers/chromium.ts), since no other
 * suite needs it.
 */
import { provisionPostgres } from './helpers/provision-postgres.js';

export default async function setup(): Promise<() => Promise<void>> {
  const postgres = await provisionPostgres();
  console.log(postgres.summary);
  return () => postgres.teardown();
}
