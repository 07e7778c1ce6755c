//! actix-web: the app factory, the two APIs, and the server's start and stop.

pub mod admin;
pub mod api_v1;
pub mod api_v2;
pub mod auth;
pub mod body;
pub mod csrf;
pub mod error;
pub mod form;
pub mod json;
pub mod site;
pub mod subscriptions;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Serialize;

use crate::config::Settings;
use crate::content;
use crate::notify::links::LinkSigner;
use crate::notify::worker::Worker;
use crate::render::cache::PageCache;
use crate::store::{ComponentTree, PageRow, Store};
use error::ApiError;
use json::View;

/// Shared by every request.
pub struct AppState {
    pub store: Store,
    /// Public URL of the status page, without a trailing slash.
    pub base_url: String,
    /// Ready responses of the public site and `/api/v2`.
    pub cache: PageCache,
    /// Signs and checks the links in subscriber mails.
    pub links: LinkSigner,
    /// Subscribe requests per client address.
    pub subscribe_limiter: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Whether the client's address is the last one in `X-Forwarded-For`.
    pub behind_proxy: bool,
}

impl AppState {
    /// Whether cookies must be `Secure`: when the public URL is https.
    pub fn https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    pub fn client_ip(&self, req: &HttpRequest) -> Option<std::net::IpAddr> {
        client_ip(req, self.behind_proxy)
    }
}

/// The address of the client that sent `req`: the connection's peer, or behind a
/// proxy the address the proxy appended last to `X-Forwarded-For` (earlier ones are
/// whatever the client claimed, and are ignored).
pub fn client_ip(req: &HttpRequest, behind_proxy: bool) -> Option<std::net::IpAddr> {
    if behind_proxy {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse().ok())
            .last();
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The page and its components, read once per request that renders objects.
pub struct Snapshot {
    pub page: PageRow,
    pub tree: ComponentTree,
}

impl Snapshot {
    pub async fn load(state: &AppState) -> Result<Snapshot, ApiError> {
        Ok(Snapshot {
            page: state.store.page().await?,
            tree: state.store.list_components().await?,
        })
    }

    pub fn view<'a>(&'a self, state: &'a AppState) -> View<'a> {
        View::new(&self.page, &self.tree, &state.base_url)
    }
}

pub fn json_response<T: Serialize + ?Sized>(value: &T) -> Result<HttpResponse, ApiError> {
    json_status(StatusCode::OK, value)
}

pub fn json_status<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .body(body))
}

/// A running server bound to its port (port 0 in tests picks a free one).
pub struct Application {
    port: u16,
    server: Server,
    worker: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    pub state: web::Data<AppState>,
}

/// The delivery worker for these settings: SMTP when configured, else `.eml` files.
pub async fn build_worker(
    settings: &Settings,
    store: &Store,
    links: LinkSigner,
) -> anyhow::Result<Worker> {
    let transport = crate::notify::Transport::new(
        settings.smtp_url.as_deref(),
        &settings.data_dir.join("outbox"),
        std::time::Duration::from_secs(30),
        MAIL_CONNECTIONS,
    )?;
    let composer = crate::notify::compose::Composer {
        from_address: settings.mail_from.parse()?,
        reply_to: settings
            .mail_reply_to
            .as_deref()
            .map(str::parse)
            .transpose()?,
        links,
    };
    Ok(Worker::new(
        store.clone(),
        composer,
        transport,
        settings.mail_rate,
        MAIL_CONNECTIONS as usize,
    ))
}

/// SMTP connections kept open, and mails in flight at once. lettre 0.11 does not set
/// TCP_NODELAY, so each mail waits ~40 ms on Nagle's algorithm and delayed ACKs:
/// throughput grows with the number of connections, not with CPU.
const MAIL_CONNECTIONS: u32 = 16;

/// The public URL: the setting, else site.toml's, else the listening address.
pub fn public_url(settings: &Settings, site_url: Option<String>, listening: &str) -> String {
    settings
        .base_url
        .clone()
        .or(site_url)
        .unwrap_or_else(|| format!("http://{listening}"))
}

impl Application {
    /// Connects the store (applying migrations), syncs `content/`, and binds.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let store = Store::connect(&settings.database_url).await?;
        let site = content::sync(&store, &settings.content_dir).await?;
        let listener = TcpListener::bind(&settings.bind).map_err(|e| {
            anyhow::anyhow!("could not listen on {} (HERALD_BIND): {e}", settings.bind)
        })?;
        let address = listener.local_addr()?;
        let base_url = public_url(settings, site.public_url, &address.to_string());
        tracing::info!(%address, %base_url, backend = store.backend_name(), "herald is listening");
        let links = LinkSigner::new(&store.secret("links").await?, &base_url);
        let worker = if settings.run_worker {
            let worker = build_worker(settings, &store, links.clone()).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            Some((stop, tokio::spawn(worker.run(stopped))))
        } else {
            None
        };
        let state = web::Data::new(AppState {
            store,
            base_url,
            cache: PageCache::default(),
            links,
            // Five at once, then one every 12 seconds: plenty for a person, little for a bot.
            subscribe_limiter: governor::RateLimiter::keyed(
                governor::Quota::per_minute(std::num::NonZeroU32::MIN.saturating_add(4))
                    .allow_burst(std::num::NonZeroU32::MIN.saturating_add(4)),
            ),
            behind_proxy: settings.behind_proxy,
        });
        state.store.spawn_change_listener();
        tokio::spawn(watch_external_changes(state.clone().into_inner()));
        let server_state = state.clone();
        let session_key = admin::session::key(&state.store).await?;
        let secure_cookies = state.https();
        let server = HttpServer::new(move || {
            let console = admin::session::middleware(session_key.clone(), secure_cookies);
            App::new()
                .app_data(server_state.clone())
                // Bodies up to 1 MiB reach the handlers, which then name the field
                // that is too long (a 100,000-character postmortem can be 400 KB).
                .app_data(web::PayloadConfig::new(body::BODY_LIMIT))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("malformed query string: {e}")).into()
                }))
                .configure(|cfg| configure(cfg, console))
                .wrap_fn(|req, srv| {
                    let method = req.method().clone();
                    let path = req.path().to_owned();
                    let started = Instant::now();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        log_request(&method, &path, res.status(), started);
                        Ok(res)
                    }
                })
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Application {
            port: address.port(),
            server,
            worker,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting, finishes in-flight requests,
    /// and lets the worker finish the round it is in.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some((stop, worker)) = self.worker {
            let _ = stop.send(true);
            if tokio::time::timeout(std::time::Duration::from_secs(30), worker)
                .await
                .is_err()
            {
                tracing::warn!("the delivery worker did not stop within 30 s");
            }
        }
        tracing::info!("herald stopped");
        served
    }
}

