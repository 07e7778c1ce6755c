//! Incident and maintenance lifecycle rules.
//!
//! The store loads the incident's current state and the current status of every
//! component a request names, calls [`plan_create`] or [`plan_patch`], and writes the
//! returned [`Plan`] in one transaction. All decisions (which update to add, which
//! components change, timestamps, impact) are made here, without I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::text::{parse_body, parse_name, BODY_MAX};
use super::{one_of, ComponentStatus, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentKind {
    /// Something went wrong: investigating → identified → monitoring → resolved.
    Realtime,
    /// Planned work: scheduled → in_progress → verifying → completed.
    Maintenance,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::Maintenance => "maintenance",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        if raw == "maintenance" {
            Self::Maintenance
        } else {
            Self::Realtime
        }
    }

    /// The statuses of this kind, in lifecycle order; the last one closes it.
    pub fn lifecycle(self) -> [IncidentStatus; 4] {
        match self {
            Self::Realtime => [
                IncidentStatus::Investigating,
                IncidentStatus::Identified,
                IncidentStatus::Monitoring,
                IncidentStatus::Resolved,
            ],
            Self::Maintenance => [
                IncidentStatus::Scheduled,
                IncidentStatus::InProgress,
                IncidentStatus::Verifying,
                IncidentStatus::Completed,
            ],
        }
    }

    /// The status that closes this kind: resolved, or completed.
    pub fn closing_status(self) -> IncidentStatus {
        match self {
            Self::Realtime => IncidentStatus::Resolved,
            Self::Maintenance => IncidentStatus::Completed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 9] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Postmortem,
        Self::Scheduled,
        Self::InProgress,
        Self::Verifying,
        Self::Completed,
    ];

    /// The statuses a create or patch may ask for (`postmortem` comes from publishing).
    const SETTABLE: [IncidentStatus; 8] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Scheduled,
        Self::InProgress,
        Self::Verifying,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Postmortem => "postmortem",
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
        }
    }

    /// The label on a timeline entry whose status changed ("In progress").
    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
            Self::Postmortem => "Postmortem",
            Self::Scheduled => "Scheduled",
            Self::InProgress => "In progress",
            Self::Verifying => "Verifying",
            Self::Completed => "Completed",
        }
    }

    /// Parses a status a request asks for.
    pub fn parse_settable(field: &str, raw: &str) -> Result<Self, DomainError> {
        Self::SETTABLE
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| one_of(field, &Self::SETTABLE.map(Self::as_str), raw))
    }

    pub fn from_db(raw: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .unwrap_or(Self::Investigating)
    }

    pub fn kind(self) -> IncidentKind {
        match self {
            Self::Scheduled | Self::InProgress | Self::Verifying | Self::Completed => {
                IncidentKind::Maintenance
            }
            _ => IncidentKind::Realtime,
        }
    }

    /// Still needs attention: shown as active on the page and in `unresolved.json`.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Postmortem | Self::Completed)
    }
}

/// Declared from least to most severe, so `max` picks the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Impact {
    const ALL: [Impact; 5] = [
        Self::None,
        Self::Maintenance,
        Self::Minor,
        Self::Major,
        Self::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Maintenance => "maintenance",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| one_of(field, &Self::ALL.map(Self::as_str), raw))
    }

    pub fn from_db(raw: &str) -> Self {
        Self::parse("impact", raw).unwrap_or(Self::None)
    }

    /// §1.7: the impact a component status stands for.
    pub fn of_component_status(status: ComponentStatus) -> Self {
        match status {
            ComponentStatus::Operational => Self::None,
            ComponentStatus::UnderMaintenance => Self::Maintenance,
            ComponentStatus::DegradedPerformance => Self::Minor,
            ComponentStatus::PartialOutage => Self::Major,
            ComponentStatus::MajorOutage => Self::Critical,
        }
    }
}

/// One component named by a change, with its status before and after (equal when the
/// request only listed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedComponent {
    pub component_id: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

/// What a create or patch asks for, already parsed field by field.
#[derive(Debug, Clone, Default)]
pub struct IncidentRequest {
    pub name: Option<String>,
    pub status: Option<IncidentStatus>,
    pub body: Option<String>,
    /// `Some(None)` clears an override.
    pub impact_override: Option<Option<Impact>>,
    /// `components`: status changes, in request order.
    pub component_statuses: Vec<(String, ComponentStatus)>,
    /// `component_ids`: components listed as affected without a status change.
    pub component_ids: Vec<String>,
    pub deliver_notifications: Option<bool>,
    pub backfilled: bool,
    /// For a backfilled incident: when it happened.
    pub backfill_at: Option<DateTime<Utc>>,
    /// For a backfilled incident: when it was over, if later than `backfill_at` (the
    /// console asks; Statuspage's API has only the one date).
    pub backfill_resolved_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
}

