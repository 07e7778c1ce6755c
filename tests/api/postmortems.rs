//! Postmortems: drafted and published through `/v1`, kept as files under
//! `content/postmortems/`, and started with `herald postmortem new`.

use std::path::Path;

use herald::notify::links::LinkSigner;
use herald::notify::worker::{Round, Worker};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn, spawn_with, Backend, Reply, TestApp, SITE_TOML};
use crate::on_both_backends;
use crate::smtp::SmtpServer;

on_both_backends!(
    drafts_stay_hidden_until_published,
    bad_requests_are_refused_and_write_nothing,
    unknown_incidents_are_404_for_every_verb,
    publishing_shows_it_first_and_republishing_edits_in_place,
    revert_hides_it_and_keeps_the_draft,
    delete_removes_it,
    subscribers_are_told_once_and_only_when_asked,
    file_sync_is_idempotent,
    bad_files_are_reported_and_the_others_sync,
    postmortem_new_writes_a_prefilled_file,
);

mod outside_change_right_after_an_api_change_reaches_the_page {
    #[tokio::test]
    async fn sqlite() {
        super::outside_change_right_after_an_api_change_reaches_the_page(
            crate::helpers::Backend::Sqlite,
        )
        .await
    }
}

/// A postmortem with a marker the draft-only tests look for.
const DRAFT: &str = "## What happened\n\nA **zebra-unicorn** deploy broke the API.";

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn pm(incident: &str, tail: &str) -> String {
    format!("/incidents/{incident}/postmortem{tail}")
}

/// Creates an incident on the API component, moves it along and resolves it.
async fn resolved_incident(app: &TestApp, name: &str) -> String {
    let api = app.component_id("API").await;
    let id = id_of(
        &app.create_incident(json!({
            "name": name,
            "body": "We are investigating.",
            "components": { api: "major_outage" }
        }))
        .await,
    );
    app.patch_incident(&id, json!({"status": "resolved", "body": "Fixed."}))
        .await
        .expect(200);
    id
}

async fn save_draft(app: &TestApp, incident: &str, draft: &str) -> Reply {
    app.api(
        Method::PUT,
        &pm(incident, ""),
        Some(json!({"postmortem": {"body_draft": draft}})),
    )
    .await
}

async fn publish(app: &TestApp, incident: &str, notify: bool) -> Reply {
    app.api(
        Method::PUT,
        &pm(incident, "/publish"),
        Some(json!({"postmortem": {"notify_subscribers": notify}})),
    )
    .await
}

async fn incident_v1(app: &TestApp, incident: &str) -> Value {
    app.api(Method::GET, &format!("/incidents/{incident}"), None)
        .await
        .expect(200)
        .clone()
}

