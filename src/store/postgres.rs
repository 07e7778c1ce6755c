//! PostgreSQL: one pool for reads and writes, shared by several `herald serve`
//! instances. Write transactions take one advisory lock first, so concurrent changes
//! from any instance apply one after another, as they do on SQLite.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::{Pools, StoreResult};

pub type Db = sqlx::Postgres;

/// Held until the transaction ends. The number is Herald's own ("HRLD").
const WRITE_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(1213352772)");

// The same SQL compiled for each backend, on purpose: see store/mod.rs.
#[allow(clippy::duplicate_mod)]
#[path = "queries.rs"]
pub(super) mod queries;

pub(super) async fn connect(url: &str) -> StoreResult<Pools<Db>> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(Pools {
        read: pool.clone(),
        write: pool,
    })
}
