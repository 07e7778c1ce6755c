//! The console under `/admin`: server-rendered forms for the people who run
//! incidents. Every handler is thin: it reads the form, calls the same domain and
//! store code as the `/v1` API (through a store that records the signed-in person in
//! the audit log), and renders a page or redirects (POST, then redirect, then GET).
//!
//! Each request passes through [`Console`] (signed in, session still valid); every
//! POST handler first reads its form with [`Console::form`], which refuses a missing
//! or wrong CSRF token, then calls [`Console::require`] for its permission. Templates
//! only show what [`Nav`] says the role may do; the server refuses the rest anyway.

pub mod audit;
pub mod components;
pub mod dashboard;
pub mod incidents;
pub mod keys;
pub mod postmortems;
pub mod session;
pub mod settings;
pub mod subscribers;
pub mod users;

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use super::error::ApiError;
use super::form::Form;
use super::{csrf, AppState};
use crate::domain::account::{Actor, Permission, Role};
use crate::render::assets::assets;
use crate::store::{PageRow, Store, StoreError, UserRow};
use crate::time::PageZone;

pub use crate::web::site::HTML;

/// How long a sign-in lasts, whatever the browser does with the cookie.
pub const SESSION_HOURS: i64 = 12;

/// The one-line message shown once on the next page after a change ("Saved").
const NOTICE_COOKIE: &str = "herald_notice";

pub fn routes(cfg: &mut web::ServiceConfig) {
    session::routes(cfg);
    dashboard::routes(cfg);
    incidents::routes(cfg);
    postmortems::routes(cfg);
    components::routes(cfg);
    subscribers::routes(cfg);
    keys::routes(cfg);
    users::routes(cfg);
    audit::routes(cfg);
    settings::routes(cfg);
}

/// What went wrong in a console request, as the browser should see it.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in (or the session ended): to the sign-in form, then back here.
    #[error("sign in first")]
    SignIn { next: String },
    /// Signed in, but the role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// A POST without the form's token: nothing was changed.
    #[error("the form's security token is missing or out of date")]
    Csrf,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ConsoleError::NotFound(what.to_owned()),
            StoreError::Invalid(e) => ConsoleError::BadRequest(e.to_string()),
            other => ConsoleError::Internal(other.into()),
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(what) => ConsoleError::NotFound(what),
            ApiError::Internal(cause) => ConsoleError::Internal(cause),
            other => ConsoleError::BadRequest(other.to_string()),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Internal(e.into())
    }
}

#[derive(Template)]
#[template(path = "admin/problem.html")]
struct ProblemPage<'a> {
    heading: &'a str,
    message: String,
    css_url: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (heading, message) = match self {
            ConsoleError::SignIn { next } => {
                let to = format!(
                    "/admin/sign-in?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to))
                    .finish();
            }
            ConsoleError::Forbidden => (
                "Not allowed",
                "Your role may not do this. Ask an admin.".to_owned(),
            ),
            ConsoleError::Csrf => (
                "Form expired",
                "Nothing was changed: the form's security token was missing or out of date. \
                 Go back, reload the page and try again."
                    .to_owned(),
            ),
            ConsoleError::NotFound(what) => ("Not found", format!("There is no such {what}.")),
            ConsoleError::BadRequest(why) => ("Cannot do that", why.clone()),
            ConsoleError::Internal(cause) => {
                tracing::error!(error = ?cause, "console request failed");
                (
                    "Something went wrong",
                    "Herald could not do this; the details are in its log.".to_owned(),
                )
            }
        };
        let page = ProblemPage {
            heading,
            message,
            css_url: &assets().css.url,
        };
        let body = page.render().unwrap_or_else(|_| heading.to_owned());
        HttpResponse::build(self.status_code())
            .content_type(HTML)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body)
    }
}

pub type ConsoleResult = Result<HttpResponse, ConsoleError>;

/// The links of the console's navigation the signed-in role may follow.
#[derive(Debug, Clone)]
pub struct Nav {
    pub components: bool,
    pub subscribers: bool,
    pub api_keys: bool,
    pub users: bool,
    pub audit: bool,
    pub settings: bool,
}

impl Nav {
    pub fn for_role(role: Role) -> Nav {
        Nav {
            components: role.can(Permission::EditComponents),
            subscribers: role.can(Permission::ManageSubscribers),
            api_keys: role.can(Permission::ManageApiKeys),
            users: role.can(Permission::ManageUsers),
            audit: role.can(Permission::ReadAuditLog),
            settings: role.can(Permission::EditPageSettings),
        }
    }
}

