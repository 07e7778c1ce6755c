//! The management API, `/v1` (§2): authenticated by API key, bodies as JSON or
//! Rails-style forms, a trailing `.json` optional (stripped before routing). Handlers
//! only translate: fields in, domain/store call, JSON out.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};

use super::auth::ApiCaller;
use super::body::{ApiBody, Fields};
use super::error::ApiError;
use super::json::Api;
use super::{json_response, json_status, AppState, Snapshot};
use crate::domain::incident::IncidentRequest;
use crate::domain::text::{parse_description, parse_name};
use crate::domain::{ComponentStatus, Impact, IncidentStatus};
use crate::store::{
    ComponentPatch, GroupPatch, IncidentFilter, IncidentQuery, IncidentSettings, NewComponent,
    NewGroup, PagePatch, PageRow, UpdateEdit,
};
use crate::time::{PageZone, Stamp};

type Query = web::Query<HashMap<String, String>>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/pages", web::get().to(list_pages))
        .service(
            web::resource("/pages/{page_id}")
                .route(web::get().to(get_page))
                .route(web::patch().to(update_page))
                .route(web::put().to(update_page)),
        )
        .service(
            web::resource("/pages/{page_id}/components")
                .route(web::get().to(list_components))
                .route(web::post().to(create_component)),
        )
        .service(
            web::resource("/pages/{page_id}/components/{id}")
                .route(web::get().to(get_component))
                .route(web::patch().to(update_component))
                .route(web::put().to(update_component))
                .route(web::delete().to(delete_component)),
        )
        .service(
            web::resource("/pages/{page_id}/component-groups")
                .route(web::get().to(list_groups))
                .route(web::post().to(create_group)),
        )
        .service(
            web::resource("/pages/{page_id}/component-groups/{id}")
                .route(web::get().to(get_group))
                .route(web::patch().to(update_group))
                .route(web::put().to(update_group))
                .route(web::delete().to(delete_group)),
        )
        .service(
            web::resource("/pages/{page_id}/incidents")
                .route(web::get().to(list_incidents))
                .route(web::post().to(create_incident)),
        )
        // Named lists before `{id}`: routes match in the order they are registered.
        .route(
            "/pages/{page_id}/incidents/unresolved",
            web::get().to(list_unresolved),
        )
        .route(
            "/pages/{page_id}/incidents/upcoming",
            web::get().to(list_upcoming),
        )
        .route(
            "/pages/{page_id}/incidents/scheduled",
            web::get().to(list_scheduled),
        )
        .route(
            "/pages/{page_id}/incidents/active_maintenance",
            web::get().to(list_active_maintenance),
        )
        .service(
            web::resource("/pages/{page_id}/incidents/{id}")
                .route(web::get().to(get_incident))
                .route(web::patch().to(update_incident))
                .route(web::put().to(update_incident))
                .route(web::delete().to(delete_incident)),
        )
        .service(
            web::resource("/pages/{page_id}/incidents/{id}/postmortem")
                .route(web::get().to(get_postmortem))
                .route(web::put().to(save_postmortem))
                .route(web::delete().to(delete_postmortem)),
        )
        .route(
            "/pages/{page_id}/incidents/{id}/postmortem/publish",
            web::put().to(publish_postmortem),
        )
        .route(
            "/pages/{page_id}/incidents/{id}/postmortem/revert",
            web::put().to(revert_postmortem),
        )
        .service(
            web::resource("/pages/{page_id}/subscribers")
                .route(web::get().to(list_subscribers))
                .route(web::post().to(create_subscriber)),
        )
        .service(
            web::resource("/pages/{page_id}/subscribers/{id}")
                .route(web::get().to(get_subscriber))
                .route(web::patch().to(update_subscriber))
                .route(web::put().to(update_subscriber))
                .route(web::delete().to(delete_subscriber)),
        )
        .route(
            "/pages/{page_id}/subscribers/{id}/resend_confirmation",
            web::post().to(resend_confirmation),
        )
        .service(
            web::resource("/pages/{page_id}/incidents/{id}/incident_updates/{update_id}")
                .route(web::patch().to(edit_update))
                .route(web::put().to(edit_update)),
        );
}

