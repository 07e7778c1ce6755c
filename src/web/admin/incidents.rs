//! Console screens for incidents and maintenance: the list, opening an incident, its
//! page (timeline and the form to post an update), editing an update, backfilling a
//! past incident, deleting, and scheduling a maintenance.
//!
//! Every change goes through the same store calls as `/v1` (`create_incident`,
//! `patch_incident`, `edit_update`, `delete_incident`) on `console.store`, which
//! records the signed-in person in the audit log. Form fields carry the API's
//! Rails-style names (`incident[name]`, `incident[components][ID]`), so a rule the
//! domain finds broken comes back next to the very field that broke it.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use askama::Template;
use chrono::{DateTime, Utc};

use super::dashboard::{board, BoardRow};
use super::{AdminLayout, Console, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::incident::{update_label, IncidentRequest};
use crate::domain::text::{parse_body, parse_name, BODY_MAX};
use crate::domain::{ComponentStatus, Impact, IncidentKind, IncidentStatus};
use crate::render::markdown::{self, SafeHtml};
use crate::render::pages::impact_label;
use crate::store::{
    ComponentTree, IncidentFilter, IncidentQuery, IncidentRecord, IncidentSettings, UpdateEdit,
};
use crate::time::{PageZone, Stamp};
use crate::web::form::{Form, FormErrors};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/incidents", web::get().to(list))
        // Fixed paths before `{id}`: routes match in the order they are registered.
        .service(
            web::resource("/incidents/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/incidents/backfill")
                .route(web::get().to(backfill_form))
                .route(web::post().to(backfill)),
        )
        .route("/incidents/{id}", web::get().to(view))
        .route("/incidents/{id}/updates", web::post().to(post_update))
        .service(
            web::resource("/incidents/{id}/details")
                .route(web::get().to(details_form))
                .route(web::post().to(save_details)),
        )
        .service(
            web::resource("/incidents/{id}/updates/{update_id}/edit")
                .route(web::get().to(edit_update_form))
                .route(web::post().to(edit_update)),
        )
        .service(
            web::resource("/incidents/{id}/delete")
                .route(web::get().to(confirm_delete))
                .route(web::post().to(delete)),
        )
        .service(
            web::resource("/maintenance/new")
                .route(web::get().to(new_maintenance_form))
                .route(web::post().to(create_maintenance)),
        );
}

// --- form fields ---------------------------------------------------------------------------

const NAME: &str = "incident[name]";
const STATUS: &str = "incident[status]";
const IMPACT: &str = "incident[impact_override]";
const BODY: &str = "incident[body]";
const NOTIFY: &str = "incident[deliver_notifications]";
/// Where the domain puts problems with the component statuses as a whole.
const COMPONENTS: &str = "incident[components]";
/// Checkbox lists send `incident[component_ids][]`; the domain names the list
/// `incident[component_ids]`.
const COMPONENT_IDS: &str = "incident[component_ids]";
const COMPONENT_ID_BOXES: &str = "incident[component_ids][]";
const SCHEDULED_FOR: &str = "incident[scheduled_for]";
const SCHEDULED_UNTIL: &str = "incident[scheduled_until]";
const AUTO_START: &str = "incident[scheduled_auto_in_progress]";
const AUTO_COMPLETE: &str = "incident[scheduled_auto_completed]";
/// The start of a backfilled incident: the API's `backfill_date`.
const BACKFILL_DATE: &str = "incident[backfill_date]";
/// Console only: when a backfilled incident ended (where its entry is shown).
const RESOLVED_AT: &str = "incident[backfill_resolved_at]";
const UPDATE_BODY: &str = "incident_update[body]";
const UPDATE_DISPLAY_AT: &str = "incident_update[display_at]";

/// The select of one component: `incident[components][ID]`.
fn component_field(id: &str) -> String {
    format!("{COMPONENTS}[{id}]")
}

pub fn incident_url(id: &str) -> String {
    format!("/admin/incidents/{id}")
}

/// A text input or textarea as the form shows it: what was typed and its problem.
pub struct Field {
    pub value: String,
    pub error: Option<String>,
}

impl Field {
    pub fn new(value: impl Into<String>, name: &str, errors: &FormErrors) -> Field {
        Field {
            value: value.into(),
            error: errors.get(name).map(str::to_owned),
        }
    }

    /// What the form sent for `name` (empty when it was not sent).
    pub fn sent(form: &Form, name: &str, errors: &FormErrors) -> Field {
        Field::new(form.text(name), name, errors)
    }
}

/// One `<option>` or button: its value, its words, whether it is the chosen one.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// One component in a form: a status select (incidents) or a checkbox (maintenance,
/// backfill).
pub struct ComponentInput {
    pub id: String,
    /// The form field: `incident[components][ID]` for a select.
    pub field: String,
    pub name: String,
    pub group: Option<String>,
    /// For a select: "Not affected" and the five statuses.
    pub options: Vec<Choice>,
    /// For a checkbox.
    pub checked: bool,
    pub error: Option<String>,
}

