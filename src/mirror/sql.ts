// The mirror db's libSQL connection, on libsql-js directly, each statement prepared once (as the
// KV engine's, src/kv/server/engine-db.ts).
//
// Why not @libsql/client (2026-12, issue 17): it prepares every statement on every call and sets
// it up again (raw mode, safe integers, columns), then copies each row into an object of its
// own. The mirror writes once per watch event and once per attach (a local endpoint fact), ~1,300
// writes per agent in a 3,000-endpoint converge: 105-175 µs of CPU each through the client,
// most of it that set-up (bench/mirror-cpu.ts). Calls are synchronous: a write here is a WAL
// append without fsync (synchronous=NORMAL), shorter than an event loop turn's bookkeeping.
import Database from 'libsql'

type Statement = Database.Statement<unknown[]>
export type SqlValue = string | number | bigint | null

export class MirrorSql {
  private readonly prepared = new Map<string, Statement>()

  private constructor(private readonly db: Database.Database) {}

  static open(path: string): MirrorSql {
    return new MirrorSql(new Database(path))
  }

  /** Statements without parameters or results (pragmas, schema), run once. */
  exec(sql: string): void {
    this.db.exec(sql)
  }

  /** Rows as objects by column name. */
  all(sql: string, args: SqlValue[] = []): Record<string, unknown>[] {
    return this.statement(sql).all(...args) as Record<string, unknown>[]
  }

  /** One statement (a transaction of its own). */
  run(sql: string, args: SqlValue[] = []): void {
    this.statement(sql).run(...args)
  }

  /**
   * Run `stmts` in one write transaction (BEGIN IMMEDIATE ... COMMIT); if any fails, roll back
   * and throw its error: nothing of it is written.
   */
  transaction(stmts: { sql: string; args?: SqlValue[] }[]): void {
    this.statement('BEGIN IMMEDIATE').run()
    try {
      for (const s of stmts) this.statement(s.sql).run(...(s.args ?? []))
      this.statement('COMMIT').run()
    } catch (e) {
      if (this.db.inTransaction) this.statement('ROLLBACK').run()
      throw e
    }
  }

  close(): void {
    this.prepared.clear()
    this.db.close()
  }

  private statement(sql: string): Statement {
    let s = this.prepared.get(sql)
    if (!s) this.prepared.set(sql, (s = this.db.prepare<unknown[]>(sql)))
    return s
  }
}
