//! Email subscribers, end to end: the public form and the API on one side, a real SMTP
//! server spoken to over TCP (`smtp.rs`) on the other. The delivery worker is driven
//! one round at a time (`Worker::round`) so that what was sent is known when a round
//! returns; one test runs the app's own worker loop instead.

use std::collections::{BTreeMap, BTreeSet};

use herald::config::Settings;
use herald::notify::links::LinkSigner;
use herald::notify::worker::{Round, Worker};
use herald::store::Store;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, Backend, Reply, TestApp, SITE_TOML};
use crate::on_both_backends;
use crate::smtp::{Received, SmtpServer, Stage};

on_both_backends!(
    confirmation_flow_through_the_public_form,
    confirmation_links_expire_and_work_once,
    subscribe_answers_the_same_whatever_the_address,
    form_refuses_bad_input_and_sends_nothing,
    api_refuses_bad_subscribers_and_sends_nothing,
    subscribe_is_rate_limited_and_has_a_honeypot,
    update_mail_content_and_headers,
    unsubscribe_link_follows_the_base_url_scheme,
    incident_text_cannot_inject_headers,
    updates_of_one_incident_thread_together,
    component_choice_filters_who_hears,
    one_click_unsubscribe_and_nothing_after,
    nothing_for_unconfirmed_backfilled_or_silent,
    retry_after_the_smtp_server_was_down,
    refusals_are_retried_or_given_up,
    two_workers_racing_send_each_mail_once,
    subscriber_api_lists_creates_updates_and_deletes,
    metrics_show_queue_depth_age_and_counts,
    outbox_age_counts_from_the_update_not_the_fan_out,
);

/// The site's public URL (site.toml's `url`), which links in mails start with.
const BASE: &str = "https://status.acme.test";

/// An app whose mail goes to a test SMTP server, with a worker the test drives.
struct Mailroom {
    app: TestApp,
    smtp: SmtpServer,
    worker: Worker,
    links: LinkSigner,
    base: String,
}

async fn mailroom(backend: Backend) -> Option<Mailroom> {
    mailroom_with(backend, |_| {}).await
}

async fn mailroom_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<Mailroom> {
    let smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let app = spawn_with(backend, SITE_TOML, |settings| {
        settings.smtp_url = Some(smtp_url);
        settings.run_worker = false;
        configure(settings);
    })
    .await?;
    let base = app
        .settings
        .base_url
        .clone()
        .unwrap_or_else(|| BASE.to_owned());
    let links = LinkSigner::new(&app.store.secret("links").await.unwrap(), &base);
    let worker = herald::web::build_worker(&app.settings, &app.store, links.clone())
        .await
        .unwrap();
    Some(Mailroom {
        app,
        smtp,
        worker,
        links,
        base,
    })
}

/// The value of the `name` attribute's hidden input in a form.
#[track_caller]
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The CSRF cookie a page set, as `name=value`.
#[track_caller]
fn csrf_cookie(reply: &Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-herald_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no CSRF cookie set: {:?}", reply.headers))
        .to_owned()
}

/// The first URL in `text` that starts with `prefix`.
#[track_caller]
fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no link starting {prefix} in:\n{text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_owned()
}