/// The page, when `page_id` names it; this instance serves exactly one page.
async fn page_for(state: &AppState, page_id: &str) -> Result<PageRow, ApiError> {
    let page = state.store.page().await?;
    if page.id == page_id {
        Ok(page)
    } else {
        Err(ApiError::NotFound(format!("page {page_id:?}")))
    }
}

/// Reads a non-negative integer query parameter.
fn int_param(query: &Query, key: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    match query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                key,
                format!("must be a whole number from {min} to {max} (got {raw:?})"),
            )),
        },
    }
}

/// `page` (1-based) and `per_page` (at most 100), as most list endpoints take them.
fn paging(query: &Query, size_key: &str) -> Result<(i64, i64), ApiError> {
    let size = int_param(query, size_key, 100, 1, 100)?;
    let page = int_param(query, "page", 1, 1, 1_000_000)?;
    Ok((size, (page - 1) * size))
}

// --- pages -----------------------------------------------------------------------------------

async fn list_pages(
    state: web::Data<AppState>,
    _caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let snapshot = Snapshot::load(&state).await?;
    json_response(&[snapshot.view(&state).page_v1()])
}

async fn get_page(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    page_for(&state, &path).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).page_v1())
}

fn optional_text(f: &Fields<'_>, key: &str) -> Result<Option<Option<String>>, ApiError> {
    Ok(match f.nullable_string(key)? {
        Some(Some(text)) => Some(parse_description(&f.name(key), &text)?),
        other => other,
    })
}

async fn update_page(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    page_for(&state, &path).await?;
    let f = body.resource("page")?;
    let time_zone = match f.string("time_zone")? {
        Some(tz) => {
            PageZone::parse_field(&f.name("time_zone"), &tz)?;
            Some(tz.trim().to_owned())
        }
        None => None,
    };
    let patch = PagePatch {
        name: f
            .string("name")?
            .map(|n| parse_name(&f.name("name"), &n))
            .transpose()?,
        time_zone,
        website_url: optional_text(&f, "url")?,
        page_description: optional_text(&f, "page_description")?,
        headline: optional_text(&f, "headline")?,
        support_url: optional_text(&f, "support_url")?,
        notifications_from_email: optional_text(&f, "notifications_from_email")?,
        notifications_email_footer: optional_text(&f, "notifications_email_footer")?,
        allow_page_subscribers: f.bool("allow_page_subscribers")?,
        allow_incident_subscribers: f.bool("allow_incident_subscribers")?,
        allow_email_subscribers: f.bool("allow_email_subscribers")?,
        allow_rss_atom_feeds: f.bool("allow_rss_atom_feeds")?,
    };
    caller.store.update_page(&patch, Stamp::Clock).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).page_v1())
}

// --- components ------------------------------------------------------------------------------

async fn list_components(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    page_for(&state, &path).await?;
    let (size, offset) = paging(&query, "per_page")?;
    let snapshot = Snapshot::load(&state).await?;
    let rows: Vec<_> = snapshot
        .view(&state)
        .components(Api::Management)
        .into_iter()
        .skip(offset as usize)
        .take(size as usize)
        .collect();
    json_response(&rows)
}

fn component_status(f: &Fields<'_>) -> Result<Option<ComponentStatus>, ApiError> {
    match f.string("status")? {
        // The OpenAPI document allows "" and means "leave it".
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => Ok(Some(ComponentStatus::parse(&f.name("status"), &s)?)),
    }
}

async fn create_component(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    page_for(&state, &path).await?;
    let f = body.resource("component")?;
    let name = f.string("name")?.unwrap_or_default();
    let new = NewComponent {
        name: parse_name(&f.name("name"), &name)?,
        description: optional_text(&f, "description")?.flatten(),
        status: component_status(&f)?,
        group_id: f.string("group_id")?.filter(|g| !g.is_empty()),
        showcase: f.bool("showcase")?,
        only_show_if_degraded: f.bool("only_show_if_degraded")?,
        start_date: f.date("start_date")?.flatten(),
    };
    let row = caller.store.create_component(&new, Stamp::Clock).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_status(
        actix_web::http::StatusCode::CREATED,
        &snapshot.view(&state).component(&row, Api::Management),
    )
}

