//! Spawns Herald on a random port with its own database and content, and talks to it
//! over HTTP like any client would.

use herald::config::Settings;
use herald::store::Store;
use herald::web::auth::{generate_key, hash_key};
use herald::web::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The site every test starts from: API, a Dashboard group with two components, Webhooks.
pub const SITE_TOML: &str = r#"
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

pub struct TestApp {
    /// The PostgreSQL database this test made, dropped with the app.
    pg_database: Option<String>,
    pub address: String,
    pub client: reqwest::Client,
    pub key: String,
    pub page_id: String,
    pub store: Store,
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

fn postgres_admin_url() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A fresh PostgreSQL database, or `None` when PostgreSQL cannot be reached and the
/// run does not require it (CI sets HERALD_TEST_REQUIRE_POSTGRES=1, and then an
/// unreachable server fails the test).
async fn fresh_postgres_database() -> Option<String> {
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&format!("{admin}/postgres")).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("HERALD_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (HERALD_TEST_REQUIRE_POSTGRES=1) but unreachable at {admin}: {e}");
            }
            eprintln!("skipping PostgreSQL: {e}");
            return None;
        }
    };
    let name = format!("herald_test_{}", herald::domain::ids::new_id());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    Some(format!("{admin}/{name}"))
}

pub fn settings_for(dir: &std::path::Path, database_url: String) -> Settings {
    Settings {
        bind: "127.0.0.1:0".to_owned(),
        data_dir: dir.join("data"),
        database_url,
        content_dir: dir.join("content"),
        mail_from: "status@acme.test".to_owned(),
        ..Settings::defaults()
    }
}

/// Starts an app with [`SITE_TOML`]; `None` when the backend is unavailable here.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with_site(backend, SITE_TOML).await
}

pub async fn spawn_with_site(backend: Backend, site: &str) -> Option<TestApp> {
    spawn_with(backend, site, |_| {}).await
}

/// Like [`spawn_with_site`], with a last word on the settings (`smtp_url`,
/// `run_worker`, ...) before the app is built.
pub async fn spawn_with(
    backend: Backend,
    site: &str,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("content")).expect("content dir");
    std::fs::write(dir.path().join("content/site.toml"), site).expect("site.toml");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("herald.db").display()),
        Backend::Postgres => fresh_postgres_database().await?,
    };
    let mut settings = settings_for(dir.path(), database_url);
    configure(&mut settings);
    let app = Application::build(&settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = Store::connect(&settings.database_url)
        .await
        .expect("second store handle");
    tokio::spawn(app.run_until_stopped());

    let key = generate_key();
    store
        .create_api_key("tests", &hash_key(&key), herald::time::now())
        .await
        .expect("api key");
    let page_id = store.page().await.expect("page").id;
    Some(TestApp {
        pg_database: (backend == Backend::Postgres).then(|| {
            settings
                .database_url
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        }),
        address,
        client: reqwest::Client::new(),
        key,
        page_id,
        store,
        settings,
        _dir: dir,
    })
}

impl Drop for TestApp {
    /// Drops the test's PostgreSQL database (Drop cannot await: a short-lived runtime on
    /// its own thread does the work).
    fn drop(&mut self) {
        let Some(name) = self.pg_database.take() else {
            return;
        };
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) =
                    sqlx::PgConnection::connect(&format!("{admin}/postgres")).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A response read whole: status and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn read(res: Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    /// The error message of a 4xx body (`error`, with `message` equal to it).
    pub fn error(&self) -> String {
        self.json["error"].as_str().unwrap_or_default().to_owned()
    }
}

impl TestApp {
    /// Runs one SQL statement on the test's database, binding `times` as `$1`, `$2`, ...
    /// (what a test uses to move the clock of the outbox); returns the rows affected.
    pub async fn execute_sql(&self, sql: &str, times: &[chrono::DateTime<chrono::Utc>]) -> u64 {
        let url = &self.settings.database_url;
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .expect("connect to SQLite");
            let mut query = sqlx::query(sql);
            for t in times {
                query = query.bind(*t);
            }
            query.execute(&mut conn).await.expect(sql).rows_affected()
        } else {
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .expect("connect to PostgreSQL");
            let mut query = sqlx::query(sql);
            for t in times {
                query = query.bind(*t);
            }
            query.execute(&mut conn).await.expect(sql).rows_affected()
        }
    }

    /// Runs the `herald` binary against this app's database and content folder:
    /// (succeeded, stdout, stderr). It runs off the test's runtime, which also runs the
    /// server and its worker: blocking it while the command waits for a write lock the
    /// worker holds would deadlock.
    pub async fn herald(&self, args: &[&str]) -> (bool, String, String) {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let settings = self.settings.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(&args)
                .env("HERALD_DATABASE_URL", &settings.database_url)
                .env("HERALD_DATA_DIR", &settings.data_dir)
                .env("HERALD_CONTENT_DIR", &settings.content_dir)
                .env("RUST_LOG", "warn")
                .output()
                .expect("run herald");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .expect("herald command thread")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `/v1/pages/{page_id}{path}`.
    pub fn v1(&self, path: &str) -> String {
        self.url(&format!("/v1/pages/{}{path}", self.page_id))
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::read(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// An authenticated JSON request to `/v1/pages/{page_id}{path}`.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .client
            .request(method, self.v1(path))
            .header("Authorization", format!("OAuth {}", self.key));
        if let Some(body) = body {
            req = req.json(&body);
        }
        Reply::read(req.send().await.expect("request")).await
    }

    /// An authenticated form-encoded request (Rails brackets), as Statuspage's samples send.
    pub async fn api_form(&self, method: Method, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .client
            .request(method, self.v1(path))
            .header("Authorization", format!("OAuth {}", self.key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        Reply::read(req.send().await.expect("request")).await
    }

    pub async fn components(&self) -> Vec<Value> {
        let reply = self.get("/api/v2/components.json").await;
        reply.expect(200)["components"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The id of the component (or group) with this name.
    pub async fn component_id(&self, name: &str) -> String {
        self.components()
            .await
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("no component named {name}"))
            .to_owned()
    }

    pub async fn component_status(&self, name: &str) -> String {
        self.components()
            .await
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["status"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// Creates an incident through the API and returns its JSON.
    pub async fn create_incident(&self, incident: Value) -> Value {
        self.api(
            Method::POST,
            "/incidents",
            Some(serde_json::json!({ "incident": incident })),
        )
        .await
        .expect(201)
        .clone()
    }

    pub async fn patch_incident(&self, id: &str, incident: Value) -> Reply {
        self.api(
            Method::PATCH,
            &format!("/incidents/{id}"),
            Some(serde_json::json!({ "incident": incident })),
        )
        .await
    }
}

/// Runs each listed `async fn name(backend: Backend)` once per backend, as
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}
