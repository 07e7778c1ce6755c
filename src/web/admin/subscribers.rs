//! Console screens: subscribers. A searchable, filterable list; removing an address
//! (it is unsubscribed, the record stays so it is not mailed again by mistake);
//! sending the confirmation again; and a CSV export of what the list shows.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::components::{link_with, Choice};
use super::{safe_next, AdminLayout, Console, ConsoleError, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::subscriber::SubscriberState;
use crate::store::{Subscriber, SubscriberQuery};
use crate::time::Stamp;
use crate::web::form::Form;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/subscribers", web::get().to(list))
        .route("/subscribers.csv", web::get().to(export))
        .route("/subscribers/{id}/remove", web::post().to(remove))
        .route("/subscribers/{id}/resend", web::post().to(resend));
}

const LIST: &str = "/admin/subscribers";
const PAGE_SIZE: i64 = 50;
/// Rows read per query while exporting.
const EXPORT_BATCH: i64 = 500;

/// What the list is narrowed to, as the GET query says.
struct Filters {
    /// Part of an address.
    q: String,
    /// "" for every state.
    state: String,
    /// 1-based.
    page: i64,
}

impl Filters {
    fn from_query(form: &Form) -> Filters {
        Filters {
            q: form.text("q").trim().to_owned(),
            state: form.text("state"),
            page: form
                .text("page")
                .parse::<i64>()
                .unwrap_or(1)
                .clamp(1, 1_000_000),
        }
    }

    /// The state to filter on; an unknown one filters nothing.
    fn state(&self) -> Option<SubscriberState> {
        SubscriberState::ALL
            .into_iter()
            .find(|s| s.as_str() == self.state)
    }

    fn query(&self, limit: i64, offset: i64) -> SubscriberQuery {
        SubscriberQuery {
            state: self.state(),
            search: Some(self.q.clone()).filter(|q| !q.is_empty()),
            limit,
            offset,
            after: None,
        }
    }

    /// A link to `path` with these filters and `page`.
    fn link(&self, path: &str, page: i64) -> String {
        let page = if page > 1 {
            page.to_string()
        } else {
            String::new()
        };
        link_with(
            path,
            &[("q", &self.q), ("state", &self.state), ("page", &page)],
        )
    }
}