async fn get_component(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let snapshot = Snapshot::load(&state).await?;
    let row = snapshot
        .tree
        .component(&id)
        .ok_or_else(|| ApiError::NotFound(format!("component {id:?}")))?;
    json_response(&snapshot.view(&state).component(row, Api::Management))
}

async fn update_component(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let f = body.resource("component")?;
    let patch = ComponentPatch {
        name: f
            .string("name")?
            .map(|n| parse_name(&f.name("name"), &n))
            .transpose()?,
        description: optional_text(&f, "description")?,
        status: component_status(&f)?,
        group_id: f.nullable_string("group_id")?,
        showcase: f.bool("showcase")?,
        only_show_if_degraded: f.bool("only_show_if_degraded")?,
        start_date: f.date("start_date")?,
    };
    let row = caller
        .store
        .update_component(&id, &patch, Stamp::Clock)
        .await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).component(&row, Api::Management))
}

async fn delete_component(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    caller.store.delete_component(&id, Stamp::Clock).await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- component groups ------------------------------------------------------------------------

async fn list_groups(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    page_for(&state, &path).await?;
    let (size, offset) = paging(&query, "per_page")?;
    let snapshot = Snapshot::load(&state).await?;
    let view = snapshot.view(&state);
    let groups: Vec<_> = snapshot
        .tree
        .groups
        .iter()
        .skip(offset as usize)
        .take(size as usize)
        .map(|g| view.group_v1(g))
        .collect();
    json_response(&groups)
}

/// `{"description": "...", "component_group": {"name", "components": [ids]}}`; the
/// description may also sit inside the group object.
fn group_description(body: &ApiBody, f: &Fields<'_>) -> Result<Option<Option<String>>, ApiError> {
    match optional_text(f, "description")? {
        Some(d) => Ok(Some(d)),
        None => optional_text(&body.top_level(), "description"),
    }
}

async fn create_group(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    page_for(&state, &path).await?;
    let f = body.resource("component_group")?;
    let new = NewGroup {
        name: parse_name(&f.name("name"), &f.string("name")?.unwrap_or_default())?,
        description: group_description(&body, &f)?.flatten(),
        component_ids: f.string_list("components")?.unwrap_or_default(),
    };
    let row = caller.store.create_group(&new, Stamp::Clock).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_status(
        actix_web::http::StatusCode::CREATED,
        &snapshot.view(&state).group_v1(&row),
    )
}

async fn get_group(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let snapshot = Snapshot::load(&state).await?;
    let group = snapshot
        .tree
        .groups
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("component group {id:?}")))?;
    json_response(&snapshot.view(&state).group_v1(group))
}

async fn update_group(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let f = body.resource("component_group")?;
    let patch = GroupPatch {
        name: f
            .string("name")?
            .map(|n| parse_name(&f.name("name"), &n))
            .transpose()?,
        description: group_description(&body, &f)?,
        component_ids: f.string_list("components")?,
    };
    let row = caller.store.update_group(&id, &patch, Stamp::Clock).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).group_v1(&row))
}

async fn delete_group(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let before = Snapshot::load(&state).await?;
    let group = before
        .tree
        .groups
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("component group {id:?}")))?;
    let deleted = before.view(&state).group_v1(group);
    caller.store.delete_group(&id, Stamp::Clock).await?;
    json_response(&deleted)
}

// --- incidents -------------------------------------------------------------------------------