/// The frame of every console page: who is signed in, the form token, the notice.
pub struct AdminLayout {
    pub title: String,
    pub page_name: String,
    pub zone_label: String,
    pub email: String,
    pub role: String,
    pub nav: Nav,
    /// The CSRF token every form carries in its `csrf` field.
    pub csrf: String,
    pub notice: Option<String>,
    /// Which navigation entry is current ("dashboard", "incidents", ...).
    pub section: &'static str,
    pub css_url: String,
    pub js_url: String,
    pub favicon_url: String,
}

/// A signed-in request: the person, their role, and a store that records their
/// changes in the audit log. Taking it as an argument is what makes a handler
/// need a sign-in.
pub struct Console {
    pub user: UserRow,
    pub role: Role,
    pub store: Store,
    pub page: PageRow,
    pub zone: PageZone,
    csrf: String,
    csrf_cookie: Option<Cookie<'static>>,
    notice: Option<String>,
    secure: bool,
}

impl Console {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.can(permission)
    }

    /// Refuses the request unless the role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }

    pub fn layout(&self, title: impl Into<String>, section: &'static str) -> AdminLayout {
        let a = assets();
        AdminLayout {
            title: title.into(),
            page_name: self.page.name.clone(),
            zone_label: self.zone.tz().name().to_owned(),
            email: self.user.email.clone(),
            role: self.role.as_str().to_owned(),
            nav: Nav::for_role(self.role),
            csrf: self.csrf.clone(),
            notice: self.notice.clone(),
            section,
            css_url: a.css.url.clone(),
            js_url: a.js.url.clone(),
            favicon_url: a.favicon.url.clone(),
        }
    }

    /// "2026-11-26 07:40 UTC", in the page's zone.
    pub fn time(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&self.zone.tz())
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// A rendered page (200, or the status given, e.g. 422 for a form with errors).
    pub fn render(&self, status: StatusCode, template: &impl Template) -> ConsoleResult {
        let body = template.render()?;
        let mut response = HttpResponse::build(status);
        response
            .content_type(HTML)
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(cookie) = &self.csrf_cookie {
            response.cookie(cookie.clone());
        }
        if self.notice.is_some() {
            let mut gone = Cookie::build(NOTICE_COOKIE, "").path("/admin").finish();
            gone.make_removal();
            response.cookie(gone);
        }
        Ok(response.body(body))
    }

    pub fn page(&self, template: &impl Template) -> ConsoleResult {
        self.render(StatusCode::OK, template)
    }

    /// After a change: to `to`, with a one-line notice shown there once.
    pub fn done(&self, to: &str, notice: &str) -> ConsoleResult {
        Ok(redirect_with_notice(to, notice, self.secure))
    }

    /// Reads a POSTed form and checks its CSRF token; without a valid one the
    /// request stops here and nothing changes.
    pub fn form(&self, req: &HttpRequest, body: &Bytes) -> Result<Form, ConsoleError> {
        checked_form(req, body)
    }
}

/// A POSTed form whose CSRF token matches its cookie.
pub fn checked_form(req: &HttpRequest, body: &Bytes) -> Result<Form, ConsoleError> {
    let form = Form::parse(body);
    let https = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.https());
    if csrf::verify(req, form.get(csrf::FIELD), https) {
        Ok(form)
    } else {
        Err(ConsoleError::Csrf)
    }
}

pub fn redirect_with_notice(to: &str, notice: &str, secure: bool) -> HttpResponse {
    let cookie = Cookie::build(
        NOTICE_COOKIE,
        form_urlencoded::byte_serialize(notice.as_bytes()).collect::<String>(),
    )
    .path("/admin")
    .http_only(true)
    .same_site(SameSite::Lax)
    .secure(secure)
    .max_age(CookieDuration::minutes(5))
    .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .cookie(cookie)
        .finish()
}

