// Tests unwrap freely: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use super::*;

use chrono::Duration;
use proptest::prelude::*;

use ComponentStatus::{
    DegradedPerformance, MajorOutage, Operational, PartialOutage, UnderMaintenance,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    at(0)
}

fn statuses(list: &[(&str, ComponentStatus)]) -> CurrentStatuses {
    list.iter().map(|(id, s)| (id.to_string(), *s)).collect()
}

fn named(name: &str) -> IncidentRequest {
    IncidentRequest {
        name: Some(name.to_string()),
        ..Default::default()
    }
}

fn comps(list: &[(&str, ComponentStatus)]) -> Vec<(String, ComponentStatus)> {
    list.iter().map(|(id, s)| (id.to_string(), *s)).collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn affected(id: &str, old: ComponentStatus, new: ComponentStatus) -> AffectedComponent {
    AffectedComponent {
        component_id: id.to_string(),
        old_status: old,
        new_status: new,
    }
}

fn realtime_state(status: IncidentStatus) -> IncidentState {
    IncidentState {
        status,
        kind: IncidentKind::Realtime,
        backfilled: false,
        computed_impact: Impact::None,
        monitoring_at: None,
        resolved_at: if status.is_open() {
            None
        } else {
            Some(at(-60))
        },
        scheduled_for: None,
        scheduled_until: None,
        affected_component_ids: Vec::new(),
        held_elsewhere: Vec::new(),
    }
}

fn maintenance_state(status: IncidentStatus) -> IncidentState {
    IncidentState {
        kind: IncidentKind::Maintenance,
        computed_impact: Impact::Maintenance,
        scheduled_for: Some(at(3600)),
        scheduled_until: Some(at(7200)),
        ..realtime_state(status)
    }
}

fn create_err(req: &IncidentRequest, current: &CurrentStatuses) -> DomainError {
    plan_create(req, current, now()).unwrap_err()
}

fn patch_err(
    state: &IncidentState,
    req: &IncidentRequest,
    current: &CurrentStatuses,
) -> DomainError {
    plan_patch(state, req, current, now()).unwrap_err()
}

// ---------------------------------------------------------------------------
// plan_create: name
// ---------------------------------------------------------------------------

#[test]
fn create_requires_a_name() {
    let err = create_err(&IncidentRequest::default(), &CurrentStatuses::new());
    assert_eq!(err.field, "incident[name]");
    assert_eq!(err.message, "can't be blank");
}

#[test]
fn create_rejects_a_blank_name() {
    let err = create_err(&named("   \t "), &CurrentStatuses::new());
    assert_eq!(err.field, "incident[name]");
    assert_eq!(err.message, "can't be blank");
}

#[test]
fn create_rejects_a_name_longer_than_255_characters() {
    let err = create_err(&named(&"n".repeat(256)), &CurrentStatuses::new());
    assert_eq!(err.field, "incident[name]");
    assert!(err.message.contains("too long"), "{}", err.message);

    let plan = plan_create(&named(&"n".repeat(255)), &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.name.as_deref(), Some("n".repeat(255).as_str()));
}

#[test]
fn create_trims_the_name() {
    let plan = plan_create(&named("  API down  "), &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.name.as_deref(), Some("API down"));
}

// ---------------------------------------------------------------------------
// plan_create: status, kind, maintenance window
// ---------------------------------------------------------------------------

#[test]
fn create_defaults_to_investigating_realtime() {
    let plan = plan_create(&named("x"), &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.kind, IncidentKind::Realtime);
    assert_eq!(plan.status, IncidentStatus::Investigating);
    assert_eq!(plan.computed_impact, Impact::None);
    assert_eq!(plan.created_at, now());
    assert_eq!(plan.started_at, now());
    assert_eq!(plan.monitoring_at, None);
    assert_eq!(plan.resolved_at, None);
    assert_eq!(plan.scheduled_for, None);
    assert_eq!(plan.scheduled_until, None);
    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Investigating);
    assert_eq!(update.body, "");
    assert_eq!(update.display_at, now());
}

#[test]
fn create_keeps_an_explicit_realtime_status() {
    let mut req = named("x");
    req.status = Some(IncidentStatus::Identified);
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.kind, IncidentKind::Realtime);
    assert_eq!(plan.status, IncidentStatus::Identified);
    assert_eq!(plan.update.unwrap().status, IncidentStatus::Identified);
}

#[test]
fn create_in_monitoring_sets_monitoring_at() {
    let mut req = named("x");
    req.status = Some(IncidentStatus::Monitoring);
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.monitoring_at, Some(now()));
    assert_eq!(plan.resolved_at, None);
}

#[test]
fn create_already_resolved_sets_resolved_at() {
    let mut req = named("x");
    req.status = Some(IncidentStatus::Resolved);
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.status, IncidentStatus::Resolved);
    assert_eq!(plan.resolved_at, Some(now()));
}

#[test]
fn create_with_scheduled_for_is_a_scheduled_maintenance() {
    let mut req = named("DB upgrade");
    req.scheduled_for = Some(at(3600));
    req.scheduled_until = Some(at(7200));
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.kind, IncidentKind::Maintenance);
    assert_eq!(plan.status, IncidentStatus::Scheduled);
    assert_eq!(plan.computed_impact, Impact::Maintenance);
    assert_eq!(plan.scheduled_for, Some(at(3600)));
    assert_eq!(plan.scheduled_until, Some(at(7200)));
    assert_eq!(plan.resolved_at, None);
    assert_eq!(plan.update.unwrap().status, IncidentStatus::Scheduled);
}

