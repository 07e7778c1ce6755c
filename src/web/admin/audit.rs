//! Console screens: the audit log, newest first, filtered by GET query fields (so a
//! filtered view is a link one can share) and paged by id ("Older entries").

use actix_web::web;
use actix_web::HttpRequest;
use askama::Template;
use chrono::NaiveDate;

use super::components::{form_status, link_with, Choice};
use super::{AdminLayout, Console, ConsoleResult};
use crate::domain::account::Permission;
use crate::domain::{one_of, DomainError};
use crate::store::AuditQuery;
use crate::time::PageZone;
use crate::web::form::{Form, FormErrors};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit_log));
}

const PAGE_SIZE: i64 = 50;

/// Who changes things (`Actor::kind`).
const ACTOR_KINDS: [Choice; 6] = [
    Choice {
        value: "user",
        label: "Console user",
    },
    Choice {
        value: "api_key",
        label: "API key",
    },
    Choice {
        value: "cli",
        label: "Command line",
    },
    Choice {
        value: "content",
        label: "Content files",
    },
    Choice {
        value: "scheduler",
        label: "Herald itself",
    },
    Choice {
        value: "public",
        label: "Public visitor",
    },
];

/// What is changed (the store's `target_kind`s).
const TARGET_KINDS: [Choice; 7] = [
    Choice {
        value: "incident",
        label: "Incident",
    },
    Choice {
        value: "component",
        label: "Component",
    },
    Choice {
        value: "group",
        label: "Group",
    },
    Choice {
        value: "page",
        label: "Page",
    },
    Choice {
        value: "subscriber",
        label: "Subscriber",
    },
    Choice {
        value: "api_key",
        label: "API key",
    },
    Choice {
        value: "user",
        label: "User",
    },
];

/// The filters as typed, kept in the form and in the paging links.
#[derive(Default)]
struct Filters {
    actor: String,
    actor_kind: String,
    target_kind: String,
    text: String,
    since: String,
    until: String,
}

impl Filters {
    fn from_query(form: &Form) -> Filters {
        let field = |key: &str| form.text(key).trim().to_owned();
        Filters {
            actor: field("actor"),
            actor_kind: field("actor_kind"),
            target_kind: field("target_kind"),
            text: field("text"),
            since: field("since"),
            until: field("until"),
        }
    }

    /// This view's link, starting at entries older than `before_id`.
    fn link(&self, before_id: Option<i64>) -> String {
        let before = before_id.map(|id| id.to_string()).unwrap_or_default();
        link_with(
            "/admin/audit",
            &[
                ("actor", &self.actor),
                ("actor_kind", &self.actor_kind),
                ("target_kind", &self.target_kind),
                ("text", &self.text),
                ("since", &self.since),
                ("until", &self.until),
                ("before_id", &before),
            ],
        )
    }

    /// The store query, or what is wrong with the filters (next to each field).
    fn query(&self, zone: PageZone, before_id: Option<i64>, errors: &mut FormErrors) -> AuditQuery {
        let since = errors.check(day("since", &self.since)).flatten();
        let until = errors.check(day("until", &self.until)).flatten();
        errors.check(known("actor_kind", &self.actor_kind, &ACTOR_KINDS));
        errors.check(known("target_kind", &self.target_kind, &TARGET_KINDS));
        AuditQuery {
            actor: self.actor.clone(),
            actor_kind: self.actor_kind.clone(),
            target_kind: self.target_kind.clone(),
            text: self.text.clone(),
            // Days in the page's zone, both ends included: until the next midnight.
            since: since.map(|d| zone.start_of_day(d)),
            until: until
                .and_then(|d| d.succ_opt())
                .map(|d| zone.start_of_day(d)),
            before_id,
            limit: PAGE_SIZE + 1,
        }
    }
}

/// A day typed as `YYYY-MM-DD` (what a date input sends); blank is no limit.
fn day(field: &str, raw: &str) -> Result<Option<NaiveDate>, DomainError> {
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            DomainError::new(
                field,
                format!("must be a date like 2026-01-31 (got {raw:?})"),
            )
        })
}