/// Reads an incident create/patch body into the domain request and the plain settings.
fn incident_request(
    f: &Fields<'_>,
    zone: PageZone,
) -> Result<(IncidentRequest, IncidentSettings), ApiError> {
    let status = match f.string("status")? {
        Some(s) if !s.is_empty() => Some(IncidentStatus::parse_settable(&f.name("status"), &s)?),
        _ => None,
    };
    let impact_override = match f.nullable_string("impact_override")? {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(Impact::parse(&f.name("impact_override"), &raw)?)),
    };
    let mut component_statuses = Vec::new();
    for (id, raw) in f.string_map("components")?.unwrap_or_default() {
        if raw.is_empty() {
            continue;
        }
        let field = format!("{}[{id}]", f.name("components"));
        component_statuses.push((id, ComponentStatus::parse(&field, &raw)?));
    }
    let backfilled = f.bool("backfilled")?.unwrap_or(false);
    let backfill_at = match f.date_or_time("backfill_date", zone)? {
        Some(at) => Some(at),
        None if backfilled => f.time("started_at", zone)?.or(f.time("created_at", zone)?),
        None => None,
    };
    let metadata = match f.raw("metadata") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => {
            if let Some((key, _)) = map.iter().find(|(_, v)| !v.is_object()) {
                return Err(ApiError::invalid(
                    &format!("{}[{key}]", f.name("metadata")),
                    "must be an object: every top-level value of metadata is an object, e.g. {\"jira\": {\"issue_id\": \"OPS-1\"}}",
                ));
            }
            Some(serde_json::Value::Object(map.clone()).to_string())
        }
        Some(_) => return Err(ApiError::invalid(&f.name("metadata"), "must be an object")),
    };
    let request = IncidentRequest {
        name: f.string("name")?,
        status,
        body: match f.string("body")? {
            Some(body) => Some(body),
            // The old API called it `message`.
            None => f.string("message")?,
        },
        impact_override,
        component_statuses,
        component_ids: f.string_list("component_ids")?.unwrap_or_default(),
        deliver_notifications: f.bool("deliver_notifications")?,
        backfilled,
        backfill_at,
        // Statuspage's backfill has one date; the console also asks for the end.
        backfill_resolved_at: None,
        scheduled_for: f.time("scheduled_for", zone)?,
        scheduled_until: f.time("scheduled_until", zone)?,
    };
    let settings = IncidentSettings {
        metadata,
        scheduled_remind_prior: f.bool("scheduled_remind_prior")?,
        scheduled_auto_in_progress: match f.bool("scheduled_auto_in_progress")? {
            Some(v) => Some(v),
            None => f.bool("scheduled_auto_transition")?,
        },
        scheduled_auto_completed: f.bool("scheduled_auto_completed")?,
        auto_transition_to_maintenance_state: f.bool("auto_transition_to_maintenance_state")?,
        auto_transition_to_operational_state: f.bool("auto_transition_to_operational_state")?,
        auto_transition_deliver_notifications_at_start: f
            .bool("auto_transition_deliver_notifications_at_start")?,
        auto_transition_deliver_notifications_at_end: f
            .bool("auto_transition_deliver_notifications_at_end")?,
        reminder_intervals: f.nullable_string("reminder_intervals")?,
    };
    Ok((request, settings))
}

async fn list_with(
    state: &AppState,
    page_id: &str,
    query: IncidentQuery,
) -> Result<HttpResponse, ApiError> {
    page_for(state, page_id).await?;
    let records = state.store.list_incidents(&query).await?;
    let snapshot = Snapshot::load(state).await?;
    let view = snapshot.view(state);
    json_response(
        &records
            .iter()
            .map(|r| view.incident_v1(r))
            .collect::<Vec<_>>(),
    )
}

async fn list_incidents(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let limit = int_param(&query, "limit", 100, 1, 100)?;
    let page = int_param(&query, "page", 1, 1, 1_000_000)?;
    let q = IncidentQuery {
        filter: IncidentFilter::Everything,
        search: query.get("q").cloned(),
        created_since: None,
        limit,
        offset: (page - 1) * limit,
    };
    list_with(&state, &path, q).await
}

async fn list_filtered(
    state: &AppState,
    page_id: &str,
    query: &Query,
    filter: IncidentFilter,
) -> Result<HttpResponse, ApiError> {
    let (size, offset) = paging(query, "per_page")?;
    let q = IncidentQuery {
        filter,
        search: None,
        created_since: None,
        limit: size,
        offset,
    };
    list_with(state, page_id, q).await
}

async fn list_unresolved(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    list_filtered(&state, &path, &query, IncidentFilter::Unresolved).await
}

