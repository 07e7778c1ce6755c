//! The public subscription pages: subscribe, confirm (a button, so mail scanners that
//! follow links confirm nobody), manage, and RFC 8058 one-click unsubscribe.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::error::ApiError;
use super::form::Form;
use super::site::HtmlError;
use super::{csrf, AppState, Snapshot};
use crate::domain::subscriber::{SubscriberEmail, SubscriberState};
use crate::render::pages::{
    choices, HiddenForm, Layout, Link, ManagePage, MessagePage, SubscribePage,
};
use crate::store::{NewSubscription, StoreError};
use crate::time::{self, PageZone, Stamp};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/subscribe")
            .route(web::get().to(subscribe_form))
            .route(web::post().to(subscribe)),
    )
    .service(
        web::resource("/subscriptions/{id}")
            .route(web::get().to(manage_page))
            .route(web::post().to(save_choice)),
    )
    .service(
        web::resource("/subscriptions/{id}/confirm")
            .route(web::get().to(confirm_page))
            .route(web::post().to(confirm)),
    )
    .service(
        web::resource("/subscriptions/{id}/unsubscribe")
            .route(web::get().to(unsubscribe_page))
            .route(web::post().to(unsubscribe)),
    );
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    Form::query(req).to_map()
}

fn layout(snapshot: &Snapshot) -> Layout {
    Layout::new(
        &snapshot.page.name,
        PageZone::parse(&snapshot.page.time_zone).unwrap_or_else(PageZone::utc),
    )
}

fn html_response(
    status: StatusCode,
    template: &impl Template,
    cookie: Option<actix_web::cookie::Cookie<'static>>,
) -> Result<HttpResponse, HtmlError> {
    let body = template
        .render()
        .map_err(|e| HtmlError::from(ApiError::Internal(e.into())))?;
    let mut builder = HttpResponse::build(status);
    builder
        .content_type("text/html; charset=utf-8")
        // Forms carry per-visitor tokens: never keep them in a shared cache.
        .insert_header(("Cache-Control", "no-store"))
        // These pages change subscriptions: no other site may frame them.
        .insert_header(("Content-Security-Policy", "frame-ancestors 'none'"));
    if let Some(cookie) = cookie {
        builder.cookie(cookie);
    }
    Ok(builder.body(body))
}

fn message(snapshot: &Snapshot, heading: &'static str, paragraphs: &[&str]) -> MessagePage {
    MessagePage {
        layout: layout(snapshot),
        heading,
        paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
        form: None,
        link: None,
    }
}

/// What a visitor typed, to show the form again.
struct Typed {
    email: String,
    all_components: bool,
    chosen: Vec<String>,
}

fn subscribe_page(snapshot: &Snapshot, csrf: String, typed: &Typed) -> SubscribePage {
    SubscribePage {
        layout: layout(snapshot),
        csrf,
        email: typed.email.clone(),
        email_error: None,
        error: None,
        all_components: typed.all_components,
        choice_error: None,
        choices: choices(&snapshot.tree, &typed.chosen),
    }
}

async fn subscribe_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let (token, cookie) = csrf::token_for(&req, state.https());
    let typed = Typed {
        email: String::new(),
        all_components: true,
        chosen: Vec::new(),
    };
    html_response(
        StatusCode::OK,
        &subscribe_page(&snapshot, token, &typed),
        cookie,
    )
}

