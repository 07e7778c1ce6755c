//! The public site: status page, incident pages, history, feeds, static files. Every
//! page comes from the cache of ready responses; on a miss it reads only what it shows.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use chrono::Duration;

use super::error::ApiError;
use super::{AppState, Snapshot};
use crate::domain::ids::looks_like_id;
use crate::render::cache::Rendered;
use crate::render::pages::{self, Layout, SiteContext, StatusData};
use crate::render::{assets, feeds};
use crate::store::{IncidentFilter, IncidentQuery};
use crate::time::{self, PageZone};

/// Pages and JSON a CDN may keep briefly; readers revalidate with the ETag.
pub const PUBLIC_CACHE_CONTROL: &str = "public, max-age=10";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const HTML: &str = "text/html; charset=utf-8";
/// History entries per page.
const HISTORY_PAGE_SIZE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(status_page))
        .route("/incidents/{id}", web::get().to(incident_page))
        .route("/history", web::get().to(history))
        .route("/history.atom", web::get().to(atom))
        .route("/history.rss", web::get().to(rss))
        .route("/static/{file}", web::get().to(static_file));
}

/// An error answered with an HTML page in the site's style.
#[derive(Debug)]
pub struct HtmlError {
    status: StatusCode,
    page_name: Option<String>,
    zone: PageZone,
}

impl std::fmt::Display for HtmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)
    }
}

impl HtmlError {
    pub fn new(status: StatusCode, snapshot: Option<&Snapshot>) -> HtmlError {
        HtmlError {
            status,
            page_name: snapshot.map(|s| s.page.name.clone()),
            zone: snapshot
                .and_then(|s| PageZone::parse(&s.page.time_zone))
                .unwrap_or_else(PageZone::utc),
        }
    }
}

impl From<ApiError> for HtmlError {
    fn from(e: ApiError) -> Self {
        let status = e.status_code();
        if status.is_server_error() {
            // Logs the cause chain; the reader sees the friendly page.
            let _ = e.error_response();
        }
        HtmlError::new(status, None)
    }
}

impl ResponseError for HtmlError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let layout = Layout::new(self.page_name.as_deref().unwrap_or("Status"), self.zone);
        let body = pages::error_page(layout, self.status.as_u16())
            .render()
            .unwrap_or_else(|_| "Error".to_owned());
        HttpResponse::build(self.status)
            .content_type(HTML)
            .body(body)
    }
}

fn html(template: &impl Template) -> Result<Rendered, ApiError> {
    Ok(Rendered {
        status: StatusCode::OK,
        content_type: HTML,
        body: template
            .render()
            .map_err(|e| ApiError::Internal(e.into()))?
            .into_bytes(),
    })
}

/// The cached response for `key`, rendering it with `render` on a miss.
pub async fn cached<F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    key: &str,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Rendered, ApiError>>,
{
    let response = state
        .cache
        .get_or_render(key, state.store.change_count(), render)
        .await?;
    Ok(response.respond(req, PUBLIC_CACHE_CONTROL))
}

fn context<'a>(snapshot: &'a Snapshot) -> SiteContext<'a> {
    SiteContext {
        page: &snapshot.page,
        tree: &snapshot.tree,
        zone: PageZone::parse(&snapshot.page.time_zone).unwrap_or_else(PageZone::utc),
        now: time::now(),
    }
}

async fn status_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    Ok(cached(&state, &req, "/", || render_status_page(&state)).await?)
}

async fn render_status_page(state: &AppState) -> Result<Rendered, ApiError> {
    let snapshot = Snapshot::load(state).await?;
    let ctx = context(&snapshot);
    let since = ctx.uptime_since();
    let list = |filter, created_since| IncidentQuery {
        filter,
        search: None,
        created_since,
        limit: 1_000,
        offset: 0,
    };
    let unresolved = state
        .store
        .list_incidents(&list(IncidentFilter::Unresolved, None))
        .await?;
    let maintenances = state
        .store
        .list_incidents(&list(IncidentFilter::OpenMaintenances, None))
        .await?;
    // Incidents that may overlap the uptime window: created up to 30 days before it.
    let recent = state
        .store
        .list_incidents(&list(
            IncidentFilter::Everything,
            Some(since - Duration::days(30)),
        ))
        .await?;
    let window = state.store.status_window(since).await?;
    let data = StatusData {
        unresolved: &unresolved,
        maintenances: &maintenances,
        recent: &recent,
        window: &window,
    };
    html(&pages::status_page(&ctx, &data))
}

