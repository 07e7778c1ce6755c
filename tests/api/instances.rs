//! Several instances on one PostgreSQL database: a change committed by one is counted
//! by the others (their page caches then re-render), through LISTEN/NOTIFY.

use std::time::Duration;

use herald::store::Store;
use serde_json::json;

use crate::helpers::{spawn, Backend};

#[tokio::test]
async fn other_instances_count_a_committed_change() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let other = Store::connect(&app.settings.database_url).await.unwrap();
    other.spawn_change_listener();
    // Let the listener subscribe before the write.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = other.change_count();

    app.create_incident(json!({"name": "Seen everywhere"}))
        .await;

    let mut waited = Duration::ZERO;
    while other.change_count() == before && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    assert!(
        other.change_count() > before,
        "no notification reached the other instance"
    );
    // A refused write sends nothing.
    let settled = other.change_count();
    let refused = app
        .patch_incident("zzzzzzzzzzzz", json!({"name": "x"}))
        .await;
    refused.expect(404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(other.change_count(), settled);
}
