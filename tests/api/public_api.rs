//! The public read API, `/api/v2/*.json`: exact shapes, ordering, caps, roll-up.

use std::collections::BTreeSet;

use herald::domain::incident::IncidentRequest;
use herald::store::IncidentSettings;
use serde_json::{json, Value};

use crate::helpers::{spawn, spawn_with_site, Backend};
use crate::on_both_backends;

on_both_backends!(
    every_endpoint_answers_with_cors_and_page,
    objects_carry_every_documented_key,
    flat_component_list_follows_positions,
    summary_holds_unresolved_incidents_and_open_maintenances,
    status_rolls_up_components_and_incidents,
    single_component_page_uses_official_wording,
    incidents_json_caps_at_fifty_newest_first,
    timestamps_use_the_page_time_zone,
    unknown_paths_and_params,
    page_updated_at_moves_on_every_write,
);

const ENDPOINTS: [(&str, &str); 8] = [
    ("/api/v2/summary.json", "components"),
    ("/api/v2/status.json", "status"),
    ("/api/v2/components.json", "components"),
    ("/api/v2/incidents.json", "incidents"),
    ("/api/v2/incidents/unresolved.json", "incidents"),
    (
        "/api/v2/scheduled-maintenances.json",
        "scheduled_maintenances",
    ),
    (
        "/api/v2/scheduled-maintenances/upcoming.json",
        "scheduled_maintenances",
    ),
    (
        "/api/v2/scheduled-maintenances/active.json",
        "scheduled_maintenances",
    ),
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn every_endpoint_answers_with_cors_and_page(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    for (path, key) in ENDPOINTS {
        let reply = app.get(path).await;
        let body = reply.expect(200);
        assert_eq!(reply.headers["access-control-allow-origin"], "*", "{path}");
        assert_eq!(
            reply.headers["content-type"], "application/json; charset=utf-8",
            "{path}"
        );
        assert_eq!(
            keys(&body["page"]),
            set(&["id", "name", "url", "time_zone", "updated_at"]),
            "{path}"
        );
        assert_eq!(body["page"]["url"], "https://status.acme.test");
        assert_eq!(body["page"]["name"], "Acme Cloud");
        assert!(!body[key].is_null(), "{path} has {key}");
    }
    let summary = app.get("/api/v2/summary.json").await;
    assert_eq!(
        keys(summary.expect(200)),
        set(&[
            "page",
            "components",
            "incidents",
            "scheduled_maintenances",
            "status"
        ])
    );
}

async fn objects_carry_every_documented_key(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    app.create_incident(
        json!({"name": "Errors", "body": "Looking.", "components": {api: "partial_outage"}}),
    )
    .await;
    let summary = app.get("/api/v2/summary.json").await.expect(200).clone();

    let component_keys = set(&[
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "position",
        "description",
        "showcase",
        "start_date",
        "group_id",
        "page_id",
        "group",
        "only_show_if_degraded",
    ]);
    for c in summary["components"].as_array().unwrap() {
        let mut expected = component_keys.clone();
        if c["group"] == true {
            expected.insert("components".into());
        }
        assert_eq!(keys(c), expected, "{c}");
    }
    let incident = &summary["incidents"][0];
    assert_eq!(
        keys(incident),
        set(&[
            "id",
            "name",
            "status",
            "created_at",
            "updated_at",
            "monitoring_at",
            "resolved_at",
            "impact",
            "shortlink",
            "started_at",
            "page_id",
            "incident_updates",
            "components",
            "reminder_intervals",
        ])
    );
    assert_eq!(
        keys(&incident["incident_updates"][0]),
        set(&[
            "id",
            "status",
            "body",
            "incident_id",
            "created_at",
            "updated_at",
            "display_at",
            "affected_components",
            "deliver_notifications",
            "custom_tweet",
            "tweet_id",
        ])
    );
    assert_eq!(
        keys(&incident["incident_updates"][0]["affected_components"][0]),
        set(&["code", "name", "old_status", "new_status"])
    );
    // A partial outage of one component is "minor"; the incident's major impact raises it.
    assert_eq!(
        summary["status"],
        json!({"indicator": "major", "description": "Partial System Outage"})
    );
    let api_row = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "API")
        .unwrap()
        .clone();
    assert_eq!(api_row["start_date"], "2023-03-01");
    assert_eq!(api_row["description"], "Public REST API");
    let web_row = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Web App")
        .unwrap()
        .clone();
    assert_eq!(
        web_row["description"],
        Value::Null,
        "absent description is null, not \"\""
    );
}