impl ComponentInput {
    fn select(row: BoardRow, chosen: &str, errors: &FormErrors) -> ComponentInput {
        let field = component_field(&row.id);
        let mut options = vec![Choice {
            value: "",
            label: "Not affected",
            selected: chosen.is_empty(),
        }];
        options.extend(ComponentStatus::ALL.into_iter().map(|s| Choice {
            value: s.as_str(),
            label: s.label(),
            selected: s.as_str() == chosen,
        }));
        ComponentInput {
            error: errors.get(&field).map(str::to_owned),
            id: row.id,
            field,
            name: row.name,
            group: row.group,
            options,
            checked: false,
        }
    }

    fn checkbox(row: BoardRow, checked: bool) -> ComponentInput {
        ComponentInput {
            id: row.id,
            field: COMPONENT_ID_BOXES.to_owned(),
            name: row.name,
            group: row.group,
            options: Vec::new(),
            checked,
            error: None,
        }
    }
}

/// Component selects in page order: what the form sent, or `current` for a fresh form.
fn component_selects(
    tree: &ComponentTree,
    submitted: Option<&Form>,
    current: impl Fn(&BoardRow) -> Option<String>,
    errors: &FormErrors,
) -> Vec<ComponentInput> {
    board(tree)
        .into_iter()
        .map(|row| {
            let chosen = match submitted {
                Some(form) => form.text(&component_field(&row.id)),
                None => current(&row).unwrap_or_default(),
            };
            ComponentInput::select(row, &chosen, errors)
        })
        .collect()
}

/// Component checkboxes in page order, ticked as the form sent them.
fn component_checkboxes(tree: &ComponentTree, submitted: Option<&Form>) -> Vec<ComponentInput> {
    let ticked = submitted
        .map(|f| f.all(COMPONENT_ID_BOXES))
        .unwrap_or_default();
    board(tree)
        .into_iter()
        .map(|row| {
            let checked = ticked.contains(&row.id);
            ComponentInput::checkbox(row, checked)
        })
        .collect()
}

/// Problems for fields the form does not show, for the box above it.
fn problems(errors: &FormErrors, shown: &[&str], components: &[ComponentInput]) -> Vec<String> {
    let mut all: Vec<&str> = shown.to_vec();
    all.extend(components.iter().map(|c| c.field.as_str()));
    errors.others(&all)
}

fn status_choices(kind: IncidentKind, chosen: &str) -> Vec<Choice> {
    kind.lifecycle()
        .into_iter()
        .map(|s| Choice {
            value: s.as_str(),
            label: s.label(),
            selected: s.as_str() == chosen,
        })
        .collect()
}

fn impact_choices(chosen: &str) -> Vec<Choice> {
    let mut choices = vec![Choice {
        value: "",
        label: "Computed from components",
        selected: chosen.is_empty(),
    }];
    for impact in [Impact::None, Impact::Minor, Impact::Major, Impact::Critical] {
        choices.push(Choice {
            value: impact.as_str(),
            label: impact_label(impact),
            selected: impact.as_str() == chosen,
        });
    }
    choices
}

/// A time for a `datetime-local` input, in the page's zone.
fn input_time(zone: PageZone, at: DateTime<Utc>) -> String {
    at.with_timezone(&zone.tz())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A time typed into a `datetime-local` input (or by hand), read in the page's zone.
fn read_time(
    form: &Form,
    field: &str,
    zone: PageZone,
    errors: &mut FormErrors,
) -> Option<DateTime<Utc>> {
    let raw = form.text(field);
    if raw.trim().is_empty() {
        return None;
    }
    let parsed = zone.parse_time(&raw);
    if parsed.is_none() {
        errors.add(
            field,
            format!("must be a date and time such as 2025-11-20 14:30 (got {raw:?})"),
        );
    }
    parsed
}

/// Text from a textarea: browsers send its line breaks as CRLF, API clients as LF;
/// the store keeps one kind (and counts characters the same way for both).
pub fn multiline(form: &Form, field: &str) -> String {
    form.text(field).replace("\r\n", "\n")
}

/// Name and message, checked with the domain's own rules before the store sees them,
/// so that a form with several problems shows them all at once.
fn check_text(form: &Form, errors: &mut FormErrors) {
    errors.check(parse_name(NAME, &form.text(NAME)));
    errors.check(parse_body(BODY, &multiline(form, BODY), BODY_MAX));
}

/// The preview of a message, when the form asked for one.
fn message_preview(form: &Form, field: &str) -> Option<SafeHtml> {
    form.get("preview")
        .map(|_| markdown::update_body(&form.text(field)))
}

// --- the list --------------------------------------------------------------------------------

/// One incident or maintenance in a list.
pub struct ListRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub impact: &'static str,
    pub when: String,
}

