// A libSQL connection on libsql-js directly, each statement prepared once and kept: the KV
// engine's (src/kv/server/engine-db.ts) and the mirror's (src/mirror/sql.ts).
//
// Why not @libsql/client (2026-12, issue 17): it prepares every statement on every call, BEGIN
// and COMMIT included, sets each one up again (raw mode, safe integers, columns) and copies each
// row into an object of its own; that set-up was half of a store commit's CPU and most of a
// mirror write's. A statement kept prepared is re-prepared by SQLite itself if another
// connection changes the schema. Statements are cached by their text, so callers pass constant
// SQL with parameters, never text built from values.
import Database from 'libsql'

export type SqlValue = string | number | bigint | null

export interface SqlStatement {
  sql: string
  args?: unknown[]
}

type Statement = Database.Statement<unknown[]>

export class PreparedDb {
  private readonly prepared = new Map<string, Statement>()
  private readonly db: Database.Database

  /** `safeIntegers`: integer columns read as bigint (the engine's u64 indexes). */
  constructor(
    path: string,
    private readonly opts: { safeIntegers: boolean },
  ) {
    this.db = new Database(path)
  }

  /** Statements without parameters or results (pragmas, schema), run once. */
  exec(sql: string): void {
    this.db.exec(sql)
  }

  /** Rows as objects by column name. */
  all(sql: string, args: unknown[] = []): Record<string, unknown>[] {
    return this.statement(sql).all(...args) as Record<string, unknown>[]
  }

  /** One statement (a transaction of its own). */
  run(sql: string, args: unknown[] = []): void {
    this.statement(sql).run(...args)
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
      s = this.db.prepare<unknown[]>(sql)
      if (this.opts.safeIntegers) s.safeIntegers(true)
      this.prepared.set(sql, s)
    }
    return s
  }
}
