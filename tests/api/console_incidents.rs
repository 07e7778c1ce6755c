//! Console tests: incidents, maintenance and postmortems through `/admin`, checked
//! from the outside (the `/v1` API, the public page, the audit log).

use herald::domain::account::Role;
use herald::store::AuditQuery;
use reqwest::Method;
use serde_json::Value;

use crate::console::*;
use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    opening_an_incident_shows_it_everywhere,
    updates_move_it_through_to_resolved,
    resolve_button_restores_components,
    bad_input_comes_back_with_values_kept,
    posts_without_the_form_token_change_nothing,
    editing_an_update_changes_text_and_time,
    backfill_adds_history_with_its_own_times,
    maintenance_is_scheduled_from_the_console,
    deleting_asks_first,
    list_shows_open_first_and_searches,
    postmortem_draft_publish_revert,
    preview_is_sanitised_markdown,
    changes_are_audited_as_the_person,
    name_and_impact_change_without_a_timeline_entry,
);

/// The incident id a redirect to `/admin/incidents/{id}` names.
fn incident_id(reply: &Reply) -> String {
    let to = location(reply);
    to.strip_prefix("/admin/incidents/")
        .unwrap_or_else(|| panic!("not an incident page: {to}"))
        .to_owned()
}

async fn api_incident(app: &TestApp, id: &str) -> Value {
    app.api(Method::GET, &format!("/incidents/{id}"), None)
        .await
        .expect(200)
        .clone()
}

async fn api_incidents(app: &TestApp) -> Vec<Value> {
    app.api(Method::GET, "/incidents", None)
        .await
        .expect(200)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn component(id: &str) -> String {
    format!("incident[components][{id}]")
}

/// Opens an incident through the form with API in a major outage; returns its id.
async fn open_incident(app: &TestApp, console: &mut ConsoleClient, name: &str) -> String {
    let api = app.component_id("API").await;
    console.get("/admin/incidents/new").await.expect(200);
    let reply = console
        .post(
            "/admin/incidents/new",
            &[
                ("incident[name]", name),
                ("incident[status]", "investigating"),
                ("incident[impact_override]", ""),
                ("incident[body]", "We are looking into **errors**."),
                (&component(&api), "major_outage"),
                ("incident[deliver_notifications]", "1"),
            ],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    incident_id(&reply)
}

async fn opening_an_incident_shows_it_everywhere(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let form = console.get("/admin/incidents/new").await;
    form.expect(200);
    for field in [
        "name=\"incident[name]\"",
        "name=\"incident[status]\"",
        "name=\"incident[impact_override]\"",
        "name=\"incident[body]\"",
        "name=\"incident[deliver_notifications]\" value=\"1\" checked",
    ] {
        assert!(form.text.contains(field), "{field} missing");
    }
    let api = app.component_id("API").await;
    assert!(form.text.contains(&format!("name=\"{}\"", component(&api))));

    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    // The redirect left a one-time notice for the incident's page.
    let page = console.get(&format!("/admin/incidents/{id}")).await;
    page.expect(200);
    assert!(
        page.text.contains("Incident opened."),
        "the notice is shown"
    );
    assert!(page.text.contains("Elevated API errors"));
    assert!(
        page.text.contains("<strong>errors</strong>"),
        "markdown rendered"
    );

    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["impact"], "critical", "computed from API's outage");
    assert_eq!(
        incident["incident_updates"][0]["body"],
        "We are looking into **errors**."
    );
    assert_eq!(
        incident["incident_updates"][0]["deliver_notifications"],
        true
    );
    assert_eq!(app.component_status("API").await, "major_outage");

    let public = app.get(&format!("/incidents/{id}")).await;
    public.expect(200);
    assert!(public.text.contains("Elevated API errors"));
    assert!(public.text.contains("<strong>errors</strong>"));

    // A chosen impact and notifications left off are taken as chosen.
    console.get("/admin/incidents/new").await;
    let reply = console
        .post(
            "/admin/incidents/new",
            &[
                ("incident[name]", "Slow dashboard"),
                ("incident[status]", "identified"),
                ("incident[impact_override]", "minor"),
                ("incident[body]", ""),
            ],
        )
        .await;
    let quiet = api_incident(&app, &incident_id(&reply)).await;
    assert_eq!(quiet["status"], "identified");
    assert_eq!(quiet["impact"], "minor");
    assert_eq!(quiet["incident_updates"][0]["deliver_notifications"], false);
}

async fn updates_move_it_through_to_resolved(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    let api = app.component_id("API").await;
    let path = format!("/admin/incidents/{id}");
    let post = format!("{path}/updates");

    // The form starts from the components' current statuses.
    let page = console.get(&path).await;
    page.expect(200);
    let select = &page.text[page
        .text
        .find(&format!("name=\"{}\"", component(&api)))
        .unwrap()..];
    let select = &select[..select.find("</select>").unwrap()];
    assert!(
        select.contains("<option value=\"major_outage\" selected>"),
        "{select}"
    );
    for status in ["investigating", "identified", "monitoring", "resolved"] {
        assert!(page
            .text
            .contains(&format!("name=\"incident[status]\" value=\"{status}\"")));
    }

    let reply = console
        .post(
            &post,
            &[
                ("incident[body]", "A bad deploy."),
                (&component(&api), "partial_outage"),
                ("incident[deliver_notifications]", "1"),
                ("incident[status]", "identified"),
            ],
        )
        .await;
    assert_eq!(location(&reply), path);
    let page = console.follow(&reply).await;
    assert!(page.text.contains("Update posted: Identified."));
    assert_eq!(app.component_status("API").await, "partial_outage");

    console
        .post(
            &post,
            &[
                // Browsers send a textarea's line breaks as CRLF.
                ("incident[body]", "Rolled back.\r\nWatching."),
                (&component(&api), "partial_outage"),
                ("incident[status]", "monitoring"),
            ],
        )
        .await
        .expect(303);
    // Resolved with no component named: the domain restores the incident's components.
    console
        .post(
            &post,
            &[
                ("incident[body]", "All good."),
                (&component(&api), ""),
                ("incident[status]", "resolved"),
            ],
        )
        .await
        .expect(303);

    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["status"], "resolved");
    let statuses: Vec<&str> = incident["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["resolved", "monitoring", "identified", "investigating"]
    );
    assert_eq!(
        incident["incident_updates"][1]["body"], "Rolled back.\nWatching.",
        "stored with LF, as API clients send it"
    );
    assert_eq!(
        incident["incident_updates"][1]["deliver_notifications"], false,
        "the box was left unticked"
    );
    assert_eq!(app.component_status("API").await, "operational");

    // The timeline, newest first, with times in the page's zone.
    let page = console.get(&path).await;
    let resolved_at = page.text.find("All good.").unwrap();
    let investigating_at = page.text.find("We are looking into").unwrap();
    assert!(resolved_at < investigating_at, "newest first");
    assert!(page.text.contains(" UTC</time>"), "times carry their zone");
}