async fn list_upcoming(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    list_filtered(&state, &path, &query, IncidentFilter::UpcomingMaintenances).await
}

async fn list_scheduled(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    list_filtered(&state, &path, &query, IncidentFilter::OpenMaintenances).await
}

async fn list_active_maintenance(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    list_filtered(&state, &path, &query, IncidentFilter::ActiveMaintenances).await
}

async fn create_incident(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let page = page_for(&state, &path).await?;
    let zone = PageZone::parse(&page.time_zone).unwrap_or_else(PageZone::utc);
    let (request, settings) = incident_request(&body.resource("incident")?, zone)?;
    let record = caller
        .store
        .create_incident(&request, &settings, Stamp::Clock)
        .await?;
    let snapshot = Snapshot::load(&state).await?;
    json_status(
        actix_web::http::StatusCode::CREATED,
        &snapshot.view(&state).incident_v1(&record),
    )
}

async fn get_incident(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let record = caller.store.get_incident(&id).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).incident_v1(&record))
}

async fn update_incident(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    let page = page_for(&state, &page_id).await?;
    let zone = PageZone::parse(&page.time_zone).unwrap_or_else(PageZone::utc);
    let (request, settings) = incident_request(&body.resource("incident")?, zone)?;
    let record = caller
        .store
        .patch_incident(&id, &request, &settings, Stamp::Clock)
        .await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).incident_v1(&record))
}

async fn delete_incident(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let record = caller.store.delete_incident(&id, Stamp::Clock).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).incident_v1(&record))
}

async fn edit_update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, incident_id, update_id) = path.into_inner();
    let page = page_for(&state, &page_id).await?;
    let zone = PageZone::parse(&page.time_zone).unwrap_or_else(PageZone::utc);
    let f = body.resource("incident_update")?;
    let edit = UpdateEdit {
        body: f.string("body")?,
        display_at: f.time("display_at", zone)?,
        deliver_notifications: f.bool("deliver_notifications")?,
    };
    let update = caller
        .store
        .edit_update(&incident_id, &update_id, &edit, Stamp::Clock)
        .await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).update(&update, Api::Management))
}

// --- subscribers -----------------------------------------------------------------------------

async fn list_subscribers(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::subscriber::SubscriberState;
    page_for(&state, &path).await?;
    let wanted = match query.get("state").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Some(SubscriberState::Active),
        Some("all") => None,
        Some(raw) => Some(
            SubscriberState::ALL
                .into_iter()
                .find(|s| s.as_str() == raw)
                .ok_or_else(|| ApiError::invalid("state", format!("must be one of active, unconfirmed, quarantined, unsubscribed, all (got {raw:?})")))?,
        ),
    };
    // Herald sends email only: other kinds have no subscribers.
    if query
        .get("type")
        .is_some_and(|t| !t.is_empty() && t != "email")
    {
        return json_response(&Vec::<()>::new());
    }
    let limit = int_param(&query, "limit", 100, 1, 100)?;
    // Statuspage counts subscriber pages from 0.
    let page = int_param(&query, "page", 0, 0, 1_000_000)?;
    let subscribers = caller
        .store
        .list_subscribers(&crate::store::SubscriberQuery {
            state: wanted,
            search: query.get("q").cloned(),
            limit,
            offset: page * limit,
            after: None,
        })
        .await?;
    let snapshot = Snapshot::load(&state).await?;
    let view = snapshot.view(&state);
    json_response(
        &subscribers
            .iter()
            .map(|s| view.subscriber(s))
            .collect::<Vec<_>>(),
    )
}