/// A select's value: blank (anything) or one of its choices.
fn known(field: &str, raw: &str, choices: &[Choice]) -> Result<(), DomainError> {
    if raw.is_empty() || choices.iter().any(|c| c.value == raw) {
        Ok(())
    } else {
        let values: Vec<&str> = choices.iter().map(|c| c.value).collect();
        Err(one_of(field, &values, raw))
    }
}

/// One entry as the table shows it.
pub struct Line {
    pub time: String,
    pub actor_kind: String,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub summary: String,
}

/// A kind's words ("API key"), or the kind itself when it has none.
fn label(choices: &[Choice], value: &str) -> String {
    choices
        .iter()
        .find(|c| c.value == value)
        .map_or(value, |c| c.label)
        .to_owned()
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: AdminLayout,
    filters: Filters,
    actor_kinds: &'static [Choice],
    target_kinds: &'static [Choice],
    lines: Vec<Line>,
    /// Set when the filters could not be used (the table is then not shown).
    errors: FormErrors,
    problems: Vec<String>,
    /// The next page, when there are older entries.
    older: Option<String>,
    /// Back to the newest entries, when this is not the first page.
    newest: Option<String>,
}

const FILTER_FIELDS: [&str; 6] = [
    "actor",
    "actor_kind",
    "target_kind",
    "text",
    "since",
    "until",
];

async fn audit_log(console: Console, req: HttpRequest) -> ConsoleResult {
    console.require(Permission::ReadAuditLog)?;
    let form = Form::query(&req);
    let filters = Filters::from_query(&form);
    let before_id = form.text("before_id").trim().parse::<i64>().ok();
    let mut errors = FormErrors::default();
    let query = filters.query(console.zone, before_id, &mut errors);
    let mut lines = Vec::new();
    let mut older = None;
    if errors.is_empty() {
        let mut rows = console.store.audit_log(&query).await?;
        if rows.len() as i64 > PAGE_SIZE {
            rows.truncate(PAGE_SIZE as usize);
            older = rows.last().map(|last| filters.link(Some(last.id)));
        }
        lines = rows
            .into_iter()
            .map(|row| Line {
                time: console.time(row.at),
                actor_kind: label(&ACTOR_KINDS, &row.actor_kind),
                actor_name: row.actor_name,
                action: row.action,
                target: format!(
                    "{} {}",
                    label(&TARGET_KINDS, &row.target_kind),
                    row.target_id
                ),
                summary: row.summary,
            })
            .collect();
    }
    let page = AuditPage {
        layout: console.layout("Audit log", "audit"),
        newest: before_id.map(|_| filters.link(None)),
        filters,
        actor_kinds: &ACTOR_KINDS,
        target_kinds: &TARGET_KINDS,
        lines,
        problems: errors.others(&FILTER_FIELDS),
        errors,
        older,
    };
    console.render(form_status(&page.errors), &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_days_in_the_page_zone() {
        let filters = Filters {
            since: "2026-03-01".to_owned(),
            until: "2026-03-01".to_owned(),
            ..Filters::default()
        };
        let zone = PageZone::parse("Europe/Berlin").unwrap();
        let mut errors = FormErrors::default();
        let query = filters.query(zone, None, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(
            query.since.unwrap().to_rfc3339(),
            "2026-02-28T23:00:00+00:00"
        );
        assert_eq!(
            query.until.unwrap().to_rfc3339(),
            "2026-03-01T23:00:00+00:00"
        );
    }

    #[test]
    fn bad_filters_name_their_field() {
        let filters = Filters {
            since: "yesterday".to_owned(),
            actor_kind: "robot".to_owned(),
            ..Filters::default()
        };
        let mut errors = FormErrors::default();
        filters.query(PageZone::utc(), None, &mut errors);
        assert!(errors.get("since").unwrap().contains("2026-01-31"));
        assert!(errors.get("actor_kind").unwrap().contains("api_key"));
    }
}