#[test]
fn maintenance_impact_is_at_least_maintenance_but_can_be_worse() {
    let current = statuses(&[("c1", Operational), ("c2", Operational)]);
    let mut req = named("m");
    req.scheduled_for = Some(at(3600));
    req.scheduled_until = Some(at(7200));
    req.component_ids = ids(&["c1"]);
    let plan = plan_create(&req, &current, now()).unwrap();
    assert_eq!(plan.computed_impact, Impact::Maintenance);

    req.component_statuses = comps(&[("c2", PartialOutage)]);
    let plan = plan_create(&req, &current, now()).unwrap();
    assert_eq!(plan.computed_impact, Impact::Major);
}

#[test]
fn maintenance_can_be_created_in_progress() {
    let mut req = named("m");
    req.status = Some(IncidentStatus::InProgress);
    req.scheduled_for = Some(at(-60));
    req.scheduled_until = Some(at(3600));
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.kind, IncidentKind::Maintenance);
    assert_eq!(plan.status, IncidentStatus::InProgress);
}

#[test]
fn maintenance_requires_scheduled_until() {
    let mut req = named("m");
    req.scheduled_for = Some(at(3600));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[scheduled_until]");
    assert!(err.message.contains("required"), "{}", err.message);
}

#[test]
fn maintenance_requires_scheduled_until_after_scheduled_for() {
    let mut req = named("m");
    req.scheduled_for = Some(at(3600));
    req.scheduled_until = Some(at(3600));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[scheduled_until]");
    assert_eq!(err.message, "must be after scheduled_for");

    req.scheduled_until = Some(at(1800));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[scheduled_until]");

    req.scheduled_until = Some(at(3601));
    assert!(plan_create(&req, &CurrentStatuses::new(), now()).is_ok());
}

#[test]
fn maintenance_status_without_scheduled_for_errors() {
    let mut req = named("m");
    req.status = Some(IncidentStatus::Scheduled);
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[scheduled_for]");
}

#[test]
fn realtime_status_with_scheduled_for_is_a_kind_mismatch() {
    let mut req = named("m");
    req.status = Some(IncidentStatus::Investigating);
    req.scheduled_for = Some(at(3600));
    req.scheduled_until = Some(at(7200));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[status]");
    assert!(err.message.contains("scheduled"), "{}", err.message);
}

// ---------------------------------------------------------------------------
// plan_create: body and unknown components
// ---------------------------------------------------------------------------

#[test]
fn create_rejects_a_body_longer_than_25000_characters() {
    let mut req = named("x");
    req.body = Some("b".repeat(25_001));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[body]");
    assert!(err.message.contains("25000"), "{}", err.message);

    req.body = Some("é".repeat(25_000));
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.update.unwrap().body.chars().count(), 25_000);
}

#[test]
fn create_keeps_the_body_without_trailing_space() {
    let mut req = named("x");
    req.body = Some("We are looking into it.  \n".into());
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.update.unwrap().body, "We are looking into it.");
}

#[test]
fn unknown_component_in_components_names_field_and_id() {
    let current = statuses(&[("c1", Operational)]);
    let mut req = named("x");
    req.component_statuses = comps(&[("c1", MajorOutage), ("ghost123", MajorOutage)]);
    let err = create_err(&req, &current);
    assert_eq!(err.field, "incident[components]");
    assert!(err.message.contains("\"ghost123\""), "{}", err.message);
}

#[test]
fn unknown_component_in_component_ids_names_field_and_id() {
    let current = statuses(&[("c1", Operational)]);
    let mut req = named("x");
    req.component_ids = ids(&["c1", "nope42"]);
    let err = create_err(&req, &current);
    assert_eq!(err.field, "incident[component_ids]");
    assert!(err.message.contains("\"nope42\""), "{}", err.message);
}