/// The incident as `/api/v2/incidents.json` lists it.
async fn incident_v2(app: &TestApp, incident: &str) -> Value {
    let list = app.get("/api/v2/incidents.json").await;
    list.expect(200)["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == incident)
        .unwrap_or_else(|| panic!("{incident} not in {}", list.text))
        .clone()
}

fn update_statuses(incident: &Value) -> Vec<String> {
    incident["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap().to_owned())
        .collect()
}

async fn page(app: &TestApp, incident: &str) -> String {
    let reply = app.get(&format!("/incidents/{incident}")).await;
    reply.expect(200);
    reply.text
}

/// The incident page once it satisfies `ok`. A sync through another store handle is a
/// change made by another process, which the app notices within about a second (on
/// SQLite it polls for them), so the page is read again until then; panics after 5s.
async fn page_once(app: &TestApp, incident: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let html = page(app, incident).await;
        if ok(&html) {
            return html;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page did not change: {html}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn atom(app: &TestApp) -> String {
    let reply = app.get("/history.atom").await;
    reply.expect(200);
    reply.text
}

async fn drafts_stay_hidden_until_published(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = resolved_incident(&app, "Zebra outage").await;
    assert_eq!(
        app.api(Method::GET, &pm(&id, ""), None).await.status,
        404,
        "no postmortem written yet"
    );

    let saved = save_draft(&app, &id, DRAFT).await;
    let saved = saved.expect(200);
    assert_eq!(saved["body_draft"], DRAFT);
    assert_eq!(saved["body"], Value::Null);
    assert_eq!(saved["published_at"], Value::Null);
    assert_eq!(saved["notify_subscribers"], false);
    let got = app.api(Method::GET, &pm(&id, ""), None).await;
    assert_eq!(got.expect(200)["body_draft"], DRAFT);

    let html = page(&app, &id).await;
    assert!(!html.contains("zebra-unicorn"), "draft on the page: {html}");
    assert!(!html.contains("class=\"postmortem\""), "{html}");
    assert!(!atom(&app).await.contains("zebra-unicorn"));
    let v2 = incident_v2(&app, &id).await;
    assert_eq!(v2["status"], "resolved");
    assert_eq!(update_statuses(&v2), ["resolved", "investigating"]);
    let v1 = incident_v1(&app, &id).await;
    assert_eq!(v1["status"], "resolved");
    assert_eq!(v1["postmortem_body"], Value::Null);
    assert_eq!(v1["postmortem_published_at"], Value::Null);
    assert_eq!(v1["postmortem_notified_subscribers"], false);
}

async fn bad_requests_are_refused_and_write_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = resolved_incident(&app, "Resolved outage").await;

    let none = publish(&app, &id, false).await;
    none.expect(422);
    assert!(none.error().contains("body_draft"), "{}", none.text);

    let blank = save_draft(&app, &id, "   ").await;
    if blank.status == 200 {
        let refused = publish(&app, &id, false).await;
        refused.expect(422);
        assert!(refused.error().contains("body_draft"), "{}", refused.text);
    }

    let long = save_draft(&app, &id, &"x".repeat(100_001)).await;
    long.expect(422);
    assert!(long.error().contains("body_draft"), "{}", long.text);
    let max = save_draft(&app, &id, &"y".repeat(100_000)).await;
    assert_eq!(
        max.expect(200)["body_draft"].as_str().unwrap().len(),
        100_000,
        "exactly 100,000 is accepted"
    );

    let missing = app
        .api(
            Method::PUT,
            &pm(&id, ""),
            Some(json!({"postmortem": {"notify_subscribers": true}})),
        )
        .await;
    missing.expect(422);
    assert!(missing.error().contains("body_draft"), "{}", missing.text);

    let not_published = app.api(Method::PUT, &pm(&id, "/revert"), None).await;
    not_published.expect(422);

    let open = id_of(&app.create_incident(json!({"name": "Still open"})).await);
    save_draft(&app, &open, DRAFT).await.expect(200);
    let early = publish(&app, &open, false).await;
    early.expect(422);
    assert!(early.error().contains("resolve"), "{}", early.text);

    for incident in [&id, &open] {
        let v1 = incident_v1(&app, incident).await;
        assert_ne!(v1["status"], "postmortem");
        assert!(!update_statuses(&v1).contains(&"postmortem".to_owned()));
        assert_eq!(v1["postmortem_published_at"], Value::Null);
    }
    assert!(!page(&app, &open).await.contains("zebra-unicorn"));
}

async fn unknown_incidents_are_404_for_every_verb(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let body = Some(json!({"postmortem": {"body_draft": DRAFT}}));
    for (method, tail) in [
        (Method::GET, ""),
        (Method::PUT, ""),
        (Method::DELETE, ""),
        (Method::PUT, "/publish"),
        (Method::PUT, "/revert"),
    ] {
        let reply = app
            .api(method.clone(), &pm("zzzzzzzzzzzz", tail), body.clone())
            .await;
        assert_eq!(
            reply.status.as_u16(),
            404,
            "{method} postmortem{tail}: {}",
            reply.text
        );
    }
    // An incident with no postmortem yet: nothing to show, publish, revert or delete.
    let id = resolved_incident(&app, "No postmortem").await;
    assert_eq!(app.api(Method::GET, &pm(&id, ""), None).await.status, 404);
    assert_eq!(
        app.api(Method::DELETE, &pm(&id, ""), None).await.status,
        404
    );
    assert_eq!(
        app.api(Method::PUT, &pm(&id, "/revert"), None).await.status,
        404
    );
}

async fn publishing_shows_it_first_and_republishing_edits_in_place(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = resolved_incident(&app, "Zebra outage").await;
    save_draft(&app, &id, DRAFT).await.expect(200);
    // The Twitter fields are accepted and ignored.
    let published = app
        .api(
            Method::PUT,
            &pm(&id, "/publish"),
            Some(json!({"postmortem": {
                "notify_subscribers": false, "notify_twitter": true, "custom_tweet": "hi"
            }})),
        )
        .await;
    let published = published.expect(200).clone();
    assert_eq!(published["body"], DRAFT);
    assert_eq!(published["body_draft"], DRAFT);
    assert_eq!(published["notify_twitter"], false);
    let published_at = published["published_at"].as_str().unwrap().to_owned();

    let html = page(&app, &id).await;
    let postmortem_at = html
        .find("<section class=\"postmortem\"")
        .unwrap_or_else(|| panic!("no postmortem section: {html}"));
    let timeline_at = html.find("class=\"timeline\"").unwrap();
    assert!(postmortem_at < timeline_at, "postmortem first: {html}");
    let section = &html[postmortem_at..timeline_at];
    assert!(
        section.contains("<strong>zebra-unicorn</strong>")
            && section.contains("What happened</h4>"),
        "{section}"
    );
    assert_eq!(
        html.matches("zebra-unicorn").count(),
        1,
        "the timeline entry does not repeat it: {html}"
    );
    assert!(
        html[timeline_at..].contains("The postmortem has been published."),
        "{html}"
    );
    assert!(atom(&app).await.contains("zebra-unicorn"), "in the feed");
    let rss = app.get("/history.rss").await;
    assert!(rss.text.contains("zebra-unicorn"), "in the RSS feed");

    let v2 = incident_v2(&app, &id).await;
    assert_eq!(v2["status"], "postmortem");
    assert_eq!(
        update_statuses(&v2),
        ["postmortem", "resolved", "investigating"]
    );
    let v1 = incident_v1(&app, &id).await;
    assert_eq!(v1["status"], "postmortem");
    assert_eq!(v1["postmortem_body"], DRAFT);
    assert_eq!(v1["postmortem_published_at"], published_at.as_str());
    assert!(v1["postmortem_body_last_updated_at"].is_string());
    assert_eq!(v1["postmortem_notified_subscribers"], false);
    assert_eq!(v1["postmortem_notified_twitter"], false);

    // A new draft changes nothing public until it is published.
    let edited = "## What happened\n\nA **giraffe-pegasus** deploy broke the API.";
    let saved = save_draft(&app, &id, edited).await;
    assert_eq!(saved.expect(200)["body"], DRAFT);
    let html = page(&app, &id).await;
    assert!(html.contains("zebra-unicorn") && !html.contains("giraffe-pegasus"));

    let again = publish(&app, &id, false).await;
    let again = again.expect(200);
    assert_eq!(again["body"], edited);
    assert_eq!(
        again["published_at"],
        published_at.as_str(),
        "first publication stays"
    );
    let html = page(&app, &id).await;
    assert!(html.contains("giraffe-pegasus") && !html.contains("zebra-unicorn"));
    let v1 = incident_v1(&app, &id).await;
    assert_eq!(
        update_statuses(&v1),
        ["postmortem", "resolved", "investigating"],
        "one timeline entry, edited"
    );
    assert_eq!(v1["incident_updates"][0]["body"], edited);
    assert!(atom(&app).await.contains("giraffe-pegasus"));
}

async fn revert_hides_it_and_keeps_the_draft(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = resolved_incident(&app, "Zebra outage").await;
    save_draft(&app, &id, DRAFT).await.expect(200);
    publish(&app, &id, false).await.expect(200);

    let reverted = app.api(Method::PUT, &pm(&id, "/revert"), None).await;
    let reverted = reverted.expect(200);
    assert_eq!(reverted["body_draft"], DRAFT, "the draft stays");
    assert_eq!(reverted["body"], Value::Null);
    assert_eq!(reverted["published_at"], Value::Null);

    let v1 = incident_v1(&app, &id).await;
    assert_eq!(v1["status"], "resolved");
    assert_eq!(update_statuses(&v1), ["resolved", "investigating"]);
    assert_eq!(v1["postmortem_body"], Value::Null);
    assert_eq!(v1["postmortem_published_at"], Value::Null);
    assert_eq!(incident_v2(&app, &id).await["status"], "resolved");
    let html = page(&app, &id).await;
    assert!(!html.contains("zebra-unicorn"), "{html}");
    assert!(!html.contains("The postmortem has been published."));
    assert!(!atom(&app).await.contains("zebra-unicorn"));
    let got = app.api(Method::GET, &pm(&id, ""), None).await;
    assert_eq!(got.expect(200)["body_draft"], DRAFT);

    app.api(Method::PUT, &pm(&id, "/revert"), None)
        .await
        .expect(422);
    // And it can be published again, with one new timeline entry.
    publish(&app, &id, false).await.expect(200);
    let v1 = incident_v1(&app, &id).await;
    assert_eq!(
        update_statuses(&v1),
        ["postmortem", "resolved", "investigating"]
    );
    assert!(page(&app, &id).await.contains("zebra-unicorn"));
}

async fn delete_removes_it(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = resolved_incident(&app, "Zebra outage").await;
    save_draft(&app, &id, DRAFT).await.expect(200);
    publish(&app, &id, false).await.expect(200);

    let deleted = app.api(Method::DELETE, &pm(&id, ""), None).await;
    deleted.expect(204);
    assert!(deleted.text.is_empty());
    assert_eq!(app.api(Method::GET, &pm(&id, ""), None).await.status, 404);
    let v1 = incident_v1(&app, &id).await;
    assert_eq!(v1["status"], "resolved");
    assert_eq!(update_statuses(&v1), ["resolved", "investigating"]);
    assert_eq!(v1["postmortem_body"], Value::Null);
    assert!(!page(&app, &id).await.contains("zebra-unicorn"));
    assert!(!atom(&app).await.contains("zebra-unicorn"));
    assert_eq!(
        app.api(Method::DELETE, &pm(&id, ""), None).await.status,
        404
    );

    // A draft that was never published is deleted the same way.
    save_draft(&app, &id, DRAFT).await.expect(200);
    app.api(Method::DELETE, &pm(&id, ""), None)
        .await
        .expect(204);
    assert_eq!(app.api(Method::GET, &pm(&id, ""), None).await.status, 404);
    assert_eq!(incident_v1(&app, &id).await["status"], "resolved");
}

// --- notifications -----------------------------------------------------------------------------

/// An app whose mail goes to a test SMTP server, with a worker the test drives.
async fn mailroom(backend: Backend) -> Option<(TestApp, SmtpServer, Worker)> {
    let smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let app = spawn_with(backend, SITE_TOML, |settings| {
        settings.smtp_url = Some(smtp_url);
        settings.run_worker = false;
    })
    .await?;
    let base = app
        .settings
        .base_url
        .clone()
        .unwrap_or_else(|| "https://status.acme.test".to_owned());
    let links = LinkSigner::new(&app.store.secret("links").await.unwrap(), &base);
    let worker = herald::web::build_worker(&app.settings, &app.store, links)
        .await
        .unwrap();
    Some((app, smtp, worker))
}

async fn subscriber(app: &TestApp, email: &str, skip_confirmation: bool) {
    app.api(
        Method::POST,
        "/subscribers",
        Some(json!({"subscriber": {
            "email": email, "skip_confirmation_notification": skip_confirmation
        }})),
    )
    .await
    .expect(201);
}

async fn subscribers_are_told_once_and_only_when_asked(backend: Backend) {
    let Some((app, smtp, worker)) = mailroom(backend).await else {
        return;
    };
    let told = resolved_incident(&app, "Zebra outage").await;
    let quiet = resolved_incident(&app, "Quiet outage").await;
    // The incidents' own updates go out to nobody: no one subscribed yet.
    worker.round().await.unwrap();
    subscriber(&app, "one@example.com", true).await;
    subscriber(&app, "two@example.com", true).await;
    subscriber(&app, "pending@example.com", false).await;
    worker.round().await.unwrap();
    let before = smtp.received().len();
    assert_eq!(before, 1, "only the confirmation of pending@");

    save_draft(&app, &quiet, DRAFT).await.expect(200);
    publish(&app, &quiet, false).await.expect(200);
    // Publishing with no body at all means no notification either.
    app.api(Method::PUT, &pm(&quiet, "/publish"), None)
        .await
        .expect(200);
    assert_eq!(worker.round().await.unwrap(), Round::default(), "not asked");
    assert_eq!(
        incident_v1(&app, &quiet).await["postmortem_notified_subscribers"],
        false
    );

    save_draft(&app, &told, DRAFT).await.expect(200);
    let published = publish(&app, &told, true).await;
    assert_eq!(published.expect(200)["notify_subscribers"], true);
    let round = worker.round().await.unwrap();
    assert_eq!((round.sent, round.failed), (2, 0), "{round:?}");
    let mails = smtp.received()[before..].to_vec();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["one@example.com", "two@example.com"]);
    for mail in &mails {
        assert_eq!(
            mail.expect_header("Subject"),
            "[Acme Cloud] Postmortem: Zebra outage"
        );
        assert!(mail.text().contains("zebra-unicorn"), "{}", mail.text());
    }
    assert_eq!(
        incident_v1(&app, &told).await["postmortem_notified_subscribers"],
        true
    );

    // Republishing, even asking again, and reverting then publishing: nothing more.
    save_draft(&app, &told, "## Edited\n\nMore detail.")
        .await
        .expect(200);
    publish(&app, &told, true).await.expect(200);
    assert_eq!(worker.round().await.unwrap(), Round::default());
    app.api(Method::PUT, &pm(&told, "/revert"), None)
        .await
        .expect(200);
    publish(&app, &told, true).await.expect(200);
    assert_eq!(worker.round().await.unwrap(), Round::default());
    assert_eq!(smtp.received().len(), before + 2, "exactly one each");
}

// --- files -------------------------------------------------------------------------------------

/// A content folder of its own, with the test site and the given postmortem files.
fn content_dir(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.toml"), SITE_TOML).unwrap();
    std::fs::create_dir_all(dir.path().join("postmortems")).unwrap();
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join("postmortems").join(name), text).unwrap();
}

fn file(incident: &str, published: bool, notify: bool, body: &str) -> String {
    format!("---\nincident: {incident}\npublished: {published}\nnotify: {notify}\n---\n{body}\n")
}

/// Lets the app's watcher of outside changes settle after the test's own API calls: it
/// overlooks an outside change made in the same second as one of its own (see the
/// ignored `outside_change_right_after_an_api_change_reaches_the_page`).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
}