async fn resolve_button_restores_components(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;
    let path = format!("/admin/incidents/{id}");
    console
        .post(
            &format!("{path}/updates"),
            &[
                (&component(&api), "major_outage"),
                (&component(&web), "degraded_performance"),
                ("incident[status]", "identified"),
            ],
        )
        .await
        .expect(303);
    assert_eq!(
        app.component_status("Web App").await,
        "degraded_performance"
    );

    let page = console.get(&path).await;
    assert!(page.text.contains("name=\"resolve\""), "Resolve is offered");
    // The selects still say "outage": Resolve ignores them.
    let reply = console
        .post(
            &format!("{path}/updates"),
            &[
                ("incident[body]", "Fixed."),
                (&component(&api), "major_outage"),
                (&component(&web), "degraded_performance"),
                ("incident[deliver_notifications]", "1"),
                ("resolve", "1"),
            ],
        )
        .await;
    assert_eq!(location(&reply), path);
    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["incident_updates"][0]["body"], "Fixed.");
    assert_eq!(app.component_status("API").await, "operational");
    assert_eq!(app.component_status("Web App").await, "operational");
    let page = console.get(&path).await;
    assert!(
        !page.text.contains("name=\"resolve\""),
        "nothing left to resolve"
    );
}

async fn bad_input_comes_back_with_values_kept(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let api = app.component_id("API").await;
    console.get("/admin/incidents/new").await;
    let long = "y".repeat(25_001);
    let reply = console
        .post(
            "/admin/incidents/new",
            &[
                ("incident[name]", "   "),
                ("incident[status]", "monitoring"),
                ("incident[impact_override]", "major"),
                ("incident[body]", &long),
                (&component(&api), "partial_outage"),
            ],
        )
        .await;
    reply.expect(422);
    let html = &reply.text;
    assert!(
        html.contains("role=\"alert\""),
        "the problems are announced"
    );
    assert!(
        html.contains("aria-invalid=\"true\" aria-describedby=\"incident-name-error\""),
        "the name is marked"
    );
    assert!(
        html.contains("<p class=\"field-error\" id=\"incident-name-error\">can&#39;t be blank</p>"),
        "the name's problem sits next to it"
    );
    assert!(html.contains("id=\"incident-body-error\">is too long (at most 25000 characters)"));
    assert!(html.contains("incident-body-hint incident-body-error\" aria-invalid=\"true\""));
    // What was typed and chosen is still there.
    assert!(html.contains(&long), "the message is kept");
    assert!(html.contains("<option value=\"monitoring\" selected>"));
    assert!(html.contains("<option value=\"major\" selected>"));
    assert!(html.contains("<option value=\"partial_outage\" selected>"));
    assert!(
        !html.contains("name=\"incident[deliver_notifications]\" value=\"1\" checked"),
        "notify stays off"
    );
    assert!(api_incidents(&app).await.is_empty(), "nothing was created");

    // A value the domain refuses comes back next to its field too.
    let reply = console
        .post(
            "/admin/incidents/new",
            &[("incident[name]", "Typed"), ("incident[status]", "bogus")],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"incident-status-error\">must be one of investigating, identified"));
    assert!(reply.text.contains("value=\"Typed\""));
    // A rule about a field this form does not show is listed above the form.
    let reply = console
        .post(
            "/admin/incidents/new",
            &[
                ("incident[name]", "Typed"),
                ("incident[status]", "completed"),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("<li>incident[scheduled_for] is required for a maintenance</li>"));
    assert!(api_incidents(&app).await.is_empty());

    // And on an update: the typed message stays, the incident does not change.
    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    let path = format!("/admin/incidents/{id}");
    console.get(&path).await;
    let reply = console
        .post(
            &format!("{path}/updates"),
            &[
                ("incident[body]", &long),
                ("incident[status]", "identified"),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply.text.contains(&long));
    assert!(reply.text.contains("id=\"incident-body-error\""));
    assert_eq!(api_incident(&app, &id).await["status"], "investigating");
}

async fn posts_without_the_form_token_change_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    console.get("/admin/incidents/new").await;
    let fields = [
        ("incident[name]", "Sneaky"),
        ("incident[status]", "investigating"),
    ];
    let reply = console.post_raw("/admin/incidents/new", &fields).await;
    reply.expect(403);
    let wrong = [("csrf", "0".repeat(64))];
    let reply = console
        .post_raw(
            "/admin/incidents/new",
            &[(wrong[0].0, wrong[0].1.as_str()), fields[0], fields[1]],
        )
        .await;
    reply.expect(403);
    assert!(api_incidents(&app).await.is_empty());

    let id = open_incident(&app, &mut console, "Real").await;
    for (path, fields) in [
        (
            format!("/admin/incidents/{id}/updates"),
            vec![("resolve", "1")],
        ),
        (format!("/admin/incidents/{id}/delete"), vec![]),
        (
            format!("/admin/incidents/{id}/postmortem"),
            vec![("action", "save"), ("postmortem[body_draft]", "x")],
        ),
    ] {
        console.post_raw(&path, &fields).await.expect(403);
    }
    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["postmortem_body"], Value::Null);
    app.api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await
        .expect(404);
}