#[test]
fn unknown_component_on_patch_names_field_and_id() {
    let state = realtime_state(IncidentStatus::Investigating);
    let mut req = IncidentRequest {
        component_statuses: comps(&[("zz", DegradedPerformance)]),
        ..Default::default()
    };
    let err = patch_err(&state, &req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[components]");
    assert!(err.message.contains("\"zz\""), "{}", err.message);

    req.component_statuses.clear();
    req.component_ids = ids(&["yy"]);
    let err = patch_err(&state, &req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[component_ids]");
    assert!(err.message.contains("\"yy\""), "{}", err.message);
}

// ---------------------------------------------------------------------------
// plan_create: update, affected components, impact
// ---------------------------------------------------------------------------

#[test]
fn create_without_components_has_one_update_with_null_affected() {
    let plan = plan_create(&named("x"), &statuses(&[("c1", MajorOutage)]), now()).unwrap();
    let update = plan.update.unwrap();
    assert_eq!(update.affected, None);
    assert!(update.deliver_notifications);
    assert!(plan.component_changes.is_empty());
    assert!(plan.add_component_ids.is_empty());
}

#[test]
fn create_lists_every_named_component_with_old_and_new() {
    let current = statuses(&[
        ("c1", Operational),
        ("c2", DegradedPerformance),
        ("c3", PartialOutage),
    ]);
    let mut req = named("x");
    req.component_statuses = comps(&[("c1", MajorOutage), ("c2", DegradedPerformance)]);
    req.component_ids = ids(&["c3"]);
    let plan = plan_create(&req, &current, now()).unwrap();

    let update = plan.update.unwrap();
    assert_eq!(
        update.affected,
        Some(vec![
            affected("c1", Operational, MajorOutage),
            affected("c2", DegradedPerformance, DegradedPerformance),
            affected("c3", PartialOutage, PartialOutage),
        ])
    );
    // Only c1 actually moves.
    assert_eq!(
        plan.component_changes,
        vec![affected("c1", Operational, MajorOutage)]
    );
    assert_eq!(plan.add_component_ids, ids(&["c1", "c2", "c3"]));
    // Worst *new* status is major_outage → critical.
    assert_eq!(plan.computed_impact, Impact::Critical);
}

#[test]
fn component_ids_entries_have_equal_old_and_new() {
    let current = statuses(&[("a", MajorOutage), ("b", Operational)]);
    let mut req = named("x");
    req.component_ids = ids(&["a", "b", "a"]);
    let plan = plan_create(&req, &current, now()).unwrap();
    let list = plan.update.unwrap().affected.unwrap();
    assert_eq!(
        list,
        vec![
            affected("a", MajorOutage, MajorOutage),
            affected("b", Operational, Operational),
        ]
    );
    assert!(plan.component_changes.is_empty());
    // Listing an already-broken component counts toward the impact.
    assert_eq!(plan.computed_impact, Impact::Critical);
}

#[test]
fn a_component_named_in_both_lists_appears_once_with_its_new_status() {
    let current = statuses(&[("a", Operational)]);
    let mut req = named("x");
    req.component_statuses = comps(&[("a", PartialOutage)]);
    req.component_ids = ids(&["a"]);
    let plan = plan_create(&req, &current, now()).unwrap();
    assert_eq!(
        plan.update.unwrap().affected,
        Some(vec![affected("a", Operational, PartialOutage)])
    );
    assert_eq!(plan.add_component_ids, ids(&["a"]));
}

#[test]
fn repeated_component_status_keeps_the_last_one() {
    let current = statuses(&[("a", Operational)]);
    let mut req = named("x");
    req.component_statuses = comps(&[("a", MajorOutage), ("a", DegradedPerformance)]);
    let plan = plan_create(&req, &current, now()).unwrap();
    assert_eq!(
        plan.component_changes,
        vec![affected("a", Operational, DegradedPerformance)]
    );
    assert_eq!(plan.computed_impact, Impact::Minor);
}

#[test]
fn computed_impact_maps_the_worst_new_status() {
    let cases = [
        (Operational, Impact::None),
        (UnderMaintenance, Impact::Maintenance),
        (DegradedPerformance, Impact::Minor),
        (PartialOutage, Impact::Major),
        (MajorOutage, Impact::Critical),
    ];
    for (status, impact) in cases {
        let current = statuses(&[("a", Operational), ("b", MajorOutage)]);
        let mut req = named("x");
        // b recovers: its *old* status must not count.
        req.component_statuses = comps(&[("a", status), ("b", Operational)]);
        let plan = plan_create(&req, &current, now()).unwrap();
        assert_eq!(plan.computed_impact, impact, "{status:?}");
    }
}

#[test]
fn impact_of_component_status_mapping() {
    assert_eq!(Impact::of_component_status(Operational), Impact::None);
    assert_eq!(
        Impact::of_component_status(UnderMaintenance),
        Impact::Maintenance
    );
    assert_eq!(
        Impact::of_component_status(DegradedPerformance),
        Impact::Minor
    );
    assert_eq!(Impact::of_component_status(PartialOutage), Impact::Major);
    assert_eq!(Impact::of_component_status(MajorOutage), Impact::Critical);
}

#[test]
fn deliver_notifications_defaults_to_true_and_can_be_turned_off() {
    let plan = plan_create(&named("x"), &CurrentStatuses::new(), now()).unwrap();
    assert!(plan.update.unwrap().deliver_notifications);

    let mut req = named("x");
    req.deliver_notifications = Some(false);
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert!(!plan.update.unwrap().deliver_notifications);
}

#[test]
fn impact_override_is_passed_through() {
    let mut req = named("x");
    req.impact_override = Some(Some(Impact::Major));
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.impact_override, Some(Some(Impact::Major)));
    assert_eq!(plan.computed_impact, Impact::None);
    assert_eq!(
        effective_impact(plan.computed_impact, Some(Impact::Major)),
        Impact::Major
    );
    assert_eq!(effective_impact(Impact::Minor, None), Impact::Minor);
}

// ---------------------------------------------------------------------------
// Backfill
// ---------------------------------------------------------------------------

fn backfill_req() -> IncidentRequest {
    IncidentRequest {
        name: Some("Old outage".into()),
        backfilled: true,
        backfill_at: Some(at(-86_400)),
        ..Default::default()
    }
}

#[test]
fn backfill_requires_backfill_at() {
    let mut req = backfill_req();
    req.backfill_at = None;
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[backfill_date]");
    assert!(err.message.contains("required"), "{}", err.message);
}

#[test]
fn backfill_refuses_future_dates() {
    let mut req = backfill_req();
    req.backfill_at = Some(at(1));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[backfill_date]");
    assert!(err.message.contains("future"), "{}", err.message);

    req.backfill_at = Some(now());
    assert!(plan_create(&req, &CurrentStatuses::new(), now()).is_ok());
}

#[test]
fn backfill_may_end_later_but_not_before_nor_in_the_future() {
    let mut req = backfill_req();
    req.backfill_resolved_at = Some(at(-3_600));
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.started_at, at(-86_400));
    assert_eq!(plan.resolved_at, Some(at(-3_600)));
    assert_eq!(
        plan.update.unwrap().display_at,
        at(-3_600),
        "the entry tells the end"
    );

    req.backfill_resolved_at = Some(at(-90_000));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[backfill_resolved_at]");
    assert!(err.message.contains("before the start"), "{}", err.message);

    req.backfill_resolved_at = Some(at(60));
    let err = create_err(&req, &CurrentStatuses::new());
    assert!(err.message.contains("future"), "{}", err.message);

    req.backfill_resolved_at = None;
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(
        plan.resolved_at,
        Some(at(-86_400)),
        "without an end, one moment"
    );
}

