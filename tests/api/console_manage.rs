//! The console's admin screens (components and groups, subscribers, API keys, users,
//! the audit log) through their forms, each result checked through `/v1`, the public
//! API or the store; and that a responder reaches none of them.

use reqwest::Method;
use serde_json::{json, Value};

use crate::console::*;
use crate::helpers::*;
use crate::on_both_backends;
use herald::domain::account::Role;
use herald::store::AuditQuery;

on_both_backends!(
    components_are_created_edited_moved_and_deleted,
    groups_are_created_renamed_moved_and_deleted,
    component_forms_come_back_with_their_problems,
    responders_reach_no_admin_screen,
    forms_without_their_token_change_nothing,
    subscribers_are_searched_removed_and_reminded,
    subscribers_export_as_csv,
    api_keys_are_shown_once_and_revoked,
    users_are_added_changed_and_removed,
    the_last_admin_stays,
    the_audit_log_lists_and_filters,
    the_audit_log_pages_back,
);

const ADMIN: &str = "ada@acme.test";

/// A `/v1` list (a bare array).
async fn v1_list(app: &TestApp, path: &str) -> Vec<Value> {
    app.api(Method::GET, path, None)
        .await
        .expect(200)
        .as_array()
        .cloned()
        .unwrap()
}

/// The item of a `/v1` list with this name.
async fn v1_named(app: &TestApp, path: &str, name: &str) -> Option<Value> {
    v1_list(app, path)
        .await
        .into_iter()
        .find(|c| c["name"] == name)
}

/// The ids of the top level (groups and ungrouped components) in page order.
async fn top_level(app: &TestApp) -> Vec<String> {
    let tree = app.store.list_components().await.unwrap();
    let mut items: Vec<(i64, String)> = tree
        .components
        .iter()
        .filter(|c| c.group_id.is_none())
        .map(|c| (c.position, c.id.clone()))
        .chain(tree.groups.iter().map(|g| (g.position, g.id.clone())))
        .collect();
    items.sort();
    items.into_iter().map(|(_, id)| id).collect()
}

async fn admin(app: &TestApp) -> ConsoleClient {
    app.console(ADMIN, Role::Admin).await
}

