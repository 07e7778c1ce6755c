//! The store and content sync, spoken to directly: the same assertions on SQLite and
//! PostgreSQL, so both backends behave alike.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use herald::domain::incident::IncidentRequest;
use herald::domain::{ComponentStatus, IncidentStatus};
use herald::store::{
    ComponentTree, IncidentFilter, IncidentQuery, IncidentSettings, PageRow, StatusChangeRow,
};
use reqwest::Method;
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{spawn, Backend, TestApp, SITE_TOML};
use crate::on_both_backends;

on_both_backends!(
    content_sync_is_idempotent,
    editing_one_entry_updates_only_it,
    status_in_the_file_applies_with_cause_content,
    api_changes_survive_an_unchanged_resync,
    bad_site_files_name_the_problem_and_write_nothing,
    timestamps_round_trip_at_millisecond_precision,
    concurrent_incident_patches_all_land,
    list_incidents_pages_and_searches_alike,
    files_that_fail_in_the_store_write_nothing,
    concurrent_status_changes_keep_a_consistent_log,
    search_folds_case_beyond_ascii,
    subscriber_lists_page_by_position_without_gaps_or_repeats,
);

/// Everything sync may touch, in comparable form.
#[derive(Debug, PartialEq)]
struct State {
    page: (String, String, String, DateTime<Utc>),
    groups: Vec<GroupState>,
    components: Vec<ComponentState>,
}

type GroupState = (
    String,
    String,
    Option<String>,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
);

type ComponentState = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
    bool,
    DateTime<Utc>,
    DateTime<Utc>,
);

fn state_of(page: &PageRow, tree: &ComponentTree) -> State {
    State {
        page: (
            page.id.clone(),
            page.name.clone(),
            page.time_zone.clone(),
            page.updated_at,
        ),
        groups: tree
            .groups
            .iter()
            .map(|g| {
                (
                    g.id.clone(),
                    g.name.clone(),
                    g.description.clone(),
                    g.position,
                    g.created_at,
                    g.updated_at,
                )
            })
            .collect(),
        components: tree
            .components
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    c.name.clone(),
                    c.description.clone(),
                    c.status.clone(),
                    c.group_id.clone(),
                    c.position,
                    c.showcase,
                    c.created_at,
                    c.updated_at,
                )
            })
            .collect(),
    }
}

async fn state(app: &TestApp) -> State {
    let page = app.store.page().await.expect("page");
    let tree = app.store.list_components().await.expect("tree");
    state_of(&page, &tree)
}

async fn component_named(app: &TestApp, name: &str) -> herald::store::ComponentRow {
    app.store
        .list_components()
        .await
        .expect("tree")
        .components
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component named {name}"))
}

/// A content dir holding `site`.
fn content_dir(site: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.toml"), site).expect("site.toml");
    dir
}

/// Syncs and returns (created, updated, unchanged).
async fn sync(app: &TestApp, dir: &Path) -> (usize, usize, usize) {
    let report = herald::content::sync(&app.store, dir)
        .await
        .unwrap_or_else(|e| panic!("sync failed: {e}"));
    (report.created, report.updated, report.unchanged)
}

type Move = (Option<String>, String, String);

fn moves(log: &[StatusChangeRow]) -> Vec<Move> {
    log.iter()
        .map(|c| (c.old_status.clone(), c.new_status.clone(), c.cause.clone()))
        .collect()
}

fn mv(old: Option<&str>, new: &str, cause: &str) -> Move {
    (old.map(str::to_owned), new.to_owned(), cause.to_owned())
}

/// Lets the clock move on, so anything written after it has a later timestamp.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

// --- content sync ----------------------------------------------------------------------------

async fn content_sync_is_idempotent(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let before = state(&app).await;
    let api = component_named(&app, "API").await.id;
    let log_before = app.store.status_changes(&api).await.expect("log").len();
    tick().await;

    // The app's own content dir, and an identical copy elsewhere.
    assert_eq!(sync(&app, &app.settings.content_dir).await, (0, 0, 5));
    let copy = content_dir(SITE_TOML);
    assert_eq!(sync(&app, copy.path()).await, (0, 0, 5));

    assert_eq!(state(&app).await, before, "no id, name or updated_at moved");
    assert_eq!(
        app.store.status_changes(&api).await.expect("log").len(),
        log_before
    );
    assert_eq!(before.components.len(), 4);
    assert_eq!(before.groups.len(), 1);
}