#[test]
fn backfill_refuses_component_statuses() {
    let current = statuses(&[("c1", Operational)]);
    let mut req = backfill_req();
    req.component_statuses = comps(&[("c1", MajorOutage)]);
    let err = create_err(&req, &current);
    assert_eq!(err.field, "incident[components]");
}

#[test]
fn backfill_refuses_an_open_status() {
    let mut req = backfill_req();
    req.status = Some(IncidentStatus::Investigating);
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[status]");

    req.status = Some(IncidentStatus::Resolved);
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.status, IncidentStatus::Resolved);
}

#[test]
fn backfill_is_resolved_history_that_notifies_nobody() {
    let current = statuses(&[("c1", MajorOutage), ("c2", Operational)]);
    let mut req = backfill_req();
    req.body = Some("It happened.".into());
    req.component_ids = ids(&["c1", "c2", "c1"]);
    let when = at(-86_400);
    let plan = plan_create(&req, &current, now()).unwrap();

    assert_eq!(plan.name.as_deref(), Some("Old outage"));
    assert_eq!(plan.kind, IncidentKind::Realtime);
    assert_eq!(plan.status, IncidentStatus::Resolved);
    assert_eq!(plan.created_at, when);
    assert_eq!(plan.started_at, when);
    assert_eq!(plan.resolved_at, Some(when));
    assert_eq!(plan.monitoring_at, None);
    assert!(plan.component_changes.is_empty());
    assert_eq!(plan.add_component_ids, ids(&["c1", "c2"]));

    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Resolved);
    assert_eq!(update.body, "It happened.");
    assert_eq!(update.display_at, when);
    assert!(!update.deliver_notifications);
}

#[test]
fn backfill_is_never_delivered_even_when_asked() {
    let mut req = backfill_req();
    req.deliver_notifications = Some(true);
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert!(!plan.update.unwrap().deliver_notifications);
}

#[test]
fn backfill_checks_component_ids_and_body() {
    let mut req = backfill_req();
    req.component_ids = ids(&["missing"]);
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[component_ids]");
    assert!(err.message.contains("\"missing\""), "{}", err.message);

    let mut req = backfill_req();
    req.body = Some("x".repeat(25_001));
    let err = create_err(&req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[body]");
}

#[test]
fn backfilled_maintenance_is_completed() {
    let mut req = backfill_req();
    req.scheduled_for = Some(at(-90_000));
    req.scheduled_until = Some(at(-86_400));
    let plan = plan_create(&req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.kind, IncidentKind::Maintenance);
    assert_eq!(plan.status, IncidentStatus::Completed);
    assert_eq!(plan.computed_impact, Impact::Maintenance);
    assert_eq!(plan.resolved_at, Some(at(-86_400)));
}

// ---------------------------------------------------------------------------
// plan_patch
// ---------------------------------------------------------------------------

#[test]
fn patch_with_only_a_name_adds_no_update() {
    let state = realtime_state(IncidentStatus::Identified);
    let plan = plan_patch(&state, &named("  Renamed "), &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.name.as_deref(), Some("Renamed"));
    assert!(plan.update.is_none());
    assert_eq!(plan.status, IncidentStatus::Identified);
    assert!(plan.component_changes.is_empty());
}

#[test]
fn patch_validates_the_name() {
    let state = realtime_state(IncidentStatus::Identified);
    let err = patch_err(&state, &named(" "), &CurrentStatuses::new());
    assert_eq!(err.field, "incident[name]");
    let err = patch_err(&state, &named(&"x".repeat(256)), &CurrentStatuses::new());
    assert_eq!(err.field, "incident[name]");
}

#[test]
fn patch_without_name_leaves_name_alone() {
    let state = realtime_state(IncidentStatus::Identified);
    let req = IncidentRequest {
        body: Some("news".into()),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.name, None);
}

#[test]
fn patch_status_body_or_components_each_add_exactly_one_update() {
    let current = statuses(&[("c1", Operational)]);
    let state = realtime_state(IncidentStatus::Investigating);

    let by_status = IncidentRequest {
        status: Some(IncidentStatus::Identified),
        ..Default::default()
    };
    let plan = plan_patch(&state, &by_status, &current, now()).unwrap();
    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Identified);
    assert_eq!(update.body, "");
    assert_eq!(update.affected, None);

    let by_body = IncidentRequest {
        body: Some("Still digging".into()),
        ..Default::default()
    };
    let plan = plan_patch(&state, &by_body, &current, now()).unwrap();
    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Investigating);
    assert_eq!(update.body, "Still digging");

    let by_components = IncidentRequest {
        component_statuses: comps(&[("c1", PartialOutage)]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &by_components, &current, now()).unwrap();
    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Investigating);
    assert_eq!(
        update.affected,
        Some(vec![affected("c1", Operational, PartialOutage)])
    );
    assert_eq!(
        plan.component_changes,
        vec![affected("c1", Operational, PartialOutage)]
    );
    assert_eq!(plan.computed_impact, Impact::Major);

    let by_ids = IncidentRequest {
        component_ids: ids(&["c1"]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &by_ids, &current, now()).unwrap();
    assert!(plan.update.is_some());
    assert!(plan.component_changes.is_empty());
}

