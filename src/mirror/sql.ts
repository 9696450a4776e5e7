// The mirror db's libSQL connection (src/util/prepared-db.ts): plain numbers, since the mirror
// keeps its u64 indexes as text. It writes once per watch event and once per attach (a local
// endpoint fact), ~1,300 writes per agent in a 3,000-endpoint converge: 105-175 µs of CPU each
// through @libsql/client, most of it statement set-up (bench/mirror-cpu.ts). Calls are
// synchronous: a write is a WAL append without fsync (synchronous=NORMAL; a WAL checkpoint,
// every ~1,000 pages, does fsync), shorter than an event loop turn's bookkeeping.
import { PreparedDb } from '../util/prepared-db.ts'

export type { SqlValue } from '../util/prepared-db.ts'

export class MirrorSql extends PreparedDb {
  static open(path: string): MirrorSql {
    return new MirrorSql(path, { safeIntegers: false })
  }
}