async fn incident_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let id = path.into_inner();
    if !looks_like_id(&id) {
        let snapshot = Snapshot::load(&state).await.ok();
        return Err(HtmlError::new(StatusCode::NOT_FOUND, snapshot.as_ref()));
    }
    let key = format!("/incidents/{id}");
    let result = cached(&state, &req, &key, || async {
        let snapshot = Snapshot::load(&state).await?;
        let record = state.store.get_incident(&id).await?;
        html(&pages::incident_page(&context(&snapshot), &record))
    })
    .await;
    match result {
        Ok(response) => Ok(response),
        Err(ApiError::NotFound(_)) => {
            let snapshot = Snapshot::load(&state).await.ok();
            Err(HtmlError::new(StatusCode::NOT_FOUND, snapshot.as_ref()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, HtmlError> {
    let page_number = match query.get("page").map(|p| p.trim()) {
        None | Some("") => 1,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=100_000).contains(&n) => n,
            _ => {
                let snapshot = Snapshot::load(&state).await.ok();
                return Err(HtmlError::new(StatusCode::BAD_REQUEST, snapshot.as_ref()));
            }
        },
    };
    let key = format!("/history?page={page_number}");
    Ok(cached(&state, &req, &key, || async {
        let snapshot = Snapshot::load(&state).await?;
        let mut records = state
            .store
            .list_incidents(&IncidentQuery {
                filter: IncidentFilter::Everything,
                search: None,
                created_since: None,
                // One more than shown tells whether there is an older page.
                limit: HISTORY_PAGE_SIZE + 1,
                offset: (page_number - 1) * HISTORY_PAGE_SIZE,
            })
            .await?;
        let has_older = records.len() as i64 > HISTORY_PAGE_SIZE;
        records.truncate(HISTORY_PAGE_SIZE as usize);
        html(&pages::history_page(
            &context(&snapshot),
            &records,
            page_number,
            has_older,
        ))
    })
    .await?)
}

async fn feed_records(state: &AppState) -> Result<Vec<crate::store::IncidentRecord>, ApiError> {
    Ok(state
        .store
        .list_incidents(&IncidentQuery::new(
            IncidentFilter::Everything,
            feeds::FEED_ENTRIES,
        ))
        .await?)
}

async fn atom(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    cached(&state, &req, "/history.atom", || async {
        let snapshot = Snapshot::load(&state).await?;
        let records = feed_records(&state).await?;
        Ok(Rendered {
            status: StatusCode::OK,
            content_type: "application/atom+xml; charset=utf-8",
            body: feeds::atom(&context(&snapshot), &state.base_url, &records).into_bytes(),
        })
    })
    .await
}

async fn rss(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    cached(&state, &req, "/history.rss", || async {
        let snapshot = Snapshot::load(&state).await?;
        let records = feed_records(&state).await?;
        Ok(Rendered {
            status: StatusCode::OK,
            content_type: "application/rss+xml; charset=utf-8",
            body: feeds::rss(&context(&snapshot), &state.base_url, &records).into_bytes(),
        })
    })
    .await
}

async fn static_file(req: HttpRequest) -> Result<HttpResponse, HtmlError> {
    match assets::find(req.path()) {
        Some(asset) => Ok(asset.response.respond(&req, IMMUTABLE)),
        None => Err(HtmlError::new(StatusCode::NOT_FOUND, None)),
    }
}

/// The 404 page for any other address.
pub async fn not_found_page(state: web::Data<AppState>) -> HtmlError {
    let snapshot = Snapshot::load(&state).await.ok();
    HtmlError::new(StatusCode::NOT_FOUND, snapshot.as_ref())
}

/// Used by the v2 API: JSON rendered through the same cache.
pub fn json_rendered<T: serde::Serialize>(value: &T) -> Result<Rendered, ApiError> {
    Ok(Rendered {
        status: StatusCode::OK,
        content_type: "application/json; charset=utf-8",
        body: serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.into()))?,
    })
}