async fn editing_one_entry_updates_only_it(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let before = state(&app).await;
    let web_before = component_named(&app, "Web App").await;
    tick().await;

    let edited = SITE_TOML.replace("name = \"Web App\"", "name = \"Web Application\"");
    assert_ne!(edited, SITE_TOML);
    let dir = content_dir(&edited);
    assert_eq!(sync(&app, dir.path()).await, (0, 1, 4));

    let after = state(&app).await;
    assert_eq!(after.groups, before.groups, "the group is untouched");
    assert_eq!(after.components.len(), before.components.len());
    for (old, new) in before.components.iter().zip(&after.components) {
        if old.0 == web_before.id {
            assert_eq!(new.0, old.0, "same id");
            assert_eq!(new.1, "Web Application");
            assert_eq!(new.4, old.4, "still in its group");
            assert_eq!(new.5, old.5, "same position");
            assert_eq!(new.7, old.7, "same created_at");
            assert!(new.8 > old.8, "updated_at moved: {} -> {}", old.8, new.8);
        } else {
            assert_eq!(new, old, "only the edited entry changes");
        }
    }
    assert!(
        after.page.3 > before.page.3,
        "a public change moves page.updated_at"
    );
    let log = app.store.status_changes(&web_before.id).await.expect("log");
    assert_eq!(
        moves(&log),
        [mv(None, "operational", "content")],
        "a rename logs no status change"
    );
    assert_eq!(app.component_status("Web Application").await, "operational");

    // Again: nothing left to do.
    assert_eq!(sync(&app, dir.path()).await, (0, 0, 5));

    // A group's name is its own entry.
    let regrouped = edited.replace("name = \"Dashboard\"", "name = \"Console\"");
    let dir = content_dir(&regrouped);
    let mid = state(&app).await;
    tick().await;
    assert_eq!(sync(&app, dir.path()).await, (0, 1, 4));
    let after = state(&app).await;
    assert_eq!(after.components, mid.components, "children untouched");
    assert_eq!(after.groups[0].0, mid.groups[0].0);
    assert_eq!(after.groups[0].1, "Console");
    assert!(after.groups[0].5 > mid.groups[0].5);
}

async fn status_in_the_file_applies_with_cause_content(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = component_named(&app, "API").await;
    let before = state(&app).await;
    tick().await;

    let site = SITE_TOML.replace(
        "description = \"Public REST API\"",
        "description = \"Public REST API\"\nstatus = \"major_outage\"",
    );
    let dir = content_dir(&site);
    assert_eq!(sync(&app, dir.path()).await, (0, 1, 4));

    let after = component_named(&app, "API").await;
    assert_eq!(after.id, api.id);
    assert_eq!(after.status, "major_outage");
    assert_eq!(app.component_status("API").await, "major_outage");
    let log = app.store.status_changes(&api.id).await.expect("log");
    assert_eq!(
        moves(&log),
        [
            mv(None, "operational", "content"),
            mv(Some("operational"), "major_outage", "content"),
        ]
    );
    assert_eq!(log[1].changed_at, after.updated_at);
    assert_eq!(log[1].incident_id, None);
    let page = app.store.page().await.expect("page");
    assert!(page.updated_at > before.page.3);

    // The status stays what the file says while the file stays the same.
    assert_eq!(sync(&app, dir.path()).await, (0, 0, 5));
    assert_eq!(
        app.store.status_changes(&api.id).await.expect("log").len(),
        2
    );
}

