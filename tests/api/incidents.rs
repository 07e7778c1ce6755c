//! The incident lifecycle through `/v1`, as an incident commander drives it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn, Backend};
use crate::on_both_backends;

on_both_backends!(
    lifecycle_from_investigating_to_resolved,
    each_change_adds_exactly_one_update,
    resolving_restores_components_unless_set,
    moving_back_and_reopening,
    form_bodies_work_like_json,
    backfilled_incidents_are_history,
    editing_display_time_resorts_the_timeline,
    deleting_removes_from_every_list,
    listing_searches_and_pages,
    maintenance_lives_in_maintenance_lists,
    refused_requests_write_nothing,
);

fn statuses(incident: &Value) -> Vec<String> {
    incident["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap().to_owned())
        .collect()
}

async fn lifecycle_from_investigating_to_resolved(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;

    let created = app
        .create_incident(json!({
            "name": "Elevated API error rates",
            "body": "We are investigating elevated 5xx rates.",
            "components": { api.clone(): "major_outage", web.clone(): "degraded_performance" }
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "investigating");
    assert_eq!(created["impact"], "critical");
    assert_eq!(created["monitoring_at"], Value::Null);
    assert_eq!(
        created["shortlink"],
        format!("https://status.acme.test/incidents/{id}")
    );
    let first = &created["incident_updates"][0];
    assert_eq!(first["body"], "We are investigating elevated 5xx rates.");
    assert_eq!(
        first["affected_components"],
        json!([
            {"code": api, "name": "API", "old_status": "operational", "new_status": "major_outage"},
            {"code": web, "name": "Web App", "old_status": "operational", "new_status": "degraded_performance"}
        ])
    );
    assert_eq!(app.component_status("API").await, "major_outage");
    assert_eq!(
        app.component_status("Dashboard").await,
        "degraded_performance",
        "group follows its worst child"
    );

    let identified = app
        .patch_incident(&id, json!({"status": "identified", "body": "A bad deploy.", "components": {api.clone(): "partial_outage"}}))
        .await;
    let identified = identified.expect(200);
    assert_eq!(
        identified["incident_updates"][0]["affected_components"][0]["old_status"],
        "major_outage"
    );
    assert_eq!(
        identified["impact"], "critical",
        "impact is the peak, not the current state"
    );

    let monitoring = app
        .patch_incident(&id, json!({"status": "monitoring", "body": "Rolled back."}))
        .await;
    let monitoring_at = monitoring.expect(200)["monitoring_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        monitoring_at.ends_with('Z') && monitoring_at.len() == 24,
        "{monitoring_at}"
    );

    let resolved = app
        .patch_incident(&id, json!({"status": "resolved", "body": "All good."}))
        .await;
    let resolved = resolved.expect(200);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        resolved["monitoring_at"],
        monitoring_at.as_str(),
        "monitoring_at is set once"
    );
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(
        statuses(resolved),
        ["resolved", "monitoring", "identified", "investigating"]
    );
    assert_eq!(app.component_status("API").await, "operational");
    assert_eq!(app.component_status("Web App").await, "operational");

    // The component status log recorded every move, in the same transactions.
    let log = app.store.status_changes(&api).await.unwrap();
    let moves: Vec<(Option<String>, String, String)> = log
        .iter()
        .map(|c| (c.old_status.clone(), c.new_status.clone(), c.cause.clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (None, "operational".into(), "content".into()),
            (
                Some("operational".into()),
                "major_outage".into(),
                "incident".into()
            ),
            (
                Some("major_outage".into()),
                "partial_outage".into(),
                "incident".into()
            ),
            (
                Some("partial_outage".into()),
                "operational".into(),
                "incident".into()
            ),
        ]
    );
    assert!(log[1..]
        .iter()
        .all(|c| c.incident_id.as_deref() == Some(id.as_str())));

    let public = app.get("/api/v2/incidents.json").await;
    assert_eq!(public.expect(200)["incidents"][0]["id"], id.as_str());
    assert_eq!(public.headers["access-control-allow-origin"], "*");
}

async fn each_change_adds_exactly_one_update(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let id = app.create_incident(json!({"name": "Slow API"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let count = |v: &Value| v["incident_updates"].as_array().unwrap().len();

    let renamed = app
        .patch_incident(&id, json!({"name": "Slow API responses"}))
        .await;
    assert_eq!(count(renamed.expect(200)), 1, "a rename adds no update");
    assert_eq!(renamed.json["name"], "Slow API responses");

    let both = app
        .patch_incident(&id, json!({"status": "identified", "body": "Found it."}))
        .await;
    assert_eq!(
        count(both.expect(200)),
        2,
        "status and body together make one update"
    );

    let body_only = app
        .patch_incident(&id, json!({"body": "Still working."}))
        .await;
    let body_only = body_only.expect(200);
    assert_eq!(count(body_only), 3);
    assert_eq!(body_only["incident_updates"][0]["status"], "identified");
    assert_eq!(
        body_only["incident_updates"][0]["affected_components"],
        Value::Null
    );

    let components_only = app
        .patch_incident(
            &id,
            json!({"components": {api.clone(): "degraded_performance"}}),
        )
        .await;
    let components_only = components_only.expect(200);
    assert_eq!(count(components_only), 4);
    assert_eq!(components_only["impact"], "minor");
    assert_eq!(components_only["components"][0]["id"], api.as_str());

    let silent = app
        .patch_incident(
            &id,
            json!({"body": "Quiet note.", "deliver_notifications": false}),
        )
        .await;
    assert_eq!(
        silent.expect(200)["incident_updates"][0]["deliver_notifications"],
        false
    );

    let overridden = app
        .patch_incident(&id, json!({"impact_override": "critical"}))
        .await;
    assert_eq!(overridden.expect(200)["impact"], "critical");
    assert_eq!(overridden.json["impact_override"], "critical");
    assert_eq!(count(&overridden.json), 5);
    let cleared = app
        .patch_incident(&id, json!({"impact_override": null}))
        .await;
    assert_eq!(cleared.expect(200)["impact"], "minor");
}

async fn resolving_restores_components_unless_set(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let hooks = app.component_id("Webhooks").await;
    let id = app
        .create_incident(json!({"name": "Outage", "components": {api.clone(): "major_outage", hooks.clone(): "partial_outage"}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resolved = app
        .patch_incident(
            &id,
            json!({"status": "resolved", "components": {hooks.clone(): "degraded_performance"}}),
        )
        .await;
    let update = &resolved.expect(200)["incident_updates"][0];
    assert_eq!(app.component_status("API").await, "operational", "restored");
    assert_eq!(
        app.component_status("Webhooks").await,
        "degraded_performance",
        "set by the request"
    );
    let affected = update["affected_components"].as_array().unwrap();
    assert_eq!(affected.len(), 2);
}

async fn moving_back_and_reopening(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = app.create_incident(json!({"name": "Flaky"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch_incident(&id, json!({"status": "monitoring"}))
        .await
        .expect(200);
    let back = app
        .patch_incident(
            &id,
            json!({"status": "investigating", "body": "It came back."}),
        )
        .await;
    assert_eq!(back.expect(200)["status"], "investigating");
    assert_eq!(
        statuses(&back.json),
        ["investigating", "monitoring", "investigating"]
    );

    let resolved = app.patch_incident(&id, json!({"status": "resolved"})).await;
    let resolved_at = resolved.expect(200)["resolved_at"].clone();
    let note = app
        .patch_incident(&id, json!({"body": "Postscript."}))
        .await;
    assert_eq!(
        note.expect(200)["status"],
        "resolved",
        "a body alone does not reopen"
    );
    assert_eq!(note.json["resolved_at"], resolved_at);
    let reopened = app
        .patch_incident(&id, json!({"status": "identified", "body": "Reopening."}))
        .await;
    assert_eq!(reopened.expect(200)["status"], "identified");
    assert_eq!(reopened.json["resolved_at"], Value::Null);
    let unresolved = app.get("/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved.expect(200)["incidents"][0]["id"], id.as_str());
}

async fn form_bodies_work_like_json(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;
    let component_field = format!("incident[components][{api}]");
    let reply = app
        .api_form(
            Method::POST,
            "/incidents.json",
            &[
                ("incident[name]", "Elevated API error rates"),
                ("incident[status]", "identified"),
                ("incident[impact_override]", "major"),
                ("incident[body]", "We found it."),
                ("incident[component_ids][]", &web),
                (&component_field, "partial_outage"),
                ("incident[deliver_notifications]", "f"),
                ("incident[metadata][jira][issue_id]", "OPS-1234"),
            ],
        )
        .await;
    let incident = reply.expect(201);
    assert_eq!(incident["status"], "identified");
    assert_eq!(incident["impact"], "major");
    assert_eq!(
        incident["metadata"],
        json!({"jira": {"issue_id": "OPS-1234"}})
    );
    let update = &incident["incident_updates"][0];
    assert_eq!(update["deliver_notifications"], false);
    assert_eq!(update["affected_components"][0]["code"], api.as_str());
    assert_eq!(update["affected_components"][1]["code"], web.as_str());
    assert_eq!(
        update["affected_components"][1]["old_status"],
        update["affected_components"][1]["new_status"]
    );
    assert_eq!(incident["components"].as_array().unwrap().len(), 2);

    // A JSON body sent without a JSON content type (curl -d '{...}') is read as JSON.
    let raw = app
        .client
        .post(app.v1("/incidents"))
        .header("Authorization", format!("OAuth {}", app.key))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(r#"{"incident": {"name": "From curl"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 201);
}

async fn backfilled_incidents_are_history(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let incident = app
        .create_incident(json!({
            "name": "Login failures (imported)",
            "body": "Users could not log in.",
            "backfilled": true,
            "backfill_date": "2024-03-14",
            "impact_override": "major",
            "component_ids": [api.clone()]
        }))
        .await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["backfilled"], true);
    assert_eq!(incident["created_at"], "2024-03-14T00:00:00.000Z");
    assert_eq!(incident["resolved_at"], "2024-03-14T00:00:00.000Z");
    assert_eq!(incident["impact"], "major");
    assert_eq!(
        incident["incident_updates"][0]["display_at"],
        "2024-03-14T00:00:00.000Z"
    );
    assert_eq!(
        incident["incident_updates"][0]["deliver_notifications"],
        false
    );
    assert_eq!(incident["components"][0]["id"], api.as_str());
    assert_eq!(
        app.component_status("API").await,
        "operational",
        "history never changes current status"
    );
    assert_eq!(app.store.status_changes(&api).await.unwrap().len(), 1);
    let unresolved = app.get("/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved.expect(200)["incidents"], json!([]));

    let refused = app
        .api(Method::POST, "/incidents", Some(json!({"incident": {"name": "x", "backfilled": true, "backfill_date": "2024-03-14", "components": {api.clone(): "major_outage"}}})))
        .await;
    refused.expect(422);
    assert!(
        refused.error().contains("incident[components]"),
        "{}",
        refused.error()
    );
    let no_date = app
        .api(
            Method::POST,
            "/incidents",
            Some(json!({"incident": {"name": "x", "backfilled": true}})),
        )
        .await;
    no_date.expect(422);
    assert!(no_date.error().contains("backfill_date"));
}

async fn editing_display_time_resorts_the_timeline(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let incident = app
        .create_incident(json!({"name": "Timeline", "body": "first"}))
        .await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let second = app
        .patch_incident(&id, json!({"status": "identified", "body": "second"}))
        .await;
    let second_id = second.expect(200)["incident_updates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Move the second entry before the incident was even entered (importing history).
    let edited = app
        .api(
            Method::PATCH,
            &format!("/incidents/{id}/incident_updates/{second_id}.json"),
            Some(json!({"incident_update": {"body": "second, corrected", "display_at": "2020-01-02T03:04:05.678Z"}})),
        )
        .await;
    let edited = edited.expect(200);
    assert_eq!(edited["body"], "second, corrected");
    assert_eq!(edited["display_at"], "2020-01-02T03:04:05.678Z");
    assert_eq!(
        edited["status"], "identified",
        "editing never changes the status"
    );

    let fetched = app
        .api(Method::GET, &format!("/incidents/{id}"), None)
        .await;
    let bodies: Vec<&str> = fetched.expect(200)["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["first", "second, corrected"],
        "newest display time first"
    );
    assert_eq!(fetched.json["started_at"], "2020-01-02T03:04:05.678Z");

    let bad = app
        .api(
            Method::PATCH,
            &format!("/incidents/{id}/incident_updates/{second_id}"),
            Some(json!({"incident_update": {"display_at": "last tuesday"}})),
        )
        .await;
    bad.expect(422);
    assert!(bad.error().contains("incident_update[display_at]"));
    let missing = app
        .api(
            Method::PATCH,
            &format!("/incidents/{id}/incident_updates/zzzzzzzzzzzz"),
            Some(json!({"incident_update": {"body": "x"}})),
        )
        .await;
    missing.expect(404);
}

async fn deleting_removes_from_every_list(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let id = app.create_incident(json!({"name": "Mistake"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .api(Method::DELETE, &format!("/incidents/{id}"), None)
        .await;
    assert_eq!(deleted.expect(200)["id"], id.as_str());
    app.api(Method::GET, &format!("/incidents/{id}"), None)
        .await
        .expect(404);
    for path in [
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/summary.json",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.expect(200)["incidents"], json!([]), "{path}");
    }
    assert_eq!(
        app.api(Method::GET, "/incidents", None).await.expect(200),
        &json!([])
    );
    app.api(Method::DELETE, &format!("/incidents/{id}"), None)
        .await
        .expect(404);
}

async fn listing_searches_and_pages(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    for name in ["Database failover", "Slow dashboard", "100% CPU on workers"] {
        app.create_incident(json!({"name": name, "body": format!("About {name}")}))
            .await;
    }
    let all = app.api(Method::GET, "/incidents", None).await;
    let names: Vec<&str> = all
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["100% CPU on workers", "Slow dashboard", "Database failover"],
        "newest first"
    );
    let found = app.api(Method::GET, "/incidents?q=DASHBOARD", None).await;
    assert_eq!(found.expect(200).as_array().unwrap().len(), 1);
    let percent = app.api(Method::GET, "/incidents?q=100%25", None).await;
    assert_eq!(
        percent.expect(200).as_array().unwrap().len(),
        1,
        "% is matched literally"
    );
    let page2 = app
        .api(Method::GET, "/incidents?limit=2&page=2", None)
        .await;
    assert_eq!(page2.expect(200)[0]["name"], "Database failover");
    let bad = app.api(Method::GET, "/incidents?limit=500", None).await;
    bad.expect(422);
    assert!(bad.error().contains("limit"));
}

async fn maintenance_lives_in_maintenance_lists(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let web = app.component_id("Web App").await;
    let maintenance = app
        .create_incident(json!({
            "name": "Database engine upgrade",
            "status": "scheduled",
            "scheduled_for": "2099-11-25T02:00:00.000Z",
            "scheduled_until": "2099-11-25T02:30:00.000Z",
            "body": "Read-only for 30 minutes.",
            "component_ids": [web],
            "scheduled_auto_in_progress": true
        }))
        .await;
    let id = maintenance["id"].as_str().unwrap().to_owned();
    assert_eq!(maintenance["impact"], "maintenance");
    assert_eq!(maintenance["scheduled_for"], "2099-11-25T02:00:00.000Z");
    assert_eq!(maintenance["scheduled_auto_in_progress"], true);

    assert_eq!(
        app.get("/api/v2/incidents.json").await.expect(200)["incidents"],
        json!([])
    );
    let upcoming = app
        .get("/api/v2/scheduled-maintenances/upcoming.json")
        .await;
    assert_eq!(
        upcoming.expect(200)["scheduled_maintenances"][0]["id"],
        id.as_str()
    );
    assert_eq!(
        upcoming.json["scheduled_maintenances"][0]["scheduled_until"],
        "2099-11-25T02:30:00.000Z"
    );
    let summary = app.get("/api/v2/summary.json").await;
    assert_eq!(
        summary.expect(200)["scheduled_maintenances"][0]["id"],
        id.as_str()
    );

    let started = app
        .patch_incident(&id, json!({"status": "in_progress"}))
        .await;
    started.expect(200);
    let active = app.get("/api/v2/scheduled-maintenances/active.json").await;
    assert_eq!(
        active.expect(200)["scheduled_maintenances"][0]["status"],
        "in_progress"
    );
    assert_eq!(
        app.api(Method::GET, "/incidents/active_maintenance", None)
            .await
            .expect(200)[0]["id"],
        id.as_str()
    );

    let wrong = app.patch_incident(&id, json!({"status": "resolved"})).await;
    wrong.expect(422);
    assert!(wrong.error().contains("completed"), "{}", wrong.error());
    let done = app
        .patch_incident(&id, json!({"status": "completed"}))
        .await;
    assert!(done.expect(200)["resolved_at"].is_string());
    let all = app.get("/api/v2/scheduled-maintenances.json").await;
    assert_eq!(
        all.expect(200)["scheduled_maintenances"][0]["status"],
        "completed"
    );

    let no_end = app
        .api(
            Method::POST,
            "/incidents",
            Some(json!({"incident": {"name": "x", "scheduled_for": "2099-01-01T00:00:00Z"}})),
        )
        .await;
    no_end.expect(422);
    assert!(no_end.error().contains("scheduled_until"));
}

async fn refused_requests_write_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let before = app.get("/api/v2/summary.json").await.expect(200).clone();
    let cases = [
        (
            json!({"incident": {"name": "  "}}),
            422,
            "incident[name] can't be blank",
        ),
        (
            json!({"incident": {"name": "x".repeat(256)}}),
            422,
            "incident[name] is too long",
        ),
        (
            json!({"incident": {"name": "x", "body": "y".repeat(25_001)}}),
            422,
            "incident[body] is too long",
        ),
        (
            json!({"incident": {"name": "x", "status": "exploded"}}),
            422,
            "incident[status] must be one of",
        ),
        (
            json!({"incident": {"name": "x", "components": {api.clone(): "on_fire"}}}),
            422,
            "major_outage",
        ),
        (
            json!({"incident": {"name": "x", "components": {"nosuchcompon": "major_outage"}}}),
            422,
            "unknown component id",
        ),
        (
            json!({"incident": {"name": "x", "component_ids": ["nosuchcompon"]}}),
            422,
            "incident[component_ids]",
        ),
        (
            json!({"incident": {"name": "x", "impact_override": "apocalyptic"}}),
            422,
            "incident[impact_override]",
        ),
        (
            json!({"incident": {"name": "x", "deliver_notifications": "perhaps"}}),
            422,
            "incident[deliver_notifications] must be true or false",
        ),
        (
            json!({"incident": {"name": 5.5, "components": []}}),
            422,
            "incident[components]",
        ),
        (
            json!({"incident": {"name": "x", "metadata": {"jira": "OPS-1"}}}),
            422,
            "incident[metadata][jira]",
        ),
        (json!({"name": "x"}), 400, "\"incident\""),
    ];
    for (body, status, needle) in cases {
        let reply = app
            .api(Method::POST, "/incidents", Some(body.clone()))
            .await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.text);
        assert!(
            reply.error().contains(needle),
            "{body}: expected {needle:?} in {:?}",
            reply.error()
        );
        assert_eq!(reply.json["message"], reply.json["error"]);
    }
    let malformed = app
        .client
        .post(app.v1("/incidents"))
        .header("Authorization", format!("OAuth {}", app.key))
        .header("Content-Type", "application/json")
        .body("{\"incident\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let after = app.get("/api/v2/summary.json").await.expect(200).clone();
    assert_eq!(
        before, after,
        "nothing was written, not even page.updated_at"
    );
    assert_eq!(app.store.status_changes(&api).await.unwrap().len(), 1);
}