async fn editing_an_update_changes_text_and_time(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    let update_id = api_incident(&app, &id).await["incident_updates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let edit = format!("/admin/incidents/{id}/updates/{update_id}/edit");
    let view = console.get(&format!("/admin/incidents/{id}")).await;
    assert!(view.text.contains(&format!("href=\"{edit}\"")));

    let form = console.get(&edit).await;
    form.expect(200);
    assert!(form.text.contains("We are looking into **errors**."));
    assert!(
        form.text.contains("(Etc/UTC)"),
        "the zone is next to the time"
    );
    let shown = form
        .text
        .split("name=\"incident_update[display_at]\"")
        .nth(1)
        .unwrap();
    let time_value = shown
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Same time, new text: only the text changes.
    let reply = console
        .post(
            &edit,
            &[
                ("incident_update[body]", "We are looking into *5xx* errors."),
                ("incident_update[display_at]", &time_value),
            ],
        )
        .await;
    assert_eq!(location(&reply), format!("/admin/incidents/{id}"));
    let before = api_incident(&app, &id).await;
    let update = &before["incident_updates"][0];
    assert_eq!(update["body"], "We are looking into *5xx* errors.");

    // A new display time, typed as the datetime-local input sends it.
    console.get(&edit).await;
    console
        .post(
            &edit,
            &[
                ("incident_update[body]", "We are looking into *5xx* errors."),
                ("incident_update[display_at]", "2024-03-14T09:10"),
            ],
        )
        .await
        .expect(303);
    let after = api_incident(&app, &id).await;
    assert_eq!(
        after["incident_updates"][0]["display_at"],
        "2024-03-14T09:10:00.000Z"
    );

    // A time that is not one comes back next to its field.
    console.get(&edit).await;
    let reply = console
        .post(
            &edit,
            &[
                ("incident_update[body]", "kept text"),
                ("incident_update[display_at]", "yesterday-ish"),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"update-display-at-error\">must be a date and time"));
    assert!(reply.text.contains("kept text"));
    assert!(reply.text.contains("value=\"yesterday-ish\""));
}

async fn backfill_adds_history_with_its_own_times(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let api = app.component_id("API").await;
    console.get("/admin/incidents/backfill").await.expect(200);

    // The start is required; the end may not come before it.
    let reply = console
        .post(
            "/admin/incidents/backfill",
            &[
                ("incident[name]", "Old outage"),
                ("incident[backfill_date]", ""),
                ("incident[backfill_resolved_at]", "2024-03-14T10:40"),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"incident-started-error\">is required"));
    assert!(reply.text.contains("value=\"2024-03-14T10:40\""));
    let reply = console
        .post(
            "/admin/incidents/backfill",
            &[
                ("incident[name]", "Old outage"),
                ("incident[backfill_date]", "2024-03-14T09:10"),
                ("incident[backfill_resolved_at]", "2024-03-14T08:00"),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"incident-resolved-error\">must not be before the start"));
    assert!(api_incidents(&app).await.is_empty());

    let reply = console
        .post(
            "/admin/incidents/backfill",
            &[
                ("incident[name]", "Old outage"),
                ("incident[backfill_date]", "2024-03-14T09:10"),
                ("incident[backfill_resolved_at]", "2024-03-14T10:40"),
                ("incident[body]", "The database ran out of disk."),
                ("incident[component_ids][]", &api),
            ],
        )
        .await;
    let id = incident_id(&reply);
    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["backfilled"], true);
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["created_at"], "2024-03-14T09:10:00.000Z");
    assert_eq!(incident["started_at"], "2024-03-14T09:10:00.000Z");
    assert_eq!(incident["resolved_at"], "2024-03-14T10:40:00.000Z");
    let update = &incident["incident_updates"][0];
    assert_eq!(update["body"], "The database ran out of disk.");
    assert_eq!(update["display_at"], "2024-03-14T10:40:00.000Z");
    assert_eq!(update["deliver_notifications"], false);
    assert_eq!(incident["components"][0]["id"], api.as_str());
    assert_eq!(app.component_status("API").await, "operational");

    // Its page offers no component statuses: history does not move components.
    let page = console.get(&format!("/admin/incidents/{id}")).await;
    assert!(!page.text.contains(&component(&api)));
}

