//! Migrations: numbered SQL files per backend under `migrations/{sqlite,postgres}/`, applied in
//! order on open and recorded in `schema_migrations`. Opening twice applies nothing twice.

/// One migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in increasing order.
    pub version: i64,
    /// Its name.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

/// The SQLite migrations.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "site_leases",
        sql: include_str!("../migrations/sqlite/0002_site_leases.sql"),
    },
    Migration {
        version: 3,
        name: "change_log",
        sql: include_str!("../migrations/sqlite/0003_change_log.sql"),
    },
    Migration {
        version: 5,
        name: "avatars",
        sql: include_str!("../migrations/sqlite/0005_avatars.sql"),
    },
    Migration {
        version: 6,
        name: "presence_readers",
        sql: include_str!("../migrations/sqlite/0006_presence_readers.sql"),
    },
    Migration {
        version: 7,
        name: "drop_number_index",
        sql: include_str!("../migrations/sqlite/0007_drop_number_index.sql"),
    },
];

/// The PostgreSQL migrations.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "site_leases",
        sql: include_str!("../migrations/postgres/0002_site_leases.sql"),
    },
    Migration {
        version: 3,
        name: "change_log",
        sql: include_str!("../migrations/postgres/0003_change_log.sql"),
    },
    Migration {
        version: 5,
        name: "avatars",
        sql: include_str!("../migrations/postgres/0005_avatars.sql"),
    },
    Migration {
        version: 6,
        name: "presence_readers",
        sql: include_str!("../migrations/postgres/0006_presence_readers.sql"),
    },
    Migration {
        version: 7,
        name: "drop_number_index",
        sql: include_str!("../migrations/postgres/0007_drop_number_index.sql"),
    },
];