/// The parts of a stored incident the rules look at.
#[derive(Debug, Clone)]
pub struct IncidentState {
    pub status: IncidentStatus,
    pub kind: IncidentKind,
    pub backfilled: bool,
    pub computed_impact: Impact,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    /// Components already recorded as affected by this incident.
    pub affected_component_ids: Vec<String>,
    /// Components another open incident or active maintenance also holds: resolving
    /// this one leaves them as they are.
    pub held_elsewhere: Vec<String>,
}

/// The timeline entry a change adds.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUpdate {
    pub status: IncidentStatus,
    pub body: String,
    pub display_at: DateTime<Utc>,
    pub deliver_notifications: bool,
    /// `None` when the change named no component (the API shows `null`).
    pub affected: Option<Vec<AffectedComponent>>,
}

/// Everything the store must write for one create or patch.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: Option<String>,
    pub kind: IncidentKind,
    pub status: IncidentStatus,
    pub computed_impact: Impact,
    pub impact_override: Option<Option<Impact>>,
    pub created_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    pub update: Option<PlannedUpdate>,
    /// Current-status changes to apply to components (only those whose status moves).
    pub component_changes: Vec<AffectedComponent>,
    /// Components to add to the incident's affected set.
    pub add_component_ids: Vec<String>,
}

/// Statuses of the components a request names, as the store read them. A component
/// missing from the map does not exist.
pub type CurrentStatuses = BTreeMap<String, ComponentStatus>;

/// Plans a new incident or maintenance.
pub fn plan_create(
    req: &IncidentRequest,
    current: &CurrentStatuses,
    now: DateTime<Utc>,
) -> Result<Plan, DomainError> {
    let name = parse_name(
        "incident[name]",
        req.name
            .as_deref()
            .ok_or_else(|| DomainError::new("incident[name]", "can't be blank"))?,
    )?;
    let is_maintenance = req.scheduled_for.is_some()
        || req.status.map(IncidentStatus::kind) == Some(IncidentKind::Maintenance);
    let kind = if is_maintenance {
        IncidentKind::Maintenance
    } else {
        IncidentKind::Realtime
    };
    let status = match (req.status, kind) {
        (Some(s), k) if s.kind() != k => {
            return Err(DomainError::new(
                "incident[status]",
                "must be scheduled, in_progress, verifying or completed for a maintenance (one with scheduled_for)",
            ))
        }
        (Some(s), _) => s,
        (None, IncidentKind::Realtime) => IncidentStatus::Investigating,
        (None, IncidentKind::Maintenance) => IncidentStatus::Scheduled,
    };
    if kind == IncidentKind::Maintenance {
        check_window(req.scheduled_for, req.scheduled_until)?;
    }

    if req.backfilled {
        return plan_backfill(req, name, status, kind, current, now);
    }
    let empty = IncidentState {
        status,
        kind,
        backfilled: false,
        computed_impact: Impact::None,
        monitoring_at: None,
        resolved_at: None,
        scheduled_for: None,
        scheduled_until: None,
        affected_component_ids: Vec::new(),
        held_elsewhere: Vec::new(),
    };
    let mut plan = plan_change(&empty, req, current, now, true)?;
    plan.name = Some(name);
    if kind == IncidentKind::Maintenance {
        plan.computed_impact = plan.computed_impact.max(Impact::Maintenance);
    }
    Ok(plan)
}

/// Plans a change to an existing incident.
pub fn plan_patch(
    state: &IncidentState,
    req: &IncidentRequest,
    current: &CurrentStatuses,
    now: DateTime<Utc>,
) -> Result<Plan, DomainError> {
    let name = req
        .name
        .as_deref()
        .map(|n| parse_name("incident[name]", n))
        .transpose()?;
    if req.backfilled && !state.backfilled {
        return Err(DomainError::new(
            "incident[backfilled]",
            "can only be set when the incident is created",
        ));
    }
    if let Some(status) = req.status {
        if status.kind() != state.kind {
            let [a, b, c, last] = state.kind.lifecycle().map(IncidentStatus::as_str);
            let allowed = format!("{a}, {b}, {c} or {last}");
            return Err(DomainError::new(
                "incident[status]",
                format!(
                    "must be {allowed} for this {} (got {:?})",
                    state.kind.as_str(),
                    status.as_str()
                ),
            ));
        }
    }
    if state.backfilled && !req.component_statuses.is_empty() {
        return Err(DomainError::new(
            "incident[components]",
            "can't change component statuses of a backfilled incident; use component_ids to list them",
        ));
    }
    if state.backfilled && req.status.is_some_and(IncidentStatus::is_open) {
        return Err(DomainError::new(
            "incident[status]",
            "can't reopen a backfilled incident: it is history",
        ));
    }
    if state.kind == IncidentKind::Maintenance
        && (req.scheduled_for.is_some() || req.scheduled_until.is_some())
    {
        check_window(
            req.scheduled_for.or(state.scheduled_for),
            req.scheduled_until.or(state.scheduled_until),
        )?;
    }
    let mut plan = plan_change(state, req, current, now, false)?;
    plan.name = name;
    if state.backfilled {
        // History: editing it tells nobody and moves no component.
        if let Some(update) = &mut plan.update {
            update.deliver_notifications = false;
        }
        plan.component_changes.clear();
    }
    Ok(plan)
}