async fn maintenance_is_scheduled_from_the_console(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let api = app.component_id("API").await;
    let form = console.get("/admin/maintenance/new").await;
    form.expect(200);
    assert!(form.text.contains("(Etc/UTC)"));

    let reply = console
        .post(
            "/admin/maintenance/new",
            &[
                ("incident[name]", "Database upgrade"),
                ("incident[scheduled_for]", "2099-01-10T02:00"),
                ("incident[scheduled_until]", "2099-01-10T01:00"),
                ("incident[body]", "Short downtime."),
                ("incident[component_ids][]", &api),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"scheduled-until-error\">must be after"));
    assert!(reply.text.contains("value=\"2099-01-10T02:00\""));

    let reply = console
        .post(
            "/admin/maintenance/new",
            &[
                ("incident[name]", "Database upgrade"),
                ("incident[scheduled_for]", "2099-01-10T02:00"),
                ("incident[scheduled_until]", "2099-01-10T04:00"),
                ("incident[body]", "Short downtime."),
                ("incident[component_ids][]", &api),
                ("incident[scheduled_auto_in_progress]", "1"),
                ("incident[scheduled_auto_completed]", "1"),
            ],
        )
        .await;
    let id = incident_id(&reply);
    let m = api_incident(&app, &id).await;
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["impact"], "maintenance");
    assert_eq!(m["scheduled_for"], "2099-01-10T02:00:00.000Z");
    assert_eq!(m["scheduled_until"], "2099-01-10T04:00:00.000Z");
    assert_eq!(m["scheduled_auto_in_progress"], true);
    assert_eq!(m["auto_transition_to_maintenance_state"], true);
    assert_eq!(m["incident_updates"][0]["deliver_notifications"], false);

    // Its page offers the maintenance statuses.
    let page = console.get(&format!("/admin/incidents/{id}")).await;
    for status in ["scheduled", "in_progress", "verifying", "completed"] {
        assert!(page
            .text
            .contains(&format!("name=\"incident[status]\" value=\"{status}\"")));
    }
    assert!(!page.text.contains("value=\"investigating\""));

    // The window moves later, through the details form; it must still end after it
    // starts.
    let details = format!("/admin/incidents/{id}/details");
    let form = console.get(&details).await;
    assert!(
        form.text.contains("value=\"2099-01-10T02:00\""),
        "{}",
        form.text
    );
    let refused = console
        .post(
            &details,
            &[
                ("incident[name]", "Database upgrade"),
                ("incident[scheduled_for]", "2099-01-11T05:00"),
                ("incident[scheduled_until]", "2099-01-11T03:00"),
            ],
        )
        .await;
    refused.expect(422);
    assert!(refused
        .text
        .contains("id=\"scheduled-until-error\">must be after"));
    assert!(refused.text.contains("value=\"2099-01-11T05:00\""));
    let moved = console
        .post(
            &details,
            &[
                ("incident[name]", "Database upgrade"),
                ("incident[scheduled_for]", "2099-01-11T02:00"),
                ("incident[scheduled_until]", "2099-01-11T03:30"),
            ],
        )
        .await;
    assert_eq!(location(&moved), format!("/admin/incidents/{id}"));
    let m = api_incident(&app, &id).await;
    assert_eq!(m["scheduled_for"], "2099-01-11T02:00:00.000Z");
    assert_eq!(m["scheduled_until"], "2099-01-11T03:30:00.000Z");
    assert_eq!(m["incident_updates"].as_array().unwrap().len(), 1);
}