#[test]
fn patch_body_is_bounded() {
    let state = realtime_state(IncidentStatus::Investigating);
    let req = IncidentRequest {
        body: Some("x".repeat(25_001)),
        ..Default::default()
    };
    let err = patch_err(&state, &req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[body]");
}

#[test]
fn patch_does_not_re_add_already_affected_components() {
    let current = statuses(&[("c1", Operational), ("c2", Operational)]);
    let mut state = realtime_state(IncidentStatus::Investigating);
    state.affected_component_ids = ids(&["c1"]);
    let req = IncidentRequest {
        component_statuses: comps(&[("c1", MajorOutage), ("c2", DegradedPerformance)]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(plan.add_component_ids, ids(&["c2"]));
}

#[test]
fn monitoring_at_is_set_only_the_first_time() {
    let state = realtime_state(IncidentStatus::Identified);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Monitoring),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), at(100)).unwrap();
    assert_eq!(plan.monitoring_at, Some(at(100)));

    // Back to identified, then monitoring again: the first time is kept.
    let mut state = realtime_state(IncidentStatus::Identified);
    state.monitoring_at = Some(at(100));
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), at(500)).unwrap();
    assert_eq!(plan.monitoring_at, Some(at(100)));

    // Leaving monitoring does not clear it either.
    let mut state = realtime_state(IncidentStatus::Monitoring);
    state.monitoring_at = Some(at(100));
    let back = IncidentRequest {
        status: Some(IncidentStatus::Investigating),
        ..Default::default()
    };
    let plan = plan_patch(&state, &back, &CurrentStatuses::new(), at(600)).unwrap();
    assert_eq!(plan.monitoring_at, Some(at(100)));
}

#[test]
fn moving_back_from_monitoring_to_investigating_is_allowed() {
    let mut state = realtime_state(IncidentStatus::Monitoring);
    state.monitoring_at = Some(at(-10));
    let req = IncidentRequest {
        status: Some(IncidentStatus::Investigating),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.status, IncidentStatus::Investigating);
    assert_eq!(plan.update.unwrap().status, IncidentStatus::Investigating);
    assert_eq!(plan.resolved_at, None);
}

#[test]
fn resolving_sets_resolved_at_and_restores_affected_components() {
    let current = statuses(&[
        ("a", MajorOutage),
        ("b", Operational),
        ("c", DegradedPerformance),
        ("d", PartialOutage),
    ]);
    let mut state = realtime_state(IncidentStatus::Monitoring);
    state.computed_impact = Impact::Critical;
    state.monitoring_at = Some(at(-30));
    state.affected_component_ids = ids(&["a", "b", "c"]);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Resolved),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();

    assert_eq!(plan.status, IncidentStatus::Resolved);
    assert_eq!(plan.resolved_at, Some(now()));
    assert_eq!(plan.monitoring_at, Some(at(-30)));
    // a and c restored; b already operational; d is not affected by this incident.
    assert_eq!(
        plan.component_changes,
        vec![
            affected("a", MajorOutage, Operational),
            affected("c", DegradedPerformance, Operational),
        ]
    );
    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Resolved);
    assert_eq!(
        update.affected,
        Some(vec![
            affected("a", MajorOutage, Operational),
            affected("c", DegradedPerformance, Operational),
        ])
    );
    // Impact is the peak: it does not fall with recovery.
    assert_eq!(plan.computed_impact, Impact::Critical);
    assert!(plan.add_component_ids.is_empty());
}

#[test]
fn resolving_leaves_components_the_request_sets_itself() {
    let current = statuses(&[("a", MajorOutage), ("b", PartialOutage)]);
    let mut state = realtime_state(IncidentStatus::Identified);
    state.affected_component_ids = ids(&["a", "b"]);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Resolved),
        component_statuses: comps(&[("a", DegradedPerformance)]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(
        plan.component_changes,
        vec![
            affected("a", MajorOutage, DegradedPerformance),
            affected("b", PartialOutage, Operational),
        ]
    );
}

/// The rule: resolving restores every affected component that the request does not *set*.
/// Merely listing a component in `component_ids` does not set its status.
#[test]
fn resolving_restores_components_only_listed_in_component_ids() {
    let current = statuses(&[("a", MajorOutage)]);
    let mut state = realtime_state(IncidentStatus::Identified);
    state.affected_component_ids = ids(&["a"]);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Resolved),
        component_ids: ids(&["a"]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(
        plan.component_changes,
        vec![affected("a", MajorOutage, Operational)]
    );
}

#[test]
fn completing_a_maintenance_restores_its_components() {
    let current = statuses(&[("a", UnderMaintenance)]);
    let mut state = maintenance_state(IncidentStatus::Verifying);
    state.affected_component_ids = ids(&["a"]);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Completed),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(plan.status, IncidentStatus::Completed);
    assert_eq!(plan.resolved_at, Some(now()));
    assert_eq!(
        plan.component_changes,
        vec![affected("a", UnderMaintenance, Operational)]
    );
    assert_eq!(plan.computed_impact, Impact::Maintenance);
}