async fn flat_component_list_follows_positions(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let rows = app.components().await;
    let order: Vec<(&str, i64, bool)> = rows
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["position"].as_i64().unwrap(),
                c["group"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("API", 1, false),
            ("Web App", 1, false),
            ("Dashboard", 2, true),
            ("Background Jobs", 2, false),
            ("Webhooks", 3, false),
        ]
    );
    let dashboard = rows.iter().find(|c| c["name"] == "Dashboard").unwrap();
    let web = rows.iter().find(|c| c["name"] == "Web App").unwrap();
    let jobs = rows
        .iter()
        .find(|c| c["name"] == "Background Jobs")
        .unwrap();
    assert_eq!(dashboard["components"], json!([web["id"], jobs["id"]]));
    assert_eq!(web["group_id"], dashboard["id"]);
    assert_eq!(jobs["showcase"], false);
}

async fn summary_holds_unresolved_incidents_and_open_maintenances(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let open = app.create_incident(json!({"name": "Open one"})).await;
    let closed = app.create_incident(json!({"name": "Closed one"})).await;
    app.patch_incident(
        closed["id"].as_str().unwrap(),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    let window = |from: &str, until: &str| json!({"name": "Upgrade", "scheduled_for": from, "scheduled_until": until});
    let upcoming = app
        .create_incident(window("2099-01-01T00:00:00Z", "2099-01-01T01:00:00Z"))
        .await;
    let done = app
        .create_incident(window("2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z"))
        .await;
    app.patch_incident(done["id"].as_str().unwrap(), json!({"status": "completed"}))
        .await
        .expect(200);

    let summary = app.get("/api/v2/summary.json").await.expect(200).clone();
    let ids = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&summary["incidents"]), [open["id"].clone()]);
    assert_eq!(
        ids(&summary["scheduled_maintenances"]),
        [upcoming["id"].clone()]
    );
    let incidents = app.get("/api/v2/incidents.json").await.expect(200).clone();
    assert_eq!(
        ids(&incidents["incidents"]),
        [closed["id"].clone(), open["id"].clone()]
    );
    let maintenances = app
        .get("/api/v2/scheduled-maintenances.json")
        .await
        .expect(200)
        .clone();
    assert_eq!(
        maintenances["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(maintenances["scheduled_maintenances"][0]
        .get("scheduled_for")
        .is_some());
}

async fn status_rolls_up_components_and_incidents(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let status = || async { app.get("/api/v2/status.json").await.expect(200)["status"].clone() };
    assert_eq!(
        status().await,
        json!({"indicator": "none", "description": "All Systems Operational"})
    );

    let api = app.component_id("API").await;
    let incident = app
        .create_incident(json!({"name": "Down", "components": {api.clone(): "major_outage"}}))
        .await;
    // One of four components down says "major"; the incident's critical impact raises it.
    assert_eq!(
        status().await,
        json!({"indicator": "critical", "description": "Major System Outage"})
    );

    let id = incident["id"].as_str().unwrap();
    app.patch_incident(
        id,
        json!({"components": {api.clone(): "degraded_performance"}}),
    )
    .await
    .expect(200);
    // Components say minor, but the open incident's peak impact (critical) raises it.
    assert_eq!(
        status().await,
        json!({"indicator": "critical", "description": "Major System Outage"})
    );
    app.patch_incident(id, json!({"impact_override": "minor"}))
        .await
        .expect(200);
    assert_eq!(
        status().await,
        json!({"indicator": "minor", "description": "Partially Degraded Service"})
    );
    app.patch_incident(id, json!({"status": "resolved"}))
        .await
        .expect(200);
    assert_eq!(
        status().await,
        json!({"indicator": "none", "description": "All Systems Operational"})
    );

    // Maintenance on one of several components.
    app.api(
        reqwest::Method::PATCH,
        &format!("/components/{api}"),
        Some(json!({"component": {"status": "under_maintenance"}})),
    )
    .await
    .expect(200);
    assert_eq!(
        status().await,
        json!({"indicator": "maintenance", "description": "Service Under Maintenance"})
    );
}