fn recipients(mails: &[Received]) -> BTreeSet<String> {
    mails.iter().flat_map(|m| m.to.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

impl Mailroom {
    async fn round(&self) -> Round {
        self.worker.round().await.unwrap()
    }

    /// A link from a mail, pointed at the test's app instead of the public URL.
    #[track_caller]
    fn local(&self, url: &str) -> String {
        assert!(
            url.starts_with(&self.base),
            "{url} is not under {}",
            self.base
        );
        format!("{}{}", self.app.address, &url[self.base.len()..])
    }

    /// An active subscriber made through the API (no confirmation): its id.
    async fn subscriber(&self, email: &str, components: Option<Vec<String>>) -> String {
        let mut body = json!({"email": email, "skip_confirmation_notification": true});
        if let Some(ids) = components {
            body["component_ids"] = json!(ids);
        }
        let reply = self
            .app
            .api(
                Method::POST,
                "/subscribers",
                Some(json!({ "subscriber": body })),
            )
            .await;
        assert_eq!(reply.expect(201)["state"], "active");
        id_of(&reply.json)
    }

    async fn subscriber_json(&self, id: &str) -> Value {
        self.app
            .api(Method::GET, &format!("/subscribers/{id}"), None)
            .await
            .expect(200)
            .clone()
    }

    async fn state(&self, id: &str) -> String {
        self.subscriber_json(id).await["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn subscribers(&self, query: &str) -> Vec<Value> {
        self.app
            .api(Method::GET, &format!("/subscribers{query}"), None)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .clone()
    }

    /// POSTs a form, with the CSRF cookie when given.
    async fn post_form(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .app
            .client
            .post(self.app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            req = req.header("Cookie", cookie);
        }
        Reply::read(req.send().await.unwrap()).await
    }

    /// The subscribe form: its CSRF cookie and token.
    async fn subscribe_form(&self) -> (String, String) {
        let page = self.app.get("/subscribe").await;
        page.expect(200);
        (csrf_cookie(&page), hidden(&page.text, "csrf"))
    }

    /// Opens a confirmation link like a person would and presses the button.
    async fn confirm(&self, confirm_url: &str) -> Reply {
        let page = self
            .app
            .get(&self.local(confirm_url)[self.app.address.len()..])
            .await;
        page.expect(200);
        let cookie = csrf_cookie(&page);
        let action = format!(
            "/subscriptions/{}/confirm",
            confirm_url.split('/').nth(4).unwrap()
        );
        assert!(
            page.text.contains(&format!("action=\"{action}\"")),
            "{}",
            page.text
        );
        let fields: Vec<(String, String)> = ["nonce", "expires", "token", "csrf"]
            .iter()
            .map(|f| (f.to_string(), hidden(&page.text, f)))
            .collect();
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.post_form(&action, Some(&cookie), &fields).await
    }

    async fn metrics(&self) -> BTreeMap<String, f64> {
        let reply = self.app.get("/metrics").await;
        reply.expect(200);
        reply
            .text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (name, value) = l.split_once(' ').unwrap();
                (name.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    /// Makes every waiting delivery due now (skips the retry back-off); how many.
    async fn make_due(&self) -> u64 {
        self.app
            .execute_sql(
                "UPDATE deliveries SET next_attempt_at = created_at
                 WHERE sent_at IS NULL AND failed_at IS NULL",
                &[],
            )
            .await
    }
}

fn round(events: usize, sent: usize, retried: usize, failed: usize) -> Round {
    Round {
        events,
        sent,
        retried,
        failed,
    }
}

// --- double opt-in -------------------------------------------------------------------------

async fn confirmation_flow_through_the_public_form(backend: Backend) {
    // This one runs the app's own worker loop, as `herald serve` does.
    let Some(m) = mailroom_with(backend, |s| s.run_worker = true).await else {
        return;
    };
    let api = m.app.component_id("API").await;
    let page = m.app.get("/subscribe").await;
    page.expect(200);
    assert!(page.text.contains("name=\"website\""), "honeypot field");
    assert!(
        page.text.contains(&format!("value=\"{api}\"")),
        "API is a choice"
    );
    let cookie = csrf_cookie(&page);
    let csrf = hidden(&page.text, "csrf");
    assert_eq!(cookie, format!("__Host-herald_csrf={csrf}"));

    let thanks = m
        .post_form(
            "/subscribe",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("email", "Alice@Example.com"),
                ("scope", "chosen"),
                ("component_ids", &api),
                ("website", ""),
            ],
        )
        .await;
    thanks.expect(200);
    assert!(thanks.text.contains("Check your inbox"), "{}", thanks.text);

    let mail = m.smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.from, "status@acme.test");
    assert_eq!(mail.to, ["Alice@Example.com"]);
    assert_eq!(
        mail.expect_header("Subject"),
        "[Acme Cloud] Confirm your subscription"
    );
    let from = mail.expect_header("From");
    assert!(
        from.contains("Acme Cloud") && from.contains("<status@acme.test>"),
        "{from}"
    );
    assert!(mail.expect_header("To").contains("Alice@Example.com"));

    let pending = m.subscribers("?state=unconfirmed").await;
    assert_eq!(pending.len(), 1);
    let id = id_of(&pending[0]);
    assert_eq!(pending[0]["components"], json!([api]));
    let confirm_url = link_in(&mail.text(), &format!("{BASE}/subscriptions/{id}/confirm?"));
    assert!(mail.html().contains("Confirm subscription"));
    assert!(
        mail.expect_header("Message-ID")
            .starts_with(&format!("<confirm-{id}.")),
        "{:?}",
        mail.header("Message-ID")
    );

    // Mail scanners fetch links: a GET shows a button and confirms nobody.
    let local = m.local(&confirm_url);
    for _ in 0..2 {
        let scanned = m.app.client.get(&local).send().await.unwrap();
        assert_eq!(scanned.status(), 200);
        assert!(scanned
            .text()
            .await
            .unwrap()
            .contains("Confirm subscription"));
    }
    assert_eq!(m.state(&id).await, "unconfirmed");

    // A forged token is refused.
    let last = if local.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &local[..local.len() - 1]);
    assert_eq!(
        m.app.client.get(&forged).send().await.unwrap().status(),
        404
    );

    // The button without the CSRF cookie does nothing.
    let q: BTreeMap<String, String> =
        form_urlencoded::parse(confirm_url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let no_cookie = m
        .post_form(
            &format!("/subscriptions/{id}/confirm"),
            None,
            &[
                ("nonce", &q["nonce"]),
                ("expires", &q["expires"]),
                ("token", &q["token"]),
            ],
        )
        .await;
    no_cookie.expect(403);
    assert_eq!(m.state(&id).await, "unconfirmed");

    let confirmed = m.confirm(&confirm_url).await;
    confirmed.expect(200);
    assert!(
        confirmed.text.contains("You are subscribed"),
        "{}",
        confirmed.text
    );
    let subscriber = m.subscriber_json(&id).await;
    assert_eq!(subscriber["state"], "active");
    assert_eq!(subscriber["components"], json!([api]));

    // From now on, the subscriber hears about the chosen component.
    m.app
        .create_incident(json!({"name": "API down", "components": {api.clone(): "major_outage"}}))
        .await;
    let mails = m.smtp.wait_for(2).await;
    assert_eq!(mails[1].to, ["Alice@Example.com"]);
    assert_eq!(
        mails[1].expect_header("Subject"),
        "[Acme Cloud] Investigating: API down"
    );
}

async fn confirmation_links_expire_and_work_once(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let created = m
        .app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {"email": "bob@example.com"}})),
        )
        .await;
    assert_eq!(created.expect(201)["state"], "unconfirmed");
    let id = id_of(&created.json);
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let first = m.smtp.received()[0].text();
    let link = link_in(&first, &format!("{BASE}/subscriptions/{id}/confirm?"));

    // The same nonce, but signed as sent 8 days ago: expired.
    let nonce = m
        .app
        .store
        .get_subscriber(&id)
        .await
        .unwrap()
        .row
        .confirmation_nonce
        .unwrap();
    assert!(link.contains(&format!("nonce={nonce}&")), "{link}");
    let expired = m
        .links
        .confirm_url(&id, &nonce, herald::time::now() - chrono::Duration::days(8));
    let page = m.app.client.get(m.local(&expired)).send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("This link is not valid"));
    let (cookie, csrf) = m.subscribe_form().await;
    let q: BTreeMap<String, String> =
        form_urlencoded::parse(expired.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let expired_fields = [
        ("nonce", q["nonce"].as_str()),
        ("expires", q["expires"].as_str()),
        ("token", q["token"].as_str()),
        ("csrf", csrf.as_str()),
    ];
    m.post_form(
        &format!("/subscriptions/{id}/confirm"),
        Some(&cookie),
        &expired_fields,
    )
    .await
    .expect(404);
    assert_eq!(m.state(&id).await, "unconfirmed");

    m.confirm(&link).await.expect(200);
    assert_eq!(m.state(&id).await, "active");

    // After leaving, the old link subscribes nobody again.
    m.app
        .api(Method::DELETE, &format!("/subscribers/{id}"), None)
        .await
        .expect(200);
    let again = m.confirm(&link).await;
    again.expect(404);
    assert!(again.text.contains("This link is not valid"));
    assert_eq!(m.state(&id).await, "unsubscribed");

    // Subscribing again sends a new link; the old one stays dead.
    m.app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {"email": "bob@example.com"}})),
        )
        .await
        .expect(201);
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let second = m.smtp.received()[1].text();
    let new_link = link_in(&second, &format!("{BASE}/subscriptions/{id}/confirm?"));
    assert_ne!(new_link, link);
    m.confirm(&link).await.expect(404);
    assert_eq!(m.state(&id).await, "unconfirmed");
    m.confirm(&new_link).await.expect(200);
    assert_eq!(m.state(&id).await, "active");
}