async fn components_are_created_edited_moved_and_deleted(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let dashboard = app.component_id("Dashboard").await;

    let page = c.get("/admin/components").await;
    page.expect(200);
    for name in ["API", "Dashboard", "Web App", "Background Jobs", "Webhooks"] {
        assert!(page.text.contains(name), "{name} missing: {}", page.text);
    }

    // Create, in the Dashboard group.
    c.get("/admin/components/new").await.expect(200);
    let reply = c
        .post(
            "/admin/components/new",
            &[
                ("name", "Search"),
                ("description", "Finds <things>"),
                ("group_id", &dashboard),
                ("status", "degraded_performance"),
                ("showcase", "1"),
            ],
        )
        .await;
    assert_eq!(location(&reply), "/admin/components");
    let list = c.follow(&reply).await;
    assert!(list.text.contains("Search added."), "{}", list.text);
    let search = v1_named(&app, "/components", "Search").await.unwrap();
    assert_eq!(search["group_id"], dashboard.as_str());
    assert_eq!(search["description"], "Finds <things>");
    assert_eq!(search["status"], "degraded_performance");
    assert_eq!(search["showcase"], true);
    let id = search["id"].as_str().unwrap().to_owned();

    // Edit: rename, clear the description, out of the group, no uptime bars.
    let form = c.get(&format!("/admin/components/{id}/edit")).await;
    form.expect(200);
    assert!(form.text.contains("value=\"Search\""), "{}", form.text);
    let reply = c
        .post(
            &format!("/admin/components/{id}/edit"),
            &[
                ("name", "Search API"),
                ("description", ""),
                ("group_id", ""),
            ],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    let search = v1_named(&app, "/components", "Search API").await.unwrap();
    assert_eq!(search["group_id"], Value::Null);
    assert_eq!(search["description"], Value::Null);
    assert_eq!(search["showcase"], false);
    // Outside any group it goes last on the page.
    assert_eq!(top_level(&app).await.last(), Some(&id));

    // Up one place: before Webhooks.
    let webhooks = app.component_id("Webhooks").await;
    c.get("/admin/components").await;
    let reply = c
        .post(
            &format!("/admin/components/{id}/move"),
            &[("direction", "up")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    let order = top_level(&app).await;
    let at = |x: &str| order.iter().position(|i| i == x).unwrap();
    assert_eq!(at(&id) + 1, at(&webhooks), "{order:?}");
    // And down again.
    c.post(
        &format!("/admin/components/{id}/move"),
        &[("direction", "down")],
    )
    .await;
    assert_eq!(top_level(&app).await.last(), Some(&id));

    // Delete, after a confirmation page.
    let confirm = c.get(&format!("/admin/components/{id}/delete")).await;
    confirm.expect(200);
    assert!(confirm.text.contains("Delete the component Search API?"));
    let reply = c.post(&format!("/admin/components/{id}/delete"), &[]).await;
    let list = c.follow(&reply).await;
    assert!(list.text.contains("Search API deleted."), "{}", list.text);
    app.api(Method::GET, &format!("/components/{id}"), None)
        .await
        .expect(404);

    // The changes are the console user's in the audit log.
    let entries = app
        .store
        .audit_log(&AuditQuery {
            target_kind: "component".to_owned(),
            limit: 20,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "component.create",
        "component.update",
        "component.move",
        "component.delete",
    ] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    assert!(entries.iter().all(|e| e.actor_name == ADMIN));
}

async fn groups_are_created_renamed_moved_and_deleted(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let api = app.component_id("API").await;
    let webhooks = app.component_id("Webhooks").await;

    let form = c.get("/admin/groups/new").await;
    form.expect(200);
    assert!(form
        .text
        .contains("<legend>Components in this group</legend>"));
    let reply = c
        .post(
            "/admin/groups/new",
            &[
                ("name", "Edge"),
                ("description", "Where requests arrive"),
                ("components", &api),
                ("components", &webhooks),
            ],
        )
        .await;
    let list = c.follow(&reply).await;
    assert!(list.text.contains("Edge added."), "{}", list.text);
    let group = v1_named(&app, "/component-groups", "Edge").await.unwrap();
    assert_eq!(group["components"], json!([api, webhooks]));
    assert_eq!(group["description"], "Where requests arrive");
    let id = group["id"].as_str().unwrap().to_owned();

    // Rename and describe; drop Webhooks from it.
    let form = c.get(&format!("/admin/groups/{id}/edit")).await;
    form.expect(200);
    assert!(form.text.contains("value=\"Edge\""));
    let reply = c
        .post(
            &format!("/admin/groups/{id}/edit"),
            &[
                ("name", "Edge network"),
                ("description", "CDN and load balancers"),
                ("components", &api),
            ],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    let group = v1_named(&app, "/component-groups", "Edge network")
        .await
        .unwrap();
    assert_eq!(group["components"], json!([api]));
    assert_eq!(group["description"], "CDN and load balancers");
    let webhooks_row = v1_named(&app, "/components", "Webhooks").await.unwrap();
    assert_eq!(webhooks_row["group_id"], Value::Null);

    // The group moves as one item of the top level.
    let before = top_level(&app).await;
    let at = before.iter().position(|i| *i == id).unwrap();
    assert!(at > 0, "{before:?}");
    c.post(&format!("/admin/groups/{id}/move"), &[("direction", "up")])
        .await;
    let after = top_level(&app).await;
    assert_eq!(
        after.iter().position(|i| *i == id),
        Some(at - 1),
        "{after:?}"
    );

    // Delete: the group goes, its component stays outside any group.
    let confirm = c.get(&format!("/admin/groups/{id}/delete")).await;
    assert!(confirm.text.contains("Delete the group Edge network?"));
    let reply = c.post(&format!("/admin/groups/{id}/delete"), &[]).await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    assert!(v1_named(&app, "/component-groups", "Edge network")
        .await
        .is_none());
    let api_row = v1_named(&app, "/components", "API").await.unwrap();
    assert_eq!(api_row["group_id"], Value::Null);
}

async fn component_forms_come_back_with_their_problems(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let count = v1_list(&app, "/components").await.len();
    c.get("/admin/components/new").await;

    let reply = c
        .post(
            "/admin/components/new",
            &[
                ("name", "   "),
                ("description", "kept <as typed>"),
                ("status", "on_fire"),
                ("group_id", ""),
            ],
        )
        .await;
    reply.expect(422);
    let html = &reply.text;
    assert!(
        html.contains("id=\"name-error\">Name can&#39;t be blank"),
        "{html}"
    );
    assert!(html.contains("aria-describedby=\"name-error\""), "{html}");
    assert!(html.contains("aria-invalid=\"true\""), "{html}");
    assert!(
        html.contains("id=\"status-error\">Status must be one of"),
        "{html}"
    );
    assert!(
        html.contains("kept &#60;as typed&#62;</textarea>"),
        "{html}"
    );

    // A long name is kept as typed, with its problem.
    let long = "x".repeat(300);
    let reply = c
        .post(
            "/admin/components/new",
            &[("name", &long), ("status", "operational")],
        )
        .await;
    reply.expect(422);
    assert!(reply.text.contains(&format!("value=\"{long}\"")));
    assert!(reply.text.contains("Name is too long"));

    // A group needs members; the name typed stays.
    c.get("/admin/groups/new").await;
    let reply = c
        .post(
            "/admin/groups/new",
            &[("name", "Lonely"), ("description", "")],
        )
        .await;
    reply.expect(422);
    assert!(reply.text.contains("value=\"Lonely\""));
    assert!(reply
        .text
        .contains("id=\"components-error\">Components can&#39;t be empty"));

    // Editing: a blank name comes back too, and nothing was written.
    let api = app.component_id("API").await;
    let reply = c
        .post(
            &format!("/admin/components/{api}/edit"),
            &[("name", ""), ("description", "still here")],
        )
        .await;
    reply.expect(422);
    assert!(reply.text.contains("still here</textarea>"));
    assert_eq!(v1_list(&app, "/components").await.len(), count);
    assert!(v1_named(&app, "/components", "API").await.is_some());
    assert!(v1_named(&app, "/component-groups", "Lonely")
        .await
        .is_none());
}

/// Every admin screen, as (method, path).
fn admin_screens(component: &str, group: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/admin/components".to_owned()),
        ("GET", "/admin/components/new".to_owned()),
        ("GET", format!("/admin/components/{component}/edit")),
        ("GET", format!("/admin/components/{component}/delete")),
        ("GET", "/admin/groups/new".to_owned()),
        ("GET", format!("/admin/groups/{group}/edit")),
        ("GET", format!("/admin/groups/{group}/delete")),
        ("GET", "/admin/subscribers".to_owned()),
        ("GET", "/admin/subscribers.csv".to_owned()),
        ("GET", "/admin/api-keys".to_owned()),
        ("GET", "/admin/users".to_owned()),
        ("GET", "/admin/users/nobody/password".to_owned()),
        ("GET", "/admin/users/nobody/remove".to_owned()),
        ("GET", "/admin/audit".to_owned()),
        ("POST", "/admin/components/new".to_owned()),
        ("POST", format!("/admin/components/{component}/edit")),
        ("POST", format!("/admin/components/{component}/delete")),
        ("POST", format!("/admin/components/{component}/move")),
        ("POST", "/admin/groups/new".to_owned()),
        ("POST", format!("/admin/groups/{group}/edit")),
        ("POST", format!("/admin/groups/{group}/delete")),
        ("POST", format!("/admin/groups/{group}/move")),
        ("POST", "/admin/subscribers/nobody/remove".to_owned()),
        ("POST", "/admin/subscribers/nobody/resend".to_owned()),
        ("POST", "/admin/api-keys".to_owned()),
        ("POST", "/admin/api-keys/nobody/revoke".to_owned()),
        ("POST", "/admin/users".to_owned()),
        ("POST", "/admin/users/nobody/role".to_owned()),
        ("POST", "/admin/users/nobody/password".to_owned()),
        ("POST", "/admin/users/nobody/remove".to_owned()),
    ]
}

async fn responders_reach_no_admin_screen(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = app.console("rick@acme.test", Role::Responder).await;
    let api = app.component_id("API").await;
    let group = app.component_id("Dashboard").await;

    let home = c.get("/admin").await;
    home.expect(200);
    for link in [
        "href=\"/admin/components\"",
        "href=\"/admin/subscribers\"",
        "href=\"/admin/api-keys\"",
        "href=\"/admin/users\"",
        "href=\"/admin/audit\"",
    ] {
        assert!(!home.text.contains(link), "{link} shown to a responder");
    }
    assert!(home.text.contains("href=\"/admin/incidents\""));

    let fields = [
        ("name", "Sneaky"),
        ("status", "operational"),
        ("components", api.as_str()),
        ("direction", "up"),
        ("role", "admin"),
        ("email", "sneaky@acme.test"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    for (method, path) in admin_screens(&api, &group) {
        let reply = if method == "GET" {
            c.get(&path).await
        } else {
            c.post(&path, &fields).await
        };
        assert_eq!(
            reply.status.as_u16(),
            403,
            "{method} {path}: {}",
            reply.text
        );
    }
    assert!(v1_named(&app, "/components", "Sneaky").await.is_none());
    assert!(v1_named(&app, "/components", "API").await.is_some());
    assert!(v1_named(&app, "/component-groups", "Dashboard")
        .await
        .is_some());
    assert!(app
        .store
        .find_user_by_email("sneaky@acme.test")
        .await
        .unwrap()
        .is_none());
    assert_eq!(app.store.list_api_keys().await.unwrap().len(), 1);
}

async fn forms_without_their_token_change_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let api = app.component_id("API").await;
    c.get("/admin/components").await;
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/components/new".to_owned(),
            vec![("name", "Forged"), ("status", "operational")],
        ),
        (format!("/admin/components/{api}/delete"), vec![]),
        ("/admin/api-keys".to_owned(), vec![("name", "Forged")]),
        (
            "/admin/users".to_owned(),
            vec![
                ("email", "forged@acme.test"),
                ("role", "admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        ),
    ];
    for (path, fields) in posts {
        let reply = c.post_raw(&path, &fields).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {}", reply.text);
        let mut wrong = fields.clone();
        wrong.push((
            "csrf",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ));
        let reply = c.post_raw(&path, &wrong).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {}", reply.text);
    }
    assert!(v1_named(&app, "/components", "Forged").await.is_none());
    assert!(v1_named(&app, "/components", "API").await.is_some());
    assert_eq!(app.store.list_api_keys().await.unwrap().len(), 1);
    assert_eq!(app.store.list_users().await.unwrap().len(), 1);
}

/// Subscribes `email` through `/v1`; confirmed at once when `confirmed`.
async fn subscribe(app: &TestApp, email: &str, confirmed: bool, components: &[&str]) -> String {
    let reply = app
        .api(
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {
                "email": email,
                "skip_confirmation_notification": confirmed,
                "component_ids": components,
            }})),
        )
        .await;
    reply.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn subscribers_are_searched_removed_and_reminded(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let api = app.component_id("API").await;
    let ann = subscribe(&app, "ann@example.com", true, &[&api]).await;
    let bob = subscribe(&app, "bob@example.com", false, &[]).await;
    let mut c = admin(&app).await;

    let page = c.get("/admin/subscribers").await;
    page.expect(200);
    assert!(page.text.contains("ann@example.com") && page.text.contains("bob@example.com"));
    assert!(page.text.contains("<td>API</td>"), "{}", page.text);
    assert!(page.text.contains("<td>All components</td>"));
    // Only the unconfirmed one can be sent its confirmation again.
    assert!(page.text.contains("Resend confirmation to bob@example.com"));
    assert!(!page.text.contains("Resend confirmation to ann@example.com"));

    let found = c.get("/admin/subscribers?q=ANN").await;
    assert!(found.text.contains("ann@example.com"));
    assert!(!found.text.contains("bob@example.com"));
    assert!(found.text.contains("value=\"ANN\""));
    let unconfirmed = c.get("/admin/subscribers?state=unconfirmed").await;
    assert!(unconfirmed.text.contains("bob@example.com"));
    assert!(!unconfirmed.text.contains("ann@example.com"));
    let none = c.get("/admin/subscribers?q=nobody").await;
    assert!(none.text.contains("No subscribers match."));

    // Resend: back to the same filtered list; the store recorded who asked.
    let back = "/admin/subscribers?state=unconfirmed";
    let reply = c
        .post(
            &format!("/admin/subscribers/{bob}/resend"),
            &[("back", back)],
        )
        .await;
    assert_eq!(location(&reply), back);
    let list = c.follow(&reply).await;
    assert!(list
        .text
        .contains("A new confirmation is on its way to bob@example.com."));
    let entries = app
        .store
        .audit_log(&AuditQuery {
            actor_kind: "user".to_owned(),
            target_kind: "subscriber".to_owned(),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries[0].action, "subscriber.resend_confirmation");
    assert_eq!(entries[0].target_id, bob);

    // Resending to an active subscriber is refused.
    let reply = c
        .post(&format!("/admin/subscribers/{ann}/resend"), &[])
        .await;
    reply.expect(400);

    // Remove: unsubscribed, the record stays; a foreign `back` is not followed.
    let reply = c
        .post(
            &format!("/admin/subscribers/{ann}/remove"),
            &[("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(location(&reply), "/admin/subscribers");
    let ann_row = app.store.get_subscriber(&ann).await.unwrap();
    assert_eq!(ann_row.row.state, "unsubscribed");
    let page = c.get("/admin/subscribers?state=unsubscribed").await;
    assert!(page.text.contains("ann@example.com"));
    assert!(!page.text.contains("aria-label=\"Remove ann@example.com\""));
}

async fn subscribers_export_as_csv(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let odd = app
        .api(
            Method::POST,
            "/components",
            Some(json!({"component": {"name": "=Search, \"EU\""}})),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ann = subscribe(&app, "ann@example.com", true, &[&odd]).await;
    let formula = subscribe(&app, "=cmd@example.com", false, &[]).await;
    let mut c = admin(&app).await;

    let reply = c.get("/admin/subscribers.csv").await;
    reply.expect(200);
    assert_eq!(reply.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = reply.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let lines: Vec<&str> = reply.text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,email,state,components,created_at,confirmed_at"
    );
    assert_eq!(lines.len(), 4, "{lines:?}"); // header, two rows, the empty end
    assert_eq!(lines[3], "");
    let ann_line = lines.iter().find(|l| l.starts_with(&ann)).unwrap();
    // The component name: a formula made text, then quoted for its comma and quotes.
    assert!(
        ann_line.contains(",active,\"'=Search, \"\"EU\"\"\","),
        "{ann_line}"
    );
    let formula_line = lines.iter().find(|l| l.starts_with(&formula)).unwrap();
    assert!(
        formula_line.starts_with(&format!(
            "{formula},'=cmd@example.com,unconfirmed,All components,"
        )),
        "{formula_line}"
    );
    // Unconfirmed: no confirmation time, the last field is empty.
    assert!(formula_line.ends_with(','), "{formula_line}");

    // The export follows the list's search.
    let reply = c.get("/admin/subscribers.csv?q=ann").await;
    let lines: Vec<&str> = reply.text.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].starts_with(&ann));
}

/// The key on the "created" page.
fn key_in(html: &str) -> String {
    let at = html.find("hrld_").expect("a key on the page");
    html[at..at + 5 + 64].to_owned()
}

async fn api_keys_are_shown_once_and_revoked(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let page = c.get("/admin/api-keys").await;
    page.expect(200);
    assert!(page.text.contains("<th scope=\"row\">tests</th>"));

    let reply = c.post("/admin/api-keys", &[("name", "")]).await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"name-error\">Name can&#39;t be blank"));

    let reply = c.post("/admin/api-keys", &[("name", "Deploy")]).await;
    reply.expect(201);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let key = key_in(&reply.text);

    // It works against /v1, and what it changes is its own in the audit log.
    let created = app
        .client
        .post(app.v1("/components"))
        .header("Authorization", format!("OAuth {key}"))
        .json(&json!({"component": {"name": "Made by Deploy"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let entries = app
        .store
        .audit_log(&AuditQuery {
            actor_kind: "api_key".to_owned(),
            limit: 5,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries[0].actor_name, "Deploy");

    // The list names it, used, but never shows the key again.
    let page = c.get("/admin/api-keys").await;
    assert!(page.text.contains("<th scope=\"row\">Deploy</th>"));
    assert!(!page.text.contains(&key));
    assert!(!page.text.contains(&key["hrld_".len()..]));
    assert!(page.text.contains("aria-label=\"Revoke Deploy\""));

    let id = app
        .store
        .list_api_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "Deploy")
        .unwrap()
        .id;
    let reply = c.post(&format!("/admin/api-keys/{id}/revoke"), &[]).await;
    let page = c.follow(&reply).await;
    assert!(page.text.contains("The key Deploy is revoked."));
    assert!(page.text.contains("Revoked "));
    let refused = app
        .client
        .get(app.v1("/components"))
        .header("Authorization", format!("OAuth {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // The other key still works.
    app.api(Method::GET, "/components", None).await.expect(200);
}

async fn users_are_added_changed_and_removed(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let page = c.get("/admin/users").await;
    page.expect(200);
    assert!(page
        .text
        .contains("ada@acme.test <span class=\"muted\">(you)</span>"));

    // Problems come back next to their fields; the email and role are kept.
    let reply = c
        .post(
            "/admin/users",
            &[
                ("email", "Bea@Acme.test"),
                ("role", "admin"),
                ("password", "short"),
                ("password_confirm", "other"),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply.text.contains("value=\"Bea@Acme.test\""));
    assert!(reply.text.contains("<option value=\"admin\" selected>"));
    assert!(reply
        .text
        .contains("id=\"password-error\">Password must be at least 12"));
    assert!(reply
        .text
        .contains("id=\"password_confirm-error\">Password again does not match"));
    let reply = c
        .post(
            "/admin/users",
            &[
                ("email", ADMIN),
                ("role", "admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("id=\"email-error\">Email ada@acme.test already has an account"));

    // Added: the address lower-cased, and the password works.
    let new_password = "a long and new pass phrase";
    let reply = c
        .post(
            "/admin/users",
            &[
                ("email", "Bea@Acme.test"),
                ("role", "responder"),
                ("password", new_password),
                ("password_confirm", new_password),
            ],
        )
        .await;
    let page = c.follow(&reply).await;
    assert!(page
        .text
        .contains("bea@acme.test can now sign in as responder."));
    let bea = app
        .store
        .find_user_by_email("bea@acme.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bea.role, "responder");
    let mut bea_client = app.console_client().await;
    let signed_in = bea_client.sign_in("bea@acme.test", new_password).await;
    assert_eq!(signed_in.status.as_u16(), 303, "{}", signed_in.text);
    bea_client.get("/admin").await.expect(200);

    // Role.
    let reply = c
        .post(
            &format!("/admin/users/{}/role", bea.id),
            &[("role", "admin")],
        )
        .await;
    let page = c.follow(&reply).await;
    assert!(page.text.contains("bea@acme.test is now admin."));
    assert_eq!(app.store.get_user(&bea.id).await.unwrap().role, "admin");

    // A new password signs Bea out.
    let form = c.get(&format!("/admin/users/{}/password", bea.id)).await;
    form.expect(200);
    let reply = c
        .post(
            &format!("/admin/users/{}/password", bea.id),
            &[("password", "tiny"), ("password_confirm", "tiny")],
        )
        .await;
    reply.expect(422);
    let reply = c
        .post(
            &format!("/admin/users/{}/password", bea.id),
            &[("password", PASSWORD), ("password_confirm", PASSWORD)],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 303, "{}", reply.text);
    let out = bea_client.get("/admin").await;
    assert_eq!(out.status.as_u16(), 303);
    assert!(location(&out).starts_with("/admin/sign-in"));

    // Removed, after a confirmation page.
    let confirm = c.get(&format!("/admin/users/{}/remove", bea.id)).await;
    assert!(confirm.text.contains("Remove bea@acme.test?"));
    let reply = c
        .post(&format!("/admin/users/{}/remove", bea.id), &[])
        .await;
    let page = c.follow(&reply).await;
    assert!(page.text.contains("bea@acme.test can no longer sign in."));
    assert!(app
        .store
        .find_user_by_email("bea@acme.test")
        .await
        .unwrap()
        .is_none());
}

async fn the_last_admin_stays(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    app.add_user("rick@acme.test", Role::Responder).await;
    let ada = app.store.find_user_by_email(ADMIN).await.unwrap().unwrap();
    c.get("/admin/users").await;

    let reply = c
        .post(
            &format!("/admin/users/{}/role", ada.id),
            &[("role", "responder")],
        )
        .await;
    reply.expect(422);
    assert!(reply
        .text
        .contains("role=\"alert\">Nothing was changed: ada@acme.test is the last admin"));
    let reply = c
        .post(&format!("/admin/users/{}/remove", ada.id), &[])
        .await;
    reply.expect(422);
    assert!(reply.text.contains("is the last admin"));
    let ada = app.store.find_user_by_email(ADMIN).await.unwrap().unwrap();
    assert_eq!(ada.role, "admin");
    // Still signed in and still an admin.
    c.get("/admin/users").await.expect(200);
}

async fn the_audit_log_lists_and_filters(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    c.get("/admin/components/new").await;
    c.post(
        "/admin/components/new",
        &[("name", "Quasar"), ("status", "operational")],
    )
    .await;
    app.api(
        Method::POST,
        "/components",
        Some(json!({"component": {"name": "Zephyr"}})),
    )
    .await
    .expect(201);

    let page = c.get("/admin/audit").await;
    page.expect(200);
    for text in [
        "Quasar",
        "Zephyr",
        "component.create",
        "user.sign_in",
        ADMIN,
        "API key:</span> tests",
        "Etc/UTC",
    ] {
        assert!(page.text.contains(text), "{text} missing: {}", page.text);
    }
    assert!(page.text.contains("<th scope=\"col\">Time</th>"));

    let only = |html: &str, shown: &str, hidden: &str| {
        assert!(html.contains(shown), "{shown} missing: {html}");
        assert!(!html.contains(hidden), "{hidden} shown: {html}");
    };
    let page = c.get("/admin/audit?actor_kind=api_key").await;
    only(&page.text, "Zephyr", "Quasar");
    assert!(page.text.contains("<option value=\"api_key\" selected>"));
    let page = c.get("/admin/audit?actor=ADA").await;
    only(&page.text, "Quasar", "Zephyr");
    let page = c.get("/admin/audit?target_kind=user").await;
    only(&page.text, "user.sign_in", "Quasar");
    let page = c.get("/admin/audit?text=zeph").await;
    only(&page.text, "Zephyr", "Quasar");

    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let page = c
        .get(&format!(
            "/admin/audit?since={}&until={}",
            day(today),
            day(today)
        ))
        .await;
    assert!(page.text.contains("Quasar"));
    let page = c
        .get(&format!(
            "/admin/audit?since={}",
            day(today.succ_opt().unwrap())
        ))
        .await;
    assert!(page.text.contains("No entries match."));
    let page = c
        .get(&format!(
            "/admin/audit?until={}",
            day(today.pred_opt().unwrap())
        ))
        .await;
    assert!(page.text.contains("No entries match."));

    let page = c.get("/admin/audit?since=last+week&actor=ada").await;
    page.expect(422);
    // The error quotes what was typed (a date input cannot hold it).
    assert!(page.text.contains(
        "id=\"since-error\">From must be a date like 2026-01-31 (got &#34;last week&#34;)"
    ));
    assert!(page.text.contains("value=\"ada\""));
}

async fn the_audit_log_pages_back(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mut c = admin(&app).await;
    let api = app.component_id("API").await;
    // Sixty entries (API is first: down, then up again): the page shows fifty, then
    // offers older ones.
    for _ in 0..30 {
        for step in [1, -1] {
            app.store
                .move_item(&api, step, herald::time::Stamp::Clock)
                .await
                .unwrap();
        }
    }
    let first = c.get("/admin/audit?target_kind=component").await;
    first.expect(200);
    assert_eq!(
        first.text.matches("<code>component.move</code>").count(),
        50
    );
    assert!(!first.text.contains("Newest entries"));
    let at = first
        .text
        .find(">Older entries</a>")
        .expect("an older link");
    let start = first.text[..at].rfind("href=\"").unwrap() + "href=\"".len();
    let end = start + first.text[start..].find('"').unwrap();
    // Askama writes `&` as `&#38;`.
    let older = first.text[start..end].replace("&#38;", "&");
    assert!(
        older.contains("target_kind=component") && older.contains("before_id="),
        "{older}"
    );
    let second = c.get(&older).await;
    second.expect(200);
    assert_eq!(
        second.text.matches("<code>component.move</code>").count(),
        10
    );
    assert!(!second.text.contains("Older entries"));
    assert!(second.text.contains("Newest entries"));
}