async fn sync(app: &TestApp, dir: &Path) -> herald::content::postmortems::PostmortemReport {
    herald::content::sync(&app.store, dir)
        .await
        .unwrap()
        .postmortems
}

async fn postmortem(app: &TestApp, incident: &str) -> Value {
    app.api(Method::GET, &pm(incident, ""), None)
        .await
        .expect(200)
        .clone()
}

async fn file_sync_is_idempotent(backend: Backend) {
    let Some((app, smtp, worker)) = mailroom(backend).await else {
        return;
    };
    let shown = resolved_incident(&app, "Zebra outage").await;
    let drafted = resolved_incident(&app, "Draft outage").await;
    worker.round().await.unwrap();
    subscriber(&app, "one@example.com", true).await;
    subscriber(&app, "two@example.com", true).await;
    worker.round().await.unwrap();
    assert!(smtp.received().is_empty());
    settle().await;

    let dir = content_dir(&[
        ("a-shown.md", file(&shown, true, true, DRAFT)),
        (
            "b-draft.md",
            file(&drafted, false, false, "# Draft\n\nok-draft-text"),
        ),
    ]);
    let first = sync(&app, dir.path()).await;
    assert_eq!(
        (first.applied, first.unchanged, first.errors.clone()),
        (2, 0, vec![])
    );
    let v1 = incident_v1(&app, &shown).await;
    assert_eq!(v1["status"], "postmortem");
    assert_eq!(v1["postmortem_body"], DRAFT);
    page_once(&app, &shown, |html| html.contains("zebra-unicorn")).await;
    let draft = postmortem(&app, &drafted).await;
    assert_eq!(draft["body_draft"], "# Draft\n\nok-draft-text");
    assert_eq!(draft["published_at"], Value::Null);
    assert_eq!(incident_v1(&app, &drafted).await["status"], "resolved");
    assert_eq!(worker.round().await.unwrap().sent, 2, "told once each");

    let before = (
        postmortem(&app, &shown).await,
        postmortem(&app, &drafted).await,
        incident_v1(&app, &shown).await,
    );
    for _ in 0..2 {
        let again = sync(&app, dir.path()).await;
        assert_eq!(
            (again.applied, again.unchanged, again.errors.len()),
            (0, 2, 0)
        );
    }
    let after = (
        postmortem(&app, &shown).await,
        postmortem(&app, &drafted).await,
        incident_v1(&app, &shown).await,
    );
    assert_eq!(before, after, "a second sync changes nothing");
    assert_eq!(worker.round().await.unwrap(), Round::default());
    assert_eq!(smtp.received().len(), 2);

    // Editing a file applies that file only; still no second mail.
    write(
        dir.path(),
        "a-shown.md",
        &file(&shown, true, true, "## What happened\n\nA giraffe-pegasus."),
    );
    let edited = sync(&app, dir.path()).await;
    assert_eq!((edited.applied, edited.unchanged), (1, 1));
    page_once(&app, &shown, |html| {
        html.contains("giraffe-pegasus") && !html.contains("zebra-unicorn")
    })
    .await;
    assert_eq!(
        update_statuses(&incident_v1(&app, &shown).await),
        ["postmortem", "resolved", "investigating"]
    );
    assert_eq!(worker.round().await.unwrap(), Round::default());

    // `published: false` after it was published takes it back; the draft stays.
    write(
        dir.path(),
        "a-shown.md",
        &file(
            &shown,
            false,
            true,
            "## What happened\n\nA giraffe-pegasus.",
        ),
    );
    let reverted = sync(&app, dir.path()).await;
    assert_eq!((reverted.applied, reverted.unchanged), (1, 1));
    let v1 = incident_v1(&app, &shown).await;
    assert_eq!(v1["status"], "resolved");
    assert_eq!(update_statuses(&v1), ["resolved", "investigating"]);
    page_once(&app, &shown, |html| !html.contains("giraffe-pegasus")).await;
    assert_eq!(
        postmortem(&app, &shown).await["body_draft"],
        "## What happened\n\nA giraffe-pegasus."
    );
    let settled = sync(&app, dir.path()).await;
    assert_eq!((settled.applied, settled.unchanged), (0, 2));
    assert_eq!(worker.round().await.unwrap(), Round::default());
    assert_eq!(smtp.received().len(), 2);
}

