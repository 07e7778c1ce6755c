//! The dashboard: what is open, the component board (one click sets a component's
//! status), upcoming maintenance, and whether mail is flowing.

use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use askama::Template;

use super::{AdminLayout, Console, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::ComponentStatus;
use crate::store::{
    ComponentPatch, ComponentTree, IncidentFilter, IncidentQuery, OutboxStats, TopLevel,
};
use crate::time::Stamp;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(dashboard))
        .route("/", web::get().to(dashboard))
        .route(
            "/components/{id}/status",
            web::post().to(set_component_status),
        );
}

/// One row of the component board.
pub struct BoardRow {
    pub id: String,
    pub name: String,
    /// The group's name, for components in one.
    pub group: Option<String>,
    pub status: &'static str,
    pub status_label: &'static str,
}

/// A status button: its value and its words.
pub struct StatusChoice {
    pub value: &'static str,
    pub label: &'static str,
}

pub fn status_choices() -> Vec<StatusChoice> {
    ComponentStatus::ALL
        .into_iter()
        .map(|s| StatusChoice {
            value: s.as_str(),
            label: s.label(),
        })
        .collect()
}

/// Components in page order, each with its group's name.
pub fn board(tree: &ComponentTree) -> Vec<BoardRow> {
    let row = |c: &crate::store::ComponentRow, group: Option<String>| BoardRow {
        id: c.id.clone(),
        name: c.name.clone(),
        group,
        status: c.status().as_str(),
        status_label: c.status().label(),
    };
    let mut rows = Vec::new();
    for item in tree.top_level() {
        match item {
            TopLevel::Component(c) => rows.push(row(c, None)),
            TopLevel::Group(g, children) => {
                rows.extend(children.into_iter().map(|c| row(c, Some(g.name.clone()))))
            }
        }
    }
    rows
}

/// An open incident or maintenance as the dashboard lists it.
pub struct OpenItem {
    pub id: String,
    pub name: String,
    pub status: String,
    pub impact: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    layout: AdminLayout,
    open: Vec<OpenItem>,
    active_maintenance: Vec<OpenItem>,
    upcoming: Vec<OpenItem>,
    board: Vec<BoardRow>,
    choices: Vec<StatusChoice>,
    can_run: bool,
    outbox: OutboxStats,
    oldest_waiting: Option<String>,
}

async fn dashboard(console: Console) -> ConsoleResult {
    let store = &console.store;
    let list = |filter| IncidentQuery::new(filter, 100);
    let item = |r: crate::store::IncidentRecord, at: chrono::DateTime<chrono::Utc>| OpenItem {
        id: r.incident.id.clone(),
        name: r.incident.name.clone(),
        status: r.incident.status.clone(),
        impact: r.incident.impact().as_str().to_owned(),
        when: console.time(at),
    };
    let open = store
        .list_incidents(&list(IncidentFilter::Unresolved))
        .await?
        .into_iter()
        .map(|r| {
            let at = r.incident.started_at;
            item(r, at)
        })
        .collect();
    // Every maintenance not completed, soonest first: those under way, then the rest.
    let (active_maintenance, upcoming): (Vec<OpenItem>, Vec<OpenItem>) = store
        .list_incidents(&list(IncidentFilter::OpenMaintenances))
        .await?
        .into_iter()
        .map(|r| {
            let at = r.incident.scheduled_for.unwrap_or(r.incident.started_at);
            item(r, at)
        })
        .partition(|m| m.status != "scheduled");
    let tree = store.list_components().await?;
    let outbox = store.outbox_stats().await?;
    let page = DashboardPage {
        layout: console.layout("Dashboard", "dashboard"),
        open,
        active_maintenance,
        upcoming,
        board: board(&tree),
        choices: status_choices(),
        can_run: console.can(Permission::RunIncidents),
        oldest_waiting: outbox.oldest_queued_at.map(|at| console.time(at)),
        outbox,
    };
    console.page(&page)
}

/// One click on the board: the component's new status, through the same store call
/// as `PATCH /v1/pages/{page}/components/{id}`.
async fn set_component_status(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let status = ComponentStatus::parse("status", form.get("status").unwrap_or_default())
        .map_err(|e| super::ConsoleError::BadRequest(e.to_string()))?;
    let patch = ComponentPatch {
        status: Some(status),
        ..ComponentPatch::default()
    };
    let row = console
        .store
        .update_component(&path.into_inner(), &patch, Stamp::Clock)
        .await?;
    let back = super::safe_next(form.get("back"));
    console.done(&back, &format!("{} is now {}.", row.name, status.label()))
}