async fn api_changes_survive_an_unchanged_resync(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = component_named(&app, "API").await.id;
    app.api(
        Method::PATCH,
        &format!("/components/{api}"),
        Some(json!({"component": {"name": "API v2", "status": "partial_outage"}})),
    )
    .await
    .expect(200);
    let extra = app
        .api(
            Method::POST,
            "/components",
            Some(json!({"component": {"name": "Added by API"}})),
        )
        .await;
    let extra = extra.expect(201)["id"].as_str().expect("id").to_owned();
    app.api(
        Method::PATCH,
        "",
        Some(json!({"page": {"name": "Renamed by API"}})),
    )
    .await
    .expect(200);
    let before = state(&app).await;
    tick().await;

    assert_eq!(sync(&app, &app.settings.content_dir).await, (0, 0, 5));
    assert_eq!(state(&app).await, before);
    let row = component_named(&app, "API v2").await;
    assert_eq!(row.id, api);
    assert_eq!(row.status, "partial_outage");
    assert_eq!(app.store.page().await.expect("page").name, "Renamed by API");
    assert!(
        before.components.iter().any(|c| c.0 == extra),
        "components the file does not know are left alone"
    );

    // Editing the entry in the file applies the file again, status included.
    let site = SITE_TOML.replace("Public REST API", "The public REST API");
    let dir = content_dir(&site);
    assert_eq!(sync(&app, dir.path()).await, (0, 1, 4));
    let row = component_named(&app, "API").await;
    assert_eq!(row.id, api);
    assert_eq!(row.description.as_deref(), Some("The public REST API"));
    assert_eq!(row.status, "operational");
    let log = app.store.status_changes(&api).await.expect("log");
    assert_eq!(
        moves(&log),
        [
            mv(None, "operational", "content"),
            mv(Some("operational"), "partial_outage", "manual"),
            mv(Some("partial_outage"), "operational", "content"),
        ]
    );
    assert!(
        state(&app).await.components.iter().any(|c| c.0 == extra),
        "still there"
    );
}

async fn bad_site_files_name_the_problem_and_write_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let before = state(&app).await;
    // Each file also renames the page, adds a component and edits one, before the
    // mistake: none of it may be written.
    let prefix = SITE_TOML
        .replace("name = \"Acme Cloud\"", "name = \"Acme Renamed\"")
        .replace("name = \"Webhooks\"", "name = \"Webhooks v2\"")
        + "\n[[components]]\nkey = \"new\"\nname = \"Brand new\"\n";
    let cases = [
        (
            prefix.clone() + "\n[[components]]\nkey = \"bad\"\nname = \"Bad\"\nstatus = \"down\"\n",
            vec!["status", "\"down\"", "major_outage"],
        ),
        (
            prefix.replace("time_zone = \"Etc/UTC\"", "time_zone = \"Mars/Olympus\""),
            vec!["time_zone", "Mars/Olympus"],
        ),
        (
            prefix.clone() + "\n[[components]]\nkey = \"web\"\nname = \"Web again\"\n",
            vec!["\"web\"", "used twice"],
        ),
    ];
    for (site, problem) in cases {
        let dir = content_dir(&site);
        let err = herald::content::sync(&app.store, dir.path())
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{site}"))
            .to_string();
        let path = dir.path().join("site.toml").display().to_string();
        assert!(err.starts_with(&path), "names the file: {err}");
        for word in problem {
            assert!(err.contains(word), "{word:?} missing from: {err}");
        }
        assert_eq!(state(&app).await, before, "nothing written for: {err}");
    }
    assert_eq!(app.component_status("Webhooks").await, "operational");
}

/// A file that fails (two entries with one fixed id) fails as a whole, says what is
/// wrong, and writes nothing.
async fn files_that_fail_in_the_store_write_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let before = state(&app).await;
    let site = SITE_TOML.replace("name = \"Acme Cloud\"", "name = \"Acme Renamed\"")
        + "\n[[components]]\nkey = \"one\"\nid = \"aaaaaaaaaaaa\"\nname = \"One\"\n"
        + "\n[[components]]\nkey = \"two\"\nid = \"aaaaaaaaaaaa\"\nname = \"Two\"\n";
    let dir = content_dir(&site);
    let err = herald::content::sync(&app.store, dir.path())
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{site}"))
        .to_string();
    let after = state(&app).await;
    assert!(err.contains("site.toml"), "{err}");
    assert_eq!(after.page, before.page, "page untouched after: {err}");
    assert_eq!(
        after.components.len(),
        before.components.len(),
        "no component created after: {err}"
    );
    assert_eq!(after, before, "nothing written for: {err}");
    assert!(
        err.contains("aaaaaaaaaaaa"),
        "names the duplicate id: {err}"
    );
}

// --- timestamps ------------------------------------------------------------------------------

fn at(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .with_timezone(&Utc)
}

fn named(name: &str) -> IncidentRequest {
    IncidentRequest {
        name: Some(name.to_owned()),
        body: Some(format!("About {name}.")),
        ..IncidentRequest::default()
    }
}

