//! Scheduled maintenance that moves by itself at its window's start and end.

use chrono::{Duration, Utc};
use herald::notify::links::LinkSigner;
use serde_json::json;

use crate::helpers::{spawn_with, Backend, SITE_TOML};
use crate::on_both_backends;

on_both_backends!(
    maintenance_starts_and_completes_on_schedule,
    manual_maintenance_never_moves
);

async fn worker_for(app: &crate::helpers::TestApp) -> herald::notify::worker::Worker {
    let links = LinkSigner::new(
        &app.store.secret("links").await.unwrap(),
        "https://status.acme.test",
    );
    herald::web::build_worker(&app.settings, &app.store, links)
        .await
        .unwrap()
}

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn maintenance_starts_and_completes_on_schedule(backend: Backend) {
    let Some(app) = spawn_with(backend, SITE_TOML, |s| s.run_worker = false).await else {
        return;
    };
    let worker = worker_for(&app).await;
    let web = app.component_id("Web App").await;
    let now = Utc::now();
    let running = app
        .create_incident(json!({
            "name": "Database upgrade",
            "scheduled_for": iso(now - Duration::minutes(1)),
            "scheduled_until": iso(now + Duration::hours(1)),
            "component_ids": [web.clone()],
            "scheduled_auto_in_progress": true,
            "scheduled_auto_completed": true,
            "auto_transition_to_maintenance_state": true,
            "auto_transition_to_operational_state": true,
            "deliver_notifications": false
        }))
        .await;
    // Its whole window passed while it was scheduled: it completes directly.
    let missed = app
        .create_incident(json!({
            "name": "Certificate rotation",
            "scheduled_for": iso(now - Duration::hours(3)),
            "scheduled_until": iso(now - Duration::hours(2)),
            "scheduled_auto_completed": true,
            "deliver_notifications": false
        }))
        .await;

    assert_eq!(worker.advance_maintenances().await.unwrap(), 2);
    let started = app
        .api(
            reqwest::Method::GET,
            &format!("/incidents/{}", running["id"].as_str().unwrap()),
            None,
        )
        .await;
    let started = started.expect(200);
    assert_eq!(started["status"], "in_progress");
    assert_eq!(
        started["incident_updates"][0]["body"],
        "Scheduled maintenance is currently in progress. We will provide updates as necessary."
    );
    assert_eq!(app.component_status("Web App").await, "under_maintenance");
    let done = app
        .api(
            reqwest::Method::GET,
            &format!("/incidents/{}", missed["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(done.expect(200)["status"], "completed");

    // Due again a moment later: nothing moves twice.
    assert_eq!(worker.advance_maintenances().await.unwrap(), 0);
    let updates = started["incident_updates"].as_array().unwrap().len();
    let again = app
        .api(
            reqwest::Method::GET,
            &format!("/incidents/{}", running["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        again.expect(200)["incident_updates"]
            .as_array()
            .unwrap()
            .len(),
        updates
    );

    // The end of the window: completed, components back to operational.
    let id = running["id"].as_str().unwrap();
    app.patch_incident(
        id,
        json!({"scheduled_until": iso(Utc::now() - Duration::seconds(1))}),
    )
    .await
    .expect(200);
    assert_eq!(worker.advance_maintenances().await.unwrap(), 1);
    let completed = app
        .api(reqwest::Method::GET, &format!("/incidents/{id}"), None)
        .await;
    let completed = completed.expect(200);
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["incident_updates"][0]["body"],
        "The scheduled maintenance has been completed."
    );
    assert_eq!(app.component_status("Web App").await, "operational");
}

async fn manual_maintenance_never_moves(backend: Backend) {
    let Some(app) = spawn_with(backend, SITE_TOML, |s| s.run_worker = false).await else {
        return;
    };
    let worker = worker_for(&app).await;
    let now = Utc::now();
    let manual = app
        .create_incident(json!({
            "name": "Manual window",
            "scheduled_for": iso(now - Duration::hours(2)),
            "scheduled_until": iso(now - Duration::hours(1)),
            "deliver_notifications": false
        }))
        .await;
    assert_eq!(worker.advance_maintenances().await.unwrap(), 0);
    let still = app
        .api(
            reqwest::Method::GET,
            &format!("/incidents/{}", manual["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(still.expect(200)["status"], "scheduled");
}
