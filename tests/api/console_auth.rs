//! The console's accounts and safety: signing in and out, the session cookie, holding
//! back password guessing, CSRF tokens, what each role may do, sessions ending (sign
//! out, new password, account removed, twelve hours), and the audit log recording
//! every path a change comes by (API key, console, content files, CLI).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use herald::domain::account::Role;
use herald::store::{AuditQuery, AuditRow};
use herald::web::admin::session::{ACCOUNT_LIMIT, ADDRESS_LIMIT, COOKIE, HOLD_MINUTES};
use herald::web::admin::SESSION_HOURS;
use reqwest::redirect::Policy;
use reqwest::Method;

use crate::console::*;
use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    signing_in_leads_to_the_dashboard_and_back_to_where_you_were,
    session_cookie_is_http_only_lax_console_only_and_not_secure_over_http,
    session_cookie_is_secure_for_an_https_base_url,
    wrong_password_and_unknown_account_get_the_same_answer,
    an_account_is_held_back_after_five_wrong_passwords_until_the_hold_ends,
    unknown_accounts_are_held_back_too_and_an_address_after_twenty,
    posts_without_the_form_token_change_nothing,
    responders_set_component_status_and_see_no_admin_links,
    responders_are_refused_admin_screens,
    a_new_role_applies_to_a_running_session,
    signing_out_and_a_new_password_end_sessions,
    removing_an_account_ends_its_session,
    sessions_end_after_twelve_hours_and_with_a_stale_generation,
    audit_log_records_api_console_and_content_changes,
    cli_user_commands_work_and_are_audited,
    guesses_sent_at_once_are_held_back_all_the_same,
);

const WRONG: &str = "not the password at all";
const MISMATCH: &str = "That email and password do not match an account.";
const HELD: &str = "Too many failed sign-ins for this account or from this address. \
                    Try again after ";

// --- helpers ---------------------------------------------------------------------------------

/// The `Set-Cookie` line a reply sets for `name`, if any.
fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&prefix))
        .map(str::to_owned)
}