async fn deleting_asks_first(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    // Both roles may delete; this one is an admin.
    let mut console = app.console("root@acme.test", Role::Admin).await;
    let id = open_incident(&app, &mut console, "Mistake").await;
    let confirm = console.get(&format!("/admin/incidents/{id}/delete")).await;
    confirm.expect(200);
    assert!(confirm.text.contains("Delete Mistake?"));
    let reply = console
        .post(&format!("/admin/incidents/{id}/delete"), &[])
        .await;
    assert_eq!(location(&reply), "/admin/incidents");
    let list = console.follow(&reply).await;
    assert!(list.text.contains("Deleted Mistake."));
    app.api(Method::GET, &format!("/incidents/{id}"), None)
        .await
        .expect(404);
    console
        .get(&format!("/admin/incidents/{id}"))
        .await
        .expect(404);
}

async fn list_shows_open_first_and_searches(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    // An odd query string is no error page (and never the API's JSON).
    let odd = console.get("/admin/incidents?q=a&q=b&page=x").await;
    odd.expect(200);
    assert!(odd.text.contains("<h1"), "{}", odd.text);
    let closed = open_incident(&app, &mut console, "Webhook delays").await;
    console
        .post(
            &format!("/admin/incidents/{closed}/updates"),
            &[("resolve", "1")],
        )
        .await
        .expect(303);
    let open = open_incident(&app, &mut console, "Login failures").await;

    let dashboard = console.get("/admin").await;
    assert!(
        dashboard.text.contains("href=\"/admin/incidents\""),
        "in the nav"
    );
    let list = console.get("/admin/incidents").await;
    list.expect(200);
    let open_at = list
        .text
        .find(&format!("/admin/incidents/{open}\""))
        .unwrap();
    let closed_at = list
        .text
        .find(&format!("/admin/incidents/{closed}\""))
        .unwrap();
    let recent_heading = list.text.find("id=\"recent-heading\"").unwrap();
    assert!(open_at < recent_heading && recent_heading < closed_at);

    let found = console.get("/admin/incidents?q=webhook").await;
    assert!(found.text.contains("Webhook delays"));
    assert!(!found.text.contains("Login failures"));
    assert!(found.text.contains("value=\"webhook\""));
}