fn list_row(console: &Console, r: &IncidentRecord) -> ListRow {
    let i = &r.incident;
    let when = match (i.kind(), i.scheduled_for) {
        (IncidentKind::Maintenance, Some(at)) => format!("scheduled for {}", console.time(at)),
        _ => format!("started {}", console.time(i.started_at)),
    };
    ListRow {
        id: i.id.clone(),
        name: i.name.clone(),
        kind: match i.kind() {
            IncidentKind::Realtime => "Incident",
            IncidentKind::Maintenance => "Maintenance",
        },
        status: i.status().as_str(),
        status_label: i.status().label(),
        impact: impact_label(i.impact()),
        when,
    }
}

#[derive(Template)]
#[template(path = "admin/incidents.html")]
struct ListPage {
    layout: AdminLayout,
    q: String,
    open: Vec<ListRow>,
    recent: Vec<ListRow>,
}

/// How many closed incidents the list shows under the open ones.
const RECENT: i64 = 50;

async fn list(console: Console, req: HttpRequest) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let q = Form::query(&req).text("q").trim().to_owned();
    let search = (!q.is_empty()).then(|| q.clone());
    let with = |filter, limit| IncidentQuery {
        search: search.clone(),
        ..IncidentQuery::new(filter, limit)
    };
    let store = &console.store;
    let mut open = store
        .list_incidents(&with(IncidentFilter::Unresolved, 100))
        .await?;
    open.extend(
        store
            .list_incidents(&with(IncidentFilter::OpenMaintenances, 100))
            .await?,
    );
    let everything = store
        .list_incidents(&with(
            IncidentFilter::Everything,
            RECENT + open.len() as i64,
        ))
        .await?;
    let recent = everything
        .iter()
        .filter(|r| !open.iter().any(|o| o.incident.id == r.incident.id))
        .take(RECENT as usize)
        .map(|r| list_row(&console, r))
        .collect();
    let page = ListPage {
        layout: console.layout("Incidents", "incidents"),
        q,
        open: open.iter().map(|r| list_row(&console, r)).collect(),
        recent,
    };
    console.page(&page)
}

// --- opening an incident -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/incident_new.html")]
struct NewIncidentPage {
    layout: AdminLayout,
    name: Field,
    body: Field,
    statuses: Vec<Choice>,
    status_error: Option<String>,
    impacts: Vec<Choice>,
    impact_error: Option<String>,
    components: Vec<ComponentInput>,
    components_error: Option<String>,
    notify: bool,
    preview: Option<SafeHtml>,
    problems: Vec<String>,
    /// Whether anything was wrong (the box above the form says so).
    failed: bool,
}

/// The form, fresh (`submitted` is `None`) or as sent, with its problems.
fn new_incident_page(
    console: &Console,
    tree: &ComponentTree,
    submitted: Option<&Form>,
    errors: &FormErrors,
) -> NewIncidentPage {
    let empty = Form::default();
    let form = submitted.unwrap_or(&empty);
    let status = match submitted {
        Some(form) => form.text(STATUS),
        None => IncidentStatus::Investigating.as_str().to_owned(),
    };
    let components = component_selects(tree, submitted, |_| None, errors);
    NewIncidentPage {
        layout: console.layout("Open an incident", "incidents"),
        name: Field::sent(form, NAME, errors),
        body: Field::sent(form, BODY, errors),
        statuses: status_choices(IncidentKind::Realtime, &status),
        status_error: errors.get(STATUS).map(str::to_owned),
        impacts: impact_choices(&form.text(IMPACT)),
        impact_error: errors.get(IMPACT).map(str::to_owned),
        failed: !errors.is_empty(),
        problems: problems(
            errors,
            &[NAME, BODY, STATUS, IMPACT, COMPONENTS, NOTIFY],
            &components,
        ),
        components,
        components_error: errors.get(COMPONENTS).map(str::to_owned),
        // Subscribers hear about a new incident unless someone unticks the box.
        notify: submitted.is_none_or(|f| f.checked(NOTIFY)),
        preview: message_preview(form, BODY),
    }
}

async fn new_form(console: Console) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let tree = console.store.list_components().await?;
    let page = new_incident_page(&console, &tree, None, &FormErrors::default());
    console.page(&page)
}

/// The component selects as the domain takes them: `(id, status)` in page order,
/// "not affected" left out.
fn read_component_statuses(
    form: &Form,
    tree: &ComponentTree,
    errors: &mut FormErrors,
) -> Vec<(String, ComponentStatus)> {
    let mut statuses = Vec::new();
    for row in board(tree) {
        let field = component_field(&row.id);
        let raw = form.text(&field);
        if raw.is_empty() {
            continue;
        }
        if let Some(status) = errors.check(ComponentStatus::parse(&field, &raw)) {
            statuses.push((row.id, status));
        }
    }
    statuses
}

