//! `/history.atom` and `/history.rss` (§4): one entry per incident or maintenance, its
//! updates newest first as `<p><small>date</small><br><strong>Label</strong> - body</p>`,
//! built with the feed crates (they escape), linking to the incident pages.

use chrono::{DateTime, FixedOffset, Utc};

use super::markdown;
use super::pages::SiteContext;
use crate::domain::incident::update_label;
use crate::store::IncidentRecord;

/// Entries per feed.
pub const FEED_ENTRIES: i64 = 25;

fn title(ctx: &SiteContext<'_>) -> String {
    format!("{} Status - Incident History", ctx.page.name)
}

/// The time an entry is about: its newest update (a resolved incident: `resolved_at`).
fn entry_time(r: &IncidentRecord) -> DateTime<Utc> {
    r.updates
        .first()
        .map(|u| u.row.display_at)
        .unwrap_or(r.incident.created_at)
}

/// The entry's HTML: one paragraph per update, newest first.
fn content(ctx: &SiteContext<'_>, r: &IncidentRecord) -> String {
    let mut html = String::new();
    for (i, u) in r.updates.iter().enumerate() {
        let local = u.row.display_at.with_timezone(&ctx.zone.tz());
        let label = update_label(
            u.row.status(),
            r.updates.get(i + 1).map(|older| older.row.status()),
        );
        let body = markdown::update_body(&u.row.body);
        // A one-paragraph body joins the label's paragraph, as Statuspage prints it.
        let body = body.as_str().trim();
        let inline = body
            .strip_prefix("<p>")
            .and_then(|b| b.strip_suffix("</p>"))
            .filter(|b| !b.contains("<p>"));
        html.push_str(&format!(
            "<p><small>{} <var data-var='date'>{:>2}</var>, <var data-var='time'>{}</var> {}</small><br><strong>{label}</strong> - ",
            local.format("%b"),
            local.format("%-d"),
            local.format("%H:%M"),
            local.format("%Z"),
        ));
        match inline {
            Some(inline) => html.push_str(&format!("{inline}</p>")),
            None => html.push_str(&format!("</p>{body}")),
        }
    }
    html
}

fn sorted(records: &[IncidentRecord]) -> Vec<&IncidentRecord> {
    let mut list: Vec<&IncidentRecord> = records.iter().collect();
    list.sort_by_key(|r| std::cmp::Reverse(entry_time(r)));
    list
}

fn fixed(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.fixed_offset()
}

pub fn atom(ctx: &SiteContext<'_>, base_url: &str, records: &[IncidentRecord]) -> String {
    use atom_syndication::{Content, Entry, Feed, Link, Person, Text};
    let host = base_url
        .split("://")
        .nth(1)
        .unwrap_or(base_url)
        .split('/')
        .next()
        .unwrap_or("herald");
    let link = |href: String, rel: &str, mime: &str| Link {
        href,
        rel: rel.to_owned(),
        mime_type: Some(mime.to_owned()),
        ..Link::default()
    };
    let entries: Vec<Entry> = sorted(records)
        .into_iter()
        .map(|r| Entry {
            id: format!("tag:{host},2005:Incident/{}", r.incident.id),
            title: Text::plain(r.incident.name.clone()),
            updated: fixed(r.incident.updated_at),
            published: Some(fixed(entry_time(r))),
            links: vec![link(
                format!("{base_url}/incidents/{}", r.incident.id),
                "alternate",
                "text/html",
            )],
            content: Some(Content {
                content_type: Some("html".to_owned()),
                value: Some(content(ctx, r)),
                ..Content::default()
            }),
            ..Entry::default()
        })
        .collect();
    let updated = records
        .iter()
        .map(|r| r.incident.updated_at)
        .max()
        .unwrap_or(ctx.page.updated_at);
    let feed = Feed {
        id: format!("tag:{host},2005:/history"),
        title: Text::plain(title(ctx)),
        updated: fixed(updated),
        lang: Some("en".to_owned()),
        authors: vec![Person {
            name: ctx.page.name.clone(),
            ..Person::default()
        }],
        links: vec![
            link(base_url.to_owned(), "alternate", "text/html"),
            link(
                format!("{base_url}/history.atom"),
                "self",
                "application/atom+xml",
            ),
        ],
        entries,
        ..Feed::default()
    };
    feed.to_string()
}

pub fn rss(ctx: &SiteContext<'_>, base_url: &str, records: &[IncidentRecord]) -> String {
    use rss::{Channel, Guid, Item};
    let items: Vec<Item> = sorted(records)
        .into_iter()
        .map(|r| {
            let url = format!("{base_url}/incidents/{}", r.incident.id);
            Item {
                title: Some(r.incident.name.clone()),
                link: Some(url.clone()),
                description: Some(content(ctx, r)),
                pub_date: Some(entry_time(r).to_rfc2822()),
                guid: Some(Guid {
                    value: url,
                    permalink: true,
                }),
                ..Item::default()
            }
        })
        .collect();
    let newest = records
        .iter()
        .map(entry_time)
        .max()
        .unwrap_or(ctx.page.updated_at);
    let channel = Channel {
        title: title(ctx),
        link: base_url.to_owned(),
        description: format!("Incident history of {}", ctx.page.name),
        pub_date: Some(newest.to_rfc2822()),
        items,
        ..Channel::default()
    };
    channel.to_string()
}
