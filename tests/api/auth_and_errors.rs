//! Authentication of `/v1`, the CLI's key management, and error answers.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    keys_are_accepted_in_three_forms,
    missing_or_wrong_keys_get_401,
    cli_creates_lists_and_revokes_keys,
    wrong_page_and_unknown_routes_are_404_json,
    json_suffix_is_optional,
);

async fn get_pages(app: &TestApp, auth: Option<&str>, query: &str) -> (u16, serde_json::Value) {
    let mut req = app.client.get(app.url(&format!("/v1/pages{query}")));
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

async fn keys_are_accepted_in_three_forms(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let oauth = get_pages(&app, Some(&format!("OAuth {}", app.key)), "").await;
    assert_eq!(oauth.0, 200);
    assert_eq!(oauth.1[0]["id"], app.page_id.as_str());
    assert_eq!(oauth.1[0]["name"], "Acme Cloud");
    assert_eq!(
        get_pages(&app, Some(&format!("Bearer {}", app.key)), "")
            .await
            .0,
        200
    );
    assert_eq!(
        get_pages(&app, None, &format!("?api_key={}", app.key))
            .await
            .0,
        200
    );
    let keys = app.store.list_api_keys().await.unwrap();
    assert!(keys[0].last_used_at.is_some(), "use is recorded");
}

async fn missing_or_wrong_keys_get_401(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    for auth in [None, Some("OAuth nope"), Some("Basic abc"), Some("OAuth ")] {
        let (status, body) = get_pages(&app, auth, "").await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body["error"], "Could not authenticate");
        assert!(body["message"].as_str().unwrap().len() > 10);
    }
    // A refused write leaves nothing behind.
    let res = app
        .client
        .post(app.v1("/incidents"))
        .json(&json!({"incident": {"name": "sneaky"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        app.api(Method::GET, "/incidents", None).await.expect(200),
        &json!([])
    );
}

async fn cli_creates_lists_and_revokes_keys(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (ok, stdout, stderr) = app.herald(&["api-key", "create", "deploy bot"]).await;
    assert!(ok, "{stderr}");
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert!(
        key.starts_with("hrld_") && !key.contains(' '),
        "key alone on the last line: {stdout:?}"
    );
    assert!(!stderr.contains(&key), "the key is never logged");
    assert_eq!(
        get_pages(&app, Some(&format!("OAuth {key}")), "").await.0,
        200
    );

    let (ok, listing, _) = app.herald(&["api-key", "list"]).await;
    assert!(ok);
    assert!(
        listing.contains("deploy bot") && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(&key), "list never shows keys");
    let id = listing
        .lines()
        .find(|l| l.contains("deploy bot"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let (ok, _, stderr) = app.herald(&["api-key", "revoke", &id]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        get_pages(&app, Some(&format!("OAuth {key}")), "").await.0,
        401
    );
    let (ok, _, stderr) = app.herald(&["api-key", "revoke", "zzzzzzzzzzzz"]).await;
    assert!(!ok);
    assert!(stderr.contains("not found"), "{stderr}");
}

async fn wrong_page_and_unknown_routes_are_404_json(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let res = app
        .client
        .get(app.url("/v1/pages/aaaaaaaaaaaa/incidents"))
        .header("Authorization", format!("OAuth {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("aaaaaaaaaaaa"));

    let unknown = app.api(Method::GET, "/metrics-providers", None).await;
    unknown.expect(404);
    assert!(unknown.json["error"].is_string());
    let incident = app.api(Method::GET, "/incidents/zzzzzzzzzzzz", None).await;
    incident.expect(404);
    assert!(incident.error().contains("incident"));
    let bad_query = app.api(Method::GET, "/incidents?limit=ten", None).await;
    bad_query.expect(422);
    assert!(bad_query.error().contains("limit"));
}

async fn json_suffix_is_optional(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let with = app.api(Method::GET, "/components.json", None).await;
    let without = app.api(Method::GET, "/components", None).await;
    assert_eq!(with.expect(200), without.expect(200));
    assert_eq!(with.json.as_array().unwrap().len(), 5);
    let page = app
        .client
        .get(app.url(&format!(
            "/v1/pages/{}.json?api_key={}",
            app.page_id, app.key
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "query string survives the suffix strip");
}
