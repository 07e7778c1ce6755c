//! SQLite: WAL, `synchronous=NORMAL`, foreign keys on, a busy timeout, and a single
//! writer connection so write transactions never race for the lock.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Pools, StoreResult};

pub type Db = sqlx::Sqlite;

/// Write transactions take SQLite's write lock when they begin, not when they first
/// write: a deferred transaction that read first and then writes fails at once with
/// SQLITE_BUSY if another connection (another process, a second pool) wrote in
/// between; an immediate one waits for the busy timeout instead.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Nothing more to take: BEGIN IMMEDIATE already serialises writers.
const WRITE_LOCK: Option<&str> = None;

/// No notifications: other processes on the same file are noticed by polling.
const CHANGE_NOTIFY: Option<&str> = None;

/// One writer at a time already: a claim's UPDATE ... RETURNING is atomic.
const SKIP_LOCKED: &str = "";

// The same SQL compiled for each backend, on purpose: see store/mod.rs.
#[allow(clippy::duplicate_mod)]
#[path = "queries.rs"]
pub(super) mod queries;

pub(super) async fn connect(url: &str) -> StoreResult<Pools<Db>> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&write).await?;
    let read = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options.read_only(true))
        .await?;
    Ok(Pools { read, write })
}
