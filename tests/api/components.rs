//! Components, component groups and the page through `/v1`, as a page owner manages
//! them; every change is checked again in the public `/api/v2/components.json`.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    create_returns_the_full_v1_object,
    create_in_a_group_goes_last_there,
    create_refuses_bad_fields_and_writes_nothing,
    get_patch_and_put_change_and_log,
    unknown_ids_are_404_with_error_and_message,
    moving_between_containers_renumbers_both,
    delete_renumbers_and_drops_empty_groups,
    create_group_moves_components_into_it,
    create_group_from_a_form_body,
    group_requests_refused_write_nothing,
    update_group_membership,
    delete_group_orphans_its_children,
    group_row_follows_its_worst_child,
    page_list_get_and_patch,
    page_time_zone_moves_every_timestamp,
    wrong_page_id_is_404,
    components_list_pages,
);

/// The keys of a v1 component, exactly (§1.3 component + §2.8 `automation_email`).
const V1_COMPONENT_KEYS: [&str; 14] = [
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
    "automation_email",
];

const GROUP_KEYS: [&str; 8] = [
    "id",
    "page_id",
    "name",
    "description",
    "components",
    "position",
    "created_at",
    "updated_at",
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn key_set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().expect("id string").to_owned())
        .collect()
}

/// The v2 row (component or group) with this id, if listed.
async fn v2_row(app: &TestApp, id: &str) -> Option<Value> {
    app.components().await.into_iter().find(|c| c["id"] == id)
}

async fn v2_row_named(app: &TestApp, name: &str) -> Value {
    app.components()
        .await
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no v2 row named {name}"))
}

/// Top-level rows (components and groups) as (name, position), by position.
async fn top_level(app: &TestApp) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = app
        .components()
        .await
        .iter()
        .filter(|c| c["group_id"].is_null())
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["position"].as_i64().expect("position"),
            )
        })
        .collect();
    rows.sort_by_key(|(_, p)| *p);
    rows
}

/// Children of a group as (name, position), by position.
async fn children(app: &TestApp, group_id: &str) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = app
        .components()
        .await
        .iter()
        .filter(|c| c["group_id"] == group_id)
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["position"].as_i64().expect("position"),
            )
        })
        .collect();
    rows.sort_by_key(|(_, p)| *p);
    rows
}

fn named(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
}

type Move = (Option<String>, String, String);

async fn moves(app: &TestApp, id: &str) -> Vec<Move> {
    app.store
        .status_changes(id)
        .await
        .expect("status log")
        .iter()
        .map(|c| (c.old_status.clone(), c.new_status.clone(), c.cause.clone()))
        .collect()
}

fn mv(old: Option<&str>, new: &str, cause: &str) -> Move {
    (old.map(str::to_owned), new.to_owned(), cause.to_owned())
}

