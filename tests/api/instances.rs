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
    let id = app
        .create_incident(json!({"name": "Seen everywhere"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The listener subscribes in the background: post updates until one is heard.
    // Nothing but a notification moves this store's count.
    let before = other.change_count();
    let mut heard = false;
    for attempt in 0..20 {
        app.patch_incident(&id, json!({"body": format!("update {attempt}")}))
            .await
            .expect(200);
        for _ in 0..25 {
            if other.change_count() > before {
                heard = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if heard {
            break;
        }
    }
    assert!(heard, "no notification reached the other instance");

    // A refused write sends nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = other.change_count();
    app.patch_incident("zzzzzzzzzzzz", json!({"name": "x"}))
        .await
        .expect(404);
    app.patch_incident(&id, json!({"status": "exploded"}))
        .await
        .expect(422);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(other.change_count(), settled);
}
