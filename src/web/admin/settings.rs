//! Page settings (admins): the page's name, time zone, texts, and what visitors may
//! subscribe to. The same `Store::update_page` as `PATCH /v1/pages/{id}`.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use askama::Template;

use super::{AdminLayout, Console, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::text::{parse_description, parse_name};
use crate::store::{PagePatch, PageRow};
use crate::time::{PageZone, Stamp};
use crate::web::form::{Form, FormErrors};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/settings")
            .route(web::get().to(show))
            .route(web::post().to(save)),
    );
}

/// The form's values as typed (or as stored, on first show).
pub struct Values {
    pub name: String,
    pub time_zone: String,
    pub url: String,
    pub page_description: String,
    pub headline: String,
    pub support_url: String,
    pub notifications_from_email: String,
    pub notifications_email_footer: String,
    pub allow_email_subscribers: bool,
    pub allow_rss_atom_feeds: bool,
}

impl Values {
    fn from_page(page: &PageRow) -> Values {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Values {
            name: page.name.clone(),
            time_zone: page.time_zone.clone(),
            url: text(&page.website_url),
            page_description: text(&page.page_description),
            headline: text(&page.headline),
            support_url: text(&page.support_url),
            notifications_from_email: text(&page.notifications_from_email),
            notifications_email_footer: text(&page.notifications_email_footer),
            allow_email_subscribers: page.allow_email_subscribers,
            allow_rss_atom_feeds: page.allow_rss_atom_feeds,
        }
    }

    fn from_form(form: &Form) -> Values {
        Values {
            name: form.text("name"),
            time_zone: form.text("time_zone"),
            url: form.text("url"),
            page_description: form.text("page_description"),
            headline: form.text("headline"),
            support_url: form.text("support_url"),
            notifications_from_email: form.text("notifications_from_email"),
            notifications_email_footer: form.text("notifications_email_footer"),
            allow_email_subscribers: form.checked("allow_email_subscribers"),
            allow_rss_atom_feeds: form.checked("allow_rss_atom_feeds"),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    layout: AdminLayout,
    values: Values,
    errors: FormErrors,
    general: Vec<String>,
}

const FIELDS: [&str; 8] = [
    "name",
    "time_zone",
    "url",
    "page_description",
    "headline",
    "support_url",
    "notifications_from_email",
    "notifications_email_footer",
];

async fn show(console: Console) -> ConsoleResult {
    console.require(Permission::EditPageSettings)?;
    let page = SettingsPage {
        layout: console.layout("Page settings", "settings"),
        values: Values::from_page(&console.page),
        errors: FormErrors::default(),
        general: Vec::new(),
    };
    console.page(&page)
}

/// Blank clears an optional text (the API's `null`).
fn optional(errors: &mut FormErrors, field: &str, raw: &str) -> Option<Option<String>> {
    errors.check(parse_description(field, raw))
}

async fn save(console: Console, req: HttpRequest, body: Bytes) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::EditPageSettings)?;
    let values = Values::from_form(&form);
    let mut errors = FormErrors::default();
    let name = errors.check(parse_name("name", &values.name));
    let time_zone = errors
        .check(PageZone::parse_field("time_zone", &values.time_zone))
        .map(|_| values.time_zone.trim().to_owned());
    let from = values.notifications_from_email.trim();
    if !from.is_empty() {
        errors.check(crate::domain::subscriber::SubscriberEmail::parse(
            "notifications_from_email",
            from,
        ));
    }
    let patch = PagePatch {
        name,
        time_zone,
        website_url: optional(&mut errors, "url", &values.url),
        page_description: optional(&mut errors, "page_description", &values.page_description),
        headline: optional(&mut errors, "headline", &values.headline),
        support_url: optional(&mut errors, "support_url", &values.support_url),
        notifications_from_email: optional(&mut errors, "notifications_from_email", from),
        notifications_email_footer: optional(
            &mut errors,
            "notifications_email_footer",
            &values.notifications_email_footer,
        ),
        allow_page_subscribers: None,
        allow_incident_subscribers: None,
        allow_email_subscribers: Some(values.allow_email_subscribers),
        allow_rss_atom_feeds: Some(values.allow_rss_atom_feeds),
    };
    if errors.is_empty() {
        match console.store.update_page(&patch, Stamp::Clock).await {
            Ok(_) => return console.done("/admin/settings", "Page settings saved."),
            Err(e) => errors.refusal(e, &[])?,
        }
    }
    let page = SettingsPage {
        layout: console.layout("Page settings", "settings"),
        general: errors.others(&FIELDS),
        values,
        errors,
    };
    console.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
