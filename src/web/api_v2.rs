//! The public read API, `/api/v2/*.json` (§1): no authentication, CORS open, exact
//! Statuspage shapes. Unknown query parameters are ignored (the widget forwards some).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::ApiError;
use super::json::{Api, ComponentJson, IncidentJson, MaintenanceJson, PageRef, StatusJson, View};
use super::site::{cached, json_rendered};
use super::{AppState, Snapshot};
use crate::render::cache::Rendered;
use crate::store::{IncidentFilter, IncidentQuery, IncidentRecord};

/// `incidents.json` and `scheduled-maintenances.json` show the 50 most recent.
const RECENT_LIMIT: i64 = 50;
/// Lists without a documented cap still need one.
const UNCAPPED: i64 = 1000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/summary.json", web::get().to(summary))
        .route("/status.json", web::get().to(status))
        .route("/components.json", web::get().to(components))
        .route("/incidents.json", web::get().to(incidents))
        .route("/incidents/unresolved.json", web::get().to(unresolved))
        .route("/scheduled-maintenances.json", web::get().to(maintenances))
        .route(
            "/scheduled-maintenances/upcoming.json",
            web::get().to(upcoming),
        )
        .route("/scheduled-maintenances/active.json", web::get().to(active));
}

async fn list(
    state: &AppState,
    filter: IncidentFilter,
    limit: i64,
) -> Result<Vec<IncidentRecord>, ApiError> {
    Ok(state
        .store
        .list_incidents(&IncidentQuery::new(filter, limit))
        .await?)
}

#[derive(Serialize)]
struct Summary {
    page: PageRef,
    components: Vec<ComponentJson>,
    incidents: Vec<IncidentJson>,
    scheduled_maintenances: Vec<MaintenanceJson>,
    status: StatusJson,
}

async fn summary(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    cached(&state, &req, "/api/v2/summary.json", || {
        render_summary(&state)
    })
    .await
}

async fn render_summary(state: &AppState) -> Result<Rendered, ApiError> {
    let snapshot = Snapshot::load(state).await?;
    let view = snapshot.view(state);
    let unresolved = list(state, IncidentFilter::Unresolved, UNCAPPED).await?;
    // Upcoming or in progress: scheduled, in_progress, verifying.
    let maintenances = list(state, IncidentFilter::OpenMaintenances, UNCAPPED).await?;
    json_rendered(&Summary {
        page: view.page_ref(),
        components: view.components(Api::Public),
        incidents: incidents_json(&view, &unresolved),
        scheduled_maintenances: maintenances.iter().map(|m| view.maintenance(m)).collect(),
        status: view.status(&unresolved),
    })
}

#[derive(Serialize)]
struct StatusDoc {
    page: PageRef,
    status: StatusJson,
}

async fn status(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    cached(&state, &req, "/api/v2/status.json", || async {
        let snapshot = Snapshot::load(&state).await?;
        let view = snapshot.view(&state);
        let unresolved = list(&state, IncidentFilter::Unresolved, UNCAPPED).await?;
        json_rendered(&StatusDoc {
            page: view.page_ref(),
            status: view.status(&unresolved),
        })
    })
    .await
}

#[derive(Serialize)]
struct ComponentsDoc {
    page: PageRef,
    components: Vec<ComponentJson>,
}

async fn components(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    cached(&state, &req, "/api/v2/components.json", || async {
        let snapshot = Snapshot::load(&state).await?;
        let view = snapshot.view(&state);
        json_rendered(&ComponentsDoc {
            page: view.page_ref(),
            components: view.components(Api::Public),
        })
    })
    .await
}

#[derive(Serialize)]
struct IncidentsDoc {
    page: PageRef,
    incidents: Vec<IncidentJson>,
}

fn incidents_json(view: &View<'_>, records: &[IncidentRecord]) -> Vec<IncidentJson> {
    records
        .iter()
        .map(|r| view.incident(r, Api::Public))
        .collect()
}

/// A document of `page` and a list of incidents (`key` is `incidents`).
async fn incidents_doc(
    req: &HttpRequest,
    state: &AppState,
    filter: IncidentFilter,
    limit: i64,
) -> Result<HttpResponse, ApiError> {
    cached(state, req, req.path(), || async {
        let snapshot = Snapshot::load(state).await?;
        let view = snapshot.view(state);
        let records = list(state, filter, limit).await?;
        json_rendered(&IncidentsDoc {
            page: view.page_ref(),
            incidents: incidents_json(&view, &records),
        })
    })
    .await
}

async fn incidents(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    incidents_doc(&req, &state, IncidentFilter::Incidents, RECENT_LIMIT).await
}

async fn unresolved(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    incidents_doc(&req, &state, IncidentFilter::Unresolved, UNCAPPED).await
}

#[derive(Serialize)]
struct MaintenancesDoc {
    page: PageRef,
    scheduled_maintenances: Vec<MaintenanceJson>,
}

async fn maintenances_doc(
    req: &HttpRequest,
    state: &AppState,
    filter: IncidentFilter,
    limit: i64,
) -> Result<HttpResponse, ApiError> {
    cached(state, req, req.path(), || async {
        let snapshot = Snapshot::load(state).await?;
        let view = snapshot.view(state);
        let records = list(state, filter, limit).await?;
        json_rendered(&MaintenancesDoc {
            page: view.page_ref(),
            scheduled_maintenances: records.iter().map(|m| view.maintenance(m)).collect(),
        })
    })
    .await
}

async fn maintenances(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    maintenances_doc(&req, &state, IncidentFilter::Maintenances, RECENT_LIMIT).await
}

async fn upcoming(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    maintenances_doc(&req, &state, IncidentFilter::UpcomingMaintenances, UNCAPPED).await
}

async fn active(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    maintenances_doc(&req, &state, IncidentFilter::ActiveMaintenances, UNCAPPED).await
}