fn parse_ts(raw: &Value) -> DateTime<FixedOffset> {
    let text = raw
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {raw}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn component_count(app: &TestApp) -> usize {
    app.store
        .list_components()
        .await
        .expect("tree")
        .components
        .len()
}

async fn group_count(app: &TestApp) -> usize {
    app.store
        .list_components()
        .await
        .expect("tree")
        .groups
        .len()
}

// --- components ------------------------------------------------------------------------------

async fn create_returns_the_full_v1_object(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let reply = app
        .api(
            Method::POST,
            "/components",
            Some(json!({"component": {
                "name": "  Search  ",
                "description": "   ",
                "status": "degraded_performance",
                "showcase": false,
                "only_show_if_degraded": true,
                "start_date": "2024-02-29"
            }})),
        )
        .await;
    let created = reply.expect(201).clone();
    assert_eq!(keys(&created), key_set(&V1_COMPONENT_KEYS), "{created}");
    let id = id_of(&created);
    assert!(
        id.len() == 12
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(created["name"], "Search", "names are trimmed");
    assert_eq!(created["status"], "degraded_performance");
    assert_eq!(created["description"], Value::Null, "blank is null");
    assert_eq!(created["showcase"], false);
    assert_eq!(created["only_show_if_degraded"], true);
    assert_eq!(created["start_date"], "2024-02-29");
    assert_eq!(created["group_id"], Value::Null);
    assert_eq!(created["page_id"], app.page_id.as_str());
    assert_eq!(created["group"], false);
    assert_eq!(created["automation_email"], Value::Null);
    assert_eq!(
        created["position"], 4,
        "last at the top level after API, Dashboard, Webhooks"
    );
    let created_at = created["created_at"].as_str().expect("created_at");
    assert!(
        created_at.ends_with('Z') && created_at.len() == 24,
        "{created_at}"
    );
    assert_eq!(created["updated_at"], created_at);

    // The public row is the same object without the management field.
    let public = v2_row(&app, &id).await.expect("listed in v2");
    let mut expected = created.clone();
    expected
        .as_object_mut()
        .expect("object")
        .remove("automation_email");
    assert_eq!(public, expected);
    assert_eq!(
        top_level(&app).await,
        named(&[("API", 1), ("Dashboard", 2), ("Webhooks", 3), ("Search", 4)])
    );
    assert_eq!(
        moves(&app, &id).await,
        [mv(None, "degraded_performance", "created")]
    );
    // The v1 GET returns the very object the POST did.
    let got = app
        .api(Method::GET, &format!("/components/{id}"), None)
        .await;
    assert_eq!(got.expect(200), &created);
}

async fn create_in_a_group_goes_last_there(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let dashboard = app.component_id("Dashboard").await;
    let reply = app
        .api_form(
            Method::POST,
            "/components",
            &[
                ("component[name]", "Reports"),
                ("component[description]", "PDF exports"),
                ("component[group_id]", &dashboard),
                ("component[showcase]", "f"),
                ("component[status]", "partial_outage"),
            ],
        )
        .await;
    let created = reply.expect(201).clone();
    let id = id_of(&created);
    assert_eq!(created["group_id"], dashboard.as_str());
    assert_eq!(created["position"], 3, "after Web App and Background Jobs");
    assert_eq!(created["description"], "PDF exports");
    assert_eq!(created["showcase"], false);
    assert_eq!(created["status"], "partial_outage");

    assert_eq!(
        children(&app, &dashboard).await,
        named(&[("Web App", 1), ("Background Jobs", 2), ("Reports", 3)])
    );
    let group = v2_row(&app, &dashboard).await.expect("group row");
    assert_eq!(
        ids(&group["components"]),
        [
            app.component_id("Web App").await,
            app.component_id("Background Jobs").await,
            id.clone()
        ]
    );
    assert_eq!(group["status"], "partial_outage", "worst child");
    assert_eq!(
        top_level(&app).await,
        named(&[("API", 1), ("Dashboard", 2), ("Webhooks", 3)]),
        "the top level is untouched"
    );
    let listed = app
        .api(Method::GET, &format!("/component-groups/{dashboard}"), None)
        .await;
    assert_eq!(ids(&listed.expect(200)["components"]).len(), 3);
}

async fn create_refuses_bad_fields_and_writes_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let before = component_count(&app).await;
    let app_ref = &app;
    let refused = move |body: Value| async move {
        let app = app_ref;
        let reply = app
            .api(
                Method::POST,
                "/components",
                Some(json!({ "component": body })),
            )
            .await;
        reply.expect(422);
        assert_eq!(
            reply.json["message"], reply.json["error"],
            "both keys carry the text"
        );
        reply.error()
    };

    let err = refused(json!({"name": "X", "group_id": "nosuchgroupx"})).await;
    assert!(
        err.starts_with("component[group_id]") && err.contains("nosuchgroupx"),
        "{err}"
    );
    let err = refused(json!({"name": "   "})).await;
    assert_eq!(err, "component[name] can't be blank");
    let err = refused(json!({"description": "no name"})).await;
    assert_eq!(err, "component[name] can't be blank");
    let err = refused(json!({"name": "x".repeat(256)})).await;
    assert!(
        err.starts_with("component[name] is too long") && err.contains("255"),
        "{err}"
    );
    let err = refused(json!({"name": "X", "status": "down"})).await;
    assert_eq!(
        err,
        "component[status] must be one of operational, degraded_performance, partial_outage, \
         major_outage, under_maintenance (got \"down\")"
    );
    let err = refused(json!({"name": "X", "start_date": "2024-02-30"})).await;
    assert!(
        err.starts_with("component[start_date]") && err.contains("2024-02-30"),
        "{err}"
    );
    let err = refused(json!({"name": "X", "start_date": "03/01/2024"})).await;
    assert!(err.starts_with("component[start_date]"), "{err}");
    let err = refused(json!({"name": "X", "showcase": "maybe"})).await;
    assert_eq!(err, "component[showcase] must be true or false");

    // A form body is refused the same way.
    let reply = app
        .api_form(
            Method::POST,
            "/components",
            &[("component[name]", "X"), ("component[status]", "broken")],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .error()
        .starts_with("component[status] must be one of"));

    assert_eq!(component_count(&app).await, before, "nothing was written");

    // The limit itself is allowed: 255 characters, counted as characters.
    let long = "é".repeat(255);
    let reply = app
        .api(
            Method::POST,
            "/components",
            Some(json!({"component": {"name": long.clone()}})),
        )
        .await;
    assert_eq!(reply.expect(201)["name"], long.as_str());
    assert_eq!(component_count(&app).await, before + 1);
}

async fn get_patch_and_put_change_and_log(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let got = app
        .api(Method::GET, &format!("/components/{api}"), None)
        .await;
    let got = got.expect(200).clone();
    assert_eq!(got["name"], "API");
    assert_eq!(got["description"], "Public REST API");
    assert_eq!(got["start_date"], "2023-03-01");
    assert_eq!(got["status"], "operational");
    assert_eq!(got["position"], 1);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let patched = app
        .api(
            Method::PATCH,
            &format!("/components/{api}"),
            Some(json!({"component": {
                "name": "Public API",
                "description": "",
                "status": "partial_outage"
            }})),
        )
        .await;
    let patched = patched.expect(200).clone();
    assert_eq!(patched["id"], api.as_str());
    assert_eq!(patched["name"], "Public API");
    assert_eq!(patched["description"], Value::Null, "\"\" clears it");
    assert_eq!(patched["status"], "partial_outage");
    assert_eq!(patched["start_date"], "2023-03-01", "untouched");
    assert_eq!(patched["created_at"], got["created_at"]);
    assert!(
        parse_ts(&patched["updated_at"]) > parse_ts(&got["updated_at"]),
        "{} vs {}",
        patched["updated_at"],
        got["updated_at"]
    );
    let public = v2_row(&app, &api).await.expect("v2 row");
    assert_eq!(public["name"], "Public API");
    assert_eq!(public["status"], "partial_outage");
    assert_eq!(public["description"], Value::Null);
    assert_eq!(
        moves(&app, &api).await,
        [
            mv(None, "operational", "content"),
            mv(Some("operational"), "partial_outage", "manual"),
        ]
    );

    // PUT behaves as PATCH; here from a form.
    let put = app
        .api_form(
            Method::PUT,
            &format!("/components/{api}"),
            &[
                ("component[status]", "operational"),
                ("component[description]", "Back again"),
                ("component[start_date]", ""),
                ("component[only_show_if_degraded]", "t"),
            ],
        )
        .await;
    let put = put.expect(200).clone();
    assert_eq!(put["name"], "Public API", "name kept");
    assert_eq!(put["description"], "Back again");
    assert_eq!(put["start_date"], Value::Null, "\"\" clears the date");
    assert_eq!(put["only_show_if_degraded"], true);
    assert_eq!(app.component_status("Public API").await, "operational");

    // Same status again, or "" (leave it): no log entry.
    for status in ["operational", ""] {
        let reply = app
            .api(
                Method::PATCH,
                &format!("/components/{api}"),
                Some(json!({"component": {"status": status}})),
            )
            .await;
        assert_eq!(reply.expect(200)["status"], "operational");
    }
    // A refused patch changes nothing.
    let refused = app
        .api(
            Method::PATCH,
            &format!("/components/{api}"),
            Some(json!({"component": {"status": "major_outage", "name": ""}})),
        )
        .await;
    refused.expect(422);
    assert_eq!(refused.error(), "component[name] can't be blank");
    assert_eq!(app.component_status("Public API").await, "operational");
    assert_eq!(
        moves(&app, &api).await,
        [
            mv(None, "operational", "content"),
            mv(Some("operational"), "partial_outage", "manual"),
            mv(Some("partial_outage"), "operational", "manual"),
        ]
    );
}

async fn unknown_ids_are_404_with_error_and_message(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let before = component_count(&app).await;
    let body = json!({"component": {"name": "Ghost"}});
    let group_body = json!({"component_group": {"name": "Ghost"}});
    for (method, path, body) in [
        (Method::GET, "/components/zzzzzzzzzzzz", None),
        (
            Method::PATCH,
            "/components/zzzzzzzzzzzz",
            Some(body.clone()),
        ),
        (Method::PUT, "/components/zzzzzzzzzzzz", Some(body)),
        (Method::DELETE, "/components/zzzzzzzzzzzz", None),
        (Method::GET, "/component-groups/zzzzzzzzzzzz", None),
        (
            Method::PATCH,
            "/component-groups/zzzzzzzzzzzz",
            Some(group_body),
        ),
        (Method::DELETE, "/component-groups/zzzzzzzzzzzz", None),
    ] {
        let reply = app.api(method.clone(), path, body).await;
        assert_eq!(
            reply.status.as_u16(),
            404,
            "{method} {path}: {}",
            reply.text
        );
        let err = reply.error();
        assert!(
            err.starts_with("The requested resource could not be found"),
            "{method} {path}: {err}"
        );
        assert_eq!(reply.json["message"], err.as_str(), "{method} {path}");
        assert_eq!(
            keys(&reply.json),
            key_set(&["error", "message"]),
            "{method} {path}"
        );
    }
    assert_eq!(component_count(&app).await, before);
}

async fn moving_between_containers_renumbers_both(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let dashboard = app.component_id("Dashboard").await;
    let webhooks = app.component_id("Webhooks").await;
    let web = app.component_id("Web App").await;

    // Webhooks joins the group: last there.
    let moved = app
        .api(
            Method::PATCH,
            &format!("/components/{webhooks}"),
            Some(json!({"component": {"group_id": dashboard.clone()}})),
        )
        .await;
    let moved = moved.expect(200);
    assert_eq!(moved["group_id"], dashboard.as_str());
    assert_eq!(moved["position"], 3);
    assert_eq!(
        children(&app, &dashboard).await,
        named(&[("Web App", 1), ("Background Jobs", 2), ("Webhooks", 3)])
    );
    assert_eq!(
        top_level(&app).await,
        named(&[("API", 1), ("Dashboard", 2)])
    );

    // Web App leaves it (null): last at the top level; the group closes the gap.
    let out = app
        .api(
            Method::PATCH,
            &format!("/components/{web}"),
            Some(json!({"component": {"group_id": null}})),
        )
        .await;
    let out = out.expect(200);
    assert_eq!(out["group_id"], Value::Null);
    assert_eq!(out["position"], 3);
    assert_eq!(
        top_level(&app).await,
        named(&[("API", 1), ("Dashboard", 2), ("Web App", 3)])
    );
    assert_eq!(
        children(&app, &dashboard).await,
        named(&[("Background Jobs", 1), ("Webhooks", 2)])
    );

    // An unknown group refuses the move and leaves it where it was.
    let refused = app
        .api(
            Method::PATCH,
            &format!("/components/{web}"),
            Some(json!({"component": {"group_id": "nosuchgroupx"}})),
        )
        .await;
    refused.expect(422);
    assert!(
        refused.error().starts_with("component[group_id]"),
        "{}",
        refused.error()
    );
    assert_eq!(
        v2_row(&app, &web).await.expect("web")["group_id"],
        Value::Null
    );
}

async fn delete_renumbers_and_drops_empty_groups(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let dashboard = app.component_id("Dashboard").await;
    let web = app.component_id("Web App").await;
    let jobs = app.component_id("Background Jobs").await;

    let deleted = app
        .api(Method::DELETE, &format!("/components/{api}"), None)
        .await;
    deleted.expect(204);
    assert_eq!(deleted.text, "", "204 has no body");
    app.api(Method::GET, &format!("/components/{api}"), None)
        .await
        .expect(404);
    app.api(Method::DELETE, &format!("/components/{api}"), None)
        .await
        .expect(404);
    assert!(v2_row(&app, &api).await.is_none());
    assert_eq!(
        top_level(&app).await,
        named(&[("Dashboard", 1), ("Webhooks", 2)])
    );
    assert!(
        !moves(&app, &api).await.is_empty(),
        "the status history of a deleted component stays"
    );

    app.api(Method::DELETE, &format!("/components/{web}"), None)
        .await
        .expect(204);
    assert_eq!(
        children(&app, &dashboard).await,
        named(&[("Background Jobs", 1)])
    );
    assert_eq!(
        ids(&v2_row(&app, &dashboard).await.expect("group")["components"]),
        std::slice::from_ref(&jobs)
    );

    // The last child goes: so does the group.
    app.api(Method::DELETE, &format!("/components/{jobs}"), None)
        .await
        .expect(204);
    assert!(v2_row(&app, &dashboard).await.is_none(), "group deleted");
    app.api(Method::GET, &format!("/component-groups/{dashboard}"), None)
        .await
        .expect(404);
    assert_eq!(top_level(&app).await, named(&[("Webhooks", 1)]));
    assert_eq!(group_count(&app).await, 0);
}

// --- groups ----------------------------------------------------------------------------------

async fn create_group_moves_components_into_it(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let webhooks = app.component_id("Webhooks").await;
    let reply = app
        .api(
            Method::POST,
            "/component-groups",
            Some(json!({
                "description": "Edge services",
                "component_group": {"name": "Edge", "components": [api.clone(), webhooks.clone()]}
            })),
        )
        .await;
    let group = reply.expect(201).clone();
    assert_eq!(keys(&group), key_set(&GROUP_KEYS), "{group}");
    let id = id_of(&group);
    assert_eq!(group["page_id"], app.page_id.as_str());
    assert_eq!(group["name"], "Edge");
    assert_eq!(group["description"], "Edge services");
    assert_eq!(ids(&group["components"]), [api.clone(), webhooks.clone()]);
    assert_eq!(
        group["position"], 2,
        "after Dashboard, once its members left"
    );
    assert!(group["created_at"].as_str().expect("ts").ends_with('Z'));

    for (child, position) in [(&api, 1), (&webhooks, 2)] {
        let row = v2_row(&app, child).await.expect("child");
        assert_eq!(row["group_id"], id.as_str());
        assert_eq!(row["position"], position);
    }
    let row = v2_row(&app, &id).await.expect("group row");
    assert_eq!(row["group"], true);
    assert_eq!(row["group_id"], Value::Null);
    assert_eq!(ids(&row["components"]), [api.clone(), webhooks.clone()]);
    assert_eq!(row["status"], "operational");
    assert_eq!(row["description"], "Edge services");
    assert_eq!(
        top_level(&app).await,
        named(&[("Dashboard", 1), ("Edge", 2)])
    );

    let got = app
        .api(Method::GET, &format!("/component-groups/{id}"), None)
        .await;
    assert_eq!(got.expect(200), &group);
    let listed = app.api(Method::GET, "/component-groups", None).await;
    let listed = listed.expect(200).as_array().expect("array").clone();
    assert_eq!(
        listed.iter().map(id_of).collect::<Vec<_>>(),
        [app.component_id("Dashboard").await, id.clone()]
    );
    // v1 component objects show the new parent too.
    let api_v1 = app
        .api(Method::GET, &format!("/components/{api}"), None)
        .await;
    assert_eq!(api_v1.expect(200)["group_id"], id.as_str());
}

async fn create_group_from_a_form_body(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let web = app.component_id("Web App").await;
    let jobs = app.component_id("Background Jobs").await;
    let dashboard = app.component_id("Dashboard").await;
    let reply = app
        .api_form(
            Method::POST,
            "/component-groups",
            &[
                ("description", "Taken from the Dashboard"),
                ("component_group[name]", "Core"),
                ("component_group[components][]", &web),
                ("component_group[components][]", &api),
            ],
        )
        .await;
    let group = reply.expect(201).clone();
    let id = id_of(&group);
    assert_eq!(group["description"], "Taken from the Dashboard");
    assert_eq!(ids(&group["components"]), [web.clone(), api.clone()]);
    assert_eq!(
        children(&app, &id).await,
        named(&[("Web App", 1), ("API", 2)])
    );
    assert_eq!(
        children(&app, &dashboard).await,
        named(&[("Background Jobs", 1)]),
        "the old group closes the gap"
    );
    assert_eq!(
        ids(&v2_row(&app, &dashboard).await.expect("dashboard")["components"]),
        [jobs]
    );
    assert_eq!(
        top_level(&app).await,
        named(&[("Dashboard", 1), ("Webhooks", 2), ("Core", 3)])
    );
}

async fn group_requests_refused_write_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let dashboard = app.component_id("Dashboard").await;
    let groups_before = group_count(&app).await;
    let top_before = top_level(&app).await;

    let app_ref = &app;
    let create = move |group: Value| async move {
        let app = app_ref;
        let reply = app
            .api(
                Method::POST,
                "/component-groups",
                Some(json!({ "component_group": group })),
            )
            .await;
        reply.expect(422);
        reply.error()
    };
    let err = create(json!({"name": "Empty", "components": []})).await;
    assert!(
        err.starts_with("component_group[components] can't be empty"),
        "{err}"
    );
    let err = create(json!({"name": "Empty"})).await;
    assert!(
        err.starts_with("component_group[components] can't be empty"),
        "{err}"
    );
    let err = create(json!({"name": "Typo", "components": [api.clone(), "nosuchcompnt"]})).await;
    assert!(
        err.starts_with("component_group[components]") && err.contains("nosuchcompnt"),
        "{err}"
    );
    let err = create(json!({"name": " ", "components": [api.clone()]})).await;
    assert_eq!(err, "component_group[name] can't be blank");

    // Updates are refused the same way, and keep the members.
    for (body, field) in [
        (json!({"components": []}), "component_group[components]"),
        (
            json!({"components": ["nosuchcompnt"]}),
            "component_group[components]",
        ),
        (json!({"name": ""}), "component_group[name]"),
    ] {
        let reply = app
            .api(
                Method::PATCH,
                &format!("/component-groups/{dashboard}"),
                Some(json!({"component_group": body, "description": "changed"})),
            )
            .await;
        reply.expect(422);
        assert!(reply.error().starts_with(field), "{}", reply.error());
    }
    assert_eq!(group_count(&app).await, groups_before);
    assert_eq!(top_level(&app).await, top_before);
    let dash = app
        .api(Method::GET, &format!("/component-groups/{dashboard}"), None)
        .await;
    let dash = dash.expect(200);
    assert_eq!(ids(&dash["components"]).len(), 2);
    assert_eq!(
        dash["description"],
        Value::Null,
        "the refused update left nothing"
    );
    assert_eq!(
        v2_row(&app, &api).await.expect("api")["group_id"],
        Value::Null
    );
}