#[test]
fn posting_to_a_resolved_incident_keeps_it_resolved() {
    let current = statuses(&[("a", MajorOutage)]);
    let mut state = realtime_state(IncidentStatus::Resolved);
    state.resolved_at = Some(at(-60));
    state.affected_component_ids = ids(&["a"]);
    let req = IncidentRequest {
        body: Some("Postscript".into()),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(plan.status, IncidentStatus::Resolved);
    assert_eq!(plan.resolved_at, Some(at(-60)));
    let update = plan.update.unwrap();
    assert_eq!(update.status, IncidentStatus::Resolved);
    assert_eq!(update.body, "Postscript");
    // Not a transition: nothing is restored.
    assert!(plan.component_changes.is_empty());
}

#[test]
fn resolving_again_keeps_the_first_resolved_at() {
    let state = realtime_state(IncidentStatus::Resolved);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Resolved),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.resolved_at, Some(at(-60)));
    assert!(plan.update.is_some());
}

#[test]
fn reopening_a_resolved_incident_clears_resolved_at() {
    let state = realtime_state(IncidentStatus::Resolved);
    assert!(state.resolved_at.is_some());
    let req = IncidentRequest {
        status: Some(IncidentStatus::Identified),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.status, IncidentStatus::Identified);
    assert_eq!(plan.resolved_at, None);
    assert_eq!(plan.update.unwrap().status, IncidentStatus::Identified);
}

#[test]
fn maintenance_status_on_a_realtime_incident_errors() {
    let state = realtime_state(IncidentStatus::Investigating);
    for status in [
        IncidentStatus::Scheduled,
        IncidentStatus::InProgress,
        IncidentStatus::Verifying,
        IncidentStatus::Completed,
    ] {
        let req = IncidentRequest {
            status: Some(status),
            ..Default::default()
        };
        let err = patch_err(&state, &req, &CurrentStatuses::new());
        assert_eq!(err.field, "incident[status]", "{status:?}");
        assert!(err.message.contains(status.as_str()), "{}", err.message);
    }
}

#[test]
fn realtime_status_on_a_maintenance_errors() {
    let state = maintenance_state(IncidentStatus::Scheduled);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Resolved),
        ..Default::default()
    };
    let err = patch_err(&state, &req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[status]");
}