async fn subscribe_answers_the_same_whatever_the_address(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let api = m.app.component_id("API").await;
    let carol = m
        .subscriber("carol@example.com", Some(vec![api.clone()]))
        .await;
    let (cookie, csrf) = m.subscribe_form().await;
    let mut replies = Vec::new();
    // New, pending (another case: the same address), already active.
    for email in ["dave@example.com", "DAVE@Example.com", "carol@example.com"] {
        let reply = m
            .post_form(
                "/subscribe",
                Some(&cookie),
                &[("csrf", &csrf), ("email", email), ("scope", "all")],
            )
            .await;
        replies.push((reply.status, reply.text));
    }
    assert_eq!(replies[0].0, 200);
    assert!(replies[0].1.contains("Check your inbox"));
    assert_eq!(replies[1], replies[0], "pending looks like new");
    assert_eq!(replies[2], replies[0], "active looks like new");

    // One confirmation, to the one new address; nothing to the active one.
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let mails = m.smtp.received();
    assert_eq!(recipients(&mails), set(&["dave@example.com"]));
    assert_eq!(
        m.subscribers("?state=all").await.len(),
        2,
        "one per address"
    );
    let dave = id_of(&m.subscribers("?state=unconfirmed").await[0]);

    // A stranger can't change an active subscriber's choice.
    let carol_json = m.subscriber_json(&carol).await;
    assert_eq!(carol_json["state"], "active");
    assert_eq!(carol_json["components"], json!([api]));

    // An operator may send the confirmation again, to an unconfirmed address only.
    m.app
        .api(
            Method::POST,
            &format!("/subscribers/{dave}/resend_confirmation"),
            None,
        )
        .await
        .expect(201);
    m.app
        .api(
            Method::POST,
            &format!("/subscribers/{carol}/resend_confirmation"),
            None,
        )
        .await
        .expect(422);
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    assert_eq!(m.smtp.received_by("dave@example.com").len(), 2);
    assert_eq!(m.smtp.received().len(), 2);
}

async fn form_refuses_bad_input_and_sends_nothing(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let (cookie, csrf) = m.subscribe_form().await;
    let long = format!("{}@example.com", "a".repeat(250));
    // Five: the rate limit lets five through.
    let cases: [(&str, &str, Option<&str>, &str); 5] = [
        (
            "not-an-address",
            "all",
            None,
            "is not a valid email address",
        ),
        (
            "eve@example.com\r\nBcc: victim@example.com",
            "all",
            None,
            "must be a single email address on one line",
        ),
        (&long, "all", None, "is too long"),
        (
            "frank@example.com",
            "chosen",
            Some("no-such-component"),
            "unknown component id",
        ),
        (
            "frank@example.com",
            "chosen",
            None,
            "Choose at least one component",
        ),
    ];
    for (email, scope, component, message) in cases {
        let mut fields = vec![("csrf", csrf.as_str()), ("email", email), ("scope", scope)];
        if let Some(c) = component {
            fields.push(("component_ids", c));
        }
        let reply = m.post_form("/subscribe", Some(&cookie), &fields).await;
        assert_eq!(reply.status, 422, "{email:?}: {}", reply.text);
        assert!(reply.text.contains(message), "{email:?}: {}", reply.text);
        assert!(
            reply.text.contains("action=\"/subscribe\""),
            "the form again"
        );
    }
    let reply = m
        .post_form(
            "/subscribe",
            Some(&cookie),
            &[("csrf", &csrf), ("email", "x@example.com")],
        )
        .await;
    assert_eq!(reply.status, 429, "the five refusals counted");

    assert!(m.subscribers("?state=all").await.is_empty());
    assert_eq!(m.round().await, Round::default());
    assert!(m.smtp.received().is_empty());
    assert_eq!(m.smtp.connections(), 0, "nothing even tried to send");
}

async fn api_refuses_bad_subscribers_and_sends_nothing(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let long = format!("{}@example.com", "a".repeat(250));
    let cases = [
        (
            json!({"email": "nobody"}),
            "subscriber[email] is not a valid email address",
        ),
        (json!({"email": ""}), "subscriber[email] can't be blank"),
        (
            json!({"email": "x@example.com\r\nBcc: victim@example.com"}),
            "subscriber[email] must be a single email address on one line",
        ),
        (
            json!({"email": "x@example.com\nSubject: hi"}),
            "subscriber[email] must be a single email address on one line",
        ),
        (json!({"email": long}), "subscriber[email] is too long"),
        (
            json!({"email": "ok@example.com", "component_ids": ["no-such-component"]}),
            "subscriber[component_ids] names an unknown component id",
        ),
        (
            json!({"phone_number": "+15555550100"}),
            "Herald sends email only",
        ),
    ];
    for (body, message) in cases {
        let reply = m
            .app
            .api(
                Method::POST,
                "/subscribers",
                Some(json!({ "subscriber": body })),
            )
            .await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        assert!(reply.error().contains(message), "{body}: {}", reply.error());
    }
    assert!(m.subscribers("?state=all").await.is_empty());
    assert_eq!(m.round().await, Round::default());
    assert!(m.smtp.received().is_empty());
}