fn read_notice(req: &HttpRequest) -> Option<String> {
    let raw = req.cookie(NOTICE_COOKIE)?;
    let text: String = form_urlencoded::parse(format!("n={}", raw.value()).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (!text.is_empty()).then(|| text.chars().take(300).collect())
}

/// What the session cookie holds: its own random id (listed in `ended_sessions` once
/// signed out), who, since when, and the account's session generation then (a
/// password change bumps it, ending every older session).
mod keys_in_session {
    pub const ID: &str = "id";
    pub const USER: &str = "user";
    pub const GENERATION: &str = "generation";
    pub const SIGNED_IN_AT: &str = "signed_in_at";
}

/// Starts a session for `user` after a good password: a fresh cookie (never the one
/// the browser came with, so a planted session id is worthless).
pub fn start_session(session: &Session, user: &UserRow) -> Result<(), ConsoleError> {
    session.renew();
    let insert = |key: &str, value: String| {
        session
            .insert(key, value)
            .map_err(|e| ConsoleError::Internal(anyhow::anyhow!("session: {e}")))
    };
    insert(keys_in_session::ID, crate::domain::ids::new_secret())?;
    insert(keys_in_session::USER, user.id.clone())?;
    insert(
        keys_in_session::GENERATION,
        user.session_generation.to_string(),
    )?;
    insert(
        keys_in_session::SIGNED_IN_AT,
        crate::time::now().timestamp().to_string(),
    )?;
    Ok(())
}

/// The account a session belongs to, if the session is still good: not expired,
/// the account still there, and its password not changed since.
pub async fn session_user(
    session: &Session,
    store: &Store,
) -> Result<Option<UserRow>, ConsoleError> {
    let get = |key: &str| session.get::<String>(key).ok().flatten();
    let (Some(session_id), Some(id), Some(generation), Some(signed_in_at)) = (
        get(keys_in_session::ID),
        get(keys_in_session::USER),
        get(keys_in_session::GENERATION),
        get(keys_in_session::SIGNED_IN_AT),
    ) else {
        return Ok(None);
    };
    let Ok(signed_in_at) = signed_in_at.parse::<i64>() else {
        return Ok(None);
    };
    let age = crate::time::now().timestamp() - signed_in_at;
    if !(0..SESSION_HOURS * 3600).contains(&age) || store.session_ended(&session_id).await? {
        session.purge();
        return Ok(None);
    }
    let user = match store.get_user(&id).await {
        Ok(user) => user,
        Err(StoreError::NotFound(_)) => {
            session.purge();
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if user.session_generation.to_string() != generation {
        session.purge();
        return Ok(None);
    }
    Ok(Some(user))
}

/// Signs the session out for good: a copy of its cookie is refused from now on.
pub async fn end_session(session: &Session, store: &Store) -> Result<(), ConsoleError> {
    let get = |key: &str| session.get::<String>(key).ok().flatten();
    if let (Some(id), Some(signed_in_at)) = (
        get(keys_in_session::ID),
        get(keys_in_session::SIGNED_IN_AT).and_then(|t| t.parse::<i64>().ok()),
    ) {
        let expires_at = chrono::DateTime::from_timestamp(signed_in_at + SESSION_HOURS * 3600, 0)
            .unwrap_or_else(crate::time::now);
        store
            .end_session(&id, expires_at, crate::time::Stamp::Clock)
            .await?;
    }
    session.purge();
    Ok(())
}

/// Where to go back to after signing in: only a path inside the console.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/admin")
                && !path.starts_with("//")
                && !path.contains('\\')
                // A control character cannot go in a Location header.
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/admin".to_owned(),
    }
}

impl FromRequest for Console {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ConsoleError::Internal(anyhow::anyhow!("app state missing")))?;
            let session = req.get_session();
            let next = match req.method().as_str() {
                // After signing in, a POST cannot be replayed: back to where it was sent from.
                "GET" => req.uri().to_string(),
                _ => "/admin".to_owned(),
            };
            let Some(user) = session_user(&session, &state.store).await? else {
                return Err(ConsoleError::SignIn { next });
            };
            let secure = state.https();
            let (csrf, csrf_cookie) = csrf::token_for(&req, secure);
            let page = state.store.page().await?;
            let zone = PageZone::parse(&page.time_zone).unwrap_or_else(PageZone::utc);
            let role = user.role();
            let store = state.store.acting_as(Actor::User {
                email: user.email.clone(),
            });
            Ok(Console {
                notice: read_notice(&req),
                user,
                role,
                store,
                page,
                zone,
                csrf,
                csrf_cookie,
                secure,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/admin/incidents/x")), "/admin/incidents/x");
        assert_eq!(safe_next(Some("https://evil.example/admin")), "/admin");
        assert_eq!(safe_next(Some("//evil.example")), "/admin");
        assert_eq!(safe_next(Some("/admin\\@evil")), "/admin");
        assert_eq!(safe_next(Some("/admin\u{1}")), "/admin");
        assert_eq!(safe_next(Some("/admin\n")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }

    #[test]
    fn responders_see_only_incident_work() {
        let nav = Nav::for_role(Role::Responder);
        assert!(!nav.components && !nav.subscribers && !nav.api_keys && !nav.users && !nav.audit);
        let nav = Nav::for_role(Role::Admin);
        assert!(nav.components && nav.subscribers && nav.api_keys && nav.users && nav.audit);
    }
}
