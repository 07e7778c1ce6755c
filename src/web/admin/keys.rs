//! Console screens: API keys for `/v1`. A new key is shown once, on the page that
//! answers the form (never through a redirect or a cookie); Herald keeps only its
//! SHA-256 hash. Revoking stops a key at once.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use askama::Template;

use super::components::form_status;
use super::{AdminLayout, Console, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::text::parse_name;
use crate::web::auth::{generate_key, hash_key};
use crate::web::form::FormErrors;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api-keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/api-keys/{id}/revoke", web::post().to(revoke));
}

const LIST: &str = "/admin/api-keys";

/// One row of the list.
pub struct KeyLine {
    pub id: String,
    pub name: String,
    pub created: String,
    /// "never" until first used.
    pub last_used: String,
    /// When it was revoked; `None` while it works.
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/api_keys.html")]
struct ListPage {
    layout: AdminLayout,
    keys: Vec<KeyLine>,
    /// The create form's name, as typed.
    name: String,
    errors: FormErrors,
    problems: Vec<String>,
}

async fn list_page(console: &Console, name: String, errors: FormErrors) -> ConsoleResult {
    let keys = console
        .store
        .list_api_keys()
        .await?
        .into_iter()
        .map(|k| KeyLine {
            id: k.id,
            name: k.name,
            created: console.time(k.created_at),
            last_used: k
                .last_used_at
                .map_or_else(|| "never".to_owned(), |at| console.time(at)),
            revoked: k.revoked_at.map(|at| console.time(at)),
        })
        .collect();
    let page = ListPage {
        layout: console.layout("API keys", "api-keys"),
        keys,
        name,
        problems: errors.others(&["name"]),
        errors,
    };
    console.render(form_status(&page.errors), &page)
}

async fn list(console: Console) -> ConsoleResult {
    console.require(Permission::ManageApiKeys)?;
    list_page(&console, String::new(), FormErrors::default()).await
}

#[derive(Template)]
#[template(path = "admin/api_keys_created.html")]
struct CreatedPage {
    layout: AdminLayout,
    name: String,
    key: String,
}

async fn create(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::ManageApiKeys)?;
    let typed = form.text("name");
    let mut errors = FormErrors::default();
    if let Some(name) = errors.check(parse_name("name", &typed)) {
        let key = generate_key();
        match console
            .store
            .create_api_key(&name, &hash_key(&key), crate::time::now())
            .await
        {
            // Shown here, once: the page is `no-store`, and the key is in no URL.
            Ok(row) => {
                let page = CreatedPage {
                    layout: console.layout("API key created", "api-keys"),
                    name: row.name,
                    key,
                };
                return console.render(StatusCode::CREATED, &page);
            }
            Err(e) => errors.refusal(e, &[])?,
        }
    }
    list_page(&console, typed, errors).await
}

async fn revoke(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    console.form(&req, &body)?;
    console.require(Permission::ManageApiKeys)?;
    let key = console
        .store
        .revoke_api_key(&path, crate::time::now())
        .await?;
    console.done(LIST, &format!("The key {} is revoked.", key.name))
}
