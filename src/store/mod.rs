//! The only place with SQL. One `Store`, two backends: SQLite (the embedded default)
//! and PostgreSQL (several instances sharing one database).
//!
//! The queries are written once, in `queries.rs`, and compiled twice: `sqlite.rs` and
//! `postgres.rs` each include it as a module with their own `Db` type. Both backends
//! therefore run the very same statements (`$1` placeholders work on both), and the
//! same conformance tests run against each.
//!
//! Every change is one transaction: the change itself, the component status log, and
//! the page's `updated_at`. A request that fails leaves nothing behind.

mod model;
mod postgres;
mod sqlite;

pub use model::*;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::account::{Actor, Role};
use crate::domain::incident::IncidentRequest;
use crate::domain::DomainError;
use crate::time::Stamp;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite:PATH or postgres://...")]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A read pool and a write pool. On SQLite the write pool has one connection, which
/// serialises writers without `SQLITE_BUSY` surprises; on PostgreSQL both are the same
/// pool and writers serialise on an advisory lock instead.
pub struct Pools<DB: sqlx::Database> {
    pub read: sqlx::Pool<DB>,
    pub write: sqlx::Pool<DB>,
}

// By hand: a derive would ask `DB: Clone`, which pools do not need.
impl<DB: sqlx::Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Pools {
            read: self.read.clone(),
            write: self.write.clone(),
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(Pools<sqlx::Sqlite>),
    Postgres(Pools<sqlx::Postgres>),
}

/// The database, and a counter of the public changes this process committed. Readers
/// that keep rendered pages (the page cache) compare it to know when to re-render.
/// Clones share the pools and the counter.
///
/// Every change is written to the audit log, in the change's own transaction, against the
/// store's actor: [`Store::acting_as`] gives a store that records another one (the
/// console's signed-in person, the API key, the CLI user).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    changes: Arc<AtomicU64>,
    actor: Arc<Actor>,
}

/// Calls the function of the same name in the backend's `queries` module.
macro_rules! dispatch {
    ($self:ident . $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.backend {
            Backend::Sqlite(pools) => sqlite::queries::$f(pools, $($arg),*).await,
            Backend::Postgres(pools) => postgres::queries::$f(pools, $($arg),*).await,
        }
    };
}

/// Like `dispatch!`, for a change readers see: counts it once it has committed.
macro_rules! dispatch_change {
    ($self:ident . $f:ident ( $($arg:expr),* $(,)? )) => {{
        let result = dispatch!($self.$f($($arg),*));
        if result.is_ok() {
            $self.changes.fetch_add(1, Ordering::SeqCst);
        }
        result
    }};
}