/// Component names by id, to show what each subscriber chose.
async fn component_names(console: &Console) -> Result<HashMap<String, String>, ConsoleError> {
    let tree = console.store.list_components().await?;
    Ok(tree
        .components
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// "All components", or the names of the chosen ones.
fn chosen(subscriber: &Subscriber, names: &HashMap<String, String>) -> String {
    if subscriber.row.all_components {
        return "All components".to_owned();
    }
    subscriber
        .component_ids
        .iter()
        .map(|id| names.get(id).map_or(id.as_str(), String::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of the list.
pub struct Line {
    pub id: String,
    pub email: String,
    pub state: &'static str,
    pub components: String,
    pub created: String,
    pub can_resend: bool,
    pub can_remove: bool,
}

const STATES: [Choice; 5] = [
    Choice {
        value: "",
        label: "Every state",
    },
    Choice {
        value: "unconfirmed",
        label: "Unconfirmed",
    },
    Choice {
        value: "active",
        label: "Active",
    },
    Choice {
        value: "unsubscribed",
        label: "Unsubscribed",
    },
    Choice {
        value: "quarantined",
        label: "Quarantined (mail kept bouncing)",
    },
];

#[derive(Template)]
#[template(path = "admin/subscribers.html")]
struct ListPage {
    layout: AdminLayout,
    q: String,
    state: String,
    states: &'static [Choice],
    lines: Vec<Line>,
    /// Where the row buttons come back to: this very list.
    back: String,
    csv_link: String,
    previous: Option<String>,
    next: Option<String>,
    page: i64,
}

async fn list(console: Console, req: HttpRequest) -> ConsoleResult {
    console.require(Permission::ManageSubscribers)?;
    let filters = Filters::from_query(&Form::query(&req));
    // One more than a page: whether there is a next page.
    let query = filters.query(PAGE_SIZE + 1, (filters.page - 1) * PAGE_SIZE);
    let mut found = console.store.list_subscribers(&query).await?;
    let has_next = found.len() as i64 > PAGE_SIZE;
    found.truncate(PAGE_SIZE as usize);
    let names = component_names(&console).await?;
    let lines = found
        .iter()
        .map(|s| {
            let state = s.row.state();
            Line {
                id: s.row.id.clone(),
                email: s.row.email.clone(),
                state: state.as_str(),
                components: chosen(s, &names),
                created: console.time(s.row.created_at),
                can_resend: state == SubscriberState::Unconfirmed,
                can_remove: state != SubscriberState::Unsubscribed,
            }
        })
        .collect();
    let page = ListPage {
        layout: console.layout("Subscribers", "subscribers"),
        back: filters.link(LIST, filters.page),
        csv_link: filters.link("/admin/subscribers.csv", 1),
        previous: (filters.page > 1).then(|| filters.link(LIST, filters.page - 1)),
        next: has_next.then(|| filters.link(LIST, filters.page + 1)),
        page: filters.page,
        q: filters.q,
        state: filters.state,
        states: &STATES,
        lines,
    };
    console.page(&page)
}

/// Unsubscribes an address, as the `/v1` DELETE does.
async fn remove(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::ManageSubscribers)?;
    let subscriber = console.store.unsubscribe(&path, Stamp::Clock).await?;
    let back = back_to_list(&form);
    console.done(&back, &format!("{} is unsubscribed.", subscriber.row.email))
}

/// Sends the confirmation mail again (the store allows it only while unconfirmed).
async fn resend(
    console: Console,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> ConsoleResult {
    let form = console.form(&req, &body)?;
    console.require(Permission::ManageSubscribers)?;
    let subscriber = console
        .store
        .resend_confirmation(&path, Stamp::Clock)
        .await?;
    let back = back_to_list(&form);
    console.done(
        &back,
        &format!(
            "A new confirmation is on its way to {}.",
            subscriber.row.email
        ),
    )
}

/// The list the buttons were pressed on (same search and page), or the plain list.
fn back_to_list(form: &Form) -> String {
    let back = safe_next(form.get("back"));
    if back.starts_with(LIST) {
        back
    } else {
        LIST.to_owned()
    }
}

/// Every subscriber the list's filters match (not only one page), as CSV.
async fn export(console: Console, req: HttpRequest) -> ConsoleResult {
    console.require(Permission::ManageSubscribers)?;
    let filters = Filters::from_query(&Form::query(&req));
    let names = component_names(&console).await?;
    let mut csv = csv_line(&[
        "id",
        "email",
        "state",
        "components",
        "created_at",
        "confirmed_at",
    ]);
    // Page by position in the list, not by offset: sign-ups during the export shift
    // no one into the next batch twice or out of it.
    let mut after = None;
    loop {
        let query = SubscriberQuery {
            after: after.clone(),
            ..filters.query(EXPORT_BATCH, 0)
        };
        let batch = console.store.list_subscribers(&query).await?;
        for s in &batch {
            let confirmed = s
                .row
                .confirmed_at
                .map(|at| console.zone.api_timestamp(at))
                .unwrap_or_default();
            csv.push_str(&csv_line(&[
                &s.row.id,
                &s.row.email,
                &s.row.state,
                &chosen(s, &names),
                &console.zone.api_timestamp(s.row.created_at),
                &confirmed,
            ]));
        }
        match batch.last() {
            Some(last) if batch.len() as i64 == EXPORT_BATCH => {
                after = Some((last.row.created_at, last.row.id.clone()));
            }
            _ => break,
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"subscribers.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(csv))
}

/// One CSV record (RFC 4180), ending in CRLF.
fn csv_line(fields: &[&str]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// One CSV field. A spreadsheet runs a cell starting with = + - or @ as a formula
/// (and a leading tab or carriage return can hide one): such a cell gets a leading
/// `'`, which makes it text. A field holding a comma, a quote or a line break is
/// quoted, its quotes doubled.
fn csv_field(value: &str) -> String {
    let mut text = String::with_capacity(value.len() + 2);
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        text.push('\'');
    }
    text.push_str(value);
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("ann@example.com"), "ann@example.com");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("API, EU"), "\"API, EU\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn csv_fields_never_start_a_formula() {
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\t=1"), "'\t=1");
        assert_eq!(csv_field("=SUM(1,2)"), "\"'=SUM(1,2)\"");
        assert_eq!(csv_field("a=1"), "a=1");
    }

    #[test]
    fn csv_lines_end_in_crlf() {
        assert_eq!(csv_line(&["a", "b,c", ""]), "a,\"b,c\",\r\n");
    }
}