async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Bytes,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let form = Form::parse(&body);
    let typed = Typed {
        email: form
            .get("email")
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect(),
        all_components: form.get("scope") != Some("chosen"),
        chosen: form.all("component_ids"),
    };
    let (token, cookie) = csrf::token_for(&req, state.https());
    let mut page = subscribe_page(&snapshot, token, &typed);

    if !csrf::verify(&req, form.get(csrf::FIELD), state.https()) {
        page.error = Some("This form has expired. Please submit it again.".to_owned());
        return html_response(StatusCode::FORBIDDEN, &page, cookie);
    }
    if let Some(ip) = state.client_ip(&req) {
        if state.subscribe_limiter.check_key(&ip).is_err() {
            page.error = Some(
                "Too many requests from your address. Please try again in a minute.".to_owned(),
            );
            return html_response(StatusCode::TOO_MANY_REQUESTS, &page, cookie);
        }
    }
    let thanks = message(
        &snapshot,
        "Check your inbox",
        &["If this address can receive updates, a message is on its way. Open the link in it to confirm your subscription."],
    );
    // The honeypot: people leave it empty, bots fill it in. Bots are thanked, nothing more.
    if form.get("website").is_some_and(|v| !v.is_empty()) {
        return html_response(StatusCode::OK, &thanks, cookie);
    }
    let email = match SubscriberEmail::parse("Email address", &typed.email) {
        Ok(email) => email,
        Err(e) => {
            page.email_error = Some(e.to_string());
            return html_response(StatusCode::UNPROCESSABLE_ENTITY, &page, cookie);
        }
    };
    if !typed.all_components && typed.chosen.is_empty() {
        page.choice_error = Some("Choose at least one component, or every component.".to_owned());
        return html_response(StatusCode::UNPROCESSABLE_ENTITY, &page, cookie);
    }
    let new = NewSubscription {
        email,
        component_ids: (!typed.all_components).then(|| typed.chosen.clone()),
        skip_confirmation: false,
    };
    match public_store(&state).subscribe(&new, Stamp::Clock).await {
        // The same answer whatever the address's state: nobody learns who is subscribed.
        Ok(_) => html_response(StatusCode::OK, &thanks, cookie),
        Err(StoreError::Invalid(e)) => {
            page.choice_error = Some(format!(
                "{}: choose among the components listed.",
                e.message
            ));
            html_response(StatusCode::UNPROCESSABLE_ENTITY, &page, cookie)
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

fn invalid_link(snapshot: &Snapshot) -> Result<HttpResponse, HtmlError> {
    html_response(
        StatusCode::NOT_FOUND,
        &message(snapshot, "This link is not valid", &["It may have expired or been used already. You can subscribe again from the status page."]),
        None,
    )
}

/// The confirmation link's parts, when genuine and not expired.
fn confirmation(
    state: &AppState,
    id: &str,
    q: &HashMap<String, String>,
) -> Option<(String, i64, String)> {
    let nonce = q.get("nonce")?;
    let expires: i64 = q.get("expires")?.parse().ok()?;
    let token = q.get("token")?;
    state
        .links
        .verify_confirm(id, nonce, expires, token, time::now())
        .then(|| (nonce.clone(), expires, token.clone()))
}

async fn confirm_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let id = path.into_inner();
    let Some((nonce, expires, token)) = confirmation(&state, &id, &query(&req)) else {
        return invalid_link(&snapshot);
    };
    let (csrf_token, cookie) = csrf::token_for(&req, state.https());
    let mut page = message(
        &snapshot,
        "Confirm your subscription",
        &["Press the button to start receiving status updates."],
    );
    page.form = Some(HiddenForm {
        action: format!("/subscriptions/{id}/confirm"),
        hidden: vec![
            ("nonce".to_owned(), nonce),
            ("expires".to_owned(), expires.to_string()),
            ("token".to_owned(), token),
            (csrf::FIELD.to_owned(), csrf_token),
        ],
        button: "Confirm subscription",
    });
    html_response(StatusCode::OK, &page, cookie)
}

async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let id = path.into_inner();
    let form = Form::parse(&body);
    let fields: HashMap<String, String> = form.to_map();
    let Some((nonce, _, _)) = confirmation(&state, &id, &fields) else {
        return invalid_link(&snapshot);
    };
    if !csrf::verify(&req, form.get(csrf::FIELD), state.https()) {
        return html_response(
            StatusCode::FORBIDDEN,
            &message(
                &snapshot,
                "Please try again",
                &["This form has expired. Open the link from the mail again."],
            ),
            None,
        );
    }
    match public_store(&state)
        .confirm_subscriber(&id, &nonce, Stamp::Clock)
        .await
    {
        Ok(_) => {
            let mut page = message(
                &snapshot,
                "You are subscribed",
                &["You will get an email when the components you chose are affected."],
            );
            page.link = Some(Link {
                url: format!(
                    "/subscriptions/{id}?token={}",
                    state.links.manage_token(&id)
                ),
                name: "Change what you hear about".to_owned(),
            });
            html_response(StatusCode::OK, &page, None)
        }
        Err(StoreError::NotFound(_)) => invalid_link(&snapshot),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// The subscriber a manage or unsubscribe link names, when its token is genuine.
async fn linked_subscriber(
    state: &AppState,
    id: &str,
    req: &HttpRequest,
) -> Result<Option<crate::store::Subscriber>, HtmlError> {
    let token = query(req).remove("token").unwrap_or_default();
    if !state.links.verify_manage(id, &token) {
        return Ok(None);
    }
    match state.store.get_subscriber(id).await {
        Ok(s) => Ok(Some(s)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

fn manage(
    snapshot: &Snapshot,
    state: &AppState,
    subscriber: &crate::store::Subscriber,
    csrf: String,
) -> ManagePage {
    let id = &subscriber.row.id;
    let token = state.links.manage_token(id);
    ManagePage {
        layout: layout(snapshot),
        csrf,
        email: subscriber.row.email.clone(),
        state: subscriber.row.state().as_str(),
        active: subscriber.row.state() == SubscriberState::Active,
        notice: None,
        error: None,
        all_components: subscriber.row.all_components,
        choice_error: None,
        choices: choices(&snapshot.tree, &subscriber.component_ids),
        save_action: format!("/subscriptions/{id}?token={token}"),
        unsubscribe_action: format!("/subscriptions/{id}/unsubscribe?token={token}"),
    }
}

async fn manage_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let Some(subscriber) = linked_subscriber(&state, &path, &req).await? else {
        return invalid_link(&snapshot);
    };
    let (token, cookie) = csrf::token_for(&req, state.https());
    let mut page = manage(&snapshot, &state, &subscriber, token);
    if !page.active {
        page.notice = Some(
            "You receive no updates. Subscribe again from the status page to start over."
                .to_owned(),
        );
    }
    html_response(StatusCode::OK, &page, cookie)
}

async fn save_choice(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let Some(subscriber) = linked_subscriber(&state, &path, &req).await? else {
        return invalid_link(&snapshot);
    };
    let form = Form::parse(&body);
    let (token, cookie) = csrf::token_for(&req, state.https());
    let all = form.get("scope") != Some("chosen");
    let chosen = form.all("component_ids");
    let mut page = manage(&snapshot, &state, &subscriber, token);
    page.all_components = all;
    page.choices = choices(&snapshot.tree, &chosen);
    if !csrf::verify(&req, form.get(csrf::FIELD), state.https()) {
        page.error = Some("This form has expired. Please save again.".to_owned());
        return html_response(StatusCode::FORBIDDEN, &page, cookie);
    }
    if !all && chosen.is_empty() {
        page.choice_error = Some("Choose at least one component, or every component.".to_owned());
        return html_response(StatusCode::UNPROCESSABLE_ENTITY, &page, cookie);
    }
    match public_store(&state)
        .update_subscriber_components(
            &subscriber.row.id,
            (!all).then_some(chosen.as_slice()),
            Stamp::Clock,
        )
        .await
    {
        Ok(updated) => {
            let (token, _) = csrf::token_for(&req, state.https());
            let mut page = manage(&snapshot, &state, &updated, token);
            page.notice = Some("Saved.".to_owned());
            html_response(StatusCode::OK, &page, cookie)
        }
        Err(StoreError::Invalid(e)) => {
            page.choice_error = Some(format!(
                "{}: choose among the components listed.",
                e.message
            ));
            html_response(StatusCode::UNPROCESSABLE_ENTITY, &page, cookie)
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// GET shows a button: mail scanners follow links, and must not unsubscribe anyone.
async fn unsubscribe_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let Some(subscriber) = linked_subscriber(&state, &path, &req).await? else {
        return invalid_link(&snapshot);
    };
    let id = &subscriber.row.id;
    let mut page = message(
        &snapshot,
        "Unsubscribe",
        &["Press the button to stop all status updates to this address."],
    );
    page.form = Some(HiddenForm {
        action: format!(
            "/subscriptions/{id}/unsubscribe?token={}",
            state.links.manage_token(id)
        ),
        hidden: Vec::new(),
        button: "Unsubscribe",
    });
    html_response(StatusCode::OK, &page, None)
}

/// RFC 8058 one-click: a POST with the signed link unsubscribes, no cookie or CSRF
/// token needed (mail clients send it without either). Doing it twice is harmless.
async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let snapshot = Snapshot::load(&state).await?;
    let Some(subscriber) = linked_subscriber(&state, &path, &req).await? else {
        return invalid_link(&snapshot);
    };
    public_store(&state)
        .unsubscribe(&subscriber.row.id, Stamp::Clock)
        .await
        .map_err(ApiError::from)?;
    html_response(
        StatusCode::OK,
        &message(&snapshot, "You are unsubscribed", &["You will get no more status updates. You can subscribe again from the status page at any time."]),
        None,
    )
}

/// Visitors change only their own subscription; the audit log records them as such.
fn public_store(state: &AppState) -> crate::store::Store {
    state.store.acting_as(crate::domain::account::Actor::Public)
}
