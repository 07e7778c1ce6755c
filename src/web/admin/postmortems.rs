//! Console screens: the postmortem editor of an incident, and the markdown preview
//! its live view (and the incident forms') asks for.
//!
//! Saving, publishing and reverting are the store calls `/v1`'s postmortem handlers
//! make (`save_postmortem_draft`, `publish_postmortem`, `revert_postmortem`), on the
//! store that records the signed-in person. The preview is rendered by the renderer of
//! the public page, so what the editor shows is what readers will see.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::incidents::{incident_url, Field};
use super::{AdminLayout, Console, ConsoleError, ConsoleResult, HTML};
use crate::domain::account::Permission;
use crate::domain::{IncidentKind, IncidentStatus};
use crate::render::markdown::{self, SafeHtml};
use crate::store::{IncidentRecord, PostmortemRow};
use crate::time::Stamp;
use crate::web::form::FormErrors;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/incidents/{id}/postmortem")
            .route(web::get().to(editor))
            .route(web::post().to(act)),
    )
    .route("/preview", web::post().to(preview));
}

/// The draft's field, named as the API names it (and its errors).
const DRAFT: &str = "postmortem[body_draft]";
const NOTIFY: &str = "postmortem[notify_subscribers]";

fn postmortem_url(id: &str) -> String {
    format!("/admin/incidents/{id}/postmortem")
}

#[derive(Template)]
#[template(path = "admin/postmortem.html")]
struct EditorPage {
    layout: AdminLayout,
    id: String,
    name: String,
    is_maintenance: bool,
    /// Publishing needs a resolved incident; until then the button explains why not.
    resolved: bool,
    draft: Field,
    preview: SafeHtml,
    saved_at: Option<String>,
    published_at: Option<String>,
    /// The published text differs from the draft.
    unpublished_changes: bool,
    notified_at: Option<String>,
    notify: bool,
    problems: Vec<String>,
    failed: bool,
}

/// The editor holding `text` (the saved draft, or what was typed).
fn editor_page(
    console: &Console,
    record: &IncidentRecord,
    saved: Option<&PostmortemRow>,
    text: String,
    notify: bool,
    errors: &FormErrors,
) -> EditorPage {
    let i = &record.incident;
    EditorPage {
        layout: console.layout(format!("Postmortem: {}", i.name), "incidents"),
        id: i.id.clone(),
        name: i.name.clone(),
        is_maintenance: i.kind() == IncidentKind::Maintenance,
        resolved: matches!(
            i.status(),
            IncidentStatus::Resolved | IncidentStatus::Postmortem
        ),
        preview: markdown::document(&text),
        draft: Field::new(text, DRAFT, errors),
        saved_at: saved.map(|p| console.time(p.body_draft_updated_at)),
        published_at: saved
            .and_then(|p| p.published_at)
            .map(|at| console.time(at)),
        unpublished_changes: saved
            .and_then(|p| p.published().map(|body| body != p.body_draft))
            .unwrap_or(false),
        notified_at: saved.and_then(|p| p.notified_at).map(|at| console.time(at)),
        notify,
        failed: !errors.is_empty(),
        problems: errors.others(&[DRAFT]),
    }
}

async fn editor(console: Console, path: web::Path<String>) -> ConsoleResult {
    console.require(Permission::RunIncidents)?;
    let record = console.store.get_incident(&path).await?;
    // The incident's record carries its postmortem.
    let saved = record.postmortem.clone();
    let text = saved
        .as_ref()
        .map(|p| p.body_draft.clone())
        .unwrap_or_default();
    let page = editor_page(
        &console,
        &record,
        saved.as_ref(),
        text,
        false,
        &FormErrors::default(),
    );
    console.page(&page)
}

/// The text of a postmortem file without its front matter (`---` ... `---`).
fn without_front_matter(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + "\n---\n".len()..],
        None => text,
    }
}

/// Every button of the editor posts here; `action` says which one.
async fn act(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let id = path.into_inner();
    let record = console.store.get_incident(&id).await?;
    let saved = record.postmortem.clone();
    let text = super::incidents::multiline(&form, DRAFT);
    let notify = form.checked(NOTIFY);
    let again = |text: String, errors: &FormErrors| {
        editor_page(&console, &record, saved.as_ref(), text, notify, errors)
    };
    let mut errors = FormErrors::default();
    let outcome = match form.get("action").unwrap_or_default() {
        // Without JavaScript: the page again, with the typed text rendered beside it.
        "preview" => return console.page(&again(text, &errors)),
        // Fills the editor from the timeline; nothing is saved until "Save draft".
        "template" => {
            let tree = console.store.list_components().await?;
            let (_file, template) =
                crate::content::postmortems::template(&record, &tree, console.zone);
            let text = without_front_matter(&template).to_owned();
            return console.page(&again(text, &errors));
        }
        "save" => console
            .store
            .save_postmortem_draft(&id, &text, None, Stamp::Clock)
            .await
            .map(|_| (postmortem_url(&id), "Draft saved.")),
        // Publishes what the editor shows, saved as the draft in the same transaction:
        // a refusal (not resolved yet, empty) changes nothing.
        "publish" => console
            .store
            .publish_postmortem(&id, Some(&text), notify, Stamp::Clock)
            .await
            .map(|_| (incident_url(&id), "Postmortem published.")),
        "revert" => console
            .store
            .revert_postmortem(&id, Stamp::Clock)
            .await
            .map(|_| {
                (
                    postmortem_url(&id),
                    "Postmortem taken off the page; the draft is kept.",
                )
            }),
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "unknown action {other:?}: use one of the editor's buttons"
            )))
        }
    };
    match outcome {
        Ok((to, notice)) => console.done(&to, notice),
        Err(e) => {
            errors.refusal(e, &[])?;
            console.render(StatusCode::UNPROCESSABLE_ENTITY, &again(text, &errors))
        }
    }
}

/// `markdown` rendered as readers will see it: a postmortem (`kind=document`, the
/// default) or an update message (`kind=message`). Sanitised HTML, for the editors'
/// live preview.
async fn preview(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::RunIncidents)?;
    let text = form.text("markdown");
    let html = match form.get("kind") {
        Some("message") => markdown::update_body(&text),
        _ => markdown::document(&text),
    };
    Ok(HttpResponse::Ok()
        .content_type(HTML)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_stripped() {
        let text = "---\nincident: p31zjtct2jer\npublished: false\n---\n# Title\n\nBody\n";
        assert_eq!(without_front_matter(text), "# Title\n\nBody\n");
        assert_eq!(
            without_front_matter("# No front matter"),
            "# No front matter"
        );
        assert_eq!(without_front_matter("---\nnot closed"), "---\nnot closed");
    }
}
