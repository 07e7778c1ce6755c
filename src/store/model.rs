//! Rows as stored, and the inputs of store operations. Enum columns are kept as text
//! in rows and read through the domain parsers by the methods here.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::incident::{effective_impact, IncidentState};
use crate::domain::{ComponentStatus, Impact, IncidentKind, IncidentStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PageRow {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub website_url: Option<String>,
    pub page_description: Option<String>,
    pub headline: Option<String>,
    pub support_url: Option<String>,
    pub notifications_from_email: Option<String>,
    pub notifications_email_footer: Option<String>,
    pub allow_page_subscribers: bool,
    pub allow_incident_subscribers: bool,
    pub allow_email_subscribers: bool,
    pub allow_rss_atom_feeds: bool,
    pub content_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The page as site.toml declares it.
#[derive(Debug, Clone)]
pub struct PageSeed {
    /// A fixed id from site.toml, or `None` to generate one on first start.
    pub id: Option<String>,
    pub name: String,
    pub time_zone: String,
    pub content_hash: String,
}

/// Settings the management API may change. `None` leaves a field alone; for optional
/// text, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct PagePatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub website_url: Option<Option<String>>,
    pub page_description: Option<Option<String>>,
    pub headline: Option<Option<String>>,
    pub support_url: Option<Option<String>>,
    pub notifications_from_email: Option<Option<String>>,
    pub notifications_email_footer: Option<Option<String>>,
    pub allow_page_subscribers: Option<bool>,
    pub allow_incident_subscribers: Option<bool>,
    pub allow_email_subscribers: Option<bool>,
    pub allow_rss_atom_feeds: Option<bool>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComponentRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub group_id: Option<String>,
    pub position: i64,
    pub showcase: bool,
    pub only_show_if_degraded: bool,
    pub start_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ComponentRow {
    pub fn status(&self) -> ComponentStatus {
        ComponentStatus::from_db(&self.status)
    }
}

/// All components and groups, each list ordered by position.
#[derive(Debug, Clone, Default)]
pub struct ComponentTree {
    pub groups: Vec<GroupRow>,
    pub components: Vec<ComponentRow>,
}

impl ComponentTree {
    pub fn component(&self, id: &str) -> Option<&ComponentRow> {
        self.components.iter().find(|c| c.id == id)
    }

    pub fn children<'a>(
        &'a self,
        group_id: &'a str,
    ) -> impl Iterator<Item = &'a ComponentRow> + 'a {
        self.components
            .iter()
            .filter(move |c| c.group_id.as_deref() == Some(group_id))
    }

    /// The top level in page order: groups (with their components) and ungrouped
    /// components share one sequence of positions, ties broken as the store orders
    /// them (creation, then id). The one place that order is worked out.
    pub fn top_level(&self) -> Vec<TopLevel<'_>> {
        let mut items: Vec<TopLevel<'_>> = self
            .components
            .iter()
            .filter(|c| c.group_id.is_none())
            .map(TopLevel::Component)
            .collect();
        items.extend(
            self.groups
                .iter()
                .map(|g| TopLevel::Group(g, self.children(&g.id).collect())),
        );
        items.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        items
    }
}

/// An entry of the page's top level: a component outside any group, or a group with
/// its components (in their order).
#[derive(Debug, Clone)]
pub enum TopLevel<'a> {
    Component(&'a ComponentRow),
    Group(&'a GroupRow, Vec<&'a ComponentRow>),
}