async fn postmortem_draft_publish_revert(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    let editor = format!("/admin/incidents/{id}/postmortem");
    let page = console.get(&editor).await;
    page.expect(200);
    assert!(page.text.contains("name=\"postmortem[body_draft]\""));
    assert!(
        !page.text.contains("value=\"revert\""),
        "nothing to revert yet"
    );

    // From the timeline, front matter left out; nothing saved yet.
    let reply = console.post(&editor, &[("action", "template")]).await;
    reply.expect(200);
    assert!(reply.text.contains("## Timeline"));
    assert!(reply
        .text
        .contains("| Investigating | We are looking into errors. |"));
    assert!(!reply.text.contains("incident: "), "no front matter");
    app.api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await
        .expect(404);

    // Preview without JavaScript: the page again, rendered as the public page would.
    let text = "## What happened\n\nA **zebra** deploy.<script>alert(1)</script>";
    let reply = console
        .post(
            &editor,
            &[("action", "preview"), ("postmortem[body_draft]", text)],
        )
        .await;
    reply.expect(200);
    assert!(reply
        .text
        .contains("<h4 id=\"md-what-happened\">What happened</h4>"));
    assert!(!reply.text.contains("<script>alert"));

    let reply = console
        .post(
            &editor,
            &[("action", "save"), ("postmortem[body_draft]", text)],
        )
        .await;
    assert_eq!(location(&reply), editor);
    let saved = app
        .api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await;
    assert_eq!(saved.expect(200)["body_draft"], text);
    assert_eq!(saved.json["published_at"], Value::Null);

    // Too long: back with the text and the problem next to it.
    let huge = "z".repeat(100_001);
    let reply = console
        .post(
            &editor,
            &[("action", "save"), ("postmortem[body_draft]", &huge)],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"postmortem-draft-error\">is too long"));

    // Not resolved yet: publishing is refused, says why, keeps the typed text, and
    // changes nothing (the saved draft neither).
    let before = app
        .api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await;
    console.get(&editor).await;
    let typed = format!("{text}\n\nTyped, never saved.");
    let reply = console
        .post(
            &editor,
            &[("action", "publish"), ("postmortem[body_draft]", &typed)],
        )
        .await;
    reply.expect(422);
    assert!(reply.text.contains("resolve it before publishing"));
    assert!(reply.text.contains("Typed, never saved."));
    let after = app
        .api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await;
    assert!(before.json["body_draft"].is_string(), "{}", before.text);
    assert_eq!(before.json["body_draft"], after.json["body_draft"]);

    console
        .post(
            &format!("/admin/incidents/{id}/updates"),
            &[("resolve", "1")],
        )
        .await
        .expect(303);
    console.get(&editor).await;
    let reply = console
        .post(
            &editor,
            &[
                ("action", "publish"),
                ("postmortem[body_draft]", text),
                ("postmortem[notify_subscribers]", "1"),
            ],
        )
        .await;
    assert_eq!(location(&reply), format!("/admin/incidents/{id}"));
    let published = app
        .api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await;
    assert_ne!(published.expect(200)["published_at"], Value::Null);
    assert_eq!(published.json["notify_subscribers"], true);
    let public = app.get(&format!("/incidents/{id}")).await;
    assert!(public.text.contains("<strong>zebra</strong>"));
    assert!(!public.text.contains("<script>alert"));

    let page = console.get(&editor).await;
    assert!(page.text.contains("value=\"revert\""));
    let reply = console.post(&editor, &[("action", "revert")]).await;
    assert_eq!(location(&reply), editor);
    let reverted = app
        .api(Method::GET, &format!("/incidents/{id}/postmortem"), None)
        .await;
    assert_eq!(reverted.expect(200)["published_at"], Value::Null);
    assert_eq!(reverted.json["body_draft"], text, "the draft stays");
    let public = app.get(&format!("/incidents/{id}")).await;
    assert!(!public.text.contains("zebra"));
}