async fn update_group_membership(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let webhooks = app.component_id("Webhooks").await;
    let web = app.component_id("Web App").await;
    let jobs = app.component_id("Background Jobs").await;
    let dashboard = app.component_id("Dashboard").await;
    let edge = app
        .api(
            Method::POST,
            "/component-groups",
            Some(json!({"component_group": {"name": "Edge", "components": [api.clone(), webhooks.clone()]}})),
        )
        .await;
    let edge = id_of(edge.expect(201));
    assert_eq!(
        top_level(&app).await,
        named(&[("Dashboard", 1), ("Edge", 2)])
    );

    // API leaves, Web App joins from Dashboard; the order is the one given.
    let updated = app
        .api(
            Method::PATCH,
            &format!("/component-groups/{edge}"),
            Some(json!({"component_group": {"name": "Edge network", "components": [webhooks.clone(), web.clone()]}})),
        )
        .await;
    let updated = updated.expect(200).clone();
    assert_eq!(updated["name"], "Edge network");
    assert_eq!(ids(&updated["components"]), [webhooks.clone(), web.clone()]);
    assert_eq!(
        children(&app, &edge).await,
        named(&[("Webhooks", 1), ("Web App", 2)])
    );
    let api_row = v2_row(&app, &api).await.expect("api");
    assert_eq!(api_row["group_id"], Value::Null, "removed: top level");
    assert_eq!(
        top_level(&app).await,
        named(&[("Dashboard", 1), ("Edge network", 2), ("API", 3)])
    );
    assert_eq!(
        children(&app, &dashboard).await,
        named(&[("Background Jobs", 1)])
    );

    // Taking Dashboard's last component deletes Dashboard.
    let updated = app
        .api(
            Method::PUT,
            &format!("/component-groups/{edge}"),
            Some(json!({"component_group": {"components": [jobs.clone()]}})),
        )
        .await;
    assert_eq!(
        ids(&updated.expect(200)["components"]),
        std::slice::from_ref(&jobs)
    );
    assert!(v2_row(&app, &dashboard).await.is_none(), "Dashboard went");
    for gone in [&webhooks, &web] {
        assert_eq!(
            v2_row(&app, gone).await.expect("still there")["group_id"],
            Value::Null
        );
    }
    let top = top_level(&app).await;
    assert_eq!(
        top.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        (1..=top.len() as i64).collect::<Vec<_>>(),
        "top level numbered 1..n: {top:?}"
    );
    assert_eq!(top.len(), 4, "{top:?}");

    // The description may sit at the top level of the body.
    let described = app
        .api(
            Method::PATCH,
            &format!("/component-groups/{edge}"),
            Some(json!({"description": "Everything at the edge", "component_group": {}})),
        )
        .await;
    let described = described.expect(200);
    assert_eq!(described["description"], "Everything at the edge");
    assert_eq!(described["name"], "Edge network");
    assert_eq!(ids(&described["components"]), [jobs]);
}

