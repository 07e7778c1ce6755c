//! The public HTML site: status page, incident pages, history, feeds, static files, and
//! the response cache in front of them, read over HTTP like a browser or feed reader.

use std::io::Read;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn, Backend, Reply, TestApp};
use crate::on_both_backends;

on_both_backends!(
    status_page_when_all_is_well,
    status_page_shows_an_active_incident,
    status_page_shows_maintenance,
    incident_page_shows_the_timeline,
    unknown_pages_are_html_404s,
    history_groups_by_month_and_pages,
    history_refuses_bad_page_numbers,
    feeds_list_incidents_and_maintenances,
    every_write_shows_on_the_next_request,
    etags_answer_304,
    compressed_bodies_match_identity,
    hostile_text_is_inert_everywhere,
    static_assets_are_immutable,
    refused_encodings_are_not_sent,
);

// --- helpers ---------------------------------------------------------------------------------

/// A response read as bytes, with no decoding of `Content-Encoding`.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn raw(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut req = app.client.get(app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap().to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

/// GET `path`, asserting a 200 HTML page.
async fn page(app: &TestApp, path: &str) -> String {
    let reply = app.get(path).await;
    reply.expect(200);
    assert!(
        header(&reply.headers, "content-type").starts_with("text/html"),
        "{path}: {:?}",
        reply.headers
    );
    reply.text
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// "Feb 13, 2021 - 16:17 UTC" for an RFC 3339 time from the API.
fn posted(iso: &str) -> String {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .with_timezone(&Utc)
        .format("%b %-d, %Y - %H:%M UTC")
        .to_string()
}

fn today_label() -> String {
    Utc::now().format("%b %-d, %Y").to_string()
}

/// The text from the first `start` to the following `end` (or the end of `html`).
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page:\n{html}"));
    let rest = &html[from..];
    match rest[start.len()..].find(end) {
        Some(to) => &rest[..start.len() + to],
        None => rest,
    }
}

/// Byte offset of `needle`, failing when it is absent.
fn at(html: &str, needle: &str) -> usize {
    html.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found in:\n{html}"))
}

/// The uptime bar (`<ol class="bars" ...>` to `</ol>`) of the component named `name`.
fn bar<'a>(html: &'a str, name: &str) -> &'a str {
    between(
        html,
        &format!("<ol class=\"bars\" aria-label=\"{name}, daily"),
        "</ol>",
    )
}

/// The day cells of a bar, each starting with its class (`ok"`, `mo"`, ...).
fn cells(bar: &str) -> Vec<&str> {
    bar.split("<li class=\"").skip(1).collect()
}

/// Every start tag in `html`: its lower-cased name and attributes (name, raw value).
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' || i + 1 >= b.len() || !b[i + 1].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b':') {
            j += 1;
        }
        let name = html[i + 1..j].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                j += 1;
            }
            if j >= b.len() || b[j] == b'>' {
                break;
            }
            let start = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/')
            {
                j += 1;
            }
            let attr = html[start..j].to_ascii_lowercase();
            let mut k = j;
            while k < b.len() && b[k].is_ascii_whitespace() {
                k += 1;
            }
            let mut value = String::new();
            if k < b.len() && b[k] == b'=' {
                k += 1;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < b.len() && (b[k] == b'"' || b[k] == b'\'') {
                    let quote = b[k];
                    let from = k + 1;
                    k = from;
                    while k < b.len() && b[k] != quote {
                        k += 1;
                    }
                    value = html[from..k].to_owned();
                    k = (k + 1).min(b.len());
                } else {
                    let from = k;
                    while k < b.len() && !b[k].is_ascii_whitespace() && b[k] != b'>' {
                        k += 1;
                    }
                    value = html[from..k].to_owned();
                }
                j = k;
            }
            attrs.push((attr, value));
        }
        out.push((name, attrs));
        i = j;
    }
    out
}

/// No tag in `html` can run script: no `<script>` but the site's own, no `<iframe>`,
/// `<svg>`, `<object>` or `<embed>`, no `on*` attribute, no `javascript:` address.
#[track_caller]
fn assert_inert(label: &str, html: &str, own_js: Option<&str>) {
    for (name, attrs) in tags(html) {
        let src = attrs
            .iter()
            .find(|(a, _)| a == "src")
            .map(|(_, v)| v.as_str());
        assert!(
            !(name == "script" && (own_js.is_none() || src != own_js)),
            "{label}: a foreign <script> survived: {attrs:?}\n{html}"
        );
        assert!(
            !["iframe", "svg", "object", "embed"].contains(&name.as_str()),
            "{label}: <{name}> survived: {attrs:?}\n{html}"
        );
        for (attr, value) in &attrs {
            assert!(
                !attr.starts_with("on"),
                "{label}: <{name} {attr}={value:?}> survived\n{html}"
            );
            let value: String = value
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            assert!(
                !(value.starts_with("javascript:") || value.starts_with("data:text")),
                "{label}: <{name} {attr}={value:?}> survived\n{html}"
            );
        }
    }
    let lower = html.to_ascii_lowercase();
    for bad in ["<iframe", "<svg"] {
        assert!(!lower.contains(bad), "{label}: {bad} survived\n{html}");
    }
}

