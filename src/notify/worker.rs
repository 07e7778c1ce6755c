//! The delivery worker: turns outbox events into deliveries, claims due deliveries,
//! sends them, and records what happened. Runs inside `herald serve` and alone as
//! `herald worker`; several may share a PostgreSQL database.
//!
//! At least once towards SMTP: a delivery is marked sent after the server accepted it,
//! so a crash in between sends it again when its lease runs out, with the same
//! Message-ID. Never more: deliveries are unique per (event, subscriber).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::sync::watch;

use super::compose::Composer;
use super::{SendError, Transport};
use crate::domain::subscriber::{retry_delay_secs, SubscriberState, MAX_ATTEMPTS};
use crate::store::{ComponentTree, DeliveryJob, IncidentRecord, PageRow, Store, StoreError};
use crate::time::{self, Stamp};

/// Events fanned out and deliveries claimed per round.
const EVENTS_PER_ROUND: i64 = 20;
/// Small enough that a round ends well within its lease even against a slow server
/// (50 mails, 8 at a time, 30 s timeout: about 3 minutes at worst), so no other
/// worker takes the same mails over.
const DELIVERIES_PER_ROUND: i64 = 50;
/// A claimed delivery not finished by then is someone else's to retry.
const LEASE_MINUTES: i64 = 5;
/// How often scheduled maintenances are checked for a due transition.
const SCHEDULE_CHECK: Duration = Duration::from_secs(15);
/// Unconfirmed addresses are deleted after this long.
const PURGE_UNCONFIRMED_AFTER_DAYS: i64 = 7;

pub struct Worker {
    store: Store,
    composer: Composer,
    transport: Transport,
    rate: Option<DefaultDirectRateLimiter>,
    concurrency: usize,
    idle: Duration,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub events: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

impl Round {
    fn did_anything(&self) -> bool {
        self.events + self.sent + self.retried + self.failed > 0
    }
}

enum Outcome {
    Sent,
    Retried,
    Failed,
}

impl Worker {
    /// `per_second`: the most mails sent per second (0: no limit).
    pub fn new(
        store: Store,
        composer: Composer,
        transport: Transport,
        per_second: u32,
        concurrency: usize,
    ) -> Worker {
        Worker {
            store,
            composer,
            transport,
            rate: NonZeroU32::new(per_second).map(|n| RateLimiter::direct(Quota::per_second(n))),
            concurrency: concurrency.max(1),
            idle: Duration::from_millis(250),
        }
    }