async fn timestamps_round_trip_at_millisecond_precision(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let instants = [
        "2024-02-29T23:59:59.999Z",
        "2024-03-01T00:00:00.000Z",
        "2024-03-01T00:00:00.001Z",
        "2024-03-01T00:00:00.100Z",
        "1999-12-31T23:59:59.500Z",
    ];
    let mut created = Vec::new();
    for raw in instants {
        let when = at(raw);
        let record = app
            .store
            .create_incident(&named(raw), &IncidentSettings::default(), when)
            .await
            .expect("create");
        let i = &record.incident;
        assert_eq!(
            (i.created_at, i.updated_at, i.started_at),
            (when, when, when)
        );
        assert_eq!(record.updates[0].row.display_at, when);
        assert_eq!(record.updates[0].row.created_at, when);

        // Read back on its own, through the list, and over HTTP.
        let read = app.store.get_incident(&i.id).await.expect("get");
        assert_eq!(read.incident.created_at, when, "{raw}");
        assert_eq!(read.updates[0].row.display_at, when, "{raw}");
        let wire = app
            .api(Method::GET, &format!("/incidents/{}", i.id), None)
            .await;
        let wire = wire.expect(200);
        assert_eq!(wire["created_at"], raw);
        assert_eq!(wire["incident_updates"][0]["display_at"], raw);
        created.push((when, i.id.clone()));
    }

    // Listed newest first, down to the millisecond.
    created.sort();
    let expected: Vec<String> = created.iter().rev().map(|(_, id)| id.clone()).collect();
    let listed = app
        .store
        .list_incidents(&IncidentQuery::new(IncidentFilter::Everything, 100))
        .await
        .expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|r| r.incident.id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    let listed_at: Vec<DateTime<Utc>> = listed.iter().map(|r| r.incident.created_at).collect();
    let mut wanted: Vec<DateTime<Utc>> = instants.iter().map(|raw| at(raw)).collect();
    wanted.sort();
    wanted.reverse();
    assert_eq!(listed_at, wanted);

    // The component status log keeps its instants too.
    let api = component_named(&app, "API").await.id;
    let when = at("2024-05-06T07:08:09.123Z");
    let patch = herald::store::ComponentPatch {
        status: Some(ComponentStatus::PartialOutage),
        ..Default::default()
    };
    let row = app
        .store
        .update_component(&api, &patch, when)
        .await
        .expect("update");
    assert_eq!(row.updated_at, when);
    let log = app.store.status_changes(&api).await.expect("log");
    let manual: Vec<_> = log.iter().filter(|c| c.cause == "manual").collect();
    assert_eq!(manual.len(), 1, "{log:?}");
    assert_eq!(manual[0].changed_at, when);
    assert_eq!(log[0].changed_at, when, "the log is ordered by instant");
    let public = app.get("/api/v2/components.json").await;
    let row = public.expect(200)["components"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|c| c["id"] == api.as_str())
        .cloned()
        .expect("api row");
    assert_eq!(row["updated_at"], "2024-05-06T07:08:09.123Z");
}

// --- concurrency -----------------------------------------------------------------------------