async fn subscribe_is_rate_limited_and_has_a_honeypot(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let (cookie, csrf) = m.subscribe_form().await;

    // Without the form's cookie: refused before anything counts.
    let forged = m
        .post_form(
            "/subscribe",
            None,
            &[("csrf", &csrf), ("email", "x@example.com")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.text.contains("This form has expired"));

    let bot = m
        .post_form(
            "/subscribe",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("email", "bot@example.com"),
                ("website", "http://spam.example"),
            ],
        )
        .await;
    bot.expect(200);
    assert!(bot.text.contains("Check your inbox"), "bots are thanked");
    for i in 1..=4 {
        let email = format!("person{i}@example.com");
        let reply = m
            .post_form(
                "/subscribe",
                Some(&cookie),
                &[("csrf", &csrf), ("email", &email)],
            )
            .await;
        assert_eq!(reply.status, 200, "{email}: {}", reply.text);
    }
    let limited = m
        .post_form(
            "/subscribe",
            Some(&cookie),
            &[("csrf", &csrf), ("email", "late@example.com")],
        )
        .await;
    assert_eq!(limited.status, 429);
    assert!(
        limited.text.contains("Too many requests"),
        "{}",
        limited.text
    );
    assert!(limited.text.contains("action=\"/subscribe\""));

    let emails: BTreeSet<String> = m
        .subscribers("?state=all")
        .await
        .iter()
        .map(|s| s["email"].as_str().unwrap().to_owned())
        .collect();
    let people = set(&[
        "person1@example.com",
        "person2@example.com",
        "person3@example.com",
        "person4@example.com",
    ]);
    assert_eq!(emails, people);
    assert_eq!(m.round().await, round(4, 4, 0, 0));
    assert_eq!(recipients(&m.smtp.received()), people);
}

// --- what update mails look like -----------------------------------------------------------