    /// Works until `shutdown` turns true, finishing the round under way.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_purge: Option<std::time::Instant> = None;
        let mut last_schedule_check: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_schedule_check.is_none_or(|at| at.elapsed() >= SCHEDULE_CHECK) {
                if let Err(e) = self.advance_maintenances().await {
                    tracing::warn!(error = ?e, "moving scheduled maintenances failed");
                }
                last_schedule_check = Some(std::time::Instant::now());
            }
            let round = match self.round().await {
                Ok(round) => round,
                Err(e) => {
                    tracing::warn!(error = ?e, "delivery round failed");
                    Round::default()
                }
            };
            if last_purge.is_none_or(|at| at.elapsed() > Duration::from_secs(600)) {
                let cutoff = time::now() - chrono::Duration::days(PURGE_UNCONFIRMED_AFTER_DAYS);
                match self.store.purge_unconfirmed(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "deleted unconfirmed subscribers"),
                    Err(e) => tracing::warn!(error = ?e, "purging unconfirmed subscribers failed"),
                }
                last_purge = Some(std::time::Instant::now());
            }
            if !round.did_anything() {
                tokio::select! {
                    _ = tokio::time::sleep(self.idle) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// Moves scheduled maintenances whose time has come (see `domain::maintenance`).
    /// Returns how many moved.
    pub async fn advance_maintenances(&self) -> Result<usize, StoreError> {
        use crate::domain::incident::IncidentRequest;
        use crate::domain::maintenance::{due, Schedule};
        use crate::store::{IncidentFilter, IncidentQuery};
        let now = time::now();
        let open = self
            .store
            .list_incidents(&IncidentQuery::new(IncidentFilter::OpenMaintenances, 1_000))
            .await?;
        let mut moved = 0;
        let mut tree = None;
        for record in open {
            let i = &record.incident;
            let schedule = Schedule {
                status: i.status(),
                scheduled_for: i.scheduled_for,
                scheduled_until: i.scheduled_until,
                auto_in_progress: i.scheduled_auto_in_progress,
                auto_completed: i.scheduled_auto_completed,
                to_maintenance_state: i.auto_transition_to_maintenance_state,
                to_operational_state: i.auto_transition_to_operational_state,
                notify_at_start: i.auto_transition_deliver_notifications_at_start,
                notify_at_end: i.auto_transition_deliver_notifications_at_end,
            };
            let Some(step) = due(&schedule, now) else {
                continue;
            };
            // Components the step does not set keep their status: naming them with it
            // keeps completion from restoring them.
            // Read once, and only when something is due.
            if tree.is_none() {
                tree = Some(self.store.list_components().await?);
            }
            let Some(tree) = &tree else { continue };
            let component_statuses = record
                .component_ids
                .iter()
                .filter_map(|id| tree.component(id))
                .map(|c| (c.id.clone(), step.components.unwrap_or(c.status())))
                .collect();
            let request = IncidentRequest {
                status: Some(step.status),
                body: Some(step.body.to_owned()),
                component_statuses,
                deliver_notifications: Some(step.notify),
                ..IncidentRequest::default()
            };
            if self
                .store
                .advance_maintenance(&i.id, i.status(), &request, Stamp::Clock)
                .await?
                .is_some()
            {
                tracing::info!(maintenance = %i.id, status = step.status.as_str(), "maintenance moved on schedule");
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// One round: fan out waiting events, then send what is due.
    pub async fn round(&self) -> Result<Round, StoreError> {
        let mut round = Round {
            events: self.store.fan_out(EVENTS_PER_ROUND, Stamp::Clock).await?,
            ..Round::default()
        };
        let jobs = self
            .store
            .claim_deliveries(
                DELIVERIES_PER_ROUND,
                chrono::Duration::minutes(LEASE_MINUTES),
                Stamp::Clock,
            )
            .await?;
        if jobs.is_empty() {
            return Ok(round);
        }
        let page = self.store.page().await?;
        let tree = self.store.list_components().await?;
        let mut incidents: HashMap<String, Option<Arc<IncidentRecord>>> = HashMap::new();
        for id in jobs.iter().filter_map(|j| j.event.incident_id.clone()) {
            if let std::collections::hash_map::Entry::Vacant(slot) = incidents.entry(id) {
                let record = match self.store.get_incident(slot.key()).await {
                    Ok(r) => Some(Arc::new(r)),
                    Err(StoreError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                };
                slot.insert(record);
            }
        }
        let outcomes: Vec<Result<Outcome, StoreError>> = futures_util::stream::iter(jobs)
            .map(|job| self.deliver(job, &page, &tree, &incidents))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => round.sent += 1,
                Outcome::Retried => round.retried += 1,
                Outcome::Failed => round.failed += 1,
            }
        }
        Ok(round)
    }

    async fn deliver(
        &self,
        job: DeliveryJob,
        page: &PageRow,
        tree: &ComponentTree,
        incidents: &HashMap<String, Option<Arc<IncidentRecord>>>,
    ) -> Result<Outcome, StoreError> {
        let id = job.delivery_id;
        let to = &job.subscriber;
        let composed = match job.event.kind.as_str() {
            "confirmation" => match (&to.confirmation_nonce, to.state()) {
                (Some(nonce), SubscriberState::Unconfirmed) => {
                    self.composer.confirmation(page, to, nonce).map(Some)
                }
                _ => Ok(None),
            },
            _ if to.state() != SubscriberState::Active => Ok(None),
            _ => match (&job.event.incident_id, &job.event.incident_update_id) {
                (Some(incident_id), Some(update_id)) => {
                    match incidents.get(incident_id).cloned().flatten() {
                        Some(record) => self
                            .composer
                            .incident_update(page, tree, &record, update_id, to),
                        None => Ok(None),
                    }
                }
                _ => Ok(None),
            },
        };
        let message = match composed {
            Ok(Some(message)) => message,
            // The recipient left, confirmed already, or the incident is gone.
            Ok(None) => {
                let why = format!(
                    "not sent: recipient is {} or the incident was removed",
                    to.state
                );
                self.store
                    .mark_failed(id, &why, false, Stamp::Clock)
                    .await?;
                return Ok(Outcome::Failed);
            }
            Err(e) => {
                tracing::warn!(delivery = id, error = %e, "could not compose a mail");
                self.store
                    .mark_failed(id, &format!("could not compose: {e}"), false, Stamp::Clock)
                    .await?;
                return Ok(Outcome::Failed);
            }
        };
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        match self.transport.send(message).await {
            Ok(()) => {
                self.store.mark_sent(id, Stamp::Clock).await?;
                Ok(Outcome::Sent)
            }
            Err(SendError::Permanent(e)) => {
                tracing::warn!(delivery = id, error = %e, "mail refused for good");
                self.store.mark_failed(id, &e, true, Stamp::Clock).await?;
                Ok(Outcome::Failed)
            }
            Err(SendError::Temporary(e)) if job.attempts >= MAX_ATTEMPTS => {
                tracing::warn!(delivery = id, error = %e, "giving up after {MAX_ATTEMPTS} attempts");
                self.store.mark_failed(id, &e, false, Stamp::Clock).await?;
                Ok(Outcome::Failed)
            }
            Err(SendError::Temporary(e)) => {
                let jitter: f64 = rand::thread_rng().gen();
                let next = time::now()
                    + chrono::Duration::seconds(retry_delay_secs(job.attempts - 1, jitter));
                tracing::info!(delivery = id, error = %e, %next, "mail will be retried");
                self.store.mark_retry(id, next, &e).await?;
                Ok(Outcome::Retried)
            }
        }
    }
}
