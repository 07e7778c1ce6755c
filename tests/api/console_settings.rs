//! Console tests: page settings (admins only).

use herald::domain::account::Role;

use crate::helpers::*;
use crate::on_both_backends;

async fn settings_are_saved_and_bad_ones_come_back(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut admin = app.console("ada@acme.test", Role::Admin).await;
    let page = admin.get("/admin/settings").await;
    page.expect(200);
    assert!(page.text.contains("value=\"Acme Cloud\""), "{}", page.text);

    // A bad time zone: the form again, the typed values kept, the message by its field.
    let fields = [
        ("name", "Acme Cloud Status"),
        ("time_zone", "Mars/Olympus"),
        ("headline", "All systems <go>"),
        ("allow_email_subscribers", "1"),
    ];
    let refused = admin.post("/admin/settings", &fields).await;
    refused.expect(422);
    assert!(refused.text.contains("value=\"Mars/Olympus\""));
    assert!(
        refused.text.contains("All systems &#60;go&#62;")
            || refused.text.contains("All systems &lt;go&gt;"),
        "typed text kept, escaped: {}",
        refused.text
    );
    assert!(refused.text.contains("id=\"time_zone-error\""));
    assert!(refused.text.contains("must be an IANA time zone name"));
    assert_eq!(
        app.store.page().await.unwrap().name,
        "Acme Cloud",
        "nothing saved"
    );

    let fields = [
        ("name", "Acme Cloud Status"),
        ("time_zone", "Europe/Berlin"),
        ("headline", "All systems go"),
        ("allow_email_subscribers", "1"),
    ];
    let saved = admin.post("/admin/settings", &fields).await;
    let shown = admin.follow(&saved).await;
    assert!(
        shown.text.contains("Page settings saved."),
        "{}",
        shown.text
    );
    let page = app.store.page().await.unwrap();
    assert_eq!(page.name, "Acme Cloud Status");
    assert_eq!(page.time_zone, "Europe/Berlin");
    assert_eq!(page.headline.as_deref(), Some("All systems go"));
    assert!(
        !page.allow_rss_atom_feeds,
        "an unticked box turns the feeds off"
    );
    let log = app
        .store
        .audit_log(&herald::store::AuditQuery {
            target_kind: "page".to_owned(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log[0].actor_name, "ada@acme.test");

    // Responders neither see nor use it.
    let mut responder = app.console("rob@acme.test", Role::Responder).await;
    let dashboard = responder.get("/admin").await;
    assert!(!dashboard.text.contains("/admin/settings"));
    responder.get("/admin/settings").await.expect(403);
    responder
        .post(
            "/admin/settings",
            &[("name", "Hijacked"), ("time_zone", "Etc/UTC")],
        )
        .await
        .expect(403);
    assert_eq!(app.store.page().await.unwrap().name, "Acme Cloud Status");
}

on_both_backends!(settings_are_saved_and_bad_ones_come_back);