async fn preview_is_sanitised_markdown(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    console.get("/admin/incidents/new").await;
    let hostile = "# Cause\n\n**bold** <script>alert(1)</script><img src=x onerror=alert(2)>";
    let reply = console
        .post("/admin/preview", &[("markdown", hostile)])
        .await;
    reply.expect(200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(reply.text.contains("<strong>bold</strong>"));
    assert!(
        reply.text.contains("<h3 id=\"md-cause\">Cause</h3>"),
        "as a postmortem"
    );
    assert!(!reply.text.contains("<script"));
    assert!(!reply.text.contains("onerror"));

    let reply = console
        .post(
            "/admin/preview",
            &[("markdown", "line one\nline two"), ("kind", "message")],
        )
        .await;
    assert!(reply.text.contains("line one<br>"), "as an update message");

    // The message form previews without JavaScript too.
    let reply = console
        .post(
            "/admin/incidents/new",
            &[
                ("incident[name]", "Draft"),
                ("incident[body]", "**careful** <script>x</script>"),
                ("preview", "1"),
            ],
        )
        .await;
    reply.expect(200);
    assert!(reply.text.contains("<strong>careful</strong>"));
    assert!(!reply.text.contains("<script>x"));
    assert!(
        api_incidents(&app).await.is_empty(),
        "a preview creates nothing"
    );

    console
        .post_raw("/admin/preview", &[("markdown", "x")])
        .await
        .expect(403);
}

async fn changes_are_audited_as_the_person(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let id = open_incident(&app, &mut console, "Elevated API errors").await;
    console
        .post(
            &format!("/admin/incidents/{id}/updates"),
            &[("resolve", "1")],
        )
        .await
        .expect(303);
    console
        .get(&format!("/admin/incidents/{id}/postmortem"))
        .await;
    console
        .post(
            &format!("/admin/incidents/{id}/postmortem"),
            &[("action", "save"), ("postmortem[body_draft]", "# Notes")],
        )
        .await
        .expect(303);

    let log = app
        .store
        .audit_log(&AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let mine: Vec<_> = log
        .iter()
        .filter(|e| e.target_id == id)
        .map(|e| {
            (
                e.actor_kind.as_str(),
                e.actor_name.as_str(),
                e.action.as_str(),
            )
        })
        .collect();
    for action in [
        "incident.create",
        "incident.update",
        "postmortem.save_draft",
    ] {
        assert!(
            mine.contains(&("user", "ann@acme.test", action)),
            "{action} missing from {mine:?}"
        );
    }
}

async fn name_and_impact_change_without_a_timeline_entry(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut console = app.console("ann@acme.test", Role::Responder).await;
    let id = open_incident(&app, &mut console, "Errors on the API").await;
    let path = format!("/admin/incidents/{id}/details");
    let form = console.get(&path).await;
    form.expect(200);
    assert!(form.text.contains("value=\"Errors on the API\""));

    let refused = console
        .post(
            &path,
            &[
                ("incident[name]", "  "),
                ("incident[impact_override]", "huge"),
            ],
        )
        .await;
    refused.expect(422);
    assert!(refused.text.contains("id=\"incident-name-error\""));
    assert!(refused.text.contains("id=\"incident-impact-error\""));
    assert!(refused.text.contains("value=\"  \""), "typed name kept");

    let saved = console
        .post(
            &path,
            &[
                ("incident[name]", "Errors on the public API"),
                ("incident[impact_override]", "minor"),
            ],
        )
        .await;
    assert_eq!(location(&saved), format!("/admin/incidents/{id}"));
    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["name"], "Errors on the public API");
    assert_eq!(incident["impact_override"], "minor");
    assert_eq!(incident["impact"], "minor");
    assert_eq!(
        incident["incident_updates"].as_array().unwrap().len(),
        1,
        "no timeline entry for a new name"
    );

    // Back to the computed impact.
    let cleared = console
        .post(
            &path,
            &[
                ("incident[name]", "Errors on the public API"),
                ("incident[impact_override]", ""),
            ],
        )
        .await;
    assert_eq!(cleared.status.as_u16(), 303, "{}", cleared.text);
    let incident = api_incident(&app, &id).await;
    assert_eq!(incident["impact_override"], Value::Null);
    assert_eq!(
        incident["impact"], "critical",
        "API in major outage: computed"
    );
}