async fn update_mail_content_and_headers(backend: Backend) {
    let Some(m) = mailroom_with(backend, |s| {
        s.mail_reply_to = Some("help@acme.test".to_owned())
    })
    .await
    else {
        return;
    };
    let api = m.app.component_id("API").await;
    let sid = m.subscriber("grace@example.com", None).await;
    let created = m
        .app
        .create_incident(json!({
            "name": "Elevated API error rates",
            "body": "We are **investigating** <script>alert(1)</script> errors.",
            "components": { api.clone(): "major_outage" }
        }))
        .await;
    let iid = id_of(&created);
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let mails = m.smtp.received();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];

    assert_eq!(mail.from, "status@acme.test");
    assert_eq!(mail.to, ["grace@example.com"]);
    assert_eq!(
        mail.expect_header("Subject"),
        "[Acme Cloud] Investigating: Elevated API error rates"
    );
    let from = mail.expect_header("From");
    assert!(
        from.contains("Acme Cloud") && from.contains("<status@acme.test>"),
        "{from}"
    );
    assert_eq!(mail.expect_header("To"), "grace@example.com");
    assert!(mail.expect_header("Reply-To").contains("<help@acme.test>"));
    assert_eq!(
        mail.expect_header("Message-ID"),
        format!("<incident-{iid}.{sid}@acme.test>")
    );
    assert_eq!(
        mail.header("In-Reply-To"),
        None,
        "the first mail starts the thread"
    );
    assert_eq!(mail.header("References"), None);
    assert_eq!(mail.expect_header("Auto-Submitted"), "auto-generated");
    assert!(mail.header("Date").is_some());
    assert_eq!(
        mail.expect_header("List-Unsubscribe"),
        format!(
            "<{}>, <mailto:help@acme.test?subject=unsubscribe%20{sid}>",
            m.links.unsubscribe_url(&sid)
        )
    );
    assert!(m.links.unsubscribe_url(&sid).starts_with(&format!(
        "https://status.acme.test/subscriptions/{sid}/unsubscribe?token="
    )));
    assert_eq!(
        mail.expect_header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert!(mail
        .expect_header("Content-Type")
        .starts_with("multipart/alternative"));
    assert_eq!(mail.header_count("Bcc"), 0);

    let text = mail.text();
    for expected in [
        "Investigating: Elevated API error rates\nAcme Cloud".to_owned(),
        "We are **investigating**".to_owned(),
        "Affected components:\n- API: Major Outage".to_owned(),
        "Posted ".to_owned(),
        format!("View the incident: {BASE}/incidents/{iid}"),
        format!("Manage your subscription: {}", m.links.manage_url(&sid)),
        format!("Unsubscribe: {}", m.links.unsubscribe_url(&sid)),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    let html = mail.html();
    assert!(html.contains("<strong>investigating</strong>"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("<li>API: Major Outage</li>"), "{html}");
    assert!(html.contains(&format!("{BASE}/incidents/{iid}")));
    assert!(html.contains(&m.links.manage_url(&sid)));
}

async fn unsubscribe_link_follows_the_base_url_scheme(backend: Backend) {
    let Some(m) = mailroom_with(backend, |s| {
        s.base_url = Some("http://status.acme.test".to_owned())
    })
    .await
    else {
        return;
    };
    let sid = m.subscriber("hank@example.com", None).await;
    m.app.create_incident(json!({"name": "Slow"})).await;
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let header = m.smtp.received()[0].expect_header("List-Unsubscribe");
    assert!(
        header.starts_with(&format!(
            "<http://status.acme.test/subscriptions/{sid}/unsubscribe?token="
        )),
        "{header}"
    );
    assert!(header.ends_with(&format!(
        "<mailto:status@acme.test?subject=unsubscribe%20{sid}>"
    )));
}

async fn incident_text_cannot_inject_headers(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    m.subscriber("ivan@example.com", None).await;
    // A name goes into the Subject: a line break in it is refused.
    let refused = m
        .app
        .api(
            Method::POST,
            "/incidents",
            Some(json!({"incident": {"name": "Outage\r\nBcc: victim@evil.test"}})),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused
            .error()
            .contains("incident[name] must be a single line"),
        "{}",
        refused.error()
    );
    assert_eq!(m.round().await, Round::default());

    // A body may hold anything: header-like lines and SMTP's end-of-data stay text.
    m.app
        .create_incident(json!({
            "name": "Outage",
            "body": "First line\r\nBcc: victim@evil.test\r\n.\r\nMAIL FROM:<x@evil.test>\r\n.hidden"
        }))
        .await;
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let mails = m.smtp.received();
    assert_eq!(mails.len(), 1, "one mail, one transaction");
    let mail = &mails[0];
    assert_eq!(mail.to, ["ivan@example.com"]);
    assert_eq!(mail.header_count("Bcc"), 0, "{}", mail.data);
    assert_eq!(mail.header_count("Subject"), 1);
    assert_eq!(
        mail.expect_header("Subject"),
        "[Acme Cloud] Investigating: Outage"
    );
    let text = mail.text();
    assert!(
        text.contains("First line\nBcc: victim@evil.test\n.\nMAIL FROM:<x@evil.test>\n.hidden"),
        "the body arrived whole:\n{text}"
    );
    assert!(m.smtp.refused().is_empty());
}

async fn updates_of_one_incident_thread_together(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let ann = m.subscriber("ann@example.com", None).await;
    let ben = m.subscriber("ben@example.com", None).await;
    let iid = id_of(
        &m.app
            .create_incident(json!({"name": "Login failures"}))
            .await,
    );
    for change in [
        json!({"status": "identified", "body": "Found it."}),
        json!({"body": "Still on it."}),
        json!({"status": "resolved", "body": "Fixed."}),
    ] {
        m.app.patch_incident(&iid, change).await.expect(200);
    }
    assert_eq!(m.round().await, round(4, 8, 0, 0));
    let incident = m
        .app
        .api(Method::GET, &format!("/incidents/{iid}"), None)
        .await
        .expect(200)
        .clone();
    // Oldest first.
    let mut updates: Vec<String> = incident["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    updates.reverse();
    assert_eq!(updates.len(), 4);

    let mut roots = Vec::new();
    for (sid, email) in [(&ann, "ann@example.com"), (&ben, "ben@example.com")] {
        let mails = m.smtp.received_by(email);
        assert_eq!(mails.len(), 4);
        let by_id: BTreeMap<String, &Received> = mails
            .iter()
            .map(|m| (m.expect_header("Message-ID"), m))
            .collect();
        assert_eq!(by_id.len(), 4, "every mail has its own Message-ID");
        let root = format!("<incident-{iid}.{sid}@acme.test>");
        let first = by_id
            .get(&root)
            .expect("the first update's mail is the root");
        assert_eq!(
            first.expect_header("Subject"),
            "[Acme Cloud] Investigating: Login failures"
        );
        assert_eq!(first.header("In-Reply-To"), None);
        for (update, label) in updates[1..]
            .iter()
            .zip(["Identified", "Update", "Resolved"])
        {
            let id = format!("<update-{update}.{sid}@acme.test>");
            let mail = by_id
                .get(&id)
                .unwrap_or_else(|| panic!("no mail {id} among {:?}", by_id.keys()));
            assert_eq!(
                mail.expect_header("Subject"),
                format!("[Acme Cloud] {label}: Login failures")
            );
            assert_eq!(mail.expect_header("In-Reply-To"), root);
            assert_eq!(mail.expect_header("References"), root);
        }
        roots.push(root);
    }
    assert_ne!(roots[0], roots[1], "threads are per subscriber");
}

// --- who hears about what ------------------------------------------------------------------

async fn component_choice_filters_who_hears(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let api = m.app.component_id("API").await;
    let web = m.app.component_id("Web App").await;
    let everything = m.subscriber("all@example.com", None).await;
    let api_only = m
        .subscriber("api@example.com", Some(vec![api.clone()]))
        .await;
    let web_only = m
        .subscriber("web@example.com", Some(vec![web.clone()]))
        .await;
    let mut seen = 0;
    let mut next_recipients = |mails: Vec<Received>| {
        let new = recipients(&mails[seen..]);
        seen = mails.len();
        new
    };

    m.app
        .create_incident(json!({"name": "API", "components": {api.clone(): "partial_outage"}}))
        .await;
    m.round().await;
    assert_eq!(
        next_recipients(m.smtp.received()),
        set(&["all@example.com", "api@example.com"])
    );

    // Naming no component: page-wide news, for everyone.
    m.app.create_incident(json!({"name": "Everything"})).await;
    m.round().await;
    assert_eq!(
        next_recipients(m.smtp.received()),
        set(&["all@example.com", "api@example.com", "web@example.com"])
    );

    let web_incident = m
        .app
        .create_incident(
            json!({"name": "Web", "components": {web.clone(): "degraded_performance"}}),
        )
        .await;
    m.round().await;
    assert_eq!(
        next_recipients(m.smtp.received()),
        set(&["all@example.com", "web@example.com"])
    );

    // The API changes a choice...
    let patched = m
        .app
        .api(
            Method::PATCH,
            &format!("/subscribers/{api_only}"),
            Some(json!({"component_ids": [web.clone()]})),
        )
        .await;
    assert_eq!(patched.expect(200)["components"], json!([web]));
    // ...and so does the manage page behind the signed link.
    let manage = m.local(&m.links.manage_url(&web_only));
    let page = m.app.client.get(&manage).send().await.unwrap();
    let page = Reply::read(page).await;
    page.expect(200);
    assert!(page.text.contains("web@example.com"));
    let cookie = csrf_cookie(&page);
    let csrf = hidden(&page.text, "csrf");
    let saved = m
        .post_form(
            &manage[m.app.address.len()..],
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("scope", "chosen"),
                ("component_ids", &api),
            ],
        )
        .await;
    saved.expect(200);
    assert!(saved.text.contains("Saved."), "{}", saved.text);
    assert_eq!(
        m.subscriber_json(&web_only).await["components"],
        json!([api])
    );
    // A forged manage link changes nothing.
    let forged = m
        .local(&m.links.manage_url(&everything))
        .replace(&everything, &web_only);
    let refused = m
        .post_form(
            &forged[m.app.address.len()..],
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("scope", "chosen"),
                ("component_ids", &web),
            ],
        )
        .await;
    refused.expect(404);
    assert_eq!(
        m.subscriber_json(&web_only).await["components"],
        json!([api])
    );

    m.app
        .patch_incident(&id_of(&web_incident), json!({"body": "Still slow."}))
        .await
        .expect(200);
    m.round().await;
    assert_eq!(
        next_recipients(m.smtp.received()),
        set(&["all@example.com", "api@example.com"])
    );

    // An empty list means every component again.
    let all = m
        .app
        .api(
            Method::PATCH,
            &format!("/subscribers/{web_only}"),
            Some(json!({"component_ids": []})),
        )
        .await;
    let components = all.expect(200)["components"].as_array().unwrap().clone();
    assert!(components.contains(&json!(api)) && components.contains(&json!(web)));
    m.app
        .patch_incident(
            &id_of(&web_incident),
            json!({"status": "resolved", "body": "Fast."}),
        )
        .await
        .expect(200);
    m.round().await;
    assert_eq!(
        next_recipients(m.smtp.received()),
        set(&["all@example.com", "api@example.com", "web@example.com"])
    );
}

async fn one_click_unsubscribe_and_nothing_after(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let amy = m.subscriber("amy@example.com", None).await;
    let bea = m.subscriber("bea@example.com", None).await;
    let iid = id_of(
        &m.app
            .create_incident(json!({"name": "Queue backlog"}))
            .await,
    );
    assert_eq!(m.round().await, round(1, 2, 0, 0));
    let mail = m.smtp.received_by("amy@example.com").remove(0);
    let header = mail.expect_header("List-Unsubscribe");
    let (https, mailto) = header.split_once(", ").unwrap();
    let url = https.trim_matches(['<', '>']).to_owned();
    assert!(url.starts_with(&format!("{BASE}/subscriptions/{amy}/unsubscribe?token=")));
    assert_eq!(
        mailto,
        format!("<mailto:status@acme.test?subject=unsubscribe%20{amy}>")
    );
    assert!(mail.text().contains(&format!("Unsubscribe: {url}")));

    // A scanner following the link unsubscribes nobody.
    let shown = Reply::read(m.app.client.get(m.local(&url)).send().await.unwrap()).await;
    shown.expect(200);
    assert!(shown.text.contains("Press the button"), "{}", shown.text);
    assert_eq!(m.state(&amy).await, "active");

    // RFC 8058: a POST of List-Unsubscribe=One-Click, no cookie, no CSRF token.
    for _ in 0..2 {
        let done = m
            .app
            .client
            .post(m.local(&url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        let done = Reply::read(done).await;
        done.expect(200);
        assert!(done.text.contains("You are unsubscribed"));
        assert_eq!(m.state(&amy).await, "unsubscribed");
    }
    // Another subscriber's id with amy's token: refused.
    let forged = m.local(&url).replace(&amy, &bea);
    let refused = m
        .app
        .client
        .post(forged)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(m.state(&bea).await, "active");

    m.app
        .patch_incident(&iid, json!({"status": "resolved", "body": "Drained."}))
        .await
        .expect(200);
    m.app.create_incident(json!({"name": "Another one"})).await;
    assert_eq!(m.round().await, round(2, 2, 0, 0));
    assert_eq!(
        m.smtp.received_by("amy@example.com").len(),
        1,
        "nothing after leaving"
    );
    assert_eq!(m.smtp.received_by("bea@example.com").len(), 3);

    // The manage link still opens, and says so.
    let manage = Reply::read(
        m.app
            .client
            .get(m.local(&m.links.manage_url(&amy)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    manage.expect(200);
    assert!(manage.text.contains("(unsubscribed)"), "{}", manage.text);
    assert!(!manage.text.contains("Save my choice"));
}

async fn nothing_for_unconfirmed_backfilled_or_silent(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let api = m.app.component_id("API").await;
    let active = m.subscriber("act@example.com", None).await;
    m.app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {"email": "pen@example.com"}})),
        )
        .await
        .expect(201);
    assert_eq!(m.round().await, round(1, 1, 0, 0), "the confirmation");

    m.app
        .create_incident(json!({
            "name": "Old outage", "backfilled": true, "backfill_date": "2024-03-14",
            "component_ids": [api.clone()]
        }))
        .await;
    assert_eq!(m.round().await, Round::default(), "backfilled: nothing");

    let quiet = id_of(
        &m.app
            .create_incident(json!({
                "name": "Quiet", "deliver_notifications": false,
                "components": {api.clone(): "degraded_performance"}
            }))
            .await,
    );
    m.app
        .patch_incident(
            &quiet,
            json!({"body": "A note.", "deliver_notifications": false}),
        )
        .await
        .expect(200);
    assert_eq!(m.round().await, Round::default(), "silent: nothing");

    m.app
        .patch_incident(
            &quiet,
            json!({"status": "identified", "body": "Now we tell."}),
        )
        .await
        .expect(200);
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    let mails = m.smtp.received();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].to,
        ["act@example.com"],
        "not the unconfirmed address"
    );
    assert_eq!(
        mails[1].expect_header("Subject"),
        "[Acme Cloud] Identified: Quiet"
    );

    // Leaving after the fan-out, before the send: the mail is dropped.
    m.app.create_incident(json!({"name": "Late"})).await;
    assert_eq!(
        m.app
            .store
            .fan_out(20, herald::time::Stamp::Clock)
            .await
            .unwrap(),
        1
    );
    m.app
        .api(Method::DELETE, &format!("/subscribers/{active}"), None)
        .await
        .expect(200);
    assert_eq!(m.round().await, round(0, 0, 0, 1));
    assert_eq!(m.smtp.received().len(), 2);
}