/// Routes and middleware; also used by tests that build the app in-process.
/// Every route. The console's scope gets the session middleware it is given.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    console: actix_session::SessionMiddleware<actix_session::storage::CookieSessionStore>,
) {
    cfg.service(web::scope("/admin").wrap(console).configure(admin::routes))
        .service(
            web::scope("/api/v2")
                .wrap_fn(|req, srv| {
                    // The Statuspage widget fetches cross-origin: every answer, errors
                    // included, carries the CORS header, and preflights get a 204.
                    let preflight = req.method() == Method::OPTIONS;
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if preflight {
                            *res.response_mut().status_mut() = StatusCode::NO_CONTENT;
                        }
                        res.headers_mut()
                            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                        Ok(res)
                    }
                })
                .configure(api_v2::routes)
                .default_service(web::to(api_not_found)),
        )
        .service(
            web::scope("/v1")
                .wrap_fn(|mut req, srv| {
                    // `.json` is optional on every management route: strip it before routing.
                    if let Some(stripped) = req.path().strip_suffix(".json") {
                        let uri = match req.query_string() {
                            "" => stripped.to_owned(),
                            query => format!("{stripped}?{query}"),
                        };
                        if let Ok(uri) = uri.parse::<Uri>() {
                            req.match_info_mut().get_mut().update(&uri);
                            req.head_mut().uri = uri;
                        }
                    }
                    srv.call(req)
                })
                .configure(api_v1::routes)
                .default_service(web::to(api_not_found)),
        )
        .route("/metrics", web::get().to(metrics))
        .configure(site::routes)
        .configure(subscriptions::routes)
        .default_service(web::to(not_found));
}

/// Prometheus text: the outbox's depth and age, and delivery counts.
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stats = state.store.outbox_stats().await?;
    let oldest_age = stats.oldest_queued_at.map_or(0.0, |at| {
        (crate::time::now() - at).num_milliseconds().max(0) as f64 / 1000.0
    });
    let lines = [
        (
            "herald_outbox_queued",
            "gauge",
            "Mails waiting to be sent.",
            stats.queued as f64,
        ),
        (
            "herald_outbox_events_waiting",
            "gauge",
            "Notifications not yet turned into mails.",
            stats.events_waiting as f64,
        ),
        (
            "herald_outbox_oldest_age_seconds",
            "gauge",
            "Age of the oldest waiting notification or mail.",
            oldest_age,
        ),
        (
            "herald_mail_sent_total",
            "counter",
            "Mails accepted by the mail server.",
            stats.sent as f64,
        ),
        (
            "herald_mail_failed_total",
            "counter",
            "Mails given up (refused for good, or the recipient left).",
            stats.failed as f64,
        ),
        (
            "herald_mail_retries_total",
            "counter",
            "Send attempts beyond the first.",
            stats.retries as f64,
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in lines {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// Changes committed by another process (a CLI command, another instance without
/// notifications) do not move this process's change count: poll the page's
/// `updated_at`, which every public change moves, and count a change whenever it
/// moved. This process's own changes then count twice, which costs one extra render;
/// skipping them could miss another process's change made in the same second.
async fn watch_external_changes(state: std::sync::Arc<AppState>) {
    let mut last_seen = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Ok(page) = state.store.page().await else {
            continue;
        };
        if last_seen.is_some_and(|seen| seen != page.updated_at) {
            state.store.note_external_change();
        }
        last_seen = Some(page.updated_at);
    }
}

/// Logs one line per request: method, path (never the query, which may hold an API
/// key), status and time taken.
fn log_request(method: &Method, path: &str, status: StatusCode, started: Instant) {
    tracing::info!(
        %method,
        path,
        status = status.as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}

async fn api_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return actix_web::ResponseError::error_response(&ApiError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    actix_web::ResponseError::error_response(&site::not_found_page(state).await)
}

#[cfg(test)]
mod client_ip_tests {
    use super::client_ip;
    use actix_web::test::TestRequest;

    #[test]
    fn behind_a_proxy_the_last_forwarded_address_counts() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:4000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.9, 198.51.100.7"))
            .to_http_request();
        assert_eq!(client_ip(&req, false), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(client_ip(&req, true), Some("198.51.100.7".parse().unwrap()));
        let direct = TestRequest::default()
            .peer_addr("10.0.0.2:4000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_ip(&direct, true), Some("10.0.0.2".parse().unwrap()));
    }
}