/// The new-incident form as the domain's request.
fn read_new_incident(
    form: &Form,
    tree: &ComponentTree,
    errors: &mut FormErrors,
) -> IncidentRequest {
    check_text(form, errors);
    let status = errors.check(IncidentStatus::parse_settable(STATUS, &form.text(STATUS)));
    let impact_override = match form.text(IMPACT).as_str() {
        "" => None,
        raw => errors.check(Impact::parse(IMPACT, raw)).map(Some),
    };
    IncidentRequest {
        name: Some(form.text(NAME)),
        status,
        body: Some(multiline(form, BODY)),
        impact_override,
        component_statuses: read_component_statuses(form, tree, errors),
        deliver_notifications: Some(form.checked(NOTIFY)),
        ..IncidentRequest::default()
    }
}

async fn create(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let tree = console.store.list_components().await?;
    if form.get("preview").is_some() {
        let page = new_incident_page(&console, &tree, Some(&form), &FormErrors::default());
        return console.page(&page);
    }
    let mut errors = FormErrors::default();
    let request = read_new_incident(&form, &tree, &mut errors);
    if errors.is_empty() {
        let created = console
            .store
            .create_incident(&request, &IncidentSettings::default(), Stamp::Clock)
            .await;
        if let Some(record) = errors.accept(created, &[])? {
            return console.done(&incident_url(&record.incident.id), "Incident opened.");
        }
    }
    let page = new_incident_page(&console, &tree, Some(&form), &errors);
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --- one incident: timeline and the update form ----------------------------------------------

/// One timeline entry.
pub struct Entry {
    pub id: String,
    pub label: &'static str,
    pub status: &'static str,
    pub body: SafeHtml,
    pub when: String,
    pub iso: String,
    /// "API: Operational → Major Outage", for the components this entry named.
    pub affected: Vec<String>,
}

fn entries(console: &Console, record: &IncidentRecord) -> Vec<Entry> {
    let updates = &record.updates;
    updates
        .iter()
        .enumerate()
        .map(|(n, u)| {
            // Newest first: the entry before this one in time is the next in the list.
            let previous = updates.get(n + 1).map(|p| p.row.status());
            let affected = u
                .affected
                .iter()
                .flatten()
                .map(|a| {
                    let old = ComponentStatus::from_db(&a.old_status);
                    let new = ComponentStatus::from_db(&a.new_status);
                    if old == new {
                        format!("{}: {}", a.name, new.label())
                    } else {
                        format!("{}: {} → {}", a.name, old.label(), new.label())
                    }
                })
                .collect();
            Entry {
                id: u.row.id.clone(),
                label: update_label(u.row.status(), previous),
                status: u.row.status().as_str(),
                body: markdown::update_body(&u.row.body),
                when: console.time(u.row.display_at),
                iso: u
                    .row
                    .display_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                affected,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/incident.html")]
struct IncidentPage {
    layout: AdminLayout,
    id: String,
    name: String,
    kind: &'static str,
    is_maintenance: bool,
    backfilled: bool,
    status: &'static str,
    status_label: &'static str,
    impact: &'static str,
    started: String,
    resolved: Option<String>,
    window: Option<String>,
    affected: Vec<String>,
    postmortem: Option<&'static str>,
    entries: Vec<Entry>,
    // The update form.
    buttons: Vec<Choice>,
    /// "Resolve" or "Complete", while the incident is open.
    close_label: Option<&'static str>,
    status_error: Option<String>,
    body: Field,
    components: Vec<ComponentInput>,
    components_error: Option<String>,
    notify: bool,
    preview: Option<SafeHtml>,
    problems: Vec<String>,
    /// Whether anything was wrong (the box above the form says so).
    failed: bool,
}

fn incident_page(
    console: &Console,
    record: &IncidentRecord,
    tree: &ComponentTree,
    submitted: Option<&Form>,
    errors: &FormErrors,
) -> IncidentPage {
    let i = &record.incident;
    let kind = i.kind();
    let empty = Form::default();
    let form = submitted.unwrap_or(&empty);
    // History takes no component statuses (the domain refuses them): no selects.
    let components = if i.backfilled {
        Vec::new()
    } else {
        // Pre-filled with the current status of each affected component.
        let affected = &record.component_ids;
        component_selects(
            tree,
            submitted,
            |row| affected.contains(&row.id).then(|| row.status.to_owned()),
            errors,
        )
    };
    let buttons = if i.backfilled {
        vec![kind.closing_status()]
    } else {
        kind.lifecycle().to_vec()
    };
    let affected = record
        .component_ids
        .iter()
        .filter_map(|id| tree.component(id))
        .map(|c| format!("{} ({})", c.name, c.status().label()))
        .collect();
    IncidentPage {
        layout: console.layout(i.name.clone(), "incidents"),
        id: i.id.clone(),
        name: i.name.clone(),
        kind: match kind {
            IncidentKind::Realtime => "Incident",
            IncidentKind::Maintenance => "Maintenance",
        },
        is_maintenance: kind == IncidentKind::Maintenance,
        backfilled: i.backfilled,
        status: i.status().as_str(),
        status_label: i.status().label(),
        impact: impact_label(i.impact()),
        started: console.time(i.started_at),
        resolved: i.resolved_at.map(|at| console.time(at)),
        window: match (i.scheduled_for, i.scheduled_until) {
            (Some(from), Some(until)) => {
                Some(format!("{} to {}", console.time(from), console.time(until)))
            }
            _ => None,
        },
        affected,
        postmortem: record.postmortem.as_ref().map(|p| {
            if p.published_at.is_some() {
                "published"
            } else {
                "draft"
            }
        }),
        entries: entries(console, record),
        buttons: buttons
            .into_iter()
            .map(|s| Choice {
                value: s.as_str(),
                label: s.label(),
                selected: s == i.status(),
            })
            .collect(),
        close_label: (i.status().is_open() && !i.backfilled).then_some(match kind {
            IncidentKind::Realtime => "Resolve",
            IncidentKind::Maintenance => "Complete",
        }),
        status_error: errors.get(STATUS).map(str::to_owned),
        body: Field::sent(form, BODY, errors),
        failed: !errors.is_empty(),
        problems: problems(errors, &[STATUS, BODY, COMPONENTS, NOTIFY], &components),
        components,
        components_error: errors.get(COMPONENTS).map(str::to_owned),
        notify: submitted.is_none_or(|f| f.checked(NOTIFY)) && !i.backfilled,
        preview: message_preview(form, BODY),
    }
}

async fn view(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let record = console.store.get_incident(&path).await?;
    let tree = console.store.list_components().await?;
    let page = incident_page(&console, &record, &tree, None, &FormErrors::default());
    console.page(&page)
}

/// The update form as the domain's patch. "Resolve" closes the incident and names no
/// component, so the domain puts its components back to operational (except those
/// another open incident still holds).
fn read_update(
    form: &Form,
    record: &IncidentRecord,
    tree: &ComponentTree,
    errors: &mut FormErrors,
) -> IncidentRequest {
    errors.check(parse_body(BODY, &multiline(form, BODY), BODY_MAX));
    let resolve = form.get("resolve").is_some();
    let status = if resolve {
        Some(record.incident.kind().closing_status())
    } else {
        match form.text(STATUS).as_str() {
            // No status button (a preview, or Enter pressed): the status stays.
            "" => None,
            raw => errors.check(IncidentStatus::parse_settable(STATUS, raw)),
        }
    };
    let component_statuses = if resolve || record.incident.backfilled {
        Vec::new()
    } else {
        read_component_statuses(form, tree, errors)
    };
    IncidentRequest {
        status,
        body: Some(multiline(form, BODY)),
        component_statuses,
        deliver_notifications: Some(form.checked(NOTIFY)),
        ..IncidentRequest::default()
    }
}

async fn post_update(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let id = path.into_inner();
    let record = console.store.get_incident(&id).await?;
    let tree = console.store.list_components().await?;
    if form.get("preview").is_some() {
        let page = incident_page(
            &console,
            &record,
            &tree,
            Some(&form),
            &FormErrors::default(),
        );
        return console.page(&page);
    }
    let mut errors = FormErrors::default();
    let request = read_update(&form, &record, &tree, &mut errors);
    if errors.is_empty() {
        let patched = console
            .store
            .patch_incident(&id, &request, &IncidentSettings::default(), Stamp::Clock)
            .await;
        if let Some(record) = errors.accept(patched, &[])? {
            let notice = format!("Update posted: {}.", record.incident.status().label());
            return console.done(&incident_url(&id), &notice);
        }
    }
    let page = incident_page(&console, &record, &tree, Some(&form), &errors);
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --- editing one update ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/incident_update_edit.html")]
struct EditUpdatePage {
    layout: AdminLayout,
    incident_id: String,
    incident_name: String,
    update_id: String,
    label: &'static str,
    body: Field,
    display_at: Field,
    preview: Option<SafeHtml>,
    problems: Vec<String>,
    /// Whether anything was wrong (the box above the form says so).
    failed: bool,
}

fn edit_update_page(
    console: &Console,
    record: &IncidentRecord,
    update_id: &str,
    submitted: Option<&Form>,
    errors: &FormErrors,
) -> Result<EditUpdatePage, super::ConsoleError> {
    let update = record
        .updates
        .iter()
        .find(|u| u.row.id == update_id)
        .ok_or_else(|| super::ConsoleError::NotFound("incident update".to_owned()))?;
    let (body, display_at) = match submitted {
        Some(form) => (multiline(form, UPDATE_BODY), form.text(UPDATE_DISPLAY_AT)),
        None => (
            update.row.body.clone(),
            input_time(console.zone, update.row.display_at),
        ),
    };
    Ok(EditUpdatePage {
        layout: console.layout("Edit an update", "incidents"),
        incident_id: record.incident.id.clone(),
        incident_name: record.incident.name.clone(),
        update_id: update_id.to_owned(),
        label: update.row.status().label(),
        preview: submitted
            .and_then(|f| f.get("preview"))
            .map(|_| markdown::update_body(&body)),
        body: Field::new(body, UPDATE_BODY, errors),
        display_at: Field::new(display_at, UPDATE_DISPLAY_AT, errors),
        failed: !errors.is_empty(),
        problems: errors.others(&[UPDATE_BODY, UPDATE_DISPLAY_AT]),
    })
}

async fn edit_update_form(console: Console, path: web::Path<(String, String)>) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let (id, update_id) = path.into_inner();
    let record = console.store.get_incident(&id).await?;
    let page = edit_update_page(&console, &record, &update_id, None, &FormErrors::default())?;
    console.page(&page)
}

async fn edit_update(
    console: Console,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let (id, update_id) = path.into_inner();
    let record = console.store.get_incident(&id).await?;
    let Some(update) = record.updates.iter().find(|u| u.row.id == update_id) else {
        return Err(super::ConsoleError::NotFound("incident update".to_owned()));
    };
    if form.get("preview").is_some() {
        let page = edit_update_page(
            &console,
            &record,
            &update_id,
            Some(&form),
            &FormErrors::default(),
        )?;
        return console.page(&page);
    }
    let mut errors = FormErrors::default();
    // Only what changed is sent: the input shows minutes, so an untouched time must not
    // lose its seconds and move the entry.
    let body_text = multiline(&form, UPDATE_BODY);
    let time_text = form.text(UPDATE_DISPLAY_AT);
    let edit = UpdateEdit {
        body: (body_text.trim_end() != update.row.body).then_some(body_text),
        display_at: if time_text == input_time(console.zone, update.row.display_at) {
            None
        } else if time_text.trim().is_empty() {
            errors.add(UPDATE_DISPLAY_AT, "can't be blank");
            None
        } else {
            read_time(&form, UPDATE_DISPLAY_AT, console.zone, &mut errors)
        },
        deliver_notifications: None,
    };
    if errors.is_empty() {
        if edit.body.is_none() && edit.display_at.is_none() {
            return console.done(&incident_url(&id), "Nothing changed.");
        }
        let edited = console
            .store
            .edit_update(&id, &update_id, &edit, Stamp::Clock)
            .await;
        if errors.accept(edited, &[])?.is_some() {
            return console.done(&incident_url(&id), "Update edited.");
        }
    }
    let page = edit_update_page(&console, &record, &update_id, Some(&form), &errors)?;
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --- backfilling a past incident -------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/incident_backfill.html")]
struct BackfillPage {
    layout: AdminLayout,
    name: Field,
    started: Field,
    resolved: Field,
    body: Field,
    components: Vec<ComponentInput>,
    components_error: Option<String>,
    problems: Vec<String>,
    /// Whether anything was wrong (the box above the form says so).
    failed: bool,
}

fn backfill_page(
    console: &Console,
    tree: &ComponentTree,
    submitted: Option<&Form>,
    errors: &FormErrors,
) -> BackfillPage {
    let empty = Form::default();
    let form = submitted.unwrap_or(&empty);
    let components = component_checkboxes(tree, submitted);
    BackfillPage {
        layout: console.layout("Backfill a past incident", "incidents"),
        name: Field::sent(form, NAME, errors),
        started: Field::sent(form, BACKFILL_DATE, errors),
        resolved: Field::sent(form, RESOLVED_AT, errors),
        body: Field::sent(form, BODY, errors),
        failed: !errors.is_empty(),
        problems: errors.others(&[NAME, BACKFILL_DATE, RESOLVED_AT, BODY, COMPONENT_IDS]),
        components,
        components_error: errors.get(COMPONENT_IDS).map(str::to_owned),
    }
}

async fn backfill_form(console: Console) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let tree = console.store.list_components().await?;
    let page = backfill_page(&console, &tree, None, &FormErrors::default());
    console.page(&page)
}

/// A past incident with its own start and end, in one store call (the same as `/v1`
/// backfill, with the end the console also asks for).
async fn backfill(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let tree = console.store.list_components().await?;
    let zone = console.zone;
    let mut errors = FormErrors::default();
    check_text(&form, &mut errors);
    let started = read_time(&form, BACKFILL_DATE, zone, &mut errors);
    let resolved = read_time(&form, RESOLVED_AT, zone, &mut errors);
    if started.is_none() && errors.get(BACKFILL_DATE).is_none() {
        errors.add(BACKFILL_DATE, "is required: when the incident started");
    }
    let request = IncidentRequest {
        name: Some(form.text(NAME)),
        body: Some(multiline(&form, BODY)),
        component_ids: form.all(COMPONENT_ID_BOXES),
        backfilled: true,
        backfill_at: started,
        backfill_resolved_at: resolved,
        ..IncidentRequest::default()
    };
    if errors.is_empty() {
        let created = console
            .store
            .create_incident(&request, &IncidentSettings::default(), Stamp::Clock)
            .await;
        if let Some(record) = errors.accept(created, &[])? {
            let id = record.incident.id.clone();
            return console.done(&incident_url(&id), "Past incident added.");
        }
    }
    let page = backfill_page(&console, &tree, Some(&form), &errors);
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --- name and impact ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/incident_details.html")]
struct DetailsPage {
    layout: AdminLayout,
    id: String,
    name: Field,
    impacts: Vec<Choice>,
    impact_error: Option<String>,
    computed_impact: &'static str,
    /// For a maintenance: its window, in the page's zone.
    window: Option<(Field, Field)>,
    failed: bool,
    problems: Vec<String>,
}

fn details_page(
    console: &Console,
    record: &IncidentRecord,
    form: Option<&Form>,
    errors: &FormErrors,
) -> DetailsPage {
    let row = &record.incident;
    let (name, impact) = match form {
        Some(form) => (form.text(NAME), form.text(IMPACT)),
        None => (
            row.name.clone(),
            row.impact_override()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
        ),
    };
    let window = (row.kind() == IncidentKind::Maintenance).then(|| {
        let shown = |field: &str, stored: Option<DateTime<Utc>>| match form {
            Some(form) => Field::sent(form, field, errors),
            None => Field::new(
                stored
                    .map(|at| input_time(console.zone, at))
                    .unwrap_or_default(),
                field,
                errors,
            ),
        };
        (
            shown(SCHEDULED_FOR, row.scheduled_for),
            shown(SCHEDULED_UNTIL, row.scheduled_until),
        )
    });
    DetailsPage {
        layout: console.layout(format!("Details of {}", row.name), "incidents"),
        id: row.id.clone(),
        name: Field::new(name, NAME, errors),
        impacts: impact_choices(&impact),
        impact_error: errors.get(IMPACT).map(str::to_owned),
        computed_impact: impact_label(Impact::from_db(&row.computed_impact)),
        window,
        failed: !errors.is_empty(),
        problems: errors.others(&[NAME, IMPACT, SCHEDULED_FOR, SCHEDULED_UNTIL]),
    }
}

async fn details_form(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let record = console.store.get_incident(&path).await?;
    console.page(&details_page(
        &console,
        &record,
        None,
        &FormErrors::default(),
    ))
}

/// A new name or impact: no timeline entry and no mail, as with a `/v1` PATCH that
/// sends only `name` and `impact_override`.
async fn save_details(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let record = console.store.get_incident(&path).await?;
    let mut errors = FormErrors::default();
    errors.check(parse_name(NAME, &form.text(NAME)));
    let impact_override = match form.text(IMPACT).as_str() {
        "" => Some(None),
        raw => errors.check(Impact::parse(IMPACT, raw)).map(Some),
    };
    // A maintenance's window moves through the same PATCH as `/v1` (the domain checks
    // that it still ends after it starts).
    let is_maintenance = record.incident.kind() == IncidentKind::Maintenance;
    let (scheduled_for, scheduled_until) = if is_maintenance {
        (
            read_time(&form, SCHEDULED_FOR, console.zone, &mut errors),
            read_time(&form, SCHEDULED_UNTIL, console.zone, &mut errors),
        )
    } else {
        (None, None)
    };
    if errors.is_empty() {
        let request = IncidentRequest {
            name: Some(form.text(NAME)),
            impact_override,
            scheduled_for,
            scheduled_until,
            ..IncidentRequest::default()
        };
        let saved = console
            .store
            .patch_incident(&path, &request, &IncidentSettings::default(), Stamp::Clock)
            .await;
        if errors.accept(saved, &[])?.is_some() {
            return console.done(&incident_url(&path), "Details saved.");
        }
    }
    let page = details_page(&console, &record, Some(&form), &errors);
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --- deleting ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/incident_delete.html")]
struct DeletePage {
    layout: AdminLayout,
    id: String,
    name: String,
    updates: usize,
}

async fn confirm_delete(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let record = console.store.get_incident(&path).await?;
    let page = DeletePage {
        layout: console.layout(format!("Delete {}", record.incident.name), "incidents"),
        id: record.incident.id.clone(),
        name: record.incident.name.clone(),
        updates: record.updates.len(),
    };
    console.page(&page)
}

async fn delete(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let _form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let record = console.store.delete_incident(&path, Stamp::Clock).await?;
    let notice = format!("Deleted {}.", record.incident.name);
    console.done("/admin/incidents", &notice)
}

// --- scheduling a maintenance ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/maintenance_new.html")]
struct NewMaintenancePage {
    layout: AdminLayout,
    name: Field,
    scheduled_for: Field,
    scheduled_until: Field,
    body: Field,
    components: Vec<ComponentInput>,
    components_error: Option<String>,
    notify: bool,
    auto_start: bool,
    auto_complete: bool,
    preview: Option<SafeHtml>,
    problems: Vec<String>,
    /// Whether anything was wrong (the box above the form says so).
    failed: bool,
}

fn maintenance_page(
    console: &Console,
    tree: &ComponentTree,
    submitted: Option<&Form>,
    errors: &FormErrors,
) -> NewMaintenancePage {
    let empty = Form::default();
    let form = submitted.unwrap_or(&empty);
    let ticked = |field: &str| submitted.is_none_or(|f| f.checked(field));
    let components = component_checkboxes(tree, submitted);
    NewMaintenancePage {
        layout: console.layout("Schedule maintenance", "incidents"),
        name: Field::sent(form, NAME, errors),
        scheduled_for: Field::sent(form, SCHEDULED_FOR, errors),
        scheduled_until: Field::sent(form, SCHEDULED_UNTIL, errors),
        body: Field::sent(form, BODY, errors),
        failed: !errors.is_empty(),
        problems: errors.others(&[
            NAME,
            SCHEDULED_FOR,
            SCHEDULED_UNTIL,
            BODY,
            COMPONENT_IDS,
            NOTIFY,
            AUTO_START,
            AUTO_COMPLETE,
        ]),
        components,
        components_error: errors.get(COMPONENT_IDS).map(str::to_owned),
        notify: ticked(NOTIFY),
        auto_start: ticked(AUTO_START),
        auto_complete: ticked(AUTO_COMPLETE),
        preview: message_preview(form, BODY),
    }
}

async fn new_maintenance_form(console: Console) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let tree = console.store.list_components().await?;
    let page = maintenance_page(&console, &tree, None, &FormErrors::default());
    console.page(&page)
}

/// A maintenance that moves by itself starts at `scheduled_for` with its components
/// under maintenance and completes at `scheduled_until` with them back, telling
/// subscribers at each step when the notify box is ticked.
fn maintenance_settings(form: &Form) -> IncidentSettings {
    let auto_start = form.checked(AUTO_START);
    let auto_complete = form.checked(AUTO_COMPLETE);
    let notify = form.checked(NOTIFY);
    IncidentSettings {
        scheduled_auto_in_progress: Some(auto_start),
        scheduled_auto_completed: Some(auto_complete),
        auto_transition_to_maintenance_state: Some(auto_start),
        auto_transition_to_operational_state: Some(auto_complete),
        auto_transition_deliver_notifications_at_start: Some(auto_start && notify),
        auto_transition_deliver_notifications_at_end: Some(auto_complete && notify),
        ..IncidentSettings::default()
    }
}

async fn create_maintenance(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let tree = console.store.list_components().await?;
    if form.get("preview").is_some() {
        let page = maintenance_page(&console, &tree, Some(&form), &FormErrors::default());
        return console.page(&page);
    }
    let zone = console.zone;
    let mut errors = FormErrors::default();
    check_text(&form, &mut errors);
    let scheduled_for = read_time(&form, SCHEDULED_FOR, zone, &mut errors);
    let scheduled_until = read_time(&form, SCHEDULED_UNTIL, zone, &mut errors);
    if scheduled_for.is_none() && errors.get(SCHEDULED_FOR).is_none() {
        errors.add(SCHEDULED_FOR, "can't be blank: when the maintenance starts");
    }
    let request = IncidentRequest {
        name: Some(form.text(NAME)),
        body: Some(multiline(&form, BODY)),
        component_ids: form.all(COMPONENT_ID_BOXES),
        deliver_notifications: Some(form.checked(NOTIFY)),
        scheduled_for,
        scheduled_until,
        ..IncidentRequest::default()
    };
    if errors.is_empty() {
        let created = console
            .store
            .create_incident(&request, &maintenance_settings(&form), Stamp::Clock)
            .await;
        if let Some(record) = errors.accept(created, &[])? {
            return console.done(&incident_url(&record.incident.id), "Maintenance scheduled.");
        }
    }
    let page = maintenance_page(&console, &tree, Some(&form), &errors);
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