// --- delivery --------------------------------------------------------------------------------

async fn retry_after_the_smtp_server_was_down(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    m.subscriber("ida@example.com", None).await;
    m.smtp.stop().await;
    m.app.create_incident(json!({"name": "Mail trouble"})).await;
    assert_eq!(m.round().await, round(1, 0, 1, 0));
    assert_eq!(
        m.round().await,
        Round::default(),
        "not due before the back-off"
    );

    m.smtp.restart().await;
    assert_eq!(m.make_due().await, 1);
    assert_eq!(m.round().await, round(0, 1, 0, 0));
    let mails = m.smtp.received();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ida@example.com"]);
    assert_eq!(
        mails[0].expect_header("Subject"),
        "[Acme Cloud] Investigating: Mail trouble"
    );
    assert_eq!(m.make_due().await, 0);
    assert_eq!(m.round().await, Round::default());
    assert_eq!(m.smtp.received().len(), 1, "sent once");
}

async fn refusals_are_retried_or_given_up(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let ivy = m.subscriber("ivy@example.com", None).await;
    m.subscriber("joe@example.com", None).await;

    // 451 after DATA: retried, with the same Message-ID.
    m.smtp.fail_next(1, 451, Stage::Data);
    let iid = id_of(&m.app.create_incident(json!({"name": "Flaky"})).await);
    assert_eq!(m.round().await, round(1, 1, 1, 0));
    let refused = m.smtp.refused();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].code, 451);
    let first_try = refused[0].expect_header("Message-ID");
    assert_eq!(m.make_due().await, 1);
    assert_eq!(m.round().await, round(0, 1, 0, 0));
    let retried = m.smtp.received_by(&refused[0].to[0]);
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].expect_header("Message-ID"), first_try);

    // 550: given up at once, and after three in a row the address is quarantined.
    m.smtp.fail_recipient("ivy@example.com", 550, Stage::Rcpt);
    for (i, body) in ["One.", "Two.", "Three."].into_iter().enumerate() {
        m.app
            .patch_incident(&iid, json!({"body": body}))
            .await
            .expect(200);
        assert_eq!(m.round().await, round(1, 1, 0, 1));
        m.make_due().await;
        assert_eq!(m.round().await, Round::default(), "a 550 is not retried");
        let ivy_refusals = m
            .smtp
            .refused()
            .iter()
            .filter(|r| r.code == 550 && r.to == ["ivy@example.com"])
            .count();
        assert_eq!(ivy_refusals, i + 1);
    }
    let ivy_json = m.subscriber_json(&ivy).await;
    assert_eq!(ivy_json["state"], "quarantined");
    assert!(ivy_json["quarantined_at"].is_string());
    m.app
        .patch_incident(&iid, json!({"status": "resolved", "body": "Done."}))
        .await
        .expect(200);
    assert_eq!(m.round().await, round(1, 1, 0, 0), "quarantined: not tried");
    assert_eq!(m.smtp.refused().len(), 4);
    assert_eq!(m.smtp.received_by("joe@example.com").len(), 5);
}