async fn create_subscriber(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::subscriber::SubscriberEmail;
    use crate::store::{NewSubscription, SubscribeOutcome};
    page_for(&state, &path).await?;
    let f = body.resource("subscriber")?;
    if f.has("phone_number") || f.has("endpoint") {
        return Err(ApiError::invalid(
            &f.name("email"),
            "is required: Herald sends email only (no SMS or webhook subscribers)",
        ));
    }
    let email = SubscriberEmail::parse(&f.name("email"), &f.string("email")?.unwrap_or_default())?;
    let chosen = f
        .string_list("component_ids")?
        .filter(|ids| !ids.is_empty());
    let new = NewSubscription {
        email,
        component_ids: chosen,
        skip_confirmation: f.bool("skip_confirmation_notification")?.unwrap_or(false),
    };
    let (subscriber, outcome) = caller.store.subscribe(&new, Stamp::Clock).await?;
    if outcome == SubscribeOutcome::AlreadySubscribed {
        return Err(ApiError::invalid(
            &f.name("email"),
            format!("is already subscribed (subscriber {})", subscriber.row.id),
        ));
    }
    let snapshot = Snapshot::load(&state).await?;
    json_status(
        actix_web::http::StatusCode::CREATED,
        &snapshot.view(&state).subscriber(&subscriber),
    )
}

async fn get_subscriber(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let subscriber = caller.store.get_subscriber(&id).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).subscriber(&subscriber))
}

/// `{"component_ids": [...]}` (unwrapped, as Statuspage takes it) or inside
/// `subscriber`; an empty list means every component.
async fn update_subscriber(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let f = match body.0.get("subscriber") {
        Some(_) => body.resource("subscriber")?,
        None => body.top_level(),
    };
    let Some(ids) = f.string_list("component_ids")? else {
        return Err(ApiError::invalid(
            &f.name("component_ids"),
            "is required: the list of component ids to hear about ([] for all)",
        ));
    };
    let chosen = (!ids.is_empty()).then_some(ids.as_slice());
    let subscriber = caller
        .store
        .update_subscriber_components(&id, chosen, Stamp::Clock)
        .await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).subscriber(&subscriber))
}

/// Unsubscribes (the record stays, so the address is not mailed again by mistake).
async fn delete_subscriber(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let subscriber = caller.store.unsubscribe(&id, Stamp::Clock).await?;
    let snapshot = Snapshot::load(&state).await?;
    json_response(&snapshot.view(&state).subscriber(&subscriber))
}

async fn resend_confirmation(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    caller.store.resend_confirmation(&id, Stamp::Clock).await?;
    Ok(HttpResponse::Created().finish())
}

// --- postmortems -----------------------------------------------------------------------------

async fn postmortem_response(
    state: &AppState,
    row: &crate::store::PostmortemRow,
) -> Result<HttpResponse, ApiError> {
    let snapshot = Snapshot::load(state).await?;
    json_response(&snapshot.view(state).postmortem(row))
}

async fn get_postmortem(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    match caller.store.get_postmortem(&id).await? {
        Some(row) => postmortem_response(&state, &row).await,
        None => Err(ApiError::NotFound(
            "postmortem (none written yet)".to_owned(),
        )),
    }
}

/// `{"postmortem": {"body_draft": "..."}}`: creates or replaces the draft.
async fn save_postmortem(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let f = body.resource("postmortem")?;
    let Some(draft) = f.string("body_draft")? else {
        return Err(ApiError::invalid(
            &f.name("body_draft"),
            "is required: the postmortem in markdown",
        ));
    };
    let row = caller
        .store
        .save_postmortem_draft(&id, &draft, None, Stamp::Clock)
        .await?;
    postmortem_response(&state, &row).await
}

/// `{"postmortem": {"notify_subscribers": true}}` (`notify_twitter`, `notify_tweets`
/// and `custom_tweet` are accepted and ignored).
async fn publish_postmortem(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let f = body.resource_or_empty("postmortem")?;
    let notify = f.bool("notify_subscribers")?.unwrap_or(false);
    let row = caller
        .store
        .publish_postmortem(&id, None, notify, Stamp::Clock)
        .await?;
    postmortem_response(&state, &row).await
}

async fn revert_postmortem(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    let row = caller.store.revert_postmortem(&id, Stamp::Clock).await?;
    postmortem_response(&state, &row).await
}

async fn delete_postmortem(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (page_id, id) = path.into_inner();
    page_for(&state, &page_id).await?;
    caller.store.delete_postmortem(&id, Stamp::Clock).await?;
    Ok(HttpResponse::NoContent().finish())
}