#[test]
fn impact_never_decreases_as_components_recover() {
    let current = statuses(&[("a", MajorOutage)]);
    let mut state = realtime_state(IncidentStatus::Identified);
    state.computed_impact = Impact::Critical;
    state.affected_component_ids = ids(&["a"]);
    let req = IncidentRequest {
        component_statuses: comps(&[("a", Operational)]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(plan.computed_impact, Impact::Critical);
    assert_eq!(
        plan.component_changes,
        vec![affected("a", MajorOutage, Operational)]
    );
}

#[test]
fn impact_rises_with_worse_components() {
    let current = statuses(&[("a", DegradedPerformance)]);
    let mut state = realtime_state(IncidentStatus::Identified);
    state.computed_impact = Impact::Minor;
    let req = IncidentRequest {
        component_statuses: comps(&[("a", PartialOutage)]),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    assert_eq!(plan.computed_impact, Impact::Major);
}

#[test]
fn backfilled_cannot_be_set_on_patch() {
    let state = realtime_state(IncidentStatus::Resolved);
    let req = IncidentRequest {
        backfilled: true,
        ..Default::default()
    };
    let err = patch_err(&state, &req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[backfilled]");
}

#[test]
fn backfilled_incident_refuses_component_statuses_on_patch() {
    let current = statuses(&[("a", Operational)]);
    let mut state = realtime_state(IncidentStatus::Resolved);
    state.backfilled = true;
    let req = IncidentRequest {
        component_statuses: comps(&[("a", MajorOutage)]),
        ..Default::default()
    };
    let err = patch_err(&state, &req, &current);
    assert_eq!(err.field, "incident[components]");
}

#[test]
fn maintenance_window_is_checked_on_patch() {
    let state = maintenance_state(IncidentStatus::Scheduled);
    let req = IncidentRequest {
        scheduled_until: Some(at(3600)),
        ..Default::default()
    };
    let err = patch_err(&state, &req, &CurrentStatuses::new());
    assert_eq!(err.field, "incident[scheduled_until]");

    let req = IncidentRequest {
        scheduled_until: Some(at(9000)),
        ..Default::default()
    };
    let plan = plan_patch(&state, &req, &CurrentStatuses::new(), now()).unwrap();
    assert_eq!(plan.scheduled_for, Some(at(3600)));
    assert_eq!(plan.scheduled_until, Some(at(9000)));
}

// ---------------------------------------------------------------------------
// Status parsing and labels
// ---------------------------------------------------------------------------

#[test]
fn update_label_is_update_when_status_is_unchanged() {
    use IncidentStatus::*;
    assert_eq!(update_label(Investigating, Some(Investigating)), "Update");
    assert_eq!(update_label(InProgress, Some(InProgress)), "Update");
    assert_eq!(update_label(Investigating, None), "Investigating");
    assert_eq!(update_label(Identified, Some(Investigating)), "Identified");
    assert_eq!(update_label(InProgress, Some(Scheduled)), "In progress");
    assert_eq!(update_label(InProgress, None), "In progress");
    assert_eq!(update_label(Resolved, Some(Monitoring)), "Resolved");
}

#[test]
fn settable_statuses_exclude_postmortem() {
    for s in IncidentStatus::ALL {
        let parsed = IncidentStatus::parse_settable("incident[status]", s.as_str());
        if s == IncidentStatus::Postmortem {
            let err = parsed.unwrap_err();
            assert_eq!(err.field, "incident[status]");
            assert!(err.message.contains("\"postmortem\""), "{}", err.message);
        } else {
            assert_eq!(parsed.unwrap(), s);
        }
        assert_eq!(IncidentStatus::from_db(s.as_str()), s);
    }
}

#[test]
fn status_kinds_and_openness() {
    use IncidentStatus::*;
    for s in [Investigating, Identified, Monitoring, Resolved, Postmortem] {
        assert_eq!(s.kind(), IncidentKind::Realtime, "{s:?}");
    }
    for s in [Scheduled, InProgress, Verifying, Completed] {
        assert_eq!(s.kind(), IncidentKind::Maintenance, "{s:?}");
    }
    let open: Vec<_> = IncidentStatus::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .collect();
    assert_eq!(
        open,
        vec![
            Investigating,
            Identified,
            Monitoring,
            Scheduled,
            InProgress,
            Verifying
        ]
    );
}

#[test]
fn impact_parse_round_trips() {
    for s in ["none", "maintenance", "minor", "major", "critical"] {
        assert_eq!(Impact::parse("impact", s).unwrap().as_str(), s);
    }
    let err = Impact::parse("incident[impact_override]", "huge").unwrap_err();
    assert_eq!(err.field, "incident[impact_override]");
    assert_eq!(Impact::from_db("garbage"), Impact::None);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

const IDS: [&str; 3] = ["c0", "c1", "c2"];

const REALTIME: [IncidentStatus; 4] = [
    IncidentStatus::Investigating,
    IncidentStatus::Identified,
    IncidentStatus::Monitoring,
    IncidentStatus::Resolved,
];

#[derive(Debug, Clone)]
struct Step {
    name: Option<String>,
    status: Option<IncidentStatus>,
    body: Option<String>,
    components: Vec<(usize, ComponentStatus)>,
}

fn component_status() -> impl Strategy<Value = ComponentStatus> {
    prop::sample::select(ComponentStatus::ALL.to_vec())
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::option::weighted(0.2, "[a-z]{1,8}"),
        prop::option::weighted(0.6, prop::sample::select(REALTIME.to_vec())),
        prop::option::weighted(0.3, "[a-z ]{0,12}"),
        prop::collection::vec((0..IDS.len(), component_status()), 0..4),
    )
        .prop_map(|(name, status, body, components)| Step {
            name,
            status,
            body,
            components,
        })
}

fn request_of(step: &Step) -> IncidentRequest {
    IncidentRequest {
        name: step.name.clone(),
        status: step.status,
        body: step.body.clone(),
        component_statuses: step
            .components
            .iter()
            .map(|(i, s)| (IDS[*i].to_string(), *s))
            .collect(),
        ..Default::default()
    }
}

/// Applies a plan the way the store would.
fn apply(state: &mut IncidentState, world: &mut CurrentStatuses, plan: &Plan) {
    state.status = plan.status;
    state.computed_impact = plan.computed_impact;
    state.monitoring_at = plan.monitoring_at;
    state.resolved_at = plan.resolved_at;
    for id in &plan.add_component_ids {
        if !state.affected_component_ids.contains(id) {
            state.affected_component_ids.push(id.clone());
        }
    }
    for change in &plan.component_changes {
        world.insert(change.component_id.clone(), change.new_status);
    }
}

fn initial_world(start: &[ComponentStatus]) -> CurrentStatuses {
    IDS.iter()
        .zip(start)
        .map(|(id, s)| (id.to_string(), *s))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Create then a random run of patches: the lifecycle invariants hold after each step.
    #[test]
    fn patch_sequences_keep_lifecycle_invariants(
        start in prop::collection::vec(component_status(), IDS.len()),
        first in step(),
        steps in prop::collection::vec(step(), 1..25),
    ) {
        let mut world = initial_world(&start);
        let mut create = request_of(&first);
        create.name = Some("incident".into());
        let t0 = at(0);
        let plan = plan_create(&create, &world, t0).unwrap();
        prop_assert!(plan.update.is_some());
        prop_assert_eq!(plan.resolved_at.is_some(), !plan.status.is_open());
        let mut state = IncidentState {
            status: plan.status,
            kind: plan.kind,
            backfilled: false,
            computed_impact: Impact::None,
            monitoring_at: None,
            resolved_at: None,
            scheduled_for: None,
            scheduled_until: None,
            affected_component_ids: Vec::new(),
            held_elsewhere: Vec::new(),
        };
        apply(&mut state, &mut world, &plan);

        for (i, step) in steps.iter().enumerate() {
            let now = t0 + Duration::minutes(i as i64 + 1);
            let req = request_of(step);
            let before = state.clone();
            let world_before = world.clone();
            let plan = plan_patch(&state, &req, &world, now).unwrap();

            // Exactly one update iff the request carries status, body or components.
            let wants = req.status.is_some()
                || req.body.is_some()
                || !req.component_statuses.is_empty();
            prop_assert_eq!(plan.update.is_some(), wants);
            if let Some(update) = &plan.update {
                prop_assert_eq!(update.status, plan.status);
                prop_assert_eq!(update.display_at, now);
                prop_assert!(update.deliver_notifications);
                if let Some(list) = &update.affected {
                    prop_assert!(!list.is_empty());
                }
            }
            prop_assert_eq!(plan.status, req.status.unwrap_or(before.status));

            // monitoring_at: set the first time monitoring is reached, then frozen.
            match before.monitoring_at {
                Some(t) => prop_assert_eq!(plan.monitoring_at, Some(t)),
                None if plan.status == IncidentStatus::Monitoring => {
                    prop_assert_eq!(plan.monitoring_at, Some(now))
                }
                None => prop_assert_eq!(plan.monitoring_at, None),
            }

            // resolved_at is Some exactly when closed.
            prop_assert_eq!(plan.resolved_at.is_some(), !plan.status.is_open());

            // The impact is a peak.
            prop_assert!(plan.computed_impact >= before.computed_impact);

            // Changes really change and start from the current status.
            for change in &plan.component_changes {
                prop_assert_ne!(change.old_status, change.new_status);
                prop_assert_eq!(world_before[&change.component_id], change.old_status);
            }

            apply(&mut state, &mut world, &plan);

            // After resolving, every affected component the request did not set is up.
            if before.status != IncidentStatus::Resolved
                && plan.status == IncidentStatus::Resolved
            {
                for id in &before.affected_component_ids {
                    let set_here = req.component_statuses.iter().any(|(c, _)| c == id);
                    if !set_here {
                        prop_assert_eq!(world[id], Operational, "component {}", id);
                    }
                }
            }
        }
    }

    /// The update's affected list and the component changes agree with the request.
    #[test]
    fn affected_lists_follow_the_request(
        start in prop::collection::vec(component_status(), IDS.len()),
        status in prop::option::of(prop::sample::select(REALTIME[..3].to_vec())),
        components in prop::collection::vec((0..IDS.len(), component_status()), 0..6),
        listed in prop::collection::vec(0..IDS.len(), 0..4),
    ) {
        let world = initial_world(&start);
        let mut req = named("x");
        req.status = status;
        req.component_statuses = components
            .iter()
            .map(|(i, s)| (IDS[*i].to_string(), *s))
            .collect();
        req.component_ids = listed.iter().map(|i| IDS[*i].to_string()).collect();
        let plan = plan_create(&req, &world, now()).unwrap();
        let update = plan.update.unwrap();

        // Expected final status per named component (last write wins).
        let mut expected: BTreeMap<String, ComponentStatus> = BTreeMap::new();
        for (i, s) in &components {
            expected.insert(IDS[*i].to_string(), *s);
        }
        for i in &listed {
            expected.entry(IDS[*i].to_string()).or_insert(world[IDS[*i]]);
        }

        match &update.affected {
            None => prop_assert!(expected.is_empty()),
            Some(list) => {
                prop_assert_eq!(list.len(), expected.len());
                for a in list {
                    prop_assert_eq!(a.old_status, world[&a.component_id]);
                    prop_assert_eq!(Some(&a.new_status), expected.get(&a.component_id));
                }
            }
        }
        let moving: Vec<_> = update
            .affected
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.old_status != a.new_status)
            .collect();
        prop_assert_eq!(&plan.component_changes, &moving);

        let worst = expected
            .values()
            .map(|s| Impact::of_component_status(*s))
            .max()
            .unwrap_or(Impact::None);
        prop_assert_eq!(plan.computed_impact, worst);

        let mut added = plan.add_component_ids.clone();
        added.sort();
        let keys: Vec<String> = expected.keys().cloned().collect();
        prop_assert_eq!(added, keys);
    }

    /// `update_label` says "Update" exactly when the status is repeated.
    #[test]
    fn update_label_matches_definition(
        status in prop::sample::select(IncidentStatus::ALL.to_vec()),
        previous in prop::option::of(prop::sample::select(IncidentStatus::ALL.to_vec())),
    ) {
        let label = update_label(status, previous);
        if previous == Some(status) {
            prop_assert_eq!(label, "Update");
        } else {
            prop_assert_eq!(label, status.label());
        }
    }
}

#[test]
fn editing_a_backfilled_incident_tells_nobody_and_moves_nothing() {
    let current = statuses(&[("a", MajorOutage)]);
    let mut state = realtime_state(IncidentStatus::Resolved);
    state.backfilled = true;
    state.affected_component_ids = ids(&["a"]);
    let body = IncidentRequest {
        body: Some("typo fix".to_owned()),
        ..IncidentRequest::default()
    };
    let plan = plan_patch(&state, &body, &current, now()).unwrap();
    assert!(!plan.update.unwrap().deliver_notifications);
    assert!(plan.component_changes.is_empty());
    let reopen = IncidentRequest {
        status: Some(IncidentStatus::Investigating),
        ..IncidentRequest::default()
    };
    let err = plan_patch(&state, &reopen, &current, now()).unwrap_err();
    assert_eq!(err.field, "incident[status]");
}

#[test]
fn resolving_leaves_components_another_incident_holds() {
    let current = statuses(&[("a", MajorOutage), ("b", PartialOutage)]);
    let mut state = realtime_state(IncidentStatus::Identified);
    state.affected_component_ids = ids(&["a", "b"]);
    state.held_elsewhere = ids(&["a"]);
    let req = IncidentRequest {
        status: Some(IncidentStatus::Resolved),
        ..IncidentRequest::default()
    };
    let plan = plan_patch(&state, &req, &current, now()).unwrap();
    let moved: Vec<&str> = plan
        .component_changes
        .iter()
        .map(|c| c.component_id.as_str())
        .collect();
    assert_eq!(moved, ["b"], "a stays: another incident holds it");
}