async fn two_workers_racing_send_each_mail_once(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let emails: Vec<String> = (0..20).map(|i| format!("user{i}@example.com")).collect();
    for email in &emails {
        m.subscriber(email, None).await;
    }
    // A second instance: its own pools on the same database.
    let store = Store::connect(&m.app.settings.database_url).await.unwrap();
    let other = herald::web::build_worker(&m.app.settings, &store, m.links.clone())
        .await
        .unwrap();
    for name in ["One", "Two", "Three"] {
        m.app.create_incident(json!({ "name": name })).await;
    }
    let mut sent = 0;
    for _ in 0..10 {
        let (a, b) = tokio::join!(m.worker.round(), other.round());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.retried + b.retried + a.failed + b.failed, 0);
        sent += a.sent + b.sent;
        if a == Round::default() && b == Round::default() {
            break;
        }
    }
    assert_eq!(sent, 60);
    let mails = m.smtp.received();
    assert_eq!(mails.len(), 60);
    let distinct: BTreeSet<(String, String)> = mails
        .iter()
        .map(|mail| (mail.to.join(","), mail.expect_header("Message-ID")))
        .collect();
    assert_eq!(distinct.len(), 60, "no mail twice");
    for email in &emails {
        assert_eq!(m.smtp.received_by(email).len(), 3, "{email}");
    }
}

