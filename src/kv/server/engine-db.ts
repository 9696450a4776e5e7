// The KV engine's libSQL connection, on libsql-js directly, each statement prepared once.
//
// Why not @libsql/client (2026-12, issue 17): it prepares every statement it runs, BEGIN and
// COMMIT included, and sets each one up again (safeIntegers, raw, columns). In a 3,000-endpoint
// converge the store's ~1,500 group commits cost it 2.5 CPU-s of its thread's 5.4, and half of a
// commit's CPU was that set-up (bench/results/store-thread-2026-12-01.md). A statement kept
// prepared is re-prepared by SQLite itself if another connection changes the schema.
import Database from 'libsql'

export interface SqlStatement {
  sql: string
  args?: unknown[]
}

type Statement = Database.Statement<unknown[]>

export class EngineDb {
  private readonly prepared = new Map<string, Statement>()

  private constructor(private readonly db: Database.Database) {}

  static open(path: string): EngineDb {
    return new EngineDb(new Database(path))
  }

  /** Statements without parameters or results (pragmas, schema), run once. */
  exec(sql: string): void {
    this.db.exec(sql)
  }

  /** Rows as objects by column name; integers as bigint. */
  all(sql: string): Record<string, unknown>[] {
    return this.statement(sql).all() as Record<string, unknown>[]
  }

  /**
   * Run `stmts` in one write transaction (BEGIN IMMEDIATE ... COMMIT); if any fails, roll back
   * and throw its error: nothing of it is written.
   */
  transaction(stmts: SqlStatement[]): void {
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
    if (!s) {
      s = this.db.prepare<unknown[]>(sql).safeIntegers(true)
      this.prepared.set(sql, s)
    }
    return s
  }
}
