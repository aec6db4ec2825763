//! SQLite: one file in WAL mode, foreign keys on, writers serialised by `BEGIN IMMEDIATE` and
//! a busy timeout, so several processes may share the file.

use crate::error::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

type DB = Sqlite;
const BACKEND: &str = "sqlite";
const MIGRATIONS: &[crate::migrate::Migration] = crate::migrate::SQLITE;

/// Opens (creating if missing) the SQLite file named by `url` and migrates it.
pub async fn open(url: &str) -> std::result::Result<SqlStore, StoreError> {
    let connect = |source| StoreError::Connect {
        backend: BACKEND,
        source,
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(connect)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30))
        // Statement journals (a multi-row upsert inside a transaction keeps one, to undo just
        // that statement) in memory: past 64 KiB SQLite spilled them to a temporary file,
        // and a sync's writes spent an eighth of their CPU writing it.
        .pragma("temp_store", "memory");
    // The file is created if missing; so is its directory.
    let file = options.get_filename();
    if !url.contains(":memory:") {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| connect(sqlx::Error::Io(e)))?;
        }
    }
    // Processes starting together on a new file race to switch it to WAL; SQLite answers the
    // losers "database is locked" without waiting, so they try again.
    let mut attempt = 0;
    let pool = loop {
        attempt += 1;
        match SqlitePoolOptions::new()
            .max_connections(4)
            // A task cancelled between `BEGIN IMMEDIATE` and its transaction guard (a job
            // dropped mid-write) returns its connection with the write lock still held and
            // sqlx's transaction depth off by one, which would lock every other writer out.
            // A ROLLBACK that succeeds finds such a leftover: it ends it and the connection is
            // closed rather than reused. Otherwise it fails ("no transaction is active").
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    let leftover = conn.execute("ROLLBACK").await.is_ok();
                    Ok(!leftover)
                })
            })
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => break pool,
            Err(sqlx::Error::Database(e))
                if attempt < 20 && matches!(e.code().as_deref(), Some("5" | "6" | "517")) =>
            {
                tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
            }
            Err(e) => return Err(connect(e)),
        }
    };
    SqlStore::migrated(pool).await
}

/// Starts a write transaction holding the database's write lock from the first statement, so
/// that read-then-write transactions of two processes queue instead of failing.
async fn begin_write(
    pool: &Pool<DB>,
) -> std::result::Result<Transaction<'static, DB>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Nothing more to lock: `BEGIN IMMEDIATE` already excludes other writers.
async fn lock_migrations(
    _: &mut <DB as sqlx::Database>::Connection,
) -> std::result::Result<(), sqlx::Error> {
    Ok(())
}

/// SQLite plans well on its indexes without statistics: nothing to do after bulk writes.
async fn after_bulk_write(_: &Pool<DB>, _: &[&str]) -> std::result::Result<(), sqlx::Error> {
    Ok(())
}

include!("common.rs");