async fn delete_group_orphans_its_children(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let dashboard = app.component_id("Dashboard").await;
    let web = app.component_id("Web App").await;
    let jobs = app.component_id("Background Jobs").await;
    app.api(
        Method::PATCH,
        &format!("/components/{jobs}"),
        Some(json!({"component": {"status": "major_outage"}})),
    )
    .await
    .expect(200);
    let before = app
        .api(Method::GET, &format!("/component-groups/{dashboard}"), None)
        .await
        .expect(200)
        .clone();

    let deleted = app
        .api(
            Method::DELETE,
            &format!("/component-groups/{dashboard}"),
            None,
        )
        .await;
    let deleted = deleted.expect(200);
    assert_eq!(keys(deleted), key_set(&GROUP_KEYS));
    assert_eq!(deleted["name"], "Dashboard");
    assert_eq!(
        ids(&deleted["components"]),
        [web.clone(), jobs.clone()],
        "the group as it was"
    );
    assert_eq!(deleted["id"], before["id"]);

    assert!(v2_row(&app, &dashboard).await.is_none());
    app.api(Method::GET, &format!("/component-groups/{dashboard}"), None)
        .await
        .expect(404);
    let web_row = v2_row(&app, &web).await.expect("orphan kept");
    let jobs_row = v2_row(&app, &jobs).await.expect("orphan kept");
    assert_eq!(web_row["group_id"], Value::Null);
    assert_eq!(jobs_row["group_id"], Value::Null);
    assert_eq!(jobs_row["status"], "major_outage", "status kept");
    assert_eq!(jobs_row["showcase"], false, "settings kept");
    assert_eq!(
        top_level(&app).await,
        named(&[
            ("API", 1),
            ("Webhooks", 2),
            ("Web App", 3),
            ("Background Jobs", 4)
        ])
    );
    assert_eq!(group_count(&app).await, 0);
}

