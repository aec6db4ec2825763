//! Where the suite's databases come from.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use store::Store;

/// The PostgreSQL the tests use (CI starts it; trust auth).
pub const PG_URL: &str = "postgres://root@127.0.0.1:5432/test";

/// One test database; every `open` is another Store instance (another "process") on it.
#[derive(Clone, Debug)]
pub struct Db {
    /// The URL given to `store::open`.
    pub url: String,
}

impl Db {
    /// Opens (and migrates) another Store instance on this database.
    pub async fn open(&self) -> Arc<dyn Store> {
        match store::open(&self.url).await {
            Ok(s) => s,
            Err(e) => panic!("opening {}: {e}", self.url),
        }
    }
}

impl Db {
    /// The backend's name, as `Store::backend` says it.
    pub fn backend(&self) -> &'static str {
        if self.url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }

    /// Runs an SQL script on the database directly, around the store (to set up old schemas).
    pub async fn exec(&self, script: &str) {
        use sqlx::{Connection, Executor};
        if self.backend() == "sqlite" {
            let options: sqlx::sqlite::SqliteConnectOptions = self
                .url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .expect("url")
                .create_if_missing(true);
            let mut c = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("connect");
            c.execute(script).await.expect("script");
            let _ = c.close().await;
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect");
            c.execute(script).await.expect("script");
            let _ = c.close().await;
        }
    }
}

/// Runs `test` on a fresh SQLite file, removed afterwards.
pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir: PathBuf = std::env::temp_dir().join(format!("pbx365-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = Db {
        url: format!("sqlite://{}", dir.join("created/on/open.db").display()),
    };
    let outcome = tokio::spawn(test(db)).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs `test` in a fresh schema of the test PostgreSQL, dropped afterwards.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (schema, db) = pg_schema().await;
    let outcome = tokio::spawn(test(db)).await;
    drop_pg_schema(&schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Creates a schema of its own for one test; the URL points `search_path` at it.
pub async fn pg_schema() -> (String, Db) {
    use sqlx::Connection;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = match sqlx::PgConnection::connect(PG_URL).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {PG_URL} ({e}). The store's tests need it: start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (CI starts it)."
        ),
    };
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let _ = conn.close().await;
    let url = format!("{PG_URL}?options=-c%20search_path%3D{schema}");
    (schema, Db { url })
}

/// Drops a test schema and everything in it.
pub async fn drop_pg_schema(schema: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(PG_URL).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}
