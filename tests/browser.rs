//! The public pages and the console in a real browser, and the public pages through
//! the Nu HTML Checker.
//!
//! Spawns Herald with a few incidents, then runs
//!   - `node tests/browser/check.mjs`: headless Chromium (Debian's `chromium`) with
//!     axe-core, light and dark, console errors, keyboard focus;
//!   - `bash tests/browser/validate_html.sh`: vnu.jar over the same pages;
//!   - `node tests/browser/console.mjs`: signs in to the console and runs an incident
//!     from opening to a published postmortem, checking the public pages after each
//!     step and every console screen with axe-core.
//!
//! Needs Node.js, Java, curl, /usr/bin/chromium and `tests/browser/setup.sh` to have run.
//! When something is missing the test is skipped with a note, unless
//! HERALD_TEST_REQUIRE_BROWSER=1 (CI), and then it fails saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use herald::config::Settings;
use herald::domain::incident::IncidentRequest;
use herald::domain::{ComponentStatus, Impact, IncidentStatus};
use herald::store::{IncidentSettings, Store};
use herald::time::Stamp;
use herald::web::auth::{generate_key, hash_key};
use herald::web::Application;

const SITE_TOML: &str = r#"
[page]
name = "Acme Cloud"
url = "https://status.acme.test"
time_zone = "Etc/UTC"

[[components]]
key = "api"
name = "API"
description = "Public REST API"
start_date = "2023-03-01"

[[components]]
key = "dashboard"
name = "Dashboard"
  [[components.components]]
  key = "web"
  name = "Web App"
  [[components.components]]
  key = "jobs"
  name = "Background Jobs"
  showcase = false

[[components]]
key = "webhooks"
name = "Webhooks"
"#;

/// Everything an update body may hold (tables, task lists, headings, strikethrough,
/// links), plus what it may not (heading ids, footnotes: an update appears twice on
/// `/`, so it carries no ids), since an incident commander can type any of it.
const MARKDOWN_BODY: &str = "\
We are seeing **elevated error rates** on the API and ~~no~~ slow page loads in the Web App.

Affected requests:

- `POST /v1/orders` returns 503 for about 20% of calls
- dashboard exports are *delayed*
- webhooks are queued and will be retried

| Region | Error rate | Status |
|:-------|-----------:|--------|
| eu-west | 18% | Degraded |
| us-east | 2% | Recovering |

## Next steps {#next-steps}

- [x] fail over the primary database
- [ ] replay queued webhooks

> Retries are safe: every request carries an idempotency key.[^retries]

[^retries]: See the API reference on idempotency.

