//! PostgreSQL: several pbx365 nodes on one database; unique constraints settle races between
//! them, and conflicting writes are retried.

use crate::error::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

type DB = Postgres;
const BACKEND: &str = "postgres";
const MIGRATIONS: &[crate::migrate::Migration] = crate::migrate::POSTGRES;

/// Connects to the database named by `url` (a `search_path` may be given as
/// `?options=-c%20search_path%3Dname`) and migrates it.
pub async fn open(url: &str) -> std::result::Result<SqlStore, StoreError> {
    let connect = |source| StoreError::Connect {
        backend: BACKEND,
        source,
    };
    let options = PgConnectOptions::from_str(url).map_err(connect)?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(connect)?;
    SqlStore::migrated(pool).await
}

/// Starts a write transaction (READ COMMITTED; unique constraints guard the races).
async fn begin_write(
    pool: &Pool<DB>,
) -> std::result::Result<Transaction<'static, DB>, sqlx::Error> {
    pool.begin().await
}

/// Serialises migrations of every node on this database with a transaction-scoped advisory lock.
async fn lock_migrations(
    conn: &mut <DB as sqlx::Database>::Connection,
) -> std::result::Result<(), sqlx::Error> {
    // "pbx365" in ASCII, as the lock's key.
    sqlx::query("SELECT pg_advisory_xact_lock(112980073952565)")
        .execute(conn)
        .await
        .map(|_| ())
}

/// Refreshes the planner's statistics of `tables` after a bulk write into them: on tables it
/// has never analysed the planner assumes one row and picks nested loops that take seconds per
/// thousand contacts (autovacuum would catch up only a minute or so later). Only tables the
/// write filled are analysed: statistics of an empty table mislead the next bulk write.
async fn after_bulk_write(
    pool: &Pool<DB>,
    tables: &[&str],
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(&format!("ANALYZE {}", tables.join(", ")))
        .execute(pool)
        .await
        .map(|_| ())
}

include!("common.rs");