/// HTML text with the entities templates write turned back into characters.
fn unescape(html: &str) -> String {
    [
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(html.to_owned(), |text, (entity, c)| text.replace(entity, c))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn atom_feed(bytes: &[u8]) -> atom_syndication::Feed {
    atom_syndication::Feed::read_from(bytes)
        .unwrap_or_else(|e| panic!("not Atom ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn rss_channel(bytes: &[u8]) -> rss::Channel {
    rss::Channel::read_from(bytes)
        .unwrap_or_else(|e| panic!("not RSS ({e}): {}", String::from_utf8_lossy(bytes)))
}

// --- status page -----------------------------------------------------------------------------

async fn status_page_when_all_is_well(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let reply = app.get("/").await;
    reply.expect(200);
    assert_eq!(
        header(&reply.headers, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(
        header(&reply.headers, "cache-control"),
        "public, max-age=10"
    );
    let html = reply.text;
    assert!(html.contains("<title>Acme Cloud Status</title>"), "{html}");
    assert!(html.contains("<h1 class=\"page-title\">Acme Cloud Status</h1>"));
    let banner = between(&html, "<section class=\"banner", "</section>");
    assert!(banner.contains("banner-none"), "{banner}");
    assert!(banner.contains("All Systems Operational"), "{banner}");
    assert!(!html.contains("Active incidents"));
    assert!(!html.contains("Scheduled maintenance"));

    // Components in order, with the group as a closed <details>.
    let components = between(
        &html,
        "<section aria-labelledby=\"components-heading\"",
        "</section>",
    );
    let api = at(components, "<span class=\"name\">API</span>");
    let dashboard = at(components, "<span class=\"name\">Dashboard</span>");
    let webhooks = at(components, "<span class=\"name\">Webhooks</span>");
    assert!(api < dashboard && dashboard < webhooks, "{components}");
    let group = between(components, "<li class=\"group\">", "</details>");
    assert!(
        group.contains("<details>"),
        "operational group is closed: {group}"
    );
    assert!(group.contains("<summary><span class=\"name\">Dashboard</span>"));
    assert!(group.contains("<span class=\"name\">Web App</span>"));
    assert!(group.contains("<span class=\"name\">Background Jobs</span>"));
    assert_eq!(
        components
            .matches("<span class=\"icon\" aria-hidden=\"true\">✓</span> Operational</span>")
            .count(),
        5,
        "4 components and 1 group, each with icon and words: {components}"
    );
    assert!(components.contains("<p class=\"description\">Public REST API</p>"));

    // Showcased components (not Background Jobs) have 90 days of uptime.
    assert_eq!(components.matches("<ol class=\"bars\"").count(), 3);
    assert_eq!(
        components.matches("\" tabindex=\"0\"><span><b>").count(),
        270
    );
    assert!(!components.contains("Background Jobs, daily status"));
    for name in ["API", "Web App", "Webhooks"] {
        let days = cells(bar(components, name));
        assert_eq!(days.len(), 90, "{name}");
        for day in &days {
            let class = day.split('"').next().unwrap();
            assert!(
                ["ok", "dp", "po", "mo", "um", "nd"].contains(&class),
                "{name}: {class}"
            );
            assert!(day.contains("<span><b>"), "{day}");
        }
        let last = days.last().unwrap();
        assert!(last.starts_with("ok\""), "{name} today: {last}");
        assert!(
            last.contains(&format!("<span><b>{}</b>", today_label())),
            "{last}"
        );
        assert!(last.contains("No downtime"), "{last}");
        assert!(
            days[0].contains(
                &(Utc::now() - Duration::days(89))
                    .format("%b %-d, %Y")
                    .to_string()
            ),
            "oldest cell is 89 days ago: {}",
            days[0]
        );
    }
    assert_eq!(components.matches("class=\"uptime-percent\"").count(), 3);
    assert!(components.contains("100.00 % uptime"), "{components}");

    // Fifteen quiet days, today first.
    let past = between(
        &html,
        "<section aria-labelledby=\"past-heading\"",
        "</section>",
    );
    assert_eq!(past.matches("<div class=\"past-day\">").count(), 15);
    assert_eq!(past.matches("No incidents reported.").count(), 15);
    let first_day = between(past, "<div class=\"past-day\">", "</h3>");
    assert!(first_day.contains(&today_label()), "{first_day}");
}

async fn status_page_shows_an_active_incident(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;
    let created = app
        .create_incident(json!({
            "name": "Elevated API errors",
            "body": "We are **investigating** 5xx rates.",
            "components": { api.clone(): "major_outage", web.clone(): "degraded_performance" }
        }))
        .await;
    let id = id_of(&created);
    let first_at = created["incident_updates"][0]["display_at"]
        .as_str()
        .unwrap()
        .to_owned();

    let html = page(&app, "/").await;
    let banner = between(&html, "<section class=\"banner", "</section>");
    assert!(banner.contains("banner-critical"), "{banner}");
    assert!(banner.contains("Major System Outage"), "{banner}");
    let status = app.get("/api/v2/status.json").await;
    assert!(
        banner.contains(
            status.expect(200)["status"]["description"]
                .as_str()
                .unwrap()
        ),
        "banner agrees with status.json: {banner} vs {}",
        status.text
    );

    let active = between(&html, "<h2 id=\"active-heading\">", "</section>");
    assert!(
        active.contains(&format!(
            "<a href=\"/incidents/{id}\">Elevated API errors</a>"
        )),
        "{active}"
    );
    assert!(active.contains("Critical impact"), "{active}");
    assert!(active.contains("<p class=\"update-label\">Investigating</p>"));
    assert!(active.contains("<strong>investigating</strong> 5xx rates."));
    assert!(
        active.contains(&format!(">{}</time>", posted(&first_at))),
        "Posted Mon D, YYYY - HH:MM UTC: {active}"
    );
    assert!(active.contains("Posted <time"), "{active}");

    let components = between(
        &html,
        "<section aria-labelledby=\"components-heading\"",
        "</section>",
    );
    let api_row = between(components, "<span class=\"name\">API</span>", "</li>");
    assert!(
        api_row.contains(
            "status-major_outage\"><span class=\"icon\" aria-hidden=\"true\">✕</span> Major Outage"
        ),
        "{api_row}"
    );
    let group = between(components, "<li class=\"group\">", "</details>");
    assert!(
        group.contains("<details open>"),
        "a degraded group opens: {group}"
    );
    assert!(group.contains("Degraded Performance"), "{group}");

    // Today's cell of the API bar: worst status, outage time, a link to the incident.
    let today = cells(bar(components, "API")).pop().unwrap().to_owned();
    assert!(today.starts_with("mo\""), "{today}");
    assert!(today.contains("Major outage"), "{today}");
    assert!(
        today.contains(&format!(
            "<a href=\"/incidents/{id}\">Elevated API errors</a>"
        )),
        "{today}"
    );
    let webhooks_today = cells(bar(components, "Webhooks")).pop().unwrap().to_owned();
    assert!(!webhooks_today.contains("/incidents/"), "{webhooks_today}");

    let past = between(
        &html,
        "<section aria-labelledby=\"past-heading\"",
        "</section>",
    );
    assert_eq!(past.matches("No incidents reported.").count(), 14);
    let first_day = past.split("<div class=\"past-day\">").nth(1).unwrap();
    assert!(first_day.contains("Elevated API errors"), "{first_day}");

    // Resolved: the banner clears, the incident stays in the past.
    app.patch_incident(&id, json!({"status": "resolved", "body": "Fixed."}))
        .await
        .expect(200);
    let html = page(&app, "/").await;
    let banner = between(&html, "<section class=\"banner", "</section>");
    assert!(banner.contains("All Systems Operational"), "{banner}");
    assert!(!html.contains("Active incidents"));
    let past = between(
        &html,
        "<section aria-labelledby=\"past-heading\"",
        "</section>",
    );
    assert!(past.contains(&format!("/incidents/{id}")), "{past}");
    let resolved = at(past, "<p class=\"update-label\">Resolved</p>");
    let investigating = at(past, "<p class=\"update-label\">Investigating</p>");
    assert!(resolved < investigating, "newest first: {past}");
}

async fn status_page_shows_maintenance(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let web = app.component_id("Web App").await;
    let created = app
        .create_incident(json!({
            "name": "Database engine upgrade",
            "status": "scheduled",
            "scheduled_for": "2099-11-25T02:00:00.000Z",
            "scheduled_until": "2099-11-25T02:30:00.000Z",
            "body": "Read-only for *30 minutes*.",
            "component_ids": [web]
        }))
        .await;
    let id = id_of(&created);

    let html = page(&app, "/").await;
    assert!(
        between(&html, "<section class=\"banner", "</section>").contains("All Systems Operational"),
        "upcoming maintenance does not change the banner"
    );
    assert!(!html.contains("Active incidents"), "{html}");
    let section = between(&html, "<h2 id=\"maintenance-heading\">", "</section>");
    assert!(
        section.contains(&format!(
            "<a href=\"/incidents/{id}\">Database engine upgrade</a>"
        )),
        "{section}"
    );
    assert!(
        section.contains("Scheduled · Nov 25, 2099 - 02:00 to 02:30 UTC"),
        "{section}"
    );
    assert!(
        section.contains("Read-only for <em>30 minutes</em>."),
        "{section}"
    );

    app.patch_incident(
        &id,
        json!({"status": "in_progress", "body": "Started.", "components": {web.clone(): "under_maintenance"}}),
    )
    .await
    .expect(200);
    let html = page(&app, "/").await;
    let section = between(&html, "<h2 id=\"maintenance-heading\">", "</section>");
    assert!(section.contains("In progress · Nov 25, 2099"), "{section}");
    assert!(section.contains("Started."), "{section}");
    let banner = between(&html, "<section class=\"banner", "</section>");
    assert!(banner.contains("Service Under Maintenance"), "{banner}");
    assert!(html.contains("⚙</span> Under Maintenance"), "{html}");

    app.patch_incident(&id, json!({"status": "completed"}))
        .await
        .expect(200);
    let html = page(&app, "/").await;
    assert!(!html.contains("Scheduled maintenance"), "{html}");
    assert!(
        between(&html, "<section class=\"banner", "</section>").contains("All Systems Operational")
    );
}

// --- incident page ---------------------------------------------------------------------------

async fn incident_page_shows_the_timeline(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;
    let created = app
        .create_incident(json!({
            "name": "Login failures",
            "body": "Logins **fail** for some users.",
            "components": { web.clone(): "partial_outage", api.clone(): "degraded_performance" }
        }))
        .await;
    let id = id_of(&created);
    for change in [
        json!({"body": "Still looking."}),
        json!({"status": "identified", "body": "A bad certificate."}),
        json!({"status": "resolved", "body": "Renewed."}),
    ] {
        app.patch_incident(&id, change).await.expect(200);
    }
    let json = app
        .api(Method::GET, &format!("/incidents/{id}"), None)
        .await
        .expect(200)
        .clone();

    let html = page(&app, &format!("/incidents/{id}")).await;
    assert!(
        html.contains("<title>Login failures - Acme Cloud Status</title>"),
        "{html}"
    );
    assert!(html.contains("<h1>Login failures</h1>"), "{html}");
    assert!(html.contains("Incident Report for Acme Cloud"));
    assert!(
        html.contains(&format!(
            "<p class=\"impact\">{}</p>",
            match json["impact"].as_str().unwrap() {
                "minor" => "Minor impact",
                "major" => "Major impact",
                "critical" => "Critical impact",
                other => panic!("impact {other}"),
            }
        )),
        "{html}"
    );
    let labels: Vec<&str> = html
        .split("<h2 class=\"update-label\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["Resolved", "Identified", "Update", "Investigating"],
        "newest first, a repeated status is an Update"
    );
    let bodies: Vec<usize> = [
        "Renewed.",
        "A bad certificate.",
        "Still looking.",
        "Logins <strong>fail</strong> for some users.",
    ]
    .iter()
    .map(|b| at(&html, b))
    .collect();
    assert!(bodies.windows(2).all(|w| w[0] < w[1]), "{html}");
    let times: Vec<String> = html
        .split("<p class=\"posted\">Posted <time datetime=\"")
        .skip(1)
        .map(|s| s.split("</time>").next().unwrap().to_owned())
        .collect();
    let updates = json["incident_updates"].as_array().unwrap();
    assert_eq!(times.len(), updates.len());
    for (shown, update) in times.iter().zip(updates) {
        let iso = update["display_at"].as_str().unwrap();
        let expected = posted(iso);
        assert!(
            shown.ends_with(&format!("data-local>{expected}")),
            "{shown} vs {expected}"
        );
        assert!(
            expected.ends_with(" UTC") && expected.contains(", 20"),
            "{expected}"
        );
    }
    assert!(
        html.contains("<p class=\"affected\">This incident affected: API, Web App.</p>"),
        "top-level components first: {html}"
    );

    // An incident naming no component has no affected line.
    let bare = id_of(&app.create_incident(json!({"name": "Bare"})).await);
    let html = page(&app, &format!("/incidents/{bare}")).await;
    assert!(!html.contains("This incident affected"), "{html}");
    assert!(html.contains("<h1>Bare</h1>"));
}

async fn unknown_pages_are_html_404s(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let real = id_of(&app.create_incident(json!({"name": "Real"})).await);
    let unknown = if real == "000000000000" {
        "000000000001"
    } else {
        "000000000000"
    };
    for path in [
        format!("/incidents/{unknown}"),
        "/incidents/zzzzzzzzzzzz".to_owned(),
        format!("/incidents/{}", real.to_uppercase()),
        format!("/incidents/{real}x"),
        format!("/incidents/{}", &real[1..]),
        "/incidents/not-an-id".to_owned(),
        "/incidents/%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
        "/incidents/..%2F..%2Fetc%2Fpasswd".to_owned(),
        format!("/incidents/{real}/more"),
        "/incidents".to_owned(),
        "/nope".to_owned(),
        "/history/2024".to_owned(),
        "/static/nope.css".to_owned(),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        assert!(
            header(&reply.headers, "content-type").starts_with("text/html"),
            "{path}: {:?}",
            reply.headers
        );
        assert!(
            reply.text.contains("Page not found"),
            "{path}: {}",
            reply.text
        );
        assert!(reply.text.contains("</html>"), "{path}: {}", reply.text);
        assert!(
            !reply.text.contains("alert(1)"),
            "the path is not echoed: {}",
            reply.text
        );
    }
    let named = app.get(&format!("/incidents/{unknown}")).await;
    assert!(
        named.text.contains("Page not found - Acme Cloud Status"),
        "{}",
        named.text
    );
    page(&app, &format!("/incidents/{real}")).await;
}

// --- history ---------------------------------------------------------------------------------

async fn history_groups_by_month_and_pages(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    use herald::domain::incident::IncidentRequest;
    use herald::store::IncidentSettings;
    // 53 entries, every other day from Mar 1, 2024: #10 is a maintenance.
    let base = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap();
    for i in 0..53_i64 {
        let at = base + Duration::days(2 * i);
        let maintenance = i == 10;
        let req = IncidentRequest {
            name: Some(format!("History {i:02}")),
            body: Some(format!("Entry {i}")),
            scheduled_for: maintenance.then(|| at + Duration::hours(1)),
            scheduled_until: maintenance.then(|| at + Duration::hours(2)),
            ..IncidentRequest::default()
        };
        app.store
            .create_incident(&req, &IncidentSettings::default(), at)
            .await
            .unwrap();
    }

    let first = page(&app, "/history").await;
    assert!(first.contains("<h1 class=\"page-title\">Incident History</h1>"));
    assert_eq!(
        first.matches("<a href=\"/incidents/").count(),
        50,
        "{first}"
    );
    let months: Vec<&str> = first
        .split("<h2 id=\"month-")
        .skip(1)
        .map(|s| s.split('>').nth(1).unwrap().split('<').next().unwrap())
        .collect();
    assert_eq!(
        months,
        ["June 2024", "May 2024", "April 2024", "March 2024"],
        "{first}"
    );
    let positions: Vec<usize> = (3..53)
        .rev()
        .map(|i| at(&first, &format!(">History {i:02}</a>")))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "newest first: {first}"
    );
    assert!(!first.contains(">History 02<"), "{first}");
    assert!(
        first.contains("Since Jun 13, 2024 - 12:00 UTC"),
        "newest entry, unresolved: {first}"
    );
    assert!(first.contains("<a href=\"/history?page=2\" rel=\"next\">Older incidents</a>"));
    assert!(!first.contains("Newer incidents"));
    let maintenance = between(&first, "History 10</a>", "</li>");
    assert!(maintenance.contains("Maintenance"), "{maintenance}");

    let explicit = page(&app, "/history?page=1").await;
    assert_eq!(explicit, first);

    let second = page(&app, "/history?page=2").await;
    assert_eq!(
        second.matches("<a href=\"/incidents/").count(),
        3,
        "{second}"
    );
    for i in ["00", "01", "02"] {
        assert!(second.contains(&format!(">History {i}</a>")), "{second}");
    }
    assert!(
        second.contains("<h2 id=\"month-1\">March 2024</h2>"),
        "{second}"
    );
    assert!(second.contains("<a href=\"/history\" rel=\"prev\">Newer incidents</a>"));
    assert!(!second.contains("Older incidents"));

    let third = page(&app, "/history?page=3").await;
    assert!(third.contains("No incidents reported."), "{third}");
    assert!(third.contains("<a href=\"/history?page=2\" rel=\"prev\">"));
}

async fn history_refuses_bad_page_numbers(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    for bad in [
        "0",
        "-1",
        "abc",
        "1.5",
        "100001",
        "99999999999999999999",
        "1e2",
    ] {
        let reply = app.get(&format!("/history?page={bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "page={bad}");
        assert!(
            header(&reply.headers, "content-type").starts_with("text/html"),
            "page={bad}: {:?}",
            reply.headers
        );
        assert!(
            reply.text.contains("Bad request"),
            "page={bad}: {}",
            reply.text
        );
        assert!(
            reply.text.contains("Acme Cloud"),
            "page={bad}: {}",
            reply.text
        );
    }
    let empty = page(&app, "/history?page=").await;
    assert!(empty.contains("Incident History"));
}

// --- feeds -----------------------------------------------------------------------------------

async fn feeds_list_incidents_and_maintenances(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let outage = id_of(
        &app.create_incident(json!({
            "name": "API outage",
            "body": "Looking into **it**.",
            "components": {api.clone(): "major_outage"}
        }))
        .await,
    );
    app.patch_incident(
        &outage,
        json!({"status": "identified", "body": "Found the cause."}),
    )
    .await
    .expect(200);
    let maintenance = id_of(
        &app.create_incident(json!({
            "name": "Network maintenance",
            "scheduled_for": "2099-01-01T00:00:00Z",
            "scheduled_until": "2099-01-01T01:00:00Z",
            "body": "Planned."
        }))
        .await,
    );
    let quiet = id_of(&app.create_incident(json!({"name": "Quiet one"})).await);
    let url = |id: &str| format!("https://status.acme.test/incidents/{id}");

    let atom = raw(&app, "/history.atom", &[]).await;
    assert_eq!(atom.status, StatusCode::OK);
    assert_eq!(
        atom.header("content-type"),
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(atom.header("cache-control"), "public, max-age=10");
    let feed = atom_feed(&atom.body);
    assert_eq!(
        feed.title().as_str(),
        "Acme Cloud Status - Incident History"
    );
    assert_eq!(feed.entries().len(), 3);
    let entry = |id: &str| {
        feed.entries()
            .iter()
            .find(|e| e.links().iter().any(|l| l.href() == url(id)))
            .unwrap_or_else(|| panic!("no entry links to {}", url(id)))
    };
    let outage_entry = entry(&outage);
    assert_eq!(outage_entry.title().as_str(), "API outage");
    let content = outage_entry.content().and_then(|c| c.value()).unwrap();
    let identified = at(content, "<strong>Identified</strong> - Found the cause.");
    let investigating = at(
        content,
        "<strong>Investigating</strong> - Looking into <strong>it</strong>.",
    );
    assert!(identified < investigating, "newest first: {content}");
    let planned = entry(&maintenance)
        .content()
        .and_then(|c| c.value())
        .unwrap();
    assert!(
        planned.contains("<strong>Scheduled</strong> - Planned."),
        "{planned}"
    );
    assert_eq!(entry(&quiet).title().as_str(), "Quiet one");

    let rss = raw(&app, "/history.rss", &[]).await;
    assert_eq!(rss.status, StatusCode::OK);
    assert_eq!(
        rss.header("content-type"),
        "application/rss+xml; charset=utf-8"
    );
    let channel = rss_channel(&rss.body);
    assert_eq!(channel.title(), "Acme Cloud Status - Incident History");
    assert_eq!(channel.items().len(), 3);
    let mut links: Vec<&str> = channel.items().iter().filter_map(|i| i.link()).collect();
    links.sort_unstable();
    let mut expected = vec![url(&outage), url(&maintenance), url(&quiet)];
    expected.sort();
    assert_eq!(links, expected);
    let item = channel
        .items()
        .iter()
        .find(|i| i.link() == Some(url(&outage).as_str()))
        .unwrap();
    assert_eq!(item.title(), Some("API outage"));
    let description = item.description().unwrap();
    assert!(
        at(description, "Found the cause.") < at(description, "Looking into"),
        "{description}"
    );
    assert!(item.pub_date().is_some());

    // Every entry's link leads to a page.
    for id in [&outage, &maintenance, &quiet] {
        page(&app, &format!("/incidents/{id}")).await;
    }
}

// --- the cache -------------------------------------------------------------------------------

/// Fetches `paths` (which the next fetch after a write must show fresh).
async fn fetch_all(app: &TestApp, paths: &[String]) -> Vec<(String, Reply)> {
    let mut out = Vec::new();
    for path in paths {
        // Twice: the second answer comes from the cache.
        app.get(path).await;
        out.push((path.clone(), app.get(path).await));
    }
    out
}

/// After a write: each `(path, needle, present)` now (and not before) has `needle` as
/// `present` says, under a new ETag.
async fn assert_fresh(
    app: &TestApp,
    write: &str,
    before: &[(String, Reply)],
    checks: &[(&str, &str, bool)],
) {
    for (path, needle, present) in checks {
        let old = &before
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} was not fetched before"))
            .1;
        assert_eq!(old.status, StatusCode::OK, "{write}: {path} before");
        assert_ne!(
            old.text.contains(needle),
            *present,
            "{write}: {path} already had {needle:?} as expected before the write"
        );
        let new = app.get(path).await;
        assert_eq!(new.status, StatusCode::OK, "{write}: {path}: {}", new.text);
        assert_eq!(
            new.text.contains(needle),
            *present,
            "{write}: {path} should {}contain {needle:?} on the next request:\n{}",
            if *present { "" } else { "not " },
            new.text
        );
        let (old_tag, new_tag) = (header(&old.headers, "etag"), header(&new.headers, "etag"));
        assert!(!old_tag.is_empty(), "{write}: {path} has no ETag");
        assert_ne!(old_tag, new_tag, "{write}: {path} kept its ETag");
    }
}

async fn every_write_shows_on_the_next_request(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let webhooks = app.component_id("Webhooks").await;
    let everything = |id: Option<&str>| {
        let mut paths: Vec<String> = [
            "/",
            "/history",
            "/history.atom",
            "/history.rss",
            "/api/v2/summary.json",
            "/api/v2/status.json",
            "/api/v2/components.json",
            "/api/v2/incidents.json",
            "/api/v2/incidents/unresolved.json",
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(id) = id {
            paths.push(format!("/incidents/{id}"));
        }
        paths
    };

    // Incident create.
    let before = fetch_all(&app, &everything(None)).await;
    let created = app
        .create_incident(json!({
            "name": "Probe alpha",
            "body": "First note.",
            "components": {api.clone(): "partial_outage"}
        }))
        .await;
    let id = id_of(&created);
    let incident_page = format!("/incidents/{id}");
    let ip = incident_page.as_str();
    assert_fresh(
        &app,
        "incident create",
        &before,
        &[
            ("/", "Probe alpha", true),
            ("/history", "Probe alpha", true),
            ("/history.atom", "Probe alpha", true),
            ("/history.rss", "Probe alpha", true),
            ("/api/v2/summary.json", "Probe alpha", true),
            ("/api/v2/incidents.json", "Probe alpha", true),
            ("/api/v2/incidents/unresolved.json", "Probe alpha", true),
            ("/api/v2/components.json", "partial_outage", true),
            ("/api/v2/status.json", "All Systems Operational", false),
        ],
    )
    .await;

    // Incident patch.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    app.patch_incident(&id, json!({"name": "Probe beta", "body": "Second note."}))
        .await
        .expect(200);
    assert_fresh(
        &app,
        "incident patch",
        &before,
        &[
            ("/", "Probe beta", true),
            (ip, "Probe beta", true),
            (ip, "Second note.", true),
            ("/history", "Probe beta", true),
            ("/history.atom", "Second note.", true),
            ("/history.rss", "Second note.", true),
            ("/api/v2/incidents.json", "Probe beta", true),
            ("/api/v2/summary.json", "Probe beta", true),
        ],
    )
    .await;

    // Update edit.
    let json = app
        .api(Method::GET, &format!("/incidents/{id}"), None)
        .await
        .expect(200)
        .clone();
    let newest = id_of(&json["incident_updates"][0]);
    let before = fetch_all(&app, &everything(Some(&id))).await;
    app.api(
        Method::PATCH,
        &format!("/incidents/{id}/incident_updates/{newest}"),
        Some(json!({"incident_update": {"body": "Edited note."}})),
    )
    .await
    .expect(200);
    assert_fresh(
        &app,
        "update edit",
        &before,
        &[
            ("/", "Edited note.", true),
            (ip, "Edited note.", true),
            ("/history.atom", "Edited note.", true),
            ("/history.rss", "Edited note.", true),
            ("/api/v2/incidents.json", "Edited note.", true),
            ("/api/v2/summary.json", "Edited note.", true),
        ],
    )
    .await;

    // Component create.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    let widget = id_of(
        app.api(
            Method::POST,
            "/components",
            Some(json!({"component": {"name": "Probe Widget", "description": "Widget text"}})),
        )
        .await
        .expect(201),
    );
    assert_fresh(
        &app,
        "component create",
        &before,
        &[
            ("/", "Probe Widget", true),
            ("/", "Widget text", true),
            ("/api/v2/components.json", "Probe Widget", true),
            ("/api/v2/summary.json", "Probe Widget", true),
        ],
    )
    .await;

    // Component update: the incident page names it too.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    app.api(
        Method::PATCH,
        &format!("/components/{api}"),
        Some(json!({"component": {"name": "Probe API", "description": "Probe description"}})),
    )
    .await
    .expect(200);
    assert_fresh(
        &app,
        "component update",
        &before,
        &[
            ("/", "Probe API", true),
            ("/", "Probe description", true),
            (ip, "This incident affected: Probe API.", true),
            ("/api/v2/components.json", "Probe description", true),
            ("/api/v2/summary.json", "Probe API", true),
        ],
    )
    .await;

    // Component delete.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    app.api(Method::DELETE, &format!("/components/{widget}"), None)
        .await
        .expect(204);
    assert_fresh(
        &app,
        "component delete",
        &before,
        &[
            ("/", "Probe Widget", false),
            ("/api/v2/components.json", "Probe Widget", false),
            ("/api/v2/summary.json", "Probe Widget", false),
        ],
    )
    .await;

    // Group create, update, delete.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    let group = id_of(
        app.api(
            Method::POST,
            "/component-groups",
            Some(json!({"component_group": {"name": "Probe Group", "components": [webhooks.clone()]}})),
        )
        .await
        .expect(201),
    );
    assert_fresh(
        &app,
        "group create",
        &before,
        &[
            ("/", "<span class=\"name\">Probe Group</span>", true),
            ("/api/v2/components.json", "Probe Group", true),
        ],
    )
    .await;
    let before = fetch_all(&app, &everything(Some(&id))).await;
    app.api(
        Method::PATCH,
        &format!("/component-groups/{group}"),
        Some(json!({"component_group": {"name": "Probe Renamed"}})),
    )
    .await
    .expect(200);
    assert_fresh(
        &app,
        "group update",
        &before,
        &[
            ("/", "Probe Renamed", true),
            ("/api/v2/components.json", "Probe Renamed", true),
        ],
    )
    .await;
    let before = fetch_all(&app, &everything(Some(&id))).await;
    let deleted = app
        .api(Method::DELETE, &format!("/component-groups/{group}"), None)
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.text);
    assert_fresh(
        &app,
        "group delete",
        &before,
        &[
            ("/", "Probe Renamed", false),
            ("/api/v2/components.json", "Probe Renamed", false),
        ],
    )
    .await;

    // Page PATCH: every page carries the name.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    let page_path = format!("/v1/pages/{}", app.page_id);
    let renamed = app
        .client
        .patch(app.url(&page_path))
        .header("Authorization", format!("OAuth {}", app.key))
        .json(&json!({"page": {"name": "Probe Page"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_fresh(
        &app,
        "page patch",
        &before,
        &[
            ("/", "Probe Page", true),
            (ip, "Incident Report for Probe Page", true),
            ("/history", "Probe Page", true),
            (
                "/history.atom",
                "Probe Page Status - Incident History",
                true,
            ),
            ("/history.rss", "Probe Page Status - Incident History", true),
            ("/api/v2/summary.json", "Probe Page", true),
            ("/api/v2/status.json", "Probe Page", true),
        ],
    )
    .await;

    // Incident delete.
    let before = fetch_all(&app, &everything(Some(&id))).await;
    app.api(Method::DELETE, &format!("/incidents/{id}"), None)
        .await
        .expect(200);
    assert_fresh(
        &app,
        "incident delete",
        &before,
        &[
            ("/", "Probe beta", false),
            ("/history", "Probe beta", false),
            ("/history.atom", "Probe beta", false),
            ("/history.rss", "Probe beta", false),
            ("/api/v2/incidents.json", "Probe beta", false),
            ("/api/v2/summary.json", "Probe beta", false),
            ("/api/v2/incidents/unresolved.json", "Probe beta", false),
        ],
    )
    .await;
    let gone = app.get(ip).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
    assert!(gone.text.contains("Page not found"));
}

async fn etags_answer_304(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = id_of(&app.create_incident(json!({"name": "Tagged"})).await);
    for path in [
        "/".to_owned(),
        format!("/incidents/{id}"),
        "/history".to_owned(),
        "/history.atom".to_owned(),
        "/history.rss".to_owned(),
        "/api/v2/summary.json".to_owned(),
    ] {
        let first = raw(&app, &path, &[]).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        let tag = first.header("etag").to_owned();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
            "{path}: {tag:?}"
        );
        assert_eq!(
            first.header("cache-control"),
            "public, max-age=10",
            "{path}"
        );
        assert!(first.header("vary").contains("Accept-Encoding"), "{path}");

        let again = raw(&app, &path, &[]).await;
        assert_eq!(
            again.header("etag"),
            tag,
            "{path}: stable while nothing changes"
        );
        assert_eq!(again.body, first.body, "{path}");

        for matching in [tag.clone(), format!("W/{tag}"), format!("\"other\", {tag}")] {
            let cached = raw(&app, &path, &[("If-None-Match", &matching)]).await;
            assert_eq!(
                cached.status,
                StatusCode::NOT_MODIFIED,
                "{path} with If-None-Match: {matching}"
            );
            assert!(cached.body.is_empty(), "{path}: 304 has no body");
            assert_eq!(cached.header("etag"), tag, "{path}");
            assert_eq!(cached.header("cache-control"), "public, max-age=10");
        }
        let other = raw(&app, &path, &[("If-None-Match", "\"other\"")]).await;
        assert_eq!(other.status, StatusCode::OK, "{path}");
        assert_eq!(other.body, first.body, "{path}");
    }

    // After a change the old tag no longer matches.
    let tag = raw(&app, "/", &[]).await.header("etag").to_owned();
    app.patch_incident(&id, json!({"name": "Retagged"}))
        .await
        .expect(200);
    let after = raw(&app, "/", &[("If-None-Match", &tag)]).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header("etag"), tag);
    assert!(String::from_utf8_lossy(&after.body).contains("Retagged"));
}

async fn compressed_bodies_match_identity(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = id_of(
        &app.create_incident(json!({"name": "Squeezed", "body": "Compress **me**."}))
            .await,
    );
    let html = page(&app, "/").await;
    let css = between(&html, "<link rel=\"stylesheet\" href=\"", "\">")
        .trim_start_matches("<link rel=\"stylesheet\" href=\"")
        .to_owned();
    for path in [
        "/".to_owned(),
        format!("/incidents/{id}"),
        "/history".to_owned(),
        "/history.atom".to_owned(),
        "/history.rss".to_owned(),
        "/api/v2/summary.json".to_owned(),
        css,
    ] {
        let plain = raw(&app, &path, &[]).await;
        assert_eq!(plain.status, StatusCode::OK, "{path}");
        assert_eq!(plain.header("content-encoding"), "", "{path}");
        assert!(!plain.body.is_empty(), "{path}");

        let identity = raw(&app, &path, &[("Accept-Encoding", "identity")]).await;
        assert_eq!(identity.header("content-encoding"), "", "{path}");
        assert_eq!(identity.body, plain.body, "{path}");

        let gzip = raw(&app, &path, &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(gzip.header("content-encoding"), "gzip", "{path}");
        assert_ne!(gzip.body, plain.body, "{path}: actually compressed");
        assert_eq!(gunzip(&gzip.body), plain.body, "{path}: gzip");

        let br = raw(&app, &path, &[("Accept-Encoding", "gzip, deflate, br")]).await;
        assert_eq!(br.header("content-encoding"), "br", "{path}");
        assert_eq!(unbrotli(&br.body), plain.body, "{path}: br");

        let refused = raw(&app, &path, &[("Accept-Encoding", "gzip, br;q=0")]).await;
        assert_eq!(refused.header("content-encoding"), "gzip", "{path}: br;q=0");
        assert_eq!(gunzip(&refused.body), plain.body, "{path}");

        for r in [&gzip, &br, &identity] {
            assert_eq!(r.header("etag"), plain.header("etag"), "{path}");
            assert_eq!(
                r.header("content-type"),
                plain.header("content-type"),
                "{path}"
            );
        }
    }
}

async fn refused_encodings_are_not_sent(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let plain = raw(&app, "/", &[]).await;
    // RFC 9110 §12.5.3: `*` stands for codings not listed; `q=0` means "not acceptable".
    for (accept, allowed) in [
        ("br;q=0, *", ["gzip", ""]),
        ("gzip;q=0, br;q=0, *", ["", ""]),
        ("br;q=0, gzip", ["gzip", ""]),
    ] {
        let reply = raw(&app, "/", &[("Accept-Encoding", accept)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept}");
        let coding = reply.header("content-encoding").to_owned();
        assert!(
            allowed.contains(&coding.as_str()),
            "Accept-Encoding: {accept} got Content-Encoding: {coding:?}"
        );
        let body = match coding.as_str() {
            "gzip" => gunzip(&reply.body),
            "br" => unbrotli(&reply.body),
            _ => reply.body.clone(),
        };
        assert_eq!(body, plain.body, "{accept}");
    }
}

// --- hostile text ----------------------------------------------------------------------------

const PAYLOADS: [&str; 5] = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "<iframe src=//evil>",
    "\"><svg onload=alert(1)>",
];

async fn hostile_text_is_inert_everywhere(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let body = PAYLOADS.join("\n\n")
        + "\n\n<a href=\"javascript:alert(2)\">y</a> <b onclick=\"x()\">z</b>";
    let mut incidents = Vec::new();
    for (n, name) in PAYLOADS.iter().enumerate() {
        let created = app
            .create_incident(json!({
                "name": format!("{name} incident {n}"),
                "body": body,
                "components": {api.clone(): "major_outage"}
            }))
            .await;
        let id = id_of(&created);
        app.patch_incident(&id, json!({"body": format!("{name} again")}))
            .await
            .expect(200);
        incidents.push(id);
    }
    let maintenance = id_of(
        &app.create_incident(json!({
            "name": PAYLOADS[4],
            "scheduled_for": "2099-01-01T00:00:00Z",
            "scheduled_until": "2099-01-01T01:00:00Z",
            "body": body
        }))
        .await,
    );
    incidents.push(maintenance);
    for (n, name) in PAYLOADS.iter().enumerate() {
        app.api(
            Method::POST,
            "/components",
            Some(json!({"component": {
                "name": format!("{name} c{n}"),
                "description": PAYLOADS[(n + 1) % PAYLOADS.len()]
            }})),
        )
        .await
        .expect(201);
    }
    let web = app.component_id("Web App").await;
    app.api(
        Method::PATCH,
        &format!("/components/{web}"),
        Some(json!({"component": {"name": PAYLOADS[1], "description": PAYLOADS[0], "status": "partial_outage"}})),
    )
    .await
    .expect(200);
    let webhooks = app.component_id("Webhooks").await;
    app.api(
        Method::POST,
        "/component-groups",
        Some(json!({"component_group": {"name": PAYLOADS[3], "components": [webhooks]}})),
    )
    .await
    .expect(201);
    let renamed = app
        .client
        .patch(app.url(&format!("/v1/pages/{}", app.page_id)))
        .header("Authorization", format!("OAuth {}", app.key))
        .json(&json!({"page": {"name": PAYLOADS[4]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);

    let status = page(&app, "/").await;
    let js = between(&status, "<script src=\"", "\"")
        .trim_start_matches("<script src=\"")
        .to_owned();
    assert!(js.starts_with("/static/"), "{js}");
    // The hostile text is on the page, as text.
    let text = unescape(&status);
    for shown in [
        "<script>alert(1)</script> incident 0",
        "<iframe src=//evil> incident 3",
        "<img src=x onerror=alert(1)> c1",
        "\"><svg onload=alert(1)> Status",
    ] {
        assert!(
            text.contains(shown),
            "{shown:?} not shown as text: {status}"
        );
    }

    let mut pages: Vec<String> = vec![
        "/".to_owned(),
        "/history".to_owned(),
        "/history?page=2".to_owned(),
    ];
    pages.extend(incidents.iter().map(|id| format!("/incidents/{id}")));
    for path in &pages {
        let html = page(&app, path).await;
        assert!(html.contains("alert(1)"), "{path} shows the text: {html}");
        assert_inert(path, &html, Some(&js));
    }
    for (path, status) in [
        ("/history?page=zero", StatusCode::BAD_REQUEST),
        ("/nope", StatusCode::NOT_FOUND),
        ("/incidents/zzzzzzzzzzzz", StatusCode::NOT_FOUND),
        ("/incidents/bad", StatusCode::NOT_FOUND),
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, status, "{path}");
        assert!(
            reply.text.contains("svg onload"),
            "{path} names the page: {}",
            reply.text
        );
        assert_inert(path, &reply.text, Some(&js));
    }

    // Feeds: the XML itself, and the HTML inside each entry.
    let atom = raw(&app, "/history.atom", &[]).await;
    let xml = String::from_utf8(atom.body.clone()).unwrap();
    assert_inert("/history.atom", &xml, None);
    let feed = atom_feed(&atom.body);
    assert_eq!(feed.entries().len(), incidents.len());
    for entry in feed.entries() {
        let html = entry.content().and_then(|c| c.value()).unwrap();
        assert!(html.contains("</strong> - "), "an update is there: {html}");
        assert_inert("atom entry", html, None);
        assert_eq!(
            entry.title().r#type,
            atom_syndication::TextType::Text,
            "a title is plain text"
        );
    }
    let rss = raw(&app, "/history.rss", &[]).await;
    let xml = String::from_utf8(rss.body.clone()).unwrap();
    assert_inert("/history.rss", &xml, None);
    let channel = rss_channel(&rss.body);
    assert_eq!(channel.items().len(), incidents.len());
    for item in channel.items() {
        let html = item.description().unwrap();
        assert!(html.contains("</strong> - "), "an update is there: {html}");
        assert_inert("rss item", html, None);
    }
}

// --- static files ----------------------------------------------------------------------------

async fn static_assets_are_immutable(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let html = page(&app, "/").await;
    let css = between(&html, "<link rel=\"stylesheet\" href=\"", "\">")
        .trim_start_matches("<link rel=\"stylesheet\" href=\"")
        .to_owned();
    let js = between(&html, "<script src=\"", "\"")
        .trim_start_matches("<script src=\"")
        .to_owned();
    let icon = between(&html, "<link rel=\"icon\" href=\"", "\"")
        .trim_start_matches("<link rel=\"icon\" href=\"")
        .to_owned();
    for (url, kind) in [
        (&css, "text/css"),
        (&js, "javascript"),
        (&icon, "image/svg+xml"),
    ] {
        assert!(url.starts_with("/static/"), "{url}");
        let asset = raw(&app, url, &[]).await;
        assert_eq!(asset.status, StatusCode::OK, "{url}");
        assert!(asset.header("cache-control").contains("immutable"), "{url}");
        assert!(asset.header("content-type").contains(kind), "{url}");
        assert!(!asset.body.is_empty(), "{url}");
        let tag = asset.header("etag").to_owned();
        let cached = raw(&app, url, &[("If-None-Match", &tag)]).await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED, "{url}");
    }
    // The same URLs on every page.
    let history = page(&app, "/history").await;
    assert!(history.contains(&css) && history.contains(&js));

    for missing in [
        "/static/nope.css",
        "/static/herald.css",
        "/static/herald.js",
    ] {
        let reply = app.get(missing).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(reply.text.contains("Page not found"), "{missing}");
        assert!(
            !header(&reply.headers, "cache-control").contains("immutable"),
            "{missing}"
        );
    }
}