async fn bad_files_are_reported_and_the_others_sync(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let good = resolved_incident(&app, "Good outage").await;
    let open = id_of(&app.create_incident(json!({"name": "Open"})).await);
    let dir = content_dir(&[
        ("a-no-front-matter.md", "# Just markdown\n".to_owned()),
        (
            "b-bad-key.md",
            format!("---\nincident: {good}\ncolour: red\n---\nx\n"),
        ),
        (
            "c-bad-boolean.md",
            format!("---\nincident: {good}\nnotify: false\npublished: maybe\n---\nx\n"),
        ),
        (
            "d-unknown-incident.md",
            "---\n# a comment\nincident: zzzzzzzzzzzz\n---\nx\n".to_owned(),
        ),
        (
            "e-malformed-id.md",
            "---\nincident: INC-42\n---\nx\n".to_owned(),
        ),
        ("f-unresolved.md", file(&open, true, false, "early")),
        ("g-good.md", file(&good, true, false, DRAFT)),
        ("not-markdown.txt", "ignored".to_owned()),
    ]);
    settle().await;
    let report = sync(&app, dir.path()).await;
    let folder = dir.path().join("postmortems");
    let errors: Vec<(String, usize, String)> = report
        .errors
        .iter()
        .map(|e| {
            assert!(
                e.to_string()
                    .starts_with(&format!("{}:{}: ", e.path.display(), e.line)),
                "{e}"
            );
            (
                e.path.strip_prefix(&folder).unwrap().display().to_string(),
                e.line,
                e.message.clone(),
            )
        })
        .collect();
    let expect = [
        ("a-no-front-matter.md", 1, "front matter"),
        ("b-bad-key.md", 3, "unknown front matter key \"colour\""),
        ("c-bad-boolean.md", 4, "published must be true or false"),
        (
            "d-unknown-incident.md",
            3,
            "unknown incident \"zzzzzzzzzzzz\"",
        ),
        ("e-malformed-id.md", 2, "incident must be an incident id"),
        ("f-unresolved.md", 1, "resolve it"),
    ];
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
    for ((path, line, message), (want_path, want_line, want)) in errors.iter().zip(expect) {
        assert_eq!((path.as_str(), *line), (want_path, want_line), "{message}");
        assert!(message.contains(want), "{path}: {message}");
    }
    assert_eq!((report.applied, report.unchanged), (1, 0));
    assert_eq!(incident_v1(&app, &good).await["status"], "postmortem");
    page_once(&app, &good, |html| html.contains("zebra-unicorn")).await;
    assert_eq!(incident_v1(&app, &open).await["status"], "investigating");

    // Refused files are refused again; the good one is now unchanged.
    let again = sync(&app, dir.path()).await;
    assert_eq!(
        (again.applied, again.unchanged, again.errors.len()),
        (0, 1, 6)
    );
}