Follow the [API changelog](https://status.acme.test/changelog) for details.";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium_path() -> PathBuf {
    std::env::var_os("HERALD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// What is missing to run the checks, each with how to get it.
fn missing_tools() -> Vec<String> {
    let dir = browser_dir();
    let mut missing = Vec::new();
    if !chromium_path().exists() {
        missing.push(format!(
            "{} (apt-get install chromium)",
            chromium_path().display()
        ));
    }
    if !runs("node", "--version") {
        missing.push("node (apt-get install nodejs npm)".to_owned());
    }
    for module in ["playwright-core", "axe-core"] {
        if !dir.join("node_modules").join(module).is_dir() {
            missing.push(format!(
                "tests/browser/node_modules/{module} (cd tests/browser && npm ci --ignore-scripts)"
            ));
        }
    }
    if !runs("java", "-version") {
        missing.push("java (apt-get install default-jre-headless)".to_owned());
    }
    if !runs("curl", "--version") {
        missing.push("curl (apt-get install curl)".to_owned());
    }
    let jar = Command::new("bash")
        .arg(dir.join("validate_html.sh"))
        .arg("--locate")
        .output();
    if !jar.map(|o| o.status.success()).unwrap_or(false) {
        missing.push("vnu.jar (cd tests/browser && npm ci --ignore-scripts)".to_owned());
    }
    missing
}

struct Site {
    address: String,
    incident_id: String,
    backfilled_id: String,
    maintenance_id: String,
    store: Store,
    _dir: tempfile::TempDir,
}

/// Herald on a random port with SQLite in a temporary directory, as tests/api does, with
/// an active incident written in markdown, a resolved backfilled one and a maintenance.
async fn spawn_site() -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("content")).expect("content dir");
    std::fs::write(dir.path().join("content/site.toml"), SITE_TOML).expect("site.toml");
    let settings = Settings {
        bind: "127.0.0.1:0".to_owned(),
        data_dir: dir.path().join("data"),
        database_url: format!("sqlite:{}", dir.path().join("herald.db").display()),
        base_url: None,
        content_dir: dir.path().join("content"),
        ..Settings::defaults()
    };
    let app = Application::build(&settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = Store::connect(&settings.database_url)
        .await
        .expect("second store handle");
    tokio::spawn(app.run_until_stopped());

    let key = generate_key();
    store
        .create_api_key("browser-tests", &hash_key(&key), herald::time::now())
        .await
        .expect("api key");

    let tree = store.list_components().await.expect("components");
    let id_of = |name: &str| {
        tree.components
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
            .unwrap_or_else(|| panic!("no component named {name}"))
    };
    let (api, web, webhooks) = (id_of("API"), id_of("Web App"), id_of("Webhooks"));
    let settings = IncidentSettings::default();

    let active = store
        .create_incident(
            &IncidentRequest {
                name: Some("Elevated API error rates".to_owned()),
                status: Some(IncidentStatus::Investigating),
                body: Some("We are investigating reports of failed API requests.".to_owned()),
                component_statuses: vec![
                    (api.clone(), ComponentStatus::MajorOutage),
                    (web.clone(), ComponentStatus::DegradedPerformance),
                ],
                ..Default::default()
            },
            &settings,
            Stamp::Clock,
        )
        .await
        .expect("active incident");
    let incident_id = active.incident.id.clone();
    store
        .patch_incident(
            &incident_id,
            &IncidentRequest {
                status: Some(IncidentStatus::Identified),
                body: Some(MARKDOWN_BODY.to_owned()),
                ..Default::default()
            },
            &settings,
            Stamp::Clock,
        )
        .await
        .expect("incident update");

    let backfilled = store
        .create_incident(
            &IncidentRequest {
                name: Some("Delayed webhook deliveries (imported)".to_owned()),
                body: Some("Webhooks were delivered up to **40 minutes** late.".to_owned()),
                impact_override: Some(Some(Impact::Minor)),
                component_ids: vec![webhooks],
                backfilled: true,
                backfill_at: Some(herald::time::now() - Duration::days(3)),
                ..Default::default()
            },
            &settings,
            Stamp::Clock,
        )
        .await
        .expect("backfilled incident");

    let start = herald::time::now() + Duration::days(5);
    let maintenance = store
        .create_incident(
            &IncidentRequest {
                name: Some("Database upgrade".to_owned()),
                status: Some(IncidentStatus::Scheduled),
                body: Some("The API will be read-only for up to 30 minutes.".to_owned()),
                component_ids: vec![api],
                scheduled_for: Some(start),
                scheduled_until: Some(start + Duration::hours(2)),
                ..Default::default()
            },
            &settings,
            Stamp::Clock,
        )
        .await
        .expect("maintenance");

    Site {
        address,
        incident_id,
        backfilled_id: backfilled.incident.id,
        maintenance_id: maintenance.incident.id,
        store,
        _dir: dir,
    }
}

/// Runs a checker off the runtime's threads (the server shares the runtime), echoing
/// its output; returns whether it passed and its output.
async fn run_checker(program: &'static str, args: Vec<String>) -> (bool, String) {
    run_checker_with_env(program, args, Vec::new()).await
}

async fn run_checker_with_env(
    program: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(program)
            .args(&args)
            .envs(env)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap_or_else(|e| panic!("could not run {program}: {e}"));
        let text = format!(
            "$ {program} {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!("{text}");
        (output.status.success(), text)
    })
    .await
    .expect("checker thread")
}

/// Whether the browser tools are here; panics when they are required and missing.
fn browser_tools_ready() -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return true;
    }
    let list = missing.join("\n  - ");
    if std::env::var("HERALD_TEST_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "browser checks are required (HERALD_TEST_REQUIRE_BROWSER=1) but these are missing \
             (bash tests/browser/setup.sh installs them all):\n  - {list}"
        );
    }
    eprintln!(
        "skipping browser checks; missing (bash tests/browser/setup.sh installs them):\n  - {list}"
    );
    false
}