async fn single_component_page_uses_official_wording(backend: Backend) {
    let site = "[page]\nname = \"Solo\"\n[[components]]\nkey = \"only\"\nname = \"Only\"\nstatus = \"partial_outage\"\n";
    let Some(app) = spawn_with_site(backend, site).await else {
        return;
    };
    let status = app.get("/api/v2/status.json").await.expect(200)["status"].clone();
    assert_eq!(
        status,
        json!({"indicator": "major", "description": "Partial System Outage"})
    );
}

async fn incidents_json_caps_at_fifty_newest_first(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let start = herald::time::now() - chrono::Duration::hours(100);
    for n in 0..55 {
        let request = IncidentRequest {
            name: Some(format!("Incident {n}")),
            ..IncidentRequest::default()
        };
        app.store
            .create_incident(
                &request,
                &IncidentSettings::default(),
                start + chrono::Duration::minutes(n),
            )
            .await
            .unwrap();
    }
    let incidents = app.get("/api/v2/incidents.json?page=2").await.expect(200)["incidents"].clone();
    let names: Vec<&str> = incidents
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 50, "capped at 50, ?page ignored");
    assert_eq!(names[0], "Incident 54");
    assert_eq!(names[49], "Incident 5");
    let unresolved = app
        .get("/api/v2/incidents/unresolved.json")
        .await
        .expect(200)["incidents"]
        .clone();
    assert_eq!(
        unresolved.as_array().unwrap().len(),
        55,
        "unresolved has no documented cap"
    );
}

async fn timestamps_use_the_page_time_zone(backend: Backend) {
    let site = "[page]\nname = \"Tijuana\"\ntime_zone = \"America/Tijuana\"\n[[components]]\nkey = \"a\"\nname = \"A\"\n";
    let Some(app) = spawn_with_site(backend, site).await else {
        return;
    };
    let incident = app
        .create_incident(
            json!({"name": "Old", "backfilled": true, "backfill_date": "2019-06-24T12:25:57.666Z"}),
        )
        .await;
    assert_eq!(incident["created_at"], "2019-06-24T05:25:57.666-07:00");
    let status = app.get("/api/v2/status.json").await.expect(200).clone();
    assert_eq!(status["page"]["time_zone"], "America/Tijuana");
    let updated = status["page"]["updated_at"].as_str().unwrap();
    assert!(
        updated.ends_with("-08:00") || updated.ends_with("-07:00"),
        "{updated}"
    );
    // A date without a time is midnight in the page's zone.
    let dated = app
        .create_incident(
            json!({"name": "Dated", "backfilled": true, "backfill_date": "2024-03-14"}),
        )
        .await;
    assert_eq!(dated["created_at"], "2024-03-14T00:00:00.000-07:00");
}

async fn unknown_paths_and_params(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let missing = app.get("/api/v2/nothing.json").await;
    missing.expect(404);
    assert!(missing.error().contains("/api/v2/nothing.json"));
    assert_eq!(missing.headers["access-control-allow-origin"], "*");
    app.get("/api/v2/summary.json?x=1&page=7").await.expect(200);
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v2/summary.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    app.get("/api/v3/summary.json").await.expect(404);
}

async fn page_updated_at_moves_on_every_write(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let updated_at =
        || async { app.get("/api/v2/status.json").await.expect(200)["page"]["updated_at"].clone() };
    let mut last = updated_at().await;
    let incident = app.create_incident(json!({"name": "Touch"})).await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let update_id = incident["incident_updates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for step in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        match step {
            0 => {
                app.patch_incident(&id, json!({"body": "more"}))
                    .await
                    .expect(200);
            }
            1 => {
                app.api(
                    reqwest::Method::PATCH,
                    &format!("/incidents/{id}/incident_updates/{update_id}"),
                    Some(json!({"incident_update": {"body": "edited"}})),
                )
                .await
                .expect(200);
            }
            _ => {
                app.api(reqwest::Method::DELETE, &format!("/incidents/{id}"), None)
                    .await
                    .expect(200);
            }
        }
        let now = updated_at().await;
        assert!(
            now.as_str() > last.as_str(),
            "step {step}: {now} after {last}"
        );
        last = now;
    }
}