fn check_window(
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(), DomainError> {
    match (from, until) {
        (None, _) => Err(DomainError::new(
            "incident[scheduled_for]",
            "is required for a maintenance",
        )),
        (Some(_), None) => Err(DomainError::new(
            "incident[scheduled_until]",
            "is required for a maintenance",
        )),
        (Some(f), Some(u)) if u <= f => Err(DomainError::new(
            "incident[scheduled_until]",
            "must be after scheduled_for",
        )),
        _ => Ok(()),
    }
}

/// The common path: which update to add, which components move, new timestamps.
fn plan_change(
    state: &IncidentState,
    req: &IncidentRequest,
    current: &CurrentStatuses,
    now: DateTime<Utc>,
    is_create: bool,
) -> Result<Plan, DomainError> {
    let body = req
        .body
        .as_deref()
        .map(|b| parse_body("incident[body]", b, BODY_MAX))
        .transpose()?;
    check_known(
        "incident[components]",
        req.component_statuses.iter().map(|(id, _)| id),
        current,
    )?;
    check_known("incident[component_ids]", req.component_ids.iter(), current)?;

    let new_status = req.status.unwrap_or(state.status);
    let status_given = req.status.is_some();
    // Posting to a closed incident keeps it closed unless an open status is asked for:
    // `new_status` defaults to the current one.

    // Affected components, in request order: status changes first, then listed ids.
    let mut affected: Vec<AffectedComponent> = Vec::new();
    for (id, new) in &req.component_statuses {
        let old = current[id];
        match affected.iter_mut().find(|a| &a.component_id == id) {
            Some(a) => a.new_status = *new,
            None => affected.push(AffectedComponent {
                component_id: id.clone(),
                old_status: old,
                new_status: *new,
            }),
        }
    }
    for id in &req.component_ids {
        if !affected.iter().any(|a| &a.component_id == id) {
            let status = current[id];
            affected.push(AffectedComponent {
                component_id: id.clone(),
                old_status: status,
                new_status: status,
            });
        }
    }
    // Resolving or completing restores the incident's components unless this request
    // sets them itself.
    let closing = (status_given && state.status != new_status) || is_create;
    if closing
        && matches!(
            new_status,
            IncidentStatus::Resolved | IncidentStatus::Completed
        )
    {
        // The incident's components: those recorded before and those this request lists.
        for id in state
            .affected_component_ids
            .iter()
            .chain(&req.component_ids)
        {
            let Some(&old) = current.get(id) else {
                continue;
            };
            let set_by_request = req.component_statuses.iter().any(|(c, _)| c == id);
            // Another open incident or maintenance still holds it: leave it as it is.
            let held = state.held_elsewhere.contains(id);
            if old == ComponentStatus::Operational || set_by_request || held || state.backfilled {
                continue;
            }
            match affected.iter_mut().find(|a| &a.component_id == id) {
                // Listed in component_ids only: it was recorded unchanged; restore it.
                Some(listed) => listed.new_status = ComponentStatus::Operational,
                None => affected.push(AffectedComponent {
                    component_id: id.clone(),
                    old_status: old,
                    new_status: ComponentStatus::Operational,
                }),
            }
        }
    }

    let wants_update = is_create
        || status_given
        || body.is_some()
        || !req.component_statuses.is_empty()
        || !req.component_ids.is_empty();
    let update = wants_update.then(|| PlannedUpdate {
        status: new_status,
        body: body.clone().unwrap_or_default(),
        display_at: now,
        deliver_notifications: req.deliver_notifications.unwrap_or(true),
        affected: (!affected.is_empty()).then(|| affected.clone()),
    });

    let computed_impact = affected
        .iter()
        .map(|a| Impact::of_component_status(a.new_status))
        .fold(state.computed_impact, Impact::max);

    let monitoring_at = match state.monitoring_at {
        None if new_status == IncidentStatus::Monitoring => Some(now),
        other => other,
    };
    let resolved_at = if !new_status.is_open() {
        if state.status.is_open() || state.resolved_at.is_none() {
            Some(now)
        } else {
            state.resolved_at
        }
    } else {
        None
    };

    let mut add_component_ids: Vec<String> = Vec::new();
    for a in &affected {
        if !state.affected_component_ids.contains(&a.component_id)
            && !add_component_ids.contains(&a.component_id)
        {
            add_component_ids.push(a.component_id.clone());
        }
    }

    Ok(Plan {
        name: None,
        kind: state.kind,
        status: new_status,
        computed_impact,
        impact_override: req.impact_override,
        created_at: now,
        started_at: now,
        monitoring_at,
        resolved_at,
        scheduled_for: req.scheduled_for.or(state.scheduled_for),
        scheduled_until: req.scheduled_until.or(state.scheduled_until),
        update,
        component_changes: affected
            .into_iter()
            .filter(|a| a.old_status != a.new_status)
            .collect(),
        add_component_ids,
    })
}

/// A backfilled incident is history: it keeps its own date, is closed, changes no
/// component's current status, and notifies nobody.
fn plan_backfill(
    req: &IncidentRequest,
    name: String,
    status: IncidentStatus,
    kind: IncidentKind,
    current: &CurrentStatuses,
    now: DateTime<Utc>,
) -> Result<Plan, DomainError> {
    if !req.component_statuses.is_empty() {
        return Err(DomainError::new(
            "incident[components]",
            "can't be set on a backfilled incident; use component_ids to list the affected components",
        ));
    }
    if req.status.is_some() && status.is_open() {
        return Err(DomainError::new(
            "incident[status]",
            "must be resolved (or completed) for a backfilled incident",
        ));
    }
    let at = req.backfill_at.ok_or_else(|| {
        DomainError::new(
            "incident[backfill_date]",
            "is required for a backfilled incident (YYYY-MM-DD, MM/DD/YYYY or an ISO 8601 time)",
        )
    })?;
    if at > now {
        return Err(DomainError::new(
            "incident[backfill_date]",
            "must not be in the future",
        ));
    }
    let end = req.backfill_resolved_at.unwrap_or(at);
    if end < at {
        return Err(DomainError::new(
            "incident[backfill_resolved_at]",
            "must not be before the start",
        ));
    }
    if end > now {
        return Err(DomainError::new(
            "incident[backfill_resolved_at]",
            "must not be in the future",
        ));
    }
    check_known("incident[component_ids]", req.component_ids.iter(), current)?;
    let body = req
        .body
        .as_deref()
        .map(|b| parse_body("incident[body]", b, BODY_MAX))
        .transpose()?
        .unwrap_or_default();
    let status = kind.closing_status();
    let mut ids: Vec<String> = Vec::new();
    for id in &req.component_ids {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    Ok(Plan {
        name: Some(name),
        kind,
        status,
        computed_impact: if kind == IncidentKind::Maintenance {
            Impact::Maintenance
        } else {
            Impact::None
        },
        impact_override: req.impact_override,
        created_at: at,
        started_at: at,
        monitoring_at: None,
        resolved_at: Some(end),
        scheduled_for: req.scheduled_for,
        scheduled_until: req.scheduled_until,
        // The one entry says how it ended, so it is shown at the end.
        update: Some(PlannedUpdate {
            status,
            body,
            display_at: end,
            deliver_notifications: false,
            affected: None,
        }),
        component_changes: Vec::new(),
        add_component_ids: ids,
    })
}

fn check_known<'a>(
    field: &str,
    mut ids: impl Iterator<Item = &'a String>,
    current: &CurrentStatuses,
) -> Result<(), DomainError> {
    match ids.find(|id| !current.contains_key(*id)) {
        Some(id) => Err(DomainError::new(
            field,
            format!("names an unknown component id {id:?}"),
        )),
        None => Ok(()),
    }
}

/// The effective impact shown to readers.
pub fn effective_impact(computed: Impact, impact_override: Option<Impact>) -> Impact {
    impact_override.unwrap_or(computed)
}

/// "Investigating", or "Update" when an entry kept the status of the one before it.
pub fn update_label(status: IncidentStatus, previous: Option<IncidentStatus>) -> &'static str {
    if previous == Some(status) {
        "Update"
    } else {
        status.label()
    }
}

#[cfg(test)]
mod tests;