async fn concurrent_incident_patches_all_land(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let app = Arc::new(app);
    let created = app
        .create_incident(json!({"name": "Busy incident", "body": "Opened."}))
        .await;
    let id = created["id"].as_str().expect("id").to_owned();

    let mut tasks = JoinSet::new();
    for n in 0..20 {
        let app = Arc::clone(&app);
        let id = id.clone();
        tasks.spawn(async move {
            let reply = app
                .patch_incident(&id, json!({"body": format!("Update {n}.")}))
                .await;
            (n, reply.status.as_u16(), reply.text)
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (n, status, text) = joined.expect("task");
        assert_eq!(status, 200, "patch {n}: {text}");
        done += 1;
    }
    assert_eq!(done, 20);

    let record = app.store.get_incident(&id).await.expect("incident");
    assert_eq!(record.updates.len(), 21);
    let mut bodies: Vec<String> = record.updates.iter().map(|u| u.row.body.clone()).collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("Update {n}.")).collect();
    expected.push("Opened.".to_owned());
    expected.sort();
    assert_eq!(bodies, expected);
    let mut update_ids: Vec<String> = record.updates.iter().map(|u| u.row.id.clone()).collect();
    update_ids.sort();
    update_ids.dedup();
    assert_eq!(update_ids.len(), 21, "every update has its own id");
    let wire = app
        .api(Method::GET, &format!("/incidents/{id}"), None)
        .await;
    assert_eq!(
        wire.expect(200)["incident_updates"]
            .as_array()
            .expect("updates")
            .len(),
        21
    );
}

/// Concurrent changes are stamped after the write lock is taken, so the log's
/// old/new chain follows commit order.
async fn concurrent_status_changes_keep_a_consistent_log(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let app = Arc::new(app);
    let api = component_named(&app, "API").await.id;
    let statuses = [
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
        "operational",
    ];
    // Three rounds of ten: each round is ten PATCHes in flight at once.
    for round in 0..3 {
        let mut tasks = JoinSet::new();
        for n in 0..10 {
            let app = Arc::clone(&app);
            let api = api.clone();
            let status = statuses[(n + round) % statuses.len()];
            tasks.spawn(async move {
                let reply = app
                    .api(
                        Method::PATCH,
                        &format!("/components/{api}"),
                        Some(json!({"component": {"status": status}})),
                    )
                    .await;
                (n, reply.status.as_u16(), reply.text)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (n, status, text) = joined.expect("task");
            assert_eq!(status, 200, "round {round}, patch {n}: {text}");
        }
    }

    let log = app.store.status_changes(&api).await.expect("log");
    assert!(log.len() >= 2, "{log:?}");
    assert_eq!(log[0].old_status, None);
    for pair in log.windows(2) {
        assert_eq!(
            pair[1].old_status.as_deref(),
            Some(pair[0].new_status.as_str()),
            "each change starts where the previous one ended: {:#?}",
            log.iter()
                .map(|c| format!("{:?} -> {} at {}", c.old_status, c.new_status, c.changed_at))
                .collect::<Vec<_>>()
        );
        assert_ne!(
            pair[1].old_status.as_deref(),
            Some(pair[1].new_status.as_str())
        );
        assert!(pair[1].changed_at >= pair[0].changed_at);
    }
    assert!(log[1..].iter().all(|c| c.cause == "manual"));
    let last = log.last().expect("log").new_status.clone();
    assert_eq!(component_named(&app, "API").await.status, last);
    assert_eq!(app.component_status("API").await, last);
}

// --- listing ---------------------------------------------------------------------------------

async fn list_incidents_pages_and_searches_alike(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let base = at("2024-06-01T12:00:00.000Z");
    let specs: [(&str, &str, Option<IncidentStatus>); 7] = [
        ("API errors", "Elevated 5xx.", None),
        ("Database failover", "Primary lost.", None),
        ("Login 100% broken", "Nobody can sign in.", None),
        ("snake_case_issue", "Odd name.", None),
        ("Webhook delays", "A queue BACKLOG grows.", None),
        (
            "Old DNS trouble",
            "Fixed long ago.",
            Some(IncidentStatus::Resolved),
        ),
        ("Partial database slowness", "Replica lag.", None),
    ];
    let mut ids = Vec::new();
    for (n, (name, body, status)) in specs.iter().enumerate() {
        let req = IncidentRequest {
            name: Some((*name).to_owned()),
            body: Some((*body).to_owned()),
            status: *status,
            ..IncidentRequest::default()
        };
        let when = base + chrono::Duration::minutes(n as i64);
        let record = app
            .store
            .create_incident(&req, &IncidentSettings::default(), when)
            .await
            .expect("create");
        ids.push(record.incident.id);
    }
    // Newest first.
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let store = &app.store;
    let query = move |search: Option<&str>, limit: i64, offset: i64| {
        let q = IncidentQuery {
            created_since: None,
            filter: IncidentFilter::Everything,
            search: search.map(str::to_owned),
            limit,
            offset,
        };
        async move {
            store
                .list_incidents(&q)
                .await
                .expect("list")
                .into_iter()
                .map(|r| r.incident.id)
                .collect::<Vec<_>>()
        }
    };
    let pick = |indexes: &[usize]| indexes.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();

    assert_eq!(query(None, 100, 0).await, newest_first);
    assert_eq!(query(None, 3, 0).await, newest_first[0..3]);
    assert_eq!(query(None, 3, 3).await, newest_first[3..6]);
    assert_eq!(query(None, 3, 6).await, newest_first[6..7]);
    assert_eq!(query(None, 3, 7).await, Vec::<String>::new());
    assert_eq!(query(Some("   "), 100, 0).await, newest_first, "blank: all");

    // Case-insensitive, in names and in update bodies.
    assert_eq!(query(Some("DATABASE"), 100, 0).await, pick(&[6, 1]));
    assert_eq!(query(Some("database"), 1, 1).await, pick(&[1]));
    assert_eq!(query(Some("backlog"), 100, 0).await, pick(&[4]));
    assert_eq!(query(Some("sign IN"), 100, 0).await, pick(&[2]));
    // LIKE wildcards are literal characters.
    assert_eq!(query(Some("100%"), 100, 0).await, pick(&[2]));
    assert_eq!(query(Some("%"), 100, 0).await, pick(&[2]));
    assert_eq!(query(Some("_"), 100, 0).await, pick(&[3]));
    assert_eq!(query(Some("e_c"), 100, 0).await, pick(&[3]));
    assert_eq!(query(Some("\\"), 100, 0).await, Vec::<String>::new());
    // An exact status.
    assert_eq!(query(Some("resolved"), 100, 0).await, pick(&[5]));
    assert_eq!(
        query(Some("investigating"), 100, 0).await,
        pick(&[6, 4, 3, 2, 1, 0])
    );
    assert_eq!(
        query(Some("no such thing"), 100, 0).await,
        Vec::<String>::new()
    );

    let unresolved = app
        .store
        .list_incidents(&IncidentQuery::new(IncidentFilter::Unresolved, 2))
        .await
        .expect("list");
    assert_eq!(
        unresolved
            .iter()
            .map(|r| r.incident.id.clone())
            .collect::<Vec<_>>(),
        pick(&[6, 4])
    );

    // The v1 list pages the same way over HTTP (`limit` and 1-based `page`).
    let wire = app
        .api(Method::GET, "/incidents?limit=2&page=2&q=a", None)
        .await;
    let wire: Vec<String> = wire
        .expect(200)
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(wire, query(Some("a"), 2, 2).await);
    assert_eq!(wire.len(), 2);
}

/// Search is case-insensitive beyond ASCII: "STÖRUNG" finds "Störung".
async fn search_folds_case_beyond_ascii(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let when = at("2024-06-01T12:00:00.000Z");
    let req = IncidentRequest {
        name: Some("ÄRGER mit DNS".to_owned()),
        body: Some("Die Störung hält an.".to_owned()),
        ..IncidentRequest::default()
    };
    let id = app
        .store
        .create_incident(&req, &IncidentSettings::default(), when)
        .await
        .expect("create")
        .incident
        .id;
    for search in ["ärger", "ÄRGER", "STÖRUNG", "Ärger mit dns"] {
        let q = IncidentQuery {
            created_since: None,
            filter: IncidentFilter::Everything,
            search: Some(search.to_owned()),
            limit: 100,
            offset: 0,
        };
        let found: Vec<String> = app
            .store
            .list_incidents(&q)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.incident.id)
            .collect();
        assert_eq!(
            found,
            std::slice::from_ref(&id),
            "search {search:?} on {backend:?}"
        );
    }
}

/// Reading every subscriber in pages of two with `after` (the console's CSV export)
/// sees each address once, though one signs up between two pages and several share
/// a sign-up time.
async fn subscriber_lists_page_by_position_without_gaps_or_repeats(backend: Backend) {
    use herald::domain::subscriber::SubscriberEmail;
    use herald::store::{NewSubscription, SubscriberQuery};
    let Some(app) = spawn(backend).await else {
        return;
    };
    let base = herald::time::now() - chrono::Duration::hours(1);
    let subscribe = |email: &str, minutes: i64| {
        let new = NewSubscription {
            email: SubscriberEmail::parse("email", email).unwrap(),
            component_ids: None,
            skip_confirmation: true,
        };
        let store = app.store.clone();
        async move {
            store
                .subscribe(&new, base + chrono::Duration::minutes(minutes))
                .await
                .unwrap()
        }
    };
    for (i, minutes) in [0, 1, 1, 1, 2].into_iter().enumerate() {
        subscribe(&format!("s{i}@acme.test"), minutes).await;
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let query = SubscriberQuery {
            state: None,
            search: None,
            limit: 2,
            offset: 0,
            after: after.clone(),
        };
        let page = app.store.list_subscribers(&query).await.unwrap();
        if seen.is_empty() {
            // A newcomer after the first page: newest first, so it is not in later pages.
            subscribe("late@acme.test", 90).await;
        }
        seen.extend(page.iter().map(|s| s.row.email.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => {
                after = Some((last.row.created_at, last.row.id.clone()))
            }
            _ => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "nobody twice: {seen:?}");
    assert_eq!(seen.len(), 5, "everyone who was there: {seen:?}");
}