async fn group_row_follows_its_worst_child(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let dashboard = app.component_id("Dashboard").await;
    let web = app.component_id("Web App").await;
    let jobs = app.component_id("Background Jobs").await;
    let app_ref = &app;
    let set = move |id: String, status: &'static str| async move {
        let app = app_ref;
        let reply = app
            .api(
                Method::PATCH,
                &format!("/components/{id}"),
                Some(json!({"component": {"status": status}})),
            )
            .await;
        reply.expect(200).clone()
    };

    let group = v2_row(&app, &dashboard).await.expect("group");
    assert_eq!(group["group"], true);
    assert_eq!(group["group_id"], Value::Null);
    assert_eq!(ids(&group["components"]), [web.clone(), jobs.clone()]);
    assert_eq!(group["status"], "operational");
    assert!(
        group.get("automation_email").is_none(),
        "no management keys in v2"
    );

    set(jobs.clone(), "under_maintenance").await;
    assert_eq!(app.component_status("Dashboard").await, "under_maintenance");
    set(web.clone(), "degraded_performance").await;
    assert_eq!(
        app.component_status("Dashboard").await,
        "degraded_performance",
        "degraded is worse than maintenance"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let last = set(jobs.clone(), "major_outage").await;
    let group = v2_row(&app, &dashboard).await.expect("group");
    assert_eq!(group["status"], "major_outage");
    assert_eq!(
        group["updated_at"], last["updated_at"],
        "a group row's updated_at follows its newest child"
    );
    set(jobs.clone(), "operational").await;
    set(web.clone(), "operational").await;
    assert_eq!(app.component_status("Dashboard").await, "operational");

    // The management list carries the group row as well.
    let v1 = app.api(Method::GET, "/components", None).await;
    let v1_group = v1
        .expect(200)
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["id"] == dashboard.as_str())
        .cloned()
        .expect("group in v1 list");
    assert_eq!(v1_group["group"], true);
    assert_eq!(ids(&v1_group["components"]), [web, jobs]);
}

