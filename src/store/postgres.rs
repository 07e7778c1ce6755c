//! PostgreSQL: one pool for reads and writes, shared by several `herald serve`
//! instances. Write transactions take one advisory lock first, so concurrent changes
//! from any instance apply one after another, as they do on SQLite.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Pools, StoreResult};

pub type Db = sqlx::Postgres;

const BEGIN_WRITE: &str = "BEGIN";

/// Held until the transaction ends. The number is Herald's own ("HRLD").
const WRITE_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(1213352772)");

/// Several workers share the queue: each skips rows another is claiming.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// Sent with every public change, delivered to listeners when the transaction commits.
pub(super) const CHANNEL: &str = "herald_changes";
/// The payload is the sender's `application_name`, which names its instance, so an
/// instance can ignore its own notifications (it counted those changes already).
const CHANGE_NOTIFY: Option<&str> =
    Some("SELECT pg_notify('herald_changes', current_setting('application_name'))");

// The same SQL compiled for each backend, on purpose: see store/mod.rs.
#[allow(clippy::duplicate_mod)]
#[path = "queries.rs"]
pub(super) mod queries;

/// Counts a change whenever any instance commits one, until the pool closes. A lost
/// connection is retried; the periodic poll covers the gap.
pub(super) async fn listen(
    pool: sqlx::PgPool,
    changes: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(CHANNEL).await.is_ok() {
                    while listener.recv().await.is_ok() {
                        changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
            Err(e) if pool.is_closed() => {
                tracing::debug!(error = %e, "change listener stopped");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "change listener could not connect"),
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(super) async fn connect(url: &str) -> StoreResult<Pools<Db>> {
    // Each store names its connections, so it can tell its own notifications apart.
    let options = url
        .parse::<PgConnectOptions>()?
        .application_name(&format!("herald-{}", crate::domain::ids::new_id()));
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(Pools {
        read: pool.clone(),
        write: pool,
    })
}
