//! Signing in and out, and holding back password guessing.
//!
//! Sessions live in a cookie that is encrypted and authenticated (AES-256-GCM, by
//! actix-session's cookie store) with a key kept in the database, so every instance
//! reads every other's cookies and a restart signs nobody out. The cookie is
//! `HttpOnly`, `SameSite=Lax`, `Secure` when the public URL is https, and its
//! content carries the sign-in time, which is checked on every request: a session
//! ends after [`super::SESSION_HOURS`] however long a browser keeps the cookie.
//!
//! Wrong passwords are counted per account (the address typed, whether or not it
//! has an account) and per client address, in the database so that every instance
//! sees them. Each failure after the first is answered more slowly; past a limit the
//! account or address is held back for a while, correct password or not. The answer
//! never says whether an account exists.

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{time::Duration as CookieDuration, Key, SameSite};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Duration, Utc};

use super::{checked_form, safe_next, session_user, ConsoleError};
use super::{ConsoleResult, HTML, SESSION_HOURS};
use crate::domain::account::Actor;
use crate::render::assets::assets;
use crate::store::Store;
use crate::time::Stamp;
use crate::web::{csrf, AppState};

pub const COOKIE: &str = "herald_session";

/// Failures are counted over this window; an older first failure starts afresh.
const FAILURE_WINDOW_MINUTES: i64 = 60;
/// Failures for one account before it is held back.
pub const ACCOUNT_LIMIT: i64 = 5;
/// Failures from one address before it is held back (higher: an office shares one).
pub const ADDRESS_LIMIT: i64 = 20;
/// How long a hold lasts.
pub const HOLD_MINUTES: i64 = 15;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sign-in")
            .route(web::get().to(sign_in_form))
            .route(web::post().to(sign_in)),
    )
    .service(web::resource("/sign-out").route(web::post().to(sign_out)));
}

/// The session cookie's middleware for the `/admin` scope.
pub fn middleware(key: Key, secure: bool) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(COOKIE.to_owned())
        .cookie_path("/admin".to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            PersistentSession::default().session_ttl(CookieDuration::hours(SESSION_HOURS)),
        )
        .build()
}

/// The session key, derived from a random secret the database keeps.
pub async fn key(store: &Store) -> anyhow::Result<Key> {
    let secret = store.secret("sessions").await?;
    Ok(Key::derive_from(secret.as_bytes()))
}

#[derive(Template)]
#[template(path = "admin/sign_in.html")]
struct SignInPage {
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
    csrf: String,
    css_url: String,
    favicon_url: String,
    page_name: String,
}

async fn render_form(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: String,
    next: String,
    error: Option<String>,
) -> ConsoleResult {
    let (csrf, cookie) = csrf::token_for(req, state.https());
    let page_name = state.store.page().await?.name;
    let page = SignInPage {
        email,
        next,
        error,
        notice: req
            .query_string()
            .contains("signed_out=1")
            .then(|| "You are signed out.".to_owned()),
        csrf,
        css_url: assets().css.url.clone(),
        favicon_url: assets().favicon.url.clone(),
        page_name,
    };
    let mut response = HttpResponse::build(status);
    response
        .content_type(HTML)
        .insert_header(("Cache-Control", "no-store"));
    if let Some(cookie) = cookie {
        response.cookie(cookie);
    }
    Ok(response.body(page.render()?))
}

async fn sign_in_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> ConsoleResult {
    let next = safe_next(crate::web::form::Form::query(&req).get("next"));
    if session_user(&session, &state.store).await?.is_some() {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", next))
            .finish());
    }
    render_form(&req, &state, StatusCode::OK, String::new(), next, None).await
}

/// The keys failures are counted under.
fn failure_keys(email: &str, client: Option<std::net::IpAddr>) -> (String, Option<String>) {
    let account = format!("account:{}", email.trim().to_lowercase());
    let address = client.map(|ip| format!("address:{ip}"));
    (account, address)
}

