// The KV engine's libSQL connection (src/util/prepared-db.ts): integers read as bigint, since
// the engine's indexes are u64. In a 3,000-endpoint converge the store's ~1,500 group commits
// cost 2.5 CPU-s of its thread's 5.4 through @libsql/client, half of it statement set-up
// (bench/results/store-thread-2026-12-01.md).
import { PreparedDb } from '../../util/prepared-db.ts'

export type { SqlStatement } from '../../util/prepared-db.ts'

export class EngineDb extends PreparedDb {
  static open(path: string): EngineDb {
    return new EngineDb(path, { safeIntegers: true })
  }
}