/// The app's own change, a page render, then a sync from outside (another store handle,
/// as `herald content sync` is another process), all within a second.
async fn outside_change_right_after_an_api_change_reaches_the_page(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = resolved_incident(&app, "Zebra outage").await;
    settle().await;
    app.patch_incident(&id, json!({"name": "Zebra outage (EU)"}))
        .await
        .expect(200);
    assert!(!page(&app, &id).await.contains("zebra-unicorn"));
    let dir = content_dir(&[("a.md", file(&id, true, false, DRAFT))]);
    assert_eq!(sync(&app, dir.path()).await.applied, 1);
    page_once(&app, &id, |html| html.contains("zebra-unicorn")).await;
}

// --- herald postmortem new -----------------------------------------------------------------------

async fn postmortem_new_writes_a_prefilled_file(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;
    let id = id_of(
        &app.create_incident(json!({
            "name": "Login failures: SSO | EU",
            "body": "Logins fail with **500**.",
            "components": { api: "major_outage", web: "partial_outage" }
        }))
        .await,
    );
    app.patch_incident(
        &id,
        json!({"status": "identified", "body": "Expired cert | rotating it."}),
    )
    .await
    .expect(200);
    app.patch_incident(&id, json!({"status": "resolved", "body": "Fixed."}))
        .await
        .expect(200);
    let v1 = incident_v1(&app, &id).await;
    let date = &v1["started_at"].as_str().unwrap()[..10];

    let (ok, stdout, stderr) = app.herald(&["postmortem", "new", &id]).await;
    assert!(ok, "{stderr}");
    let path = app
        .settings
        .content_dir
        .join("postmortems")
        .join(format!("{date}-login-failures-sso-eu.md"));
    assert_eq!(stdout.trim(), path.display().to_string());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(&format!(
            "---\nincident: {id}\npublished: false\nnotify: false\n---\n# Login failures: SSO | EU\n"
        )),
        "{text}"
    );
    assert!(text.contains("- **Impact:** Critical impact\n"), "{text}");
    let components = text
        .lines()
        .find_map(|l| l.strip_prefix("- **Affected components:** "))
        .unwrap_or_else(|| panic!("no components line: {text}"));
    let mut names: Vec<&str> = components.split(", ").collect();
    names.sort();
    assert_eq!(names, ["API", "Web App"]);
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## Summary",
            "## Timeline",
            "## Root cause",
            "## Resolution and recovery",
            "## Corrective and preventive measures"
        ]
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| *l != "## Timeline")
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Time "))
        .map(|l| {
            l.trim_start_matches("| ")
                .trim_end_matches(" |")
                .split(" | ")
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let cells: Vec<(&str, &str)> = rows.iter().map(|r| (r[1], r[2])).collect();
    assert_eq!(
        cells,
        [
            ("Investigating", "Logins fail with 500."),
            ("Identified", "Expired cert \\| rotating it."),
            ("Resolved", "Fixed."),
        ],
        "oldest first, pipes escaped"
    );
    assert!(rows[0][0].starts_with(&format!("{date} ")), "{:?}", rows[0]);

    // The file is a valid postmortem file: it syncs as a draft.
    let report = sync(&app, &app.settings.content_dir).await;
    assert_eq!((report.applied, report.errors.len()), (1, 0), "{report:?}");
    let draft = postmortem(&app, &id).await;
    assert!(draft["body_draft"]
        .as_str()
        .unwrap()
        .starts_with("# Login failures: SSO | EU"));
    assert_eq!(draft["published_at"], Value::Null);

    std::fs::write(&path, "edited by hand").unwrap();
    let (ok, _, stderr) = app.herald(&["postmortem", "new", &id]).await;
    assert!(!ok, "a second run must not overwrite");
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited by hand");

    let (ok, _, stderr) = app.herald(&["postmortem", "new", "zzzzzzzzzzzz"]).await;
    assert!(!ok);
    assert!(stderr.contains("zzzzzzzzzzzz"), "{stderr}");
    let files = std::fs::read_dir(app.settings.content_dir.join("postmortems"))
        .unwrap()
        .count();
    assert_eq!(files, 1, "nothing written for an unknown incident");
}