/// The value part of a `Set-Cookie` line.
fn cookie_value(line: &str) -> String {
    let pair = line.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// The attributes of a `Set-Cookie` line, trimmed and lower-cased ("httponly",
/// "samesite=lax", "path=/admin", ...).
fn cookie_attributes(line: &str) -> Vec<String> {
    line.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The session cookie a sign-in reply set, as a `Cookie:` header value.
fn session_cookie_of(reply: &Reply) -> String {
    let line = set_cookie(reply, COOKIE)
        .unwrap_or_else(|| panic!("no {COOKIE} cookie set; headers: {:?}", reply.headers));
    format!("{COOKIE}={}", cookie_value(&line))
}

/// A GET with exactly this `Cookie` header (a copy of a cookie, replayed elsewhere).
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Reply {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(app.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    Reply::read(res).await
}

/// The error line of the sign-in form, if it shows one.
fn form_error(html: &str) -> Option<String> {
    let marker = "id=\"sign-in-error\">";
    let at = html.find(marker)? + marker.len();
    let rest = &html[at..];
    Some(rest[..rest.find("</p>")?].to_owned())
}

#[track_caller]
fn assert_redirects_to_sign_in(reply: &Reply, next: &str) {
    assert_eq!(reply.status.as_u16(), 303, "body: {}", reply.text);
    let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    assert_eq!(location(reply), format!("/admin/sign-in?next={encoded}"));
}

async fn audit(app: &TestApp) -> Vec<AuditRow> {
    app.store
        .audit_log(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// A component's status as `/v1` reports it.
async fn v1_status(app: &TestApp, id: &str) -> String {
    let reply = app
        .api(Method::GET, &format!("/components/{id}"), None)
        .await;
    reply.expect(200)["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A session cookie made with the console's own middleware and key (the one the
/// database keeps), holding exactly `fields`: how a test gets a session signed in
/// long ago without waiting twelve hours.
async fn forged_session(app: &TestApp, fields: &[(&str, String)]) -> String {
    use actix_web::{test, web, App, HttpResponse};

    async fn fill(
        session: actix_session::Session,
        fields: web::Query<HashMap<String, String>>,
    ) -> HttpResponse {
        for (key, value) in fields.into_inner() {
            session.insert(key, value).unwrap();
        }
        HttpResponse::Ok().finish()
    }

    let key = herald::web::admin::session::key(&app.store).await.unwrap();
    let service = test::init_service(
        App::new().service(
            web::scope("/admin")
                .wrap(herald::web::admin::session::middleware(key, false))
                .route("/forge", web::get().to(fill)),
        ),
    )
    .await;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let res = test::call_service(
        &service,
        test::TestRequest::get()
            .uri(&format!("/admin/forge?{query}"))
            .to_request(),
    )
    .await;
    let cookie = res
        .response()
        .cookies()
        .find(|c| c.name() == COOKIE)
        .expect("the middleware sets the session cookie");
    format!("{COOKIE}={}", cookie.value())
}

/// Runs the real `herald` binary against the test's database and content.
struct CliRun {
    ok: bool,
    stdout: String,
    stderr: String,
}

const CLI_USER: &str = "ops-person";

async fn herald_cli(app: &TestApp, args: &[&str], stdin: &str) -> CliRun {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.to_owned();
    let settings = app.settings.clone();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        for (name, _) in std::env::vars() {
            if name.starts_with("HERALD_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(&args)
            .current_dir(&settings.data_dir)
            .env("HERALD_DATABASE_URL", &settings.database_url)
            .env("HERALD_CONTENT_DIR", &settings.content_dir)
            .env("HERALD_DATA_DIR", &settings.data_dir)
            .env("USER", CLI_USER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run herald");
        {
            let mut input = child.stdin.take().unwrap();
            // The command may exit before reading (a bad argument): ignore a closed pipe.
            let _ = input.write_all(stdin.as_bytes());
        }
        let output = child.wait_with_output().unwrap();
        CliRun {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

// --- signing in ------------------------------------------------------------------------------

async fn signing_in_leads_to_the_dashboard_and_back_to_where_you_were(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    let mut client = app.console_client().await;

    let reply = client.get("/admin").await;
    assert_redirects_to_sign_in(&reply, "/admin");
    let reply = client.get("/admin/").await;
    assert_redirects_to_sign_in(&reply, "/admin/");

    let to_sign_in = client.get("/admin").await;
    let form = client.follow(&to_sign_in).await;
    form.expect(200);
    assert!(form.text.contains("action=\"/admin/sign-in\""));
    assert!(form.text.contains("name=\"next\" value=\"/admin\""));
    assert!(csrf_in(&form.text).is_some_and(|t| t.len() == 64));
    assert_eq!(form.headers["cache-control"], "no-store");

    let reply = client.sign_in("ann@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert_eq!(location(&reply), "/admin");
    let dashboard = client.follow(&reply).await;
    dashboard.expect(200);
    assert!(dashboard
        .text
        .contains("<title>Dashboard - Acme Cloud console</title>"));
    assert!(dashboard.text.contains("ann@acme.test (admin)"));
    assert!(dashboard.text.contains("board-heading"));
    assert_eq!(dashboard.headers["cache-control"], "no-store");

    // Signed in already: the sign-in form sends you on.
    let reply = client.get("/admin/sign-in?next=%2Fadmin%2Fincidents").await;
    assert_eq!(reply.status.as_u16(), 303);
    assert_eq!(location(&reply), "/admin/incidents");

    // Another client, any case of the address: the same account.
    let mut other = app.console_client().await;
    let reply = other
        .post(
            "/admin/sign-in",
            &[
                ("email", " Ann@ACME.test "),
                ("password", PASSWORD),
                ("next", "/admin/incidents"),
            ],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert_eq!(location(&reply), "/admin/incidents");

    // Only console paths are followed after signing in.
    for evil in ["https://evil.example/admin", "//evil.example/admin", "/"] {
        let mut c = app.console_client().await;
        let reply = c
            .post(
                "/admin/sign-in",
                &[
                    ("email", "ann@acme.test"),
                    ("password", PASSWORD),
                    ("next", evil),
                ],
            )
            .await;
        assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
        assert_eq!(location(&reply), "/admin", "next={evil}");
    }
    let form = app
        .console_client()
        .await
        .get("/admin/sign-in?next=https%3A%2F%2Fevil.example")
        .await;
    assert!(form.text.contains("name=\"next\" value=\"/admin\""));
}

/// Signs `email` in with a fresh client; the reply of the sign-in POST.
async fn sign_in_reply(app: &TestApp, email: &str) -> (ConsoleClient, Reply) {
    let mut client = app.console_client().await;
    let reply = client.sign_in(email, PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 303, "sign-in failed: {}", reply.text);
    (client, reply)
}

async fn session_cookie_is_http_only_lax_console_only_and_not_secure_over_http(backend: Backend) {
    let Some(app) = spawn_with(backend, SITE_TOML, |s| {
        s.base_url = Some("http://status.acme.test".into())
    })
    .await
    else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    let (_, reply) = sign_in_reply(&app, "ann@acme.test").await;
    let line = set_cookie(&reply, COOKIE).expect("session cookie");
    let attributes = cookie_attributes(&line);
    assert!(attributes.contains(&"httponly".to_owned()), "{line}");
    assert!(attributes.contains(&"samesite=lax".to_owned()), "{line}");
    assert!(attributes.contains(&"path=/admin".to_owned()), "{line}");
    assert!(!attributes.contains(&"secure".to_owned()), "{line}");
    assert!(
        attributes.contains(&format!("max-age={}", SESSION_HOURS * 3600)),
        "{line}"
    );
    assert!(!cookie_value(&line).is_empty());

    // The form token's cookie: HttpOnly, Strict, not Secure over http either.
    let fresh = reqwest::Client::new()
        .get(app.url("/admin/sign-in"))
        .send()
        .await
        .unwrap();
    let fresh = Reply::read(fresh).await;
    let line = set_cookie(&fresh, "herald_csrf").expect("csrf cookie");
    let attributes = cookie_attributes(&line);
    assert!(attributes.contains(&"httponly".to_owned()), "{line}");
    assert!(attributes.contains(&"samesite=strict".to_owned()), "{line}");
    assert!(!attributes.contains(&"secure".to_owned()), "{line}");

    // A wrong password sets no session.
    let mut client = app.console_client().await;
    let reply = client.sign_in("ann@acme.test", WRONG).await;
    assert_eq!(reply.status.as_u16(), 401);
    assert!(set_cookie(&reply, COOKIE).is_none(), "{:?}", reply.headers);
}

async fn session_cookie_is_secure_for_an_https_base_url(backend: Backend) {
    let Some(app) = spawn_with(backend, SITE_TOML, |s| {
        s.base_url = Some("https://status.acme.test".into())
    })
    .await
    else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    let (mut client, reply) = sign_in_reply(&app, "ann@acme.test").await;
    let line = set_cookie(&reply, COOKIE).expect("session cookie");
    let attributes = cookie_attributes(&line);
    for wanted in ["secure", "httponly", "samesite=lax", "path=/admin"] {
        assert!(attributes.contains(&wanted.to_owned()), "{wanted}: {line}");
    }
    let fresh = Reply::read(
        reqwest::Client::new()
            .get(app.url("/admin/sign-in"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let line = set_cookie(&fresh, "__Host-herald_csrf").expect("csrf cookie");
    let attributes = cookie_attributes(&line);
    assert!(attributes.contains(&"secure".to_owned()), "{line}");
    assert!(attributes.contains(&"path=/".to_owned()), "{line}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{line}"
    );
    // (The test client counts 127.0.0.1 as a secure origin, so the session works.)
    client.get("/admin").await.expect(200);
}

async fn wrong_password_and_unknown_account_get_the_same_answer(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    let mut client = app.console_client().await;

    let wrong = client.sign_in("ann@acme.test", WRONG).await;
    assert_eq!(wrong.status.as_u16(), 401, "{}", wrong.text);
    assert_eq!(form_error(&wrong.text).as_deref(), Some(MISMATCH));
    assert!(wrong.text.contains("action=\"/admin/sign-in\""));
    assert!(wrong.text.contains("value=\"ann@acme.test\""), "email kept");
    assert!(
        !wrong.text.contains(WRONG),
        "the password is never sent back"
    );

    let unknown = client.sign_in("nobody@acme.test", WRONG).await;
    assert_eq!(unknown.status.as_u16(), 401, "{}", unknown.text);
    assert_eq!(form_error(&unknown.text).as_deref(), Some(MISMATCH));
    assert!(unknown.text.contains("value=\"nobody@acme.test\""));

    // Apart from the address typed, the two answers are the same page.
    assert_eq!(
        wrong.text.replace("ann@acme.test", "X"),
        unknown.text.replace("nobody@acme.test", "X")
    );

    // The right password for an account, but typed empty: a mismatch too.
    let empty = client.sign_in("ann@acme.test", "").await;
    assert_eq!(empty.status.as_u16(), 401);

    // Still not signed in.
    assert_redirects_to_sign_in(&client.get("/admin").await, "/admin");
    // And the right password works.
    assert_eq!(
        client
            .sign_in("ann@acme.test", PASSWORD)
            .await
            .status
            .as_u16(),
        303
    );
}

// --- holding back guessing -------------------------------------------------------------------

/// `ACCOUNT_LIMIT` wrong passwords for `email`: the last one starts the hold.
async fn fail_until_held(client: &mut ConsoleClient, email: &str) {
    for attempt in 1..=ACCOUNT_LIMIT {
        // The count is per address typed, whatever its case.
        let typed = if attempt % 2 == 0 {
            email.to_uppercase()
        } else {
            email.to_owned()
        };
        let reply = client.sign_in(&typed, WRONG).await;
        if attempt < ACCOUNT_LIMIT {
            assert_eq!(
                reply.status.as_u16(),
                401,
                "attempt {attempt}: {}",
                reply.text
            );
            assert_eq!(form_error(&reply.text).as_deref(), Some(MISMATCH));
        } else {
            assert_eq!(
                reply.status.as_u16(),
                429,
                "attempt {attempt}: {}",
                reply.text
            );
            let error = form_error(&reply.text).unwrap_or_default();
            assert!(error.starts_with(HELD), "{error}");
        }
    }
}

async fn an_account_is_held_back_after_five_wrong_passwords_until_the_hold_ends(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    app.add_user("bob@acme.test", Role::Responder).await;
    let mut client = app.console_client().await;
    fail_until_held(&mut client, "ann@acme.test").await;

    // The right password now: held all the same, and no session.
    let reply = client.sign_in("ann@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.text);
    let error = form_error(&reply.text).unwrap_or_default();
    assert!(error.starts_with(HELD), "{error}");
    assert!(reply.text.contains("value=\"ann@acme.test\""));
    assert!(set_cookie(&reply, COOKIE).is_none());
    assert_redirects_to_sign_in(&client.get("/admin").await, "/admin");

    // Held for HOLD_MINUTES, counted in the database.
    let rows = app
        .store
        .sign_in_failures(&["account:ann@acme.test".to_owned()])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].failures, ACCOUNT_LIMIT);
    let until = rows[0].held_until.expect("held");
    let expected = Utc::now() + Duration::minutes(HOLD_MINUTES);
    assert!((until - expected).num_seconds().abs() < 60, "{until}");

    // Another account from the same address is not affected.
    let mut other = app.console_client().await;
    let reply = other.sign_in("bob@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);

    // The hold ends (moved into the past here), and then the right password works.
    let past: DateTime<Utc> = Utc::now() - Duration::hours(2);
    let moved = app
        .execute_sql(
            "UPDATE sign_in_failures SET held_until = $1, first_failure_at = $1",
            &[past],
        )
        .await;
    assert!(moved >= 1);
    let reply = client.sign_in("ann@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    client.get("/admin").await.expect(200);
    // A good sign-in forgets the account's failures.
    let rows = app
        .store
        .sign_in_failures(&["account:ann@acme.test".to_owned()])
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

async fn unknown_accounts_are_held_back_too_and_an_address_after_twenty(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    app.add_user("carol@acme.test", Role::Responder).await;
    let mut client = app.console_client().await;

    // An address with no account is held exactly like one with an account.
    fail_until_held(&mut client, "ghost@acme.test").await;
    let reply = client.sign_in("ghost@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.text);
    let error = form_error(&reply.text).unwrap_or_default();
    assert!(error.starts_with(HELD), "{error}");

    // Real accounts still sign in from this address...
    let mut ann = app.console_client().await;
    assert_eq!(
        ann.sign_in("ann@acme.test", PASSWORD).await.status.as_u16(),
        303
    );

    // ... until the address reaches its own limit. (The failures so far are moved up
    // to one short of it rather than typed, each wrong answer being slower.)
    let moved = app
        .execute_sql(
            &format!(
                "UPDATE sign_in_failures SET failures = {} WHERE key = 'address:127.0.0.1'",
                ADDRESS_LIMIT - 1
            ),
            &[],
        )
        .await;
    assert_eq!(moved, 1, "failures are counted under address:127.0.0.1");
    let mut guesser = app.console_client().await;
    let reply = guesser.sign_in("dave@acme.test", WRONG).await;
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.text);
    let mut carol = app.console_client().await;
    let reply = carol.sign_in("carol@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.text);
    let error = form_error(&reply.text).unwrap_or_default();
    assert!(error.starts_with(HELD), "{error}");
    assert!(set_cookie(&reply, COOKIE).is_none());
}

// --- CSRF ------------------------------------------------------------------------------------

async fn posts_without_the_form_token_change_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let path = format!("/admin/components/{api}/status");
    let mut ann = app.console("ann@acme.test", Role::Admin).await;
    ann.get("/admin").await.expect(200);
    let good = ann.csrf.clone();
    assert_eq!(good.len(), 64);

    // No token, an empty one, a made-up one, another browser's one.
    let mut other = app.console_client().await;
    let foreign = other.csrf.clone();
    assert_ne!(foreign, good);
    let zeros = "0".repeat(64);
    for token in [None, Some(""), Some(zeros.as_str()), Some(foreign.as_str())] {
        let mut fields = vec![("status", "major_outage"), ("back", "/admin")];
        if let Some(token) = token {
            fields.push(("csrf", token));
        }
        let reply = ann.post_raw(&path, &fields).await;
        assert_eq!(
            reply.status.as_u16(),
            403,
            "token {token:?}: {}",
            reply.text
        );
        assert!(reply.text.contains("Nothing was changed"), "{}", reply.text);
        assert_eq!(v1_status(&app, &api).await, "operational");
    }
    // The token in the field but no cookie to match it.
    let bare = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let reply = Reply::read(
        bare.post(app.url("/admin/sign-in"))
            .form(&[
                ("csrf", good.as_str()),
                ("email", "ann@acme.test"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.text);
    assert!(set_cookie(&reply, COOKIE).is_none());

    // Not signed in: to the sign-in form, nothing changed.
    let reply = other
        .post(&path, &[("status", "major_outage"), ("back", "/admin")])
        .await;
    assert_redirects_to_sign_in(&reply, "/admin");
    assert_eq!(v1_status(&app, &api).await, "operational");

    // Signing in without the token: refused, even with the right password.
    let reply = other
        .post_raw(
            "/admin/sign-in",
            &[
                ("email", "ann@acme.test"),
                ("password", PASSWORD),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.text);
    assert!(set_cookie(&reply, COOKIE).is_none());
    assert_redirects_to_sign_in(&other.get("/admin").await, "/admin");

    // Signing out needs the token too.
    let reply = ann.post_raw("/admin/sign-out", &[]).await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.text);
    ann.get("/admin").await.expect(200);

    // With the token, the same click works.
    let reply = ann
        .post(&path, &[("status", "major_outage"), ("back", "/admin")])
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert_eq!(v1_status(&app, &api).await, "major_outage");

    // Nothing of the refused requests reached the audit log.
    let updates = audit(&app)
        .await
        .into_iter()
        .filter(|r| r.action == "component.update")
        .count();
    assert_eq!(updates, 1);
}

// --- roles -----------------------------------------------------------------------------------

const ADMIN_SCREENS: [&str; 5] = [
    "/admin/components",
    "/admin/subscribers",
    "/admin/api-keys",
    "/admin/users",
    "/admin/audit",
];

async fn responders_set_component_status_and_see_no_admin_links(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let web = app.component_id("Web App").await;
    let mut rita = app.console("rita@acme.test", Role::Responder).await;
    let dashboard = rita.get("/admin").await;
    dashboard.expect(200);
    assert!(dashboard.text.contains("rita@acme.test (responder)"));
    for screen in ADMIN_SCREENS {
        assert!(
            !dashboard.text.contains(&format!("href=\"{screen}\"")),
            "a responder's dashboard links to {screen}"
        );
    }
    assert!(dashboard.text.contains("href=\"/admin/incidents\""));
    assert!(dashboard
        .text
        .contains(&format!("action=\"/admin/components/{web}/status\"")));

    let reply = rita
        .post(
            &format!("/admin/components/{web}/status"),
            &[("status", "partial_outage"), ("back", "/admin")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert_eq!(location(&reply), "/admin");
    let page = rita.follow(&reply).await;
    assert!(
        page.text.contains("Web App is now Partial Outage."),
        "{}",
        page.text
    );
    assert_eq!(v1_status(&app, &web).await, "partial_outage");

    // Back to the console only, whatever the form says.
    let reply = rita
        .post(
            &format!("/admin/components/{web}/status"),
            &[
                ("status", "partial_outage"),
                ("back", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert_eq!(location(&reply), "/admin");

    // A status that does not exist: refused, nothing changed.
    let reply = rita
        .post(
            &format!("/admin/components/{web}/status"),
            &[("status", "on_fire")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
    assert_eq!(v1_status(&app, &web).await, "partial_outage");

    // An admin's dashboard has every link.
    let mut ann = app.console("ann@acme.test", Role::Admin).await;
    let dashboard = ann.get("/admin").await;
    for screen in ADMIN_SCREENS {
        assert!(
            dashboard.text.contains(&format!("href=\"{screen}\"")),
            "an admin's dashboard lacks {screen}"
        );
    }
}

async fn responders_are_refused_admin_screens(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    // Signed out: to the sign-in form first, back to the screen after.
    let mut nobody = app.console_client().await;
    for screen in ADMIN_SCREENS {
        assert_redirects_to_sign_in(&nobody.get(screen).await, screen);
    }
    let mut rita = app.console("rita@acme.test", Role::Responder).await;
    let mut refused = Vec::new();
    for screen in ADMIN_SCREENS {
        let reply = rita.get(screen).await;
        if reply.status.as_u16() != 403 || !reply.text.contains("Your role may not do this") {
            refused.push(format!("{screen}: {}", reply.status));
        }
    }
    assert!(
        refused.is_empty(),
        "a responder must get 403 from: {refused:?}"
    );
    // The refusal is about the role: an admin opens every one.
    let mut ann = app.console("ann@acme.test", Role::Admin).await;
    for screen in ADMIN_SCREENS {
        let reply = ann.get(screen).await;
        assert_eq!(reply.status.as_u16(), 200, "{screen}: {}", reply.text);
    }
}

async fn a_new_role_applies_to_a_running_session(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("boss@acme.test", Role::Admin).await;
    let mut ann = app.console("ann@acme.test", Role::Admin).await;
    let dashboard = ann.get("/admin").await;
    assert!(dashboard.text.contains("href=\"/admin/users\""));
    app.store
        .set_user_role("ann@acme.test", Role::Responder, herald::time::Stamp::Clock)
        .await
        .unwrap();
    // Still signed in, but as a responder from the next request on.
    let dashboard = ann.get("/admin").await;
    dashboard.expect(200);
    assert!(dashboard.text.contains("ann@acme.test (responder)"));
    assert!(!dashboard.text.contains("href=\"/admin/users\""));
    let reply = ann.get("/admin/users").await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.text);
}

// --- sessions ending -------------------------------------------------------------------------

async fn signing_out_and_a_new_password_end_sessions(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;

    // Sign out: the browser's session ends, and so does any copy of its cookie.
    let (mut first, signed_in) = sign_in_reply(&app, "ann@acme.test").await;
    let stolen = session_cookie_of(&signed_in);
    first.get("/admin").await.expect(200);
    get_with_cookie(&app, "/admin", &stolen).await.expect(200);
    let reply = first.post("/admin/sign-out", &[]).await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert_eq!(location(&reply), "/admin/sign-in?signed_out=1");
    assert!(
        set_cookie(&reply, COOKIE).is_some(),
        "signing out tells the browser to drop the session cookie"
    );
    let form = first.follow(&reply).await;
    form.expect(200);
    assert!(form.text.contains("You are signed out."));
    assert_redirects_to_sign_in(&first.get("/admin").await, "/admin");
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &stolen).await, "/admin");

    // A new password signs the account out everywhere, copies of the cookie included.
    let (mut second, reply) = sign_in_reply(&app, "ann@acme.test").await;
    let copy = session_cookie_of(&reply);
    get_with_cookie(&app, "/admin", &copy).await.expect(200);
    second.get("/admin").await.expect(200);

    let new_password = "a completely new passphrase";
    let hash = herald::password::hash(new_password).unwrap();
    app.store
        .set_user_password("ann@acme.test", &hash, herald::time::Stamp::Clock)
        .await
        .unwrap();
    assert_redirects_to_sign_in(&second.get("/admin").await, "/admin");
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &copy).await, "/admin");

    let mut third = app.console_client().await;
    assert_eq!(
        third
            .sign_in("ann@acme.test", PASSWORD)
            .await
            .status
            .as_u16(),
        401
    );
    assert_eq!(
        third
            .sign_in("ann@acme.test", new_password)
            .await
            .status
            .as_u16(),
        303
    );
    third.get("/admin").await.expect(200);
}

async fn removing_an_account_ends_its_session(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    app.add_user("bob@acme.test", Role::Responder).await;
    let (mut bob, reply) = sign_in_reply(&app, "bob@acme.test").await;
    let copy = session_cookie_of(&reply);
    bob.get("/admin").await.expect(200);
    app.store
        .remove_user("bob@acme.test", herald::time::Stamp::Clock)
        .await
        .unwrap();
    assert_redirects_to_sign_in(&bob.get("/admin").await, "/admin");
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &copy).await, "/admin");
    // And a board click from the old session changes nothing.
    let api = app.component_id("API").await;
    let reply = bob
        .post(
            &format!("/admin/components/{api}/status"),
            &[("status", "major_outage")],
        )
        .await;
    assert_redirects_to_sign_in(&reply, "/admin");
    assert_eq!(v1_status(&app, &api).await, "operational");
    // Re-adding the address makes a new account; the old cookie stays dead.
    app.add_user("bob@acme.test", Role::Responder).await;
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &copy).await, "/admin");
}

async fn sessions_end_after_twelve_hours_and_with_a_stale_generation(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    let user = app
        .store
        .find_user_by_email("ann@acme.test")
        .await
        .unwrap()
        .unwrap();
    let now = herald::time::now().timestamp();
    let session = |signed_in_at: i64, generation: i64| {
        vec![
            ("id", herald::domain::ids::new_secret()),
            ("user", user.id.clone()),
            ("generation", generation.to_string()),
            ("signed_in_at", signed_in_at.to_string()),
        ]
    };
    let limit = SESSION_HOURS * 3600;
    let generation = user.session_generation;

    // The forgery is faithful: a session signed in nearly twelve hours ago still works.
    let fresh = forged_session(&app, &session(now - limit + 120, generation)).await;
    get_with_cookie(&app, "/admin", &fresh).await.expect(200);

    // Twelve hours on, whatever the cookie's own lifetime: signed out.
    let old = forged_session(&app, &session(now - limit - 60, generation)).await;
    let reply = get_with_cookie(&app, "/admin", &old).await;
    assert_redirects_to_sign_in(&reply, "/admin");

    // A sign-in time in the future is not believed.
    let future = forged_session(&app, &session(now + 3600, generation)).await;
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &future).await, "/admin");

    // A session from before the last password change.
    let stale = forged_session(&app, &session(now, generation - 1)).await;
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &stale).await, "/admin");

    // Missing parts, or a cookie made with another key.
    let partial = forged_session(&app, &[("user", user.id.clone())]).await;
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &partial).await, "/admin");
    let tampered = {
        let mut value = fresh.clone();
        let last = value.pop().unwrap();
        value.push(if last == 'A' { 'B' } else { 'A' });
        value
    };
    assert_redirects_to_sign_in(&get_with_cookie(&app, "/admin", &tampered).await, "/admin");
}

// --- the audit log ---------------------------------------------------------------------------

async fn audit_log_records_api_console_and_content_changes(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    // Content applied at start.
    let entries = audit(&app).await;
    let sync = entries
        .iter()
        .find(|r| r.action == "content.sync")
        .unwrap_or_else(|| panic!("no content.sync in {entries:?}"));
    assert_eq!(sync.actor_kind, "content");
    assert_eq!(sync.actor_name, "content/");
    assert_eq!(sync.target_id, "site.toml");

    // Through /v1 with the test's key (named "tests").
    let api = app.component_id("API").await;
    app.api(
        Method::PATCH,
        &format!("/components/{api}"),
        Some(serde_json::json!({"component": {"status": "degraded_performance"}})),
    )
    .await
    .expect(200);
    let entries = audit(&app).await;
    let latest = &entries[0];
    assert_eq!(latest.action, "component.update", "{entries:?}");
    assert_eq!(latest.actor_kind, "api_key");
    assert_eq!(latest.actor_name, "tests");
    assert_eq!(latest.target_kind, "component");
    assert_eq!(latest.target_id, api);

    // Through the console: the sign-in, then the board click, against the person.
    let mut ann = app.console("ann@acme.test", Role::Admin).await;
    let entries = audit(&app).await;
    assert_eq!(entries[0].action, "user.sign_in", "{entries:?}");
    assert_eq!(entries[0].actor_kind, "user");
    assert_eq!(entries[0].actor_name, "ann@acme.test");
    let reply = ann
        .post(
            &format!("/admin/components/{api}/status"),
            &[("status", "operational"), ("back", "/admin")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    let entries = audit(&app).await;
    let latest = &entries[0];
    assert_eq!(latest.action, "component.update", "{entries:?}");
    assert_eq!(latest.actor_kind, "user");
    assert_eq!(latest.actor_name, "ann@acme.test");
    assert_eq!(latest.target_id, api);
    // Newest first, each change once.
    assert!(entries.windows(2).all(|w| w[0].id > w[1].id));
    let updates: Vec<&str> = entries
        .iter()
        .filter(|r| r.action == "component.update")
        .map(|r| r.actor_kind.as_str())
        .collect();
    assert_eq!(updates, ["user", "api_key"]);

    // The filters the audit screen will use.
    let by_kind = app
        .store
        .audit_log(&AuditQuery {
            actor_kind: "api_key".into(),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_kind.len(), 1);
    let by_actor = app
        .store
        .audit_log(&AuditQuery {
            actor: "ANN@".into(),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 2, "{by_actor:?}");
}

async fn cli_user_commands_work_and_are_audited(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let cli_password = "a long enough cli password";

    // Add, with the password on the first line of standard input.
    let run = herald_cli(
        &app,
        &["user", "add", "CLI@acme.test", "--role", "responder"],
        &format!("{cli_password}\n"),
    )
    .await;
    assert!(run.ok, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("added cli@acme.test (responder)"),
        "{}",
        run.stdout
    );
    let run = herald_cli(&app, &["user", "list"], "").await;
    assert!(run.ok, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("cli@acme.test"))
        .unwrap_or_else(|| panic!("not listed: {}", run.stdout));
    assert!(
        line.contains("responder") && line.contains("never"),
        "{line}"
    );

    let entries = audit(&app).await;
    let added: Vec<&AuditRow> = entries.iter().filter(|r| r.action == "user.add").collect();
    assert_eq!(added.len(), 1, "{entries:?}");
    assert_eq!(added[0].actor_kind, "cli");
    assert_eq!(added[0].actor_name, CLI_USER);
    assert_eq!(added[0].summary, "cli@acme.test (responder)");

    // The account signs in to the console with that password.
    let mut client = app.console_client().await;
    let reply = client.sign_in("cli@acme.test", cli_password).await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    client.get("/admin").await.expect(200);

    // A short password: refused, naming the minimum, nothing written.
    let run = herald_cli(
        &app,
        &["user", "add", "short@acme.test", "--role", "responder"],
        "short\n",
    )
    .await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(
        run.stderr.contains("at least 12 characters"),
        "{}",
        run.stderr
    );
    // A role that does not exist: refused, naming the roles.
    let run = herald_cli(
        &app,
        &["user", "add", "owner@acme.test", "--role", "owner"],
        &format!("{cli_password}\n"),
    )
    .await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("admin, responder"), "{}", run.stderr);
    for email in ["short@acme.test", "owner@acme.test"] {
        assert!(app.store.find_user_by_email(email).await.unwrap().is_none());
    }
    assert_eq!(
        audit(&app).await.len(),
        entries.len() + 1,
        "only the sign-in"
    );

    // The last admin cannot be removed.
    app.add_user("boss@acme.test", Role::Admin).await;
    let run = herald_cli(&app, &["user", "remove", "boss@acme.test"], "").await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("last admin"), "{}", run.stderr);
    assert!(app
        .store
        .find_user_by_email("boss@acme.test")
        .await
        .unwrap()
        .is_some());

    // `herald user password` signs the account out everywhere.
    let run = herald_cli(
        &app,
        &["user", "password", "cli@acme.test"],
        "another long cli password\n",
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    assert_redirects_to_sign_in(&client.get("/admin").await, "/admin");
    let entries = audit(&app).await;
    assert_eq!(entries[0].action, "user.password");
    assert_eq!(entries[0].actor_kind, "cli");

    // Removing a responder works, and is recorded against the CLI user.
    let run = herald_cli(&app, &["user", "remove", "cli@acme.test"], "").await;
    assert!(run.ok, "{}", run.stderr);
    assert!(app
        .store
        .find_user_by_email("cli@acme.test")
        .await
        .unwrap()
        .is_none());
    let entries = audit(&app).await;
    assert_eq!(entries[0].action, "user.remove");
    assert_eq!(entries[0].actor_kind, "cli");
    assert_eq!(entries[0].actor_name, CLI_USER);
}

// --- unit tests ------------------------------------------------------------------------------

mod unit {
    use super::*;
    use herald::domain::account::{check_new_password, Actor, PASSWORD_MIN};
    use herald::web::admin::{safe_next, Nav};

    #[test]
    fn cookie_lines_split_into_value_and_attributes() {
        let line = "herald_session=abc=; HttpOnly; SameSite=Lax; Path=/admin; Max-Age=43200";
        assert_eq!(cookie_value(line), "abc=");
        assert_eq!(
            cookie_attributes(line),
            ["httponly", "samesite=lax", "path=/admin", "max-age=43200"]
        );
    }

    // An office shares one address: it may fail more often than one account.
    const _: () = assert!(ACCOUNT_LIMIT < ADDRESS_LIMIT && HOLD_MINUTES > 0);

    #[test]
    fn password_length_is_counted_in_characters() {
        assert_eq!(PASSWORD_MIN, 12);
        assert!(check_new_password("password", &"é".repeat(PASSWORD_MIN - 1)).is_err());
        assert!(check_new_password("password", &"é".repeat(PASSWORD_MIN)).is_ok());
        let err = check_new_password("password", "short").unwrap_err();
        assert!(err.message.contains("at least 12 characters"), "{err:?}");
    }

    #[test]
    fn audit_actors_have_the_kinds_the_log_shows() {
        let key = Actor::ApiKey {
            name: "tests".into(),
        };
        assert_eq!((key.kind(), key.name()), ("api_key", "tests"));
        let user = Actor::User {
            email: "ann@acme.test".into(),
        };
        assert_eq!((user.kind(), user.name()), ("user", "ann@acme.test"));
        assert_eq!(Actor::Content.kind(), "content");
        assert_eq!(Actor::Cli { user: "ops".into() }.kind(), "cli");
    }

    #[test]
    fn next_stays_inside_the_console() {
        for evil in [
            "https://evil.example",
            "//evil.example/admin",
            "/admin\r\nLocation: x",
            "",
            "/",
        ] {
            assert_eq!(safe_next(Some(evil)), "/admin", "{evil:?}");
        }
        assert_eq!(
            safe_next(Some("/admin/audit?page=2")),
            "/admin/audit?page=2"
        );
    }

    #[test]
    fn only_admins_see_the_admin_screens() {
        let nav = Nav::for_role(Role::Responder);
        assert!(!(nav.components || nav.subscribers || nav.api_keys || nav.users || nav.audit));
    }
}

/// Fifteen wrong passwords sent at the same moment: each attempt is counted before its
/// password is checked, so only the first ACCOUNT_LIMIT are checked at all, and the
/// right password right after is held back.
async fn guesses_sent_at_once_are_held_back_all_the_same(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    app.add_user("ann@acme.test", Role::Admin).await;
    let client = app.console_client().await;
    let token = client.csrf.clone();
    let mut guesses = Vec::new();
    for _ in 0..15 {
        let http = client.client.clone();
        let url = client.url("/admin/sign-in");
        let token = token.clone();
        guesses.push(tokio::spawn(async move {
            let form = [
                ("csrf", token.as_str()),
                ("email", "ann@acme.test"),
                ("password", WRONG),
                ("next", "/admin"),
            ];
            http.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let held = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + held, 15, "{statuses:?}");
    assert!(
        checked < ACCOUNT_LIMIT as usize,
        "at most the first attempts before the limit get an answer about the password: {statuses:?}"
    );
    let rows = app
        .store
        .sign_in_failures(&["account:ann@acme.test".to_owned()])
        .await
        .unwrap();
    assert_eq!(rows[0].failures, ACCOUNT_LIMIT, "{rows:?}");

    let mut late = app.console_client().await;
    let reply = late.sign_in("ann@acme.test", PASSWORD).await;
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.text);
}