impl Store {
    /// Connects and applies pending migrations. `sqlite:` URLs create the file.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Store {
            backend,
            changes: Arc::new(AtomicU64::new(0)),
            actor: Arc::new(Actor::Scheduler),
        })
    }

    /// The same database, recording the changes it makes against `actor`.
    pub fn acting_as(&self, actor: Actor) -> Store {
        Store {
            actor: Arc::new(actor),
            ..self.clone()
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// How many public changes this process has committed (or learned of, see
    /// [`Store::note_external_change`]). Only ever grows.
    pub fn change_count(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// On PostgreSQL, starts listening for changes other instances commit (each one
    /// counts as a change here too). On SQLite there is nothing to listen to.
    pub fn spawn_change_listener(&self) {
        if let Backend::Postgres(pools) = &self.backend {
            tokio::spawn(postgres::listen(pools.write.clone(), self.changes.clone()));
        }
    }

    /// Counts a change committed elsewhere (another process or instance).
    pub fn note_external_change(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p) => {
                p.write.close().await;
                p.read.close().await;
            }
            Backend::Postgres(p) => p.write.close().await,
        }
    }

    // --- page -------------------------------------------------------------------

    pub async fn page(&self) -> StoreResult<PageRow> {
        dispatch!(self.page())
    }

    pub async fn update_page(
        &self,
        patch: &PagePatch,
        at: impl Into<Stamp>,
    ) -> StoreResult<PageRow> {
        dispatch_change!(self.update_page(&self.actor, patch, at.into()))
    }

    // --- components and groups ---------------------------------------------------

    pub async fn list_components(&self) -> StoreResult<ComponentTree> {
        dispatch!(self.list_components())
    }

    pub async fn create_component(
        &self,
        new: &NewComponent,
        at: impl Into<Stamp>,
    ) -> StoreResult<ComponentRow> {
        dispatch_change!(self.create_component(&self.actor, new, at.into()))
    }

    pub async fn update_component(
        &self,
        id: &str,
        patch: &ComponentPatch,
        at: impl Into<Stamp>,
    ) -> StoreResult<ComponentRow> {
        dispatch_change!(self.update_component(&self.actor, id, patch, at.into()))
    }

    pub async fn delete_component(&self, id: &str, at: impl Into<Stamp>) -> StoreResult<()> {
        dispatch_change!(self.delete_component(&self.actor, id, at.into()))
    }

    pub async fn create_group(
        &self,
        new: &NewGroup,
        at: impl Into<Stamp>,
    ) -> StoreResult<GroupRow> {
        dispatch_change!(self.create_group(&self.actor, new, at.into()))
    }

    pub async fn update_group(
        &self,
        id: &str,
        patch: &GroupPatch,
        at: impl Into<Stamp>,
    ) -> StoreResult<GroupRow> {
        dispatch_change!(self.update_group(&self.actor, id, patch, at.into()))
    }

    pub async fn delete_group(&self, id: &str, at: impl Into<Stamp>) -> StoreResult<GroupRow> {
        dispatch_change!(self.delete_group(&self.actor, id, at.into()))
    }

    /// Moves a component or group one place up (`step` -1) or down (+1) among its
    /// siblings.
    pub async fn move_item(&self, id: &str, step: i64, at: impl Into<Stamp>) -> StoreResult<()> {
        dispatch_change!(self.move_item(&self.actor, id, step, at.into()))
    }

    /// The status log of one component, oldest first.
    pub async fn status_changes(&self, component_id: &str) -> StoreResult<Vec<StatusChangeRow>> {
        dispatch!(self.status_changes(component_id))
    }

    /// The status log since `since`, with every component's status at that moment.
    pub async fn status_window(&self, since: DateTime<Utc>) -> StoreResult<StatusWindow> {
        dispatch!(self.status_window(since))
    }

    /// Applies site.toml in one transaction: the page, then groups, then components.
    /// Returns what happened to each group and component, in that order.
    pub async fn sync_content(
        &self,
        spec: &ContentSpec,
        at: impl Into<Stamp>,
    ) -> StoreResult<Vec<SyncOutcome>> {
        dispatch_change!(self.sync_content(&self.actor, spec, at.into()))
    }

    // --- incidents ------------------------------------------------------------------

    pub async fn create_incident(
        &self,
        req: &IncidentRequest,
        settings: &IncidentSettings,
        at: impl Into<Stamp>,
    ) -> StoreResult<IncidentRecord> {
        dispatch_change!(self.create_incident(&self.actor, req, settings, at.into()))
    }

    pub async fn patch_incident(
        &self,
        id: &str,
        req: &IncidentRequest,
        settings: &IncidentSettings,
        at: impl Into<Stamp>,
    ) -> StoreResult<IncidentRecord> {
        dispatch_change!(self.patch_incident(&self.actor, id, req, settings, at.into()))
    }

    /// Applies an automatic maintenance step only if the maintenance still has status
    /// `from` (several workers may see it due). `None` when another got there first.
    pub async fn advance_maintenance(
        &self,
        id: &str,
        from: crate::domain::IncidentStatus,
        req: &IncidentRequest,
        at: impl Into<Stamp>,
    ) -> StoreResult<Option<IncidentRecord>> {
        dispatch_change!(self.advance_maintenance(&self.actor, id, from, req, at.into()))
    }

    pub async fn delete_incident(
        &self,
        id: &str,
        at: impl Into<Stamp>,
    ) -> StoreResult<IncidentRecord> {
        dispatch_change!(self.delete_incident(&self.actor, id, at.into()))
    }

    pub async fn get_incident(&self, id: &str) -> StoreResult<IncidentRecord> {
        dispatch!(self.get_incident(id))
    }

    pub async fn list_incidents(&self, query: &IncidentQuery) -> StoreResult<Vec<IncidentRecord>> {
        dispatch!(self.list_incidents(query))
    }

    pub async fn edit_update(
        &self,
        incident_id: &str,
        update_id: &str,
        edit: &UpdateEdit,
        at: impl Into<Stamp>,
    ) -> StoreResult<UpdateRecord> {
        dispatch_change!(self.edit_update(&self.actor, incident_id, update_id, edit, at.into()))
    }

    // --- API keys -------------------------------------------------------------------

    pub async fn create_api_key(
        &self,
        name: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiKeyRow> {
        dispatch!(self.create_api_key(&self.actor, name, key_hash, now))
    }

    pub async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRow>> {
        dispatch!(self.list_api_keys())
    }

    pub async fn revoke_api_key(&self, id: &str, now: DateTime<Utc>) -> StoreResult<ApiKeyRow> {
        dispatch!(self.revoke_api_key(&self.actor, id, now))
    }

    /// The live key with this hash, marking it used (at most once a minute).
    pub async fn use_api_key(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ApiKeyRow>> {
        dispatch!(self.use_api_key(key_hash, now))
    }

    // --- subscribers ----------------------------------------------------------------------

    /// Subscribes an address (double opt-in unless `skip_confirmation`).
    pub async fn subscribe(
        &self,
        new: &NewSubscription,
        at: impl Into<Stamp>,
    ) -> StoreResult<(Subscriber, SubscribeOutcome)> {
        dispatch!(self.subscribe(&self.actor, new, at.into()))
    }

    pub async fn get_subscriber(&self, id: &str) -> StoreResult<Subscriber> {
        dispatch!(self.get_subscriber(id))
    }

    pub async fn list_subscribers(&self, query: &SubscriberQuery) -> StoreResult<Vec<Subscriber>> {
        dispatch!(self.list_subscribers(query))
    }

    /// Confirms with the nonce a confirmation link carries; `NotFound` for a used,
    /// replaced or unknown link.
    pub async fn confirm_subscriber(
        &self,
        id: &str,
        nonce: &str,
        at: impl Into<Stamp>,
    ) -> StoreResult<Subscriber> {
        dispatch!(self.confirm_subscriber(&self.actor, id, nonce, at.into()))
    }

    /// `None`: every component.
    pub async fn update_subscriber_components(
        &self,
        id: &str,
        chosen: Option<&[String]>,
        at: impl Into<Stamp>,
    ) -> StoreResult<Subscriber> {
        dispatch!(self.update_subscriber_components(&self.actor, id, chosen, at.into()))
    }

    pub async fn unsubscribe(&self, id: &str, at: impl Into<Stamp>) -> StoreResult<Subscriber> {
        dispatch!(self.unsubscribe(&self.actor, id, at.into()))
    }

    pub async fn resend_confirmation(
        &self,
        id: &str,
        at: impl Into<Stamp>,
    ) -> StoreResult<Subscriber> {
        dispatch!(self.resend_confirmation(&self.actor, id, at.into()))
    }

    pub async fn purge_unconfirmed(&self, created_before: DateTime<Utc>) -> StoreResult<u64> {
        dispatch!(self.purge_unconfirmed(&self.actor, created_before))
    }

    // --- the outbox -----------------------------------------------------------------------

    /// The HMAC key called `name`, created on first use.
    pub async fn secret(&self, name: &str) -> StoreResult<String> {
        dispatch!(self.secret(name))
    }

    pub async fn fan_out(&self, max_events: i64, at: impl Into<Stamp>) -> StoreResult<usize> {
        dispatch!(self.fan_out(max_events, at.into()))
    }

    pub async fn claim_deliveries(
        &self,
        max: i64,
        lease: chrono::Duration,
        at: impl Into<Stamp>,
    ) -> StoreResult<Vec<DeliveryJob>> {
        dispatch!(self.claim_deliveries(max, lease, at.into()))
    }

    pub async fn mark_sent(&self, delivery_id: i64, at: impl Into<Stamp>) -> StoreResult<()> {
        dispatch!(self.mark_sent(delivery_id, at.into()))
    }

    pub async fn mark_retry(
        &self,
        delivery_id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        dispatch!(self.mark_retry(delivery_id, next_attempt_at, error))
    }

    pub async fn mark_failed(
        &self,
        delivery_id: i64,
        error: &str,
        bounce: bool,
        at: impl Into<Stamp>,
    ) -> StoreResult<()> {
        dispatch!(self.mark_failed(delivery_id, error, bounce, at.into()))
    }

    pub async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        dispatch!(self.outbox_stats())
    }

    // --- postmortems ----------------------------------------------------------------------

    pub async fn get_postmortem(&self, incident_id: &str) -> StoreResult<Option<PostmortemRow>> {
        dispatch!(self.get_postmortem(incident_id))
    }

    pub async fn save_postmortem_draft(
        &self,
        incident_id: &str,
        draft: &str,
        content_hash: Option<&str>,
        at: impl Into<Stamp>,
    ) -> StoreResult<PostmortemRow> {
        dispatch!(self.save_postmortem_draft(
            &self.actor,
            incident_id,
            draft,
            content_hash,
            at.into()
        ))
    }

    /// Publishes the saved draft, or `draft` (saving it as the draft) when given.
    pub async fn publish_postmortem(
        &self,
        incident_id: &str,
        draft: Option<&str>,
        notify: bool,
        at: impl Into<Stamp>,
    ) -> StoreResult<PostmortemRow> {
        dispatch_change!(self.publish_postmortem(
            &self.actor,
            incident_id,
            draft,
            notify,
            at.into()
        ))
    }

    pub async fn revert_postmortem(
        &self,
        incident_id: &str,
        at: impl Into<Stamp>,
    ) -> StoreResult<PostmortemRow> {
        dispatch_change!(self.revert_postmortem(&self.actor, incident_id, at.into()))
    }

    pub async fn delete_postmortem(
        &self,
        incident_id: &str,
        at: impl Into<Stamp>,
    ) -> StoreResult<()> {
        dispatch_change!(self.delete_postmortem(&self.actor, incident_id, at.into()))
    }

    // --- console users --------------------------------------------------------------------

    pub async fn create_user(&self, new: &NewUser, at: impl Into<Stamp>) -> StoreResult<UserRow> {
        dispatch!(self.create_user(&self.actor, new, at.into()))
    }

    pub async fn list_users(&self) -> StoreResult<Vec<UserRow>> {
        dispatch!(self.list_users())
    }

    pub async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        dispatch!(self.find_user_by_email(email))
    }

    pub async fn get_user(&self, id: &str) -> StoreResult<UserRow> {
        dispatch!(self.get_user(id))
    }

    /// Removes an account; refuses to remove the last admin.
    pub async fn remove_user(&self, email: &str, at: impl Into<Stamp>) -> StoreResult<UserRow> {
        dispatch!(self.remove_user(&self.actor, email, at.into()))
    }

    /// Sets a new password hash and signs the account out everywhere.
    pub async fn set_user_password(
        &self,
        email: &str,
        password_hash: &str,
        at: impl Into<Stamp>,
    ) -> StoreResult<UserRow> {
        dispatch!(self.set_user_password(&self.actor, email, password_hash, at.into()))
    }

    /// Changes a role; refuses to demote the last admin.
    pub async fn set_user_role(
        &self,
        email: &str,
        role: Role,
        at: impl Into<Stamp>,
    ) -> StoreResult<UserRow> {
        dispatch!(self.set_user_role(&self.actor, email, role, at.into()))
    }

    pub async fn note_sign_in(&self, user_id: &str, at: impl Into<Stamp>) -> StoreResult<()> {
        dispatch!(self.note_sign_in(&self.actor, user_id, at.into()))
    }

    /// Records that session `id` was signed out; it stays refused until `expires_at`.
    pub async fn end_session(
        &self,
        id: &str,
        expires_at: DateTime<Utc>,
        at: impl Into<Stamp>,
    ) -> StoreResult<()> {
        dispatch!(self.end_session(id, expires_at, at.into()))
    }

    pub async fn session_ended(&self, id: &str) -> StoreResult<bool> {
        dispatch!(self.session_ended(id))
    }

    // --- failed sign-ins ------------------------------------------------------------------

    /// The failure records of these keys (`account:…`, `address:…`) that exist.
    pub async fn sign_in_failures(&self, keys: &[String]) -> StoreResult<Vec<SignInFailureRow>> {
        dispatch!(self.sign_in_failures(keys))
    }

    /// Counts an attempt against each key (with its limit) before the password is
    /// checked; when any key is held back, counts nothing and says until when.
    pub async fn count_sign_in_attempt(
        &self,
        keys: &[(String, i64)],
        window: chrono::Duration,
        hold: chrono::Duration,
        at: impl Into<Stamp>,
    ) -> StoreResult<SignInAttempt> {
        dispatch!(self.count_sign_in_attempt(keys, window, hold, at.into()))
    }

    pub async fn forgive_sign_in_attempt(&self, key: &str) -> StoreResult<()> {
        dispatch!(self.forgive_sign_in_attempt(key))
    }

    pub async fn clear_sign_in_failures(&self, keys: &[String]) -> StoreResult<()> {
        dispatch!(self.clear_sign_in_failures(keys))
    }

    // --- the audit log -----------------------------------------------------------------------

    pub async fn audit_log(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRow>> {
        dispatch!(self.audit_log(query))
    }
}