// --- the page --------------------------------------------------------------------------------

const PAGE_KEYS: [&str; 45] = [
    "id",
    "created_at",
    "updated_at",
    "name",
    "page_description",
    "headline",
    "branding",
    "subdomain",
    "domain",
    "url",
    "support_url",
    "hidden_from_search",
    "allow_page_subscribers",
    "allow_incident_subscribers",
    "allow_email_subscribers",
    "allow_sms_subscribers",
    "allow_rss_atom_feeds",
    "allow_webhook_subscribers",
    "notifications_from_email",
    "notifications_email_footer",
    "activity_score",
    "twitter_username",
    "viewers_must_be_team_members",
    "ip_restrictions",
    "city",
    "state",
    "country",
    "time_zone",
    "css_body_background_color",
    "css_font_color",
    "css_light_font_color",
    "css_greens",
    "css_yellows",
    "css_oranges",
    "css_blues",
    "css_reds",
    "css_border_color",
    "css_graph_color",
    "css_link_color",
    "css_no_data",
    "favicon_logo",
    "transactional_logo",
    "hero_cover",
    "email_logo",
    "twitter_logo",
];

async fn page_list_get_and_patch(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let list = app
        .client
        .get(app.url("/v1/pages"))
        .header("Authorization", format!("OAuth {}", app.key))
        .send()
        .await
        .expect("request");
    let list = crate::helpers::Reply::read(list).await;
    let pages = list.expect(200).as_array().expect("array").clone();
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(page["id"], app.page_id.as_str());
    assert_eq!(page["name"], "Acme Cloud");
    assert_eq!(page["time_zone"], "Etc/UTC");
    for key in PAGE_KEYS {
        assert!(page.get(key).is_some(), "page lacks {key}: {page}");
    }
    let got = app.api(Method::GET, "", None).await;
    assert_eq!(got.expect(200), page);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let patched = app
        .api(
            Method::PATCH,
            "",
            Some(json!({"page": {"name": "  Acme Status  ", "headline": "All about Acme"}})),
        )
        .await;
    let patched = patched.expect(200).clone();
    assert_eq!(patched["name"], "Acme Status");
    assert_eq!(patched["headline"], "All about Acme");
    assert_eq!(patched["time_zone"], "Etc/UTC", "untouched");
    assert!(parse_ts(&patched["updated_at"]) > parse_ts(&page["updated_at"]));
    let v2 = app.get("/api/v2/components.json").await;
    assert_eq!(v2.expect(200)["page"]["name"], "Acme Status");

    // PUT with a form body; a blank name is refused.
    let put = app
        .api_form(Method::PUT, "", &[("page[headline]", "")])
        .await;
    assert_eq!(put.expect(200)["headline"], Value::Null);
    let refused = app.api_form(Method::PUT, "", &[("page[name]", " ")]).await;
    refused.expect(422);
    assert_eq!(refused.error(), "page[name] can't be blank");
    assert_eq!(
        app.api(Method::GET, "", None).await.expect(200)["name"],
        "Acme Status"
    );
}