async fn metrics_show_queue_depth_age_and_counts(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    m.subscriber("kim@example.com", None).await;
    m.subscriber("lee@example.com", None).await;
    let reply = m.app.get("/metrics").await;
    reply.expect(200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(reply.text.contains("# TYPE herald_mail_sent_total counter"));
    let metrics = m.metrics().await;
    for (name, value) in [
        ("herald_outbox_queued", 0.0),
        ("herald_outbox_events_waiting", 0.0),
        ("herald_outbox_oldest_age_seconds", 0.0),
        ("herald_mail_sent_total", 0.0),
        ("herald_mail_failed_total", 0.0),
        ("herald_mail_retries_total", 0.0),
    ] {
        assert_eq!(metrics.get(name), Some(&value), "{name}");
    }

    m.smtp.stop().await;
    m.app.create_incident(json!({"name": "Backlog"})).await;
    let hour_ago = herald::time::now() - chrono::Duration::hours(1);
    m.app
        .execute_sql(
            "UPDATE notification_events SET created_at = $1",
            &[hour_ago],
        )
        .await;
    let metrics = m.metrics().await;
    assert_eq!(metrics["herald_outbox_events_waiting"], 1.0);
    assert_eq!(metrics["herald_outbox_queued"], 0.0);
    let age = metrics["herald_outbox_oldest_age_seconds"];
    assert!((3600.0..3700.0).contains(&age), "{age}");

    assert_eq!(m.round().await, round(1, 0, 2, 0));
    let metrics = m.metrics().await;
    assert_eq!(metrics["herald_outbox_events_waiting"], 0.0);
    assert_eq!(metrics["herald_outbox_queued"], 2.0);
    assert_eq!(
        metrics["herald_mail_retries_total"], 0.0,
        "no second attempt yet"
    );

    m.smtp.restart().await;
    m.make_due().await;
    assert_eq!(m.round().await, round(0, 2, 0, 0));
    let metrics = m.metrics().await;
    assert_eq!(metrics["herald_outbox_queued"], 0.0);
    assert_eq!(metrics["herald_outbox_oldest_age_seconds"], 0.0);
    assert_eq!(metrics["herald_mail_sent_total"], 2.0);
    assert_eq!(metrics["herald_mail_retries_total"], 2.0);
    assert_eq!(metrics["herald_mail_failed_total"], 0.0);

    m.smtp.fail_recipient("kim@example.com", 550, Stage::Data);
    m.app.create_incident(json!({"name": "Bounce"})).await;
    assert_eq!(m.round().await, round(1, 1, 0, 1));
    let metrics = m.metrics().await;
    assert_eq!(metrics["herald_mail_sent_total"], 3.0);
    assert_eq!(metrics["herald_mail_failed_total"], 1.0);

    // One bounce does not stop mail to the address.
    m.smtp.clear_failures();
    m.app.create_incident(json!({"name": "Fine again"})).await;
    assert_eq!(m.round().await, round(1, 2, 0, 0));
    assert_eq!(m.smtp.received_by("kim@example.com").len(), 2);
}

async fn outbox_age_counts_from_the_update_not_the_fan_out(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    m.subscriber("kim@example.com", None).await;
    m.smtp.stop().await;
    m.app.create_incident(json!({"name": "Backlog"})).await;
    let hour_ago = herald::time::now() - chrono::Duration::hours(1);
    m.app
        .execute_sql(
            "UPDATE notification_events SET created_at = $1",
            &[hour_ago],
        )
        .await;
    let before = m.metrics().await["herald_outbox_oldest_age_seconds"];
    assert!(before >= 3600.0, "{before}");
    // The worker comes back but the mail server is still down: the mail has waited
    // an hour and still waits.
    assert_eq!(m.round().await, round(1, 0, 1, 0));
    let after = m.metrics().await["herald_outbox_oldest_age_seconds"];
    assert!(
        after >= 3600.0,
        "the oldest mail is an hour old, the gauge says {after} s"
    );
}

// --- the subscriber API ----------------------------------------------------------------------

async fn subscriber_api_lists_creates_updates_and_deletes(backend: Backend) {
    let Some(m) = mailroom(backend).await else {
        return;
    };
    let api = m.app.component_id("API").await;
    let web = m.app.component_id("Web App").await;

    let unauthenticated = m
        .app
        .client
        .get(m.app.v1("/subscribers"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let created = m
        .app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {
                "email": "max@example.com", "component_ids": [api.clone()],
                "skip_confirmation_notification": true
            }})),
        )
        .await;
    let max = created.expect(201).clone();
    assert_eq!(max["state"], "active");
    assert_eq!(max["mode"], "email");
    assert_eq!(max["email"], "max@example.com");
    assert_eq!(max["skip_confirmation_notification"], true);
    assert_eq!(max["components"], json!([api]));
    assert_eq!(max["purge_at"], Value::Null);
    let max_id = id_of(&max);

    let pending = m
        .app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {"email": "nia@example.com"}})),
        )
        .await;
    let nia = pending.expect(201).clone();
    assert_eq!(nia["state"], "unconfirmed");
    assert!(nia["purge_at"].is_string());
    let nia_id = id_of(&nia);
    // Only the unconfirmed one gets a confirmation.
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    assert_eq!(recipients(&m.smtp.received()), set(&["nia@example.com"]));

    let again = m
        .app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {"email": "MAX@example.com"}})),
        )
        .await;
    assert_eq!(again.status, 422);
    assert!(
        again.error().contains("already subscribed"),
        "{}",
        again.error()
    );

    let ids = |list: Vec<Value>| list.iter().map(id_of).collect::<Vec<_>>();
    assert_eq!(
        ids(m.subscribers("").await),
        [max_id.as_str()],
        "active by default"
    );
    assert_eq!(
        ids(m.subscribers("?state=unconfirmed").await),
        [nia_id.as_str()]
    );
    assert_eq!(m.subscribers("?state=all").await.len(), 2);
    // Pages count from 0: two pages of one, each subscriber on one of them.
    let page0 = ids(m.subscribers("?state=all&limit=1&page=0").await);
    let page1 = ids(m.subscribers("?state=all&limit=1&page=1").await);
    assert_eq!((page0.len(), page1.len()), (1, 1));
    assert_eq!(
        set(&[&page0[0], &page1[0]]),
        set(&[&max_id, &nia_id]),
        "pages 0 and 1 hold both"
    );
    assert!(m.subscribers("?state=all&limit=1&page=2").await.is_empty());
    let bad = m
        .app
        .api(Method::GET, "/subscribers?state=happy", None)
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.error().contains("state"));

    assert_eq!(m.subscriber_json(&max_id).await["email"], "max@example.com");
    m.app
        .api(Method::GET, "/subscribers/no-such-subscriber", None)
        .await
        .expect(404);

    let patched = m
        .app
        .api(
            Method::PATCH,
            &format!("/subscribers/{max_id}"),
            Some(json!({"component_ids": [web.clone()]})),
        )
        .await;
    assert_eq!(patched.expect(200)["components"], json!([web]));
    let unknown = m
        .app
        .api(
            Method::PATCH,
            &format!("/subscribers/{max_id}"),
            Some(json!({"component_ids": ["no-such-component"]})),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.error().contains("unknown component"),
        "{}",
        unknown.error()
    );
    assert_eq!(m.subscriber_json(&max_id).await["components"], json!([web]));
    m.app
        .api(
            Method::PATCH,
            "/subscribers/no-such-subscriber",
            Some(json!({"component_ids": []})),
        )
        .await
        .expect(404);

    let deleted = m
        .app
        .api(Method::DELETE, &format!("/subscribers/{max_id}"), None)
        .await;
    assert_eq!(deleted.expect(200)["state"], "unsubscribed");
    assert_eq!(
        ids(m.subscribers("?state=unsubscribed").await),
        [max_id.as_str()]
    );
    assert!(m.subscribers("").await.is_empty());

    m.app
        .api(
            Method::POST,
            &format!("/subscribers/{nia_id}/resend_confirmation"),
            None,
        )
        .await
        .expect(201);
    m.app
        .api(
            Method::POST,
            &format!("/subscribers/{max_id}/resend_confirmation"),
            None,
        )
        .await
        .expect(422);
    assert_eq!(m.round().await, round(1, 1, 0, 0));
    assert_eq!(m.smtp.received_by("nia@example.com").len(), 2);

    m.app
        .create_incident(json!({"name": "Web", "components": {web.clone(): "major_outage"}}))
        .await;
    assert_eq!(m.round().await, round(1, 0, 0, 0), "nobody active");
    assert_eq!(m.smtp.received().len(), 2);
}