/// Until when sign-ins for these keys are held back, if they are now.
async fn held_until(store: &Store, keys: &[String]) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    let now = crate::time::now();
    Ok(store
        .sign_in_failures(keys)
        .await?
        .into_iter()
        .filter_map(|row| row.held_until)
        .filter(|until| *until > now)
        .max())
}

/// The pause before answering a wrong password: none for the first, then a quarter
/// of a second more for each, up to two seconds.
fn slow_down(failures: i64) -> std::time::Duration {
    let quarters = (failures - 1).clamp(0, 8) as u64;
    std::time::Duration::from_millis(250 * quarters)
}

fn held_message(until: DateTime<Utc>) -> String {
    format!(
        "Too many failed sign-ins for this account or from this address. \
         Try again after {}.",
        until.format("%H:%M UTC")
    )
}

async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: Bytes,
) -> ConsoleResult {
    let form = checked_form(&req, &body)?;
    let email = form.text("email").trim().to_owned();
    let typed = form.text("password");
    let next = safe_next(form.get("next"));
    let (account_key, address_key) = failure_keys(&email, state.client_ip(&req));
    let mut limits = vec![(account_key.clone(), ACCOUNT_LIMIT)];
    limits.extend(address_key.clone().map(|key| (key, ADDRESS_LIMIT)));
    let keys: Vec<String> = limits.iter().map(|(key, _)| key.clone()).collect();

    // The attempt counts before the password is checked: guesses sent all at once
    // are counted one after another, and those past the limit are never checked.
    let attempt = state
        .store
        .count_sign_in_attempt(
            &limits,
            Duration::minutes(FAILURE_WINDOW_MINUTES),
            Duration::minutes(HOLD_MINUTES),
            Stamp::Clock,
        )
        .await?;
    if let Some(until) = attempt.held_until {
        let error = Some(held_message(until));
        let status = StatusCode::TOO_MANY_REQUESTS;
        return render_form(&req, &state, status, email, next, error).await;
    }

    let user = state
        .store
        .find_user_by_email(&email.to_lowercase())
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let good = web::block(move || match hash {
        Some(hash) => crate::password::verify(&typed, &hash),
        None => {
            crate::password::verify_against_nothing(&typed);
            false
        }
    })
    .await
    .map_err(|e| ConsoleError::Internal(e.into()))?;

    match user {
        Some(user) if good => {
            // A right password: the account starts afresh, and the address's count
            // takes this attempt back.
            state
                .store
                .clear_sign_in_failures(std::slice::from_ref(&account_key))
                .await?;
            if let Some(address_key) = &address_key {
                state.store.forgive_sign_in_attempt(address_key).await?;
            }
            start_session_and_note(&session, &state.store, &user).await?;
            Ok(HttpResponse::SeeOther()
                .insert_header(("Location", next))
                .finish())
        }
        _ => {
            tokio::time::sleep(slow_down(attempt.attempts)).await;
            let (error, status) = match held_until(&state.store, &keys).await? {
                Some(until) => (held_message(until), StatusCode::TOO_MANY_REQUESTS),
                None => (
                    "That email and password do not match an account.".to_owned(),
                    StatusCode::UNAUTHORIZED,
                ),
            };
            render_form(&req, &state, status, email, next, Some(error)).await
        }
    }
}

async fn start_session_and_note(
    session: &Session,
    store: &Store,
    user: &crate::store::UserRow,
) -> Result<(), ConsoleError> {
    super::start_session(session, user)?;
    store
        .acting_as(Actor::User {
            email: user.email.clone(),
        })
        .note_sign_in(&user.id, Stamp::Clock)
        .await?;
    Ok(())
}

async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: Bytes,
) -> ConsoleResult {
    checked_form(&req, &body)?;
    super::end_session(&session, &state.store).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/admin/sign-in?signed_out=1"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_down_then_hold() {
        assert_eq!(slow_down(1), std::time::Duration::ZERO);
        assert_eq!(slow_down(3), std::time::Duration::from_millis(500));
        assert_eq!(slow_down(100), std::time::Duration::from_secs(2));
        const { assert!(ACCOUNT_LIMIT < ADDRESS_LIMIT) };
    }
}