async fn page_time_zone_moves_every_timestamp(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api_before = v2_row_named(&app, "API").await;

    let patched = app
        .api(
            Method::PATCH,
            "",
            Some(json!({"page": {"time_zone": "America/Chicago"}})),
        )
        .await;
    let patched = patched.expect(200).clone();
    assert_eq!(patched["time_zone"], "America/Chicago");
    let chicago = |raw: &Value| {
        let text = raw.as_str().unwrap_or_default();
        text.len() == 29 && (text.ends_with("-06:00") || text.ends_with("-05:00"))
    };
    assert!(chicago(&patched["updated_at"]), "{}", patched["updated_at"]);
    assert!(chicago(&patched["created_at"]), "{}", patched["created_at"]);

    let doc = app.get("/api/v2/components.json").await;
    let doc = doc.expect(200).clone();
    assert_eq!(doc["page"]["time_zone"], "America/Chicago");
    assert!(
        chicago(&doc["page"]["updated_at"]),
        "{}",
        doc["page"]["updated_at"]
    );
    let rows = doc["components"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    for row in rows {
        assert!(chicago(&row["created_at"]), "{row}");
        assert!(chicago(&row["updated_at"]), "{row}");
    }
    // Same instant, other clock.
    let api_after = rows.iter().find(|c| c["name"] == "API").expect("API row");
    assert_eq!(
        parse_ts(&api_after["created_at"]),
        parse_ts(&api_before["created_at"])
    );
    assert_ne!(api_after["created_at"], api_before["created_at"]);

    // An unknown zone is refused and changes nothing.
    let refused = app
        .api(
            Method::PATCH,
            "",
            Some(json!({"page": {"time_zone": "Mars/Olympus", "name": "Elsewhere"}})),
        )
        .await;
    refused.expect(422);
    let err = refused.error();
    assert!(
        err.starts_with("page[time_zone]") && err.contains("Mars/Olympus"),
        "{err}"
    );
    let page = app.api(Method::GET, "", None).await;
    let page = page.expect(200);
    assert_eq!(page["time_zone"], "America/Chicago");
    assert_eq!(page["name"], "Acme Cloud");

    // Back to UTC: `Z` again.
    let utc = app
        .api_form(Method::PATCH, "", &[("page[time_zone]", "Etc/UTC")])
        .await;
    let updated_at = utc.expect(200)["updated_at"]
        .as_str()
        .expect("ts")
        .to_owned();
    assert!(
        updated_at.ends_with('Z') && updated_at.len() == 24,
        "{updated_at}"
    );
    assert_eq!(
        v2_row_named(&app, "API").await["created_at"],
        api_before["created_at"]
    );
}

async fn wrong_page_id_is_404(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let dashboard = app.component_id("Dashboard").await;
    for (method, path, body) in [
        (Method::GET, String::new(), None),
        (
            Method::PATCH,
            String::new(),
            Some(json!({"page": {"name": "Hijacked"}})),
        ),
        (Method::GET, "/components".to_owned(), None),
        (
            Method::POST,
            "/components".to_owned(),
            Some(json!({"component": {"name": "Intruder"}})),
        ),
        (Method::GET, format!("/components/{api}"), None),
        (
            Method::PATCH,
            format!("/components/{api}"),
            Some(json!({"component": {"status": "major_outage"}})),
        ),
        (Method::DELETE, format!("/components/{api}"), None),
        (Method::GET, "/component-groups".to_owned(), None),
        (
            Method::DELETE,
            format!("/component-groups/{dashboard}"),
            None,
        ),
    ] {
        let mut req = app
            .client
            .request(
                method.clone(),
                app.url(&format!("/v1/pages/zzzzzzzzzzzz{path}")),
            )
            .header("Authorization", format!("OAuth {}", app.key));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let reply = crate::helpers::Reply::read(req.send().await.expect("request")).await;
        assert_eq!(
            reply.status.as_u16(),
            404,
            "{method} {path}: {}",
            reply.text
        );
        assert!(
            reply.error().contains("zzzzzzzzzzzz"),
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(reply.json["message"], reply.json["error"]);
    }
    // Nothing moved.
    let page = app.api(Method::GET, "", None).await;
    assert_eq!(page.expect(200)["name"], "Acme Cloud");
    assert_eq!(app.component_status("API").await, "operational");
    assert_eq!(component_count(&app).await, 4);
    assert_eq!(group_count(&app).await, 1);
}

async fn components_list_pages(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let all = app.api(Method::GET, "/components", None).await;
    let all: Vec<String> = all
        .expect(200)
        .as_array()
        .expect("array")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(all.len(), 5, "four components and one group row");
    let expected_all = app.components().await.iter().map(id_of).collect::<Vec<_>>();
    assert_eq!(all, expected_all, "same order as the public list");

    let app_ref = &app;
    let page_of = move |query: &'static str| async move {
        let app = app_ref;
        let reply = app
            .api(Method::GET, &format!("/components{query}"), None)
            .await;
        reply
            .expect(200)
            .as_array()
            .expect("array")
            .iter()
            .map(id_of)
            .collect::<Vec<_>>()
    };
    assert_eq!(page_of("?per_page=2").await, all[0..2]);
    assert_eq!(page_of("?per_page=2&page=1").await, all[0..2]);
    assert_eq!(page_of("?per_page=2&page=2").await, all[2..4]);
    assert_eq!(page_of("?per_page=2&page=3").await, all[4..5]);
    assert_eq!(page_of("?per_page=2&page=4").await, Vec::<String>::new());
    assert_eq!(page_of("?page=2").await, Vec::<String>::new());
    assert_eq!(page_of("?per_page=100").await, all);
    assert_eq!(page_of(".json?per_page=3&page=2").await, all[3..5]);

    for (query, field) in [
        ("?per_page=0", "per_page"),
        ("?per_page=101", "per_page"),
        ("?per_page=-1", "per_page"),
        ("?per_page=ten", "per_page"),
        ("?page=0", "page"),
        ("?page=x", "page"),
    ] {
        let reply = app
            .api(Method::GET, &format!("/components{query}"), None)
            .await;
        reply.expect(422);
        assert!(
            reply.error().starts_with(&format!("{field} must be")),
            "{query}: {}",
            reply.error()
        );
    }

    // Groups page the same way.
    let api = app.component_id("API").await;
    app.api(
        Method::POST,
        "/component-groups",
        Some(json!({"component_group": {"name": "Edge", "components": [api]}})),
    )
    .await
    .expect(201);
    let app_ref = &app;
    let groups = move |query: &'static str| async move {
        let app = app_ref;
        let reply = app
            .api(Method::GET, &format!("/component-groups{query}"), None)
            .await;
        reply
            .expect(200)
            .as_array()
            .expect("array")
            .iter()
            .map(|g| g["name"].as_str().expect("name").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(groups("").await, ["Dashboard", "Edge"]);
    assert_eq!(groups("?per_page=1&page=2").await, ["Edge"]);
    app.api(Method::GET, "/component-groups?per_page=0", None)
        .await
        .expect(422);
}