/// Only the lines that say what failed, from a checker's report.
fn failures_in(out: &str) -> String {
    out.lines()
        .filter(|l| {
            l.starts_with("FAIL")
                || l.starts_with("browser:")
                || l.starts_with("console:")
                || l.starts_with("vnu:")
                || l.starts_with('/')
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_runs_an_incident_to_its_postmortem() {
    if !browser_tools_ready() {
        return;
    }
    let site = spawn_site().await;
    let email = "commander@acme.test";
    let password = "correct horse battery staple";
    let new = herald::store::NewUser {
        email: email.to_owned(),
        role: herald::domain::account::Role::Admin,
        password_hash: herald::password::hash(password).expect("hash"),
    };
    site.store
        .create_user(&new, Stamp::Clock)
        .await
        .expect("console account");
    let script = browser_dir().join("console.mjs").display().to_string();
    let args = vec![
        script,
        site.address.clone(),
        email.to_owned(),
        password.to_owned(),
    ];
    let (browser_ok, browser_out) = run_checker("node", args).await;

    // The console's pages through the Nu HTML Checker, signed in.
    let cookie = console_session(&site.address, email, password).await;
    let record = site
        .store
        .get_incident(&site.incident_id)
        .await
        .expect("incident");
    let update_id = &record.updates[0].row.id;
    let id = &site.incident_id;
    let console_paths = [
        String::new(),
        "/incidents".to_owned(),
        "/incidents/new".to_owned(),
        "/incidents/backfill".to_owned(),
        "/maintenance/new".to_owned(),
        format!("/incidents/{id}"),
        format!("/incidents/{id}/details"),
        format!("/incidents/{id}/delete"),
        format!("/incidents/{id}/postmortem"),
        format!("/incidents/{id}/updates/{update_id}/edit"),
        format!("/incidents/{}", site.maintenance_id),
        "/components".to_owned(),
        "/components/new".to_owned(),
        "/groups/new".to_owned(),
        "/subscribers".to_owned(),
        "/api-keys".to_owned(),
        "/users".to_owned(),
        "/audit".to_owned(),
        "/settings".to_owned(),
    ];
    let mut html_args = vec![
        browser_dir().join("validate_html.sh").display().to_string(),
        site.address.clone(),
    ];
    html_args.extend(console_paths.iter().map(|path| format!("/admin{path}")));
    let (html_ok, html_out) =
        run_checker_with_env("bash", html_args, vec![("HERALD_COOKIE", cookie)]).await;

    let mut failures = Vec::new();
    if !browser_ok {
        failures.push(format!("Chromium:\n  {}", failures_in(&browser_out)));
    }
    if !html_ok {
        failures.push(format!("Nu HTML Checker:\n  {}", failures_in(&html_out)));
    }
    assert!(
        failures.is_empty(),
        "the console fails the browser checks (full report in the output above):\n{}",
        failures.join("\n")
    );
}

/// Signs in over HTTP and returns the session cookie (`herald_session=...`).
async fn console_session(address: &str, email: &str, password: &str) -> String {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = client
        .get(format!("{address}/admin/sign-in"))
        .send()
        .await
        .expect("sign-in form")
        .text()
        .await
        .expect("sign-in form body");
    let marker = "name=\"csrf\" value=\"";
    let start = form.find(marker).expect("csrf field") + marker.len();
    let token = &form[start..start + 64];
    let reply = client
        .post(format!("{address}/admin/sign-in"))
        .form(&[
            ("csrf", token),
            ("email", email),
            ("password", password),
            ("next", "/admin"),
        ])
        .send()
        .await
        .expect("sign in");
    reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("herald_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_pass_browser_and_html_checks() {
    if !browser_tools_ready() {
        return;
    }

    let site = spawn_site().await;
    // The pages really hold what the checks are meant to cover.
    let incident_html = reqwest::get(format!("{}/incidents/{}", site.address, site.incident_id))
        .await
        .expect("incident page")
        .text()
        .await
        .expect("incident page body");
    for needle in [
        "<strong>",
        "<ul>",
        "<table>",
        "type=\"checkbox\"",
        "aria-label=\"Done\"",
        "<a href=\"https://status.acme.test/changelog\"",
    ] {
        assert!(
            incident_html.contains(needle),
            "the incident page should render {needle} from markdown:\n{incident_html}"
        );
    }
    let pages = [
        "/".to_owned(),
        format!("/incidents/{}", site.incident_id),
        format!("/incidents/{}", site.backfilled_id),
        format!("/incidents/{}", site.maintenance_id),
        "/history".to_owned(),
        "/nonexistent=404".to_owned(),
        // Signed out, the console is its sign-in form.
        "/admin/sign-in".to_owned(),
    ];
    let dir = browser_dir();
    let mut browser_args = vec![
        dir.join("check.mjs").display().to_string(),
        site.address.clone(),
    ];
    browser_args.extend(pages.iter().cloned());
    let mut html_args = vec![
        dir.join("validate_html.sh").display().to_string(),
        site.address.clone(),
    ];
    html_args.extend(pages.iter().cloned());

    let (browser_ok, browser_out) = run_checker("node", browser_args).await;
    let (html_ok, html_out) = run_checker("bash", html_args).await;

    // Each checker's full report is printed above (shown on failure or with --nocapture);
    // the panic repeats only what failed.
    let mut failures = Vec::new();
    for (ok, out, what) in [
        (
            browser_ok,
            &browser_out,
            "Chromium (console, axe-core light/dark, anchors, keyboard)",
        ),
        (html_ok, &html_out, "Nu HTML Checker"),
    ] {
        if !ok {
            failures.push(format!("{what}:\n  {}", failures_in(out)));
        }
    }
    assert!(
        failures.is_empty(),
        "public pages fail the browser checks (full report in the output above):\n{}",
        failures.join("\n")
    );
}