impl TopLevel<'_> {
    fn sort_key(&self) -> (i64, DateTime<Utc>, &str) {
        match self {
            TopLevel::Component(c) => (c.position, c.created_at, c.id.as_str()),
            TopLevel::Group(g, _) => (g.position, g.created_at, g.id.as_str()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewComponent {
    pub name: String,
    pub description: Option<String>,
    pub status: Option<ComponentStatus>,
    pub group_id: Option<String>,
    pub showcase: Option<bool>,
    pub only_show_if_degraded: Option<bool>,
    pub start_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct ComponentPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<ComponentStatus>,
    /// `Some(None)` moves the component to the top level.
    pub group_id: Option<Option<String>>,
    pub showcase: Option<bool>,
    pub only_show_if_degraded: Option<bool>,
    pub start_date: Option<Option<NaiveDate>>,
}

impl ComponentPatch {
    /// What the patch changes, in words, for the audit log ("status major_outage").
    pub fn describe(&self, after: &ComponentRow) -> String {
        let mut changed = Vec::new();
        if self.status.is_some() {
            changed.push(format!("status {}", after.status));
        }
        if self.name.is_some() {
            changed.push("name".to_owned());
        }
        if self.description.is_some() {
            changed.push("description".to_owned());
        }
        if self.group_id.is_some() {
            changed.push("group".to_owned());
        }
        if self.showcase.is_some() {
            changed.push(format!("showcase {}", after.showcase));
        }
        if self.only_show_if_degraded.is_some() {
            changed.push("only shown if degraded".to_owned());
        }
        if self.start_date.is_some() {
            changed.push("start date".to_owned());
        }
        if changed.is_empty() {
            "no change".to_owned()
        } else {
            changed.join(", ")
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub component_ids: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub component_ids: Option<Vec<String>>,
}

/// A group declared in site.toml, identified by its `key` across restarts.
#[derive(Debug, Clone)]
pub struct ContentGroup {
    pub key: String,
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub position: i64,
    pub content_hash: String,
}

/// A component declared in site.toml.
#[derive(Debug, Clone)]
pub struct ContentComponent {
    pub key: String,
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub status: ComponentStatus,
    pub group_key: Option<String>,
    pub position: i64,
    pub showcase: bool,
    pub only_show_if_degraded: bool,
    pub start_date: Option<NaiveDate>,
    pub content_hash: String,
}

/// Everything site.toml declares, checked and ready to apply.
#[derive(Debug, Clone)]
pub struct ContentSpec {
    pub page: PageSeed,
    pub groups: Vec<ContentGroup>,
    pub components: Vec<ContentComponent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusChangeRow {
    pub component_id: String,
    pub old_status: Option<String>,
    pub new_status: String,
    pub changed_at: DateTime<Utc>,
    pub cause: String,
    pub incident_id: Option<String>,
    pub incident_update_id: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub computed_impact: String,
    pub impact_override: Option<String>,
    pub backfilled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    pub scheduled_remind_prior: bool,
    pub scheduled_auto_in_progress: bool,
    pub scheduled_auto_completed: bool,
    pub auto_transition_to_maintenance_state: bool,
    pub auto_transition_to_operational_state: bool,
    pub auto_transition_deliver_notifications_at_start: bool,
    pub auto_transition_deliver_notifications_at_end: bool,
    pub reminder_intervals: Option<String>,
    pub metadata: String,
}

impl IncidentRow {
    pub fn status(&self) -> IncidentStatus {
        IncidentStatus::from_db(&self.status)
    }

    pub fn kind(&self) -> IncidentKind {
        IncidentKind::from_db(&self.kind)
    }

    pub fn impact_override(&self) -> Option<Impact> {
        self.impact_override.as_deref().map(Impact::from_db)
    }

    pub fn impact(&self) -> Impact {
        effective_impact(
            Impact::from_db(&self.computed_impact),
            self.impact_override(),
        )
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UpdateRow {
    pub id: String,
    pub incident_id: String,
    pub status: String,
    pub body: String,
    pub display_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deliver_notifications: bool,
    pub names_components: bool,
}

impl UpdateRow {
    pub fn status(&self) -> IncidentStatus {
        IncidentStatus::from_db(&self.status)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AffectedRow {
    pub incident_update_id: String,
    pub ordinal: i64,
    pub component_id: String,
    pub name: String,
    pub old_status: String,
    pub new_status: String,
}

#[derive(Debug, Clone)]
pub struct UpdateRecord {
    pub row: UpdateRow,
    /// `None` when the update named no component.
    pub affected: Option<Vec<AffectedRow>>,
}

/// An incident with its timeline (newest first), affected component ids and
/// postmortem.
#[derive(Debug, Clone)]
pub struct IncidentRecord {
    pub incident: IncidentRow,
    pub updates: Vec<UpdateRecord>,
    pub component_ids: Vec<String>,
    pub postmortem: Option<PostmortemRow>,
}

impl IncidentRecord {
    pub fn state(&self) -> IncidentState {
        let row = &self.incident;
        IncidentState {
            status: row.status(),
            kind: row.kind(),
            backfilled: row.backfilled,
            computed_impact: Impact::from_db(&row.computed_impact),
            monitoring_at: row.monitoring_at,
            resolved_at: row.resolved_at,
            scheduled_for: row.scheduled_for,
            scheduled_until: row.scheduled_until,
            affected_component_ids: self.component_ids.clone(),
            held_elsewhere: Vec::new(),
        }
    }
}

/// Incident fields that carry no rules: stored and echoed.
#[derive(Debug, Clone, Default)]
pub struct IncidentSettings {
    /// JSON text of the `metadata` object.
    pub metadata: Option<String>,
    pub scheduled_remind_prior: Option<bool>,
    pub scheduled_auto_in_progress: Option<bool>,
    pub scheduled_auto_completed: Option<bool>,
    pub auto_transition_to_maintenance_state: Option<bool>,
    pub auto_transition_to_operational_state: Option<bool>,
    pub auto_transition_deliver_notifications_at_start: Option<bool>,
    pub auto_transition_deliver_notifications_at_end: Option<bool>,
    pub reminder_intervals: Option<Option<String>>,
}

/// Which incidents to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentFilter {
    /// Incidents and maintenances, newest first (v1 `GET incidents`).
    Everything,
    /// Realtime incidents in any state, newest first.
    Incidents,
    /// Realtime incidents not yet resolved, newest first.
    Unresolved,
    /// Maintenances in any state, newest first.
    Maintenances,
    /// Maintenances not yet started, soonest first.
    UpcomingMaintenances,
    /// Maintenances in progress or verifying, by start.
    ActiveMaintenances,
    /// Maintenances not completed, soonest first.
    OpenMaintenances,
}

#[derive(Debug, Clone)]
pub struct IncidentQuery {
    pub filter: IncidentFilter,
    /// Case-insensitive search in names and update bodies, or an exact status.
    pub search: Option<String>,
    /// Only incidents created at or after this time.
    pub created_since: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

impl IncidentQuery {
    pub fn new(filter: IncidentFilter, limit: i64) -> Self {
        Self {
            filter,
            search: None,
            created_since: None,
            limit,
            offset: 0,
        }
    }
}

/// The status log over a window: each component's status when it opens (`None` when
/// the component did not exist yet) and every change since, oldest first.
#[derive(Debug, Clone, Default)]
pub struct StatusWindow {
    pub at_start: Vec<(String, Option<String>)>,
    pub changes: Vec<StatusChangeRow>,
}

/// Editing one timeline entry: its text and display time, never its status.
#[derive(Debug, Clone, Default)]
pub struct UpdateEdit {
    pub body: Option<String>,
    pub display_at: Option<DateTime<Utc>>,
    pub deliver_notifications: Option<bool>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriberRow {
    pub id: String,
    pub email: String,
    pub state: String,
    pub all_components: bool,
    pub skip_confirmation_notification: bool,
    pub confirmation_nonce: Option<String>,
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    pub quarantined_at: Option<DateTime<Utc>>,
    pub bounce_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SubscriberRow {
    pub fn state(&self) -> crate::domain::subscriber::SubscriberState {
        crate::domain::subscriber::SubscriberState::from_db(&self.state)
    }
}

/// A subscriber with the components it chose (empty when it chose all).
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub row: SubscriberRow,
    pub component_ids: Vec<String>,
}

/// A subscribe request, from the public form or the API.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub email: crate::domain::subscriber::SubscriberEmail,
    /// `None`: every component.
    pub component_ids: Option<Vec<String>>,
    /// Only the API may skip double opt-in (an operator adding a known address).
    pub skip_confirmation: bool,
}

/// What a subscribe request did (never shown to the requester, who sees the same
/// answer in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeOutcome {
    ConfirmationQueued,
    ConfirmationHeldBack,
    Activated,
    AlreadySubscribed,
}

#[derive(Debug, Clone)]
pub struct SubscriberQuery {
    /// `None`: every state.
    pub state: Option<crate::domain::subscriber::SubscriberState>,
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Only subscribers listed after this one (its `created_at` and id): reading a
    /// long list page by page this way neither skips nor repeats anyone when others
    /// sign up meanwhile, as offsets would.
    pub after: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub incident_id: Option<String>,
    pub incident_update_id: Option<String>,
    pub subscriber_id: Option<String>,
    pub component_ids: String,
    pub created_at: DateTime<Utc>,
}

/// One mail to send: the delivery, its event and its recipient.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery_id: i64,
    /// Including this one.
    pub attempts: i64,
    pub event: EventRow,
    pub subscriber: SubscriberRow,
}

/// The outbox at a glance, for `/metrics` and the console.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStats {
    /// Deliveries not yet sent nor given up.
    pub queued: i64,
    /// Events not yet turned into deliveries.
    pub events_waiting: i64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    pub sent: i64,
    pub failed: i64,
    /// Attempts beyond the first, over all deliveries.
    pub retries: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostmortemRow {
    pub incident_id: String,
    pub body_draft: String,
    pub body_draft_updated_at: DateTime<Utc>,
    pub body: Option<String>,
    pub body_updated_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub notify_subscribers: bool,
    pub notified_at: Option<DateTime<Utc>>,
    pub incident_update_id: Option<String>,
    pub content_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PostmortemRow {
    /// The published text, when published.
    pub fn published(&self) -> Option<&str> {
        self.published_at.and(self.body.as_deref())
    }
}

// --- console users, sign-in failures, the audit log -----------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub session_generation: i64,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    pub fn role(&self) -> crate::domain::account::Role {
        // The column has a CHECK constraint; an unknown value can only be a responder.
        crate::domain::account::Role::parse("role", &self.role)
            .unwrap_or(crate::domain::account::Role::Responder)
    }
}

/// A new account: `email` already lower-cased and checked, `password_hash` argon2id.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub role: crate::domain::account::Role,
    pub password_hash: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInFailureRow {
    pub key: String,
    pub failures: i64,
    pub first_failure_at: DateTime<Utc>,
    pub last_failure_at: DateTime<Utc>,
    pub held_until: Option<DateTime<Utc>>,
}

/// What counting a sign-in attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInAttempt {
    /// Set when a key was held back already: the attempt was not counted and must be
    /// refused without looking at the password.
    pub held_until: Option<DateTime<Utc>>,
    /// The most attempts any key has now in its window, this one included.
    pub attempts: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_name: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub summary: String,
}

/// Filters for the audit log, newest first. Empty strings filter nothing.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Matches the actor's name (part of it, any case).
    pub actor: String,
    /// An exact actor kind: user, api_key, cli, content, scheduler, public.
    pub actor_kind: String,
    /// An exact target kind (incident, component, ...).
    pub target_kind: String,
    /// Matches the summary or the target's id (part of it, any case).
    pub text: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only entries older than this id (the next page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(id: &str, position: i64, group: Option<&str>) -> ComponentRow {
        let at = DateTime::<Utc>::default();
        ComponentRow {
            id: id.to_owned(),
            name: id.to_owned(),
            description: None,
            status: "operational".to_owned(),
            group_id: group.map(str::to_owned),
            position,
            showcase: true,
            only_show_if_degraded: false,
            start_date: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn the_top_level_mixes_groups_and_components_by_position() {
        let at = DateTime::<Utc>::default();
        let group = GroupRow {
            id: "g".to_owned(),
            name: "g".to_owned(),
            description: None,
            position: 2,
            created_at: at,
            updated_at: at,
        };
        let tree = ComponentTree {
            groups: vec![group],
            components: vec![
                component("c3", 3, None),
                component("in2", 2, Some("g")),
                component("in1", 1, Some("g")),
                component("c1", 1, None),
            ],
        };
        let order: Vec<String> = tree
            .top_level()
            .iter()
            .map(|item| match item {
                TopLevel::Component(c) => c.id.clone(),
                TopLevel::Group(g, children) => {
                    let ids: Vec<&str> = children.iter().map(|c| c.id.as_str()).collect();
                    format!("{}[{}]", g.id, ids.join(","))
                }
            })
            .collect();
        // Children keep the tree's order (the store sorts them by position).
        assert_eq!(order, ["c1", "g[in2,in1]", "c3"]);
    }
}
