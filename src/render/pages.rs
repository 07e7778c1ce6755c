//! The public site's pages: askama templates and the plain view models they print.
//! Builders here take what the store read and shape it; they do no I/O.

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::assets::assets;
use super::markdown::{self, SafeHtml};
use crate::domain::incident::update_label;
use crate::domain::rollup::{group_status, page_status, Indicator};
use crate::domain::uptime::{self, History};
use crate::domain::{ComponentStatus, Impact, IncidentKind};
use crate::store::{
    ComponentRow, ComponentTree, IncidentRecord, PageRow, StatusWindow, TopLevel, UpdateRecord,
};
use crate::time::PageZone;

/// Days of uptime shown per component, and of past incidents on the status page.
pub const UPTIME_DAYS: u32 = 90;
pub const PAST_DAYS: u32 = 15;

/// What every page's frame needs.
pub struct Layout {
    pub page_name: String,
    pub zone_label: String,
    pub css_url: String,
    pub js_url: String,
    pub favicon_url: String,
}

impl Layout {
    pub fn new(page_name: &str, zone: PageZone) -> Layout {
        let a = assets();
        Layout {
            page_name: page_name.to_owned(),
            zone_label: zone.tz().name().to_owned(),
            css_url: a.css.url.clone(),
            js_url: a.js.url.clone(),
            favicon_url: a.favicon.url.clone(),
        }
    }
}

/// The page, its components and the clock: everything builders share.
pub struct SiteContext<'a> {
    pub page: &'a PageRow,
    pub tree: &'a ComponentTree,
    pub zone: PageZone,
    pub now: DateTime<Utc>,
}

impl SiteContext<'_> {
    pub fn layout(&self) -> Layout {
        Layout::new(&self.page.name, self.zone)
    }

    /// "Feb 13, 2021 - 16:17 UTC", in the page's zone.
    pub fn posted(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone.tz())
            .format("%b %-d, %Y - %H:%M %Z")
            .to_string()
    }

    fn date_label(&self, date: NaiveDate) -> String {
        date.format("%b %-d, %Y").to_string()
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone.tz()).date_naive()
    }

    fn today(&self) -> NaiveDate {
        self.local_date(self.now)
    }

    /// Start of the uptime window: midnight, 89 days before today, in the page's zone.
    pub fn uptime_since(&self) -> DateTime<Utc> {
        self.zone
            .start_of_day(self.today() - Duration::days(i64::from(UPTIME_DAYS) - 1))
    }

    fn window(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> String {
        let same_day = self.local_date(from) == self.local_date(until);
        let until_format = if same_day {
            "%H:%M %Z"
        } else {
            "%b %-d, %Y - %H:%M %Z"
        };
        format!(
            "{} to {}",
            from.with_timezone(&self.zone.tz())
                .format("%b %-d, %Y - %H:%M"),
            until.with_timezone(&self.zone.tz()).format(until_format)
        )
    }
}

pub struct UpdateView {
    pub label: &'static str,
    pub body_html: SafeHtml,
    pub posted: String,
    pub iso: String,
}

fn updates(ctx: &SiteContext<'_>, list: &[UpdateRecord]) -> Vec<UpdateView> {
    list.iter()
        .enumerate()
        .map(|(i, u)| UpdateView {
            // Newest first: the entry before this one in time is the next in the list.
            label: update_label(
                u.row.status(),
                list.get(i + 1).map(|older| older.row.status()),
            ),
            // The postmortem itself is shown once, at the top of the incident page.
            body_html: if u.row.status() == crate::domain::IncidentStatus::Postmortem {
                markdown::update_body("The postmortem has been published.")
            } else {
                markdown::update_body(&u.row.body)
            },
            posted: ctx.posted(u.row.display_at),
            iso: u
                .row
                .display_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect()
}

pub fn impact_label(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "No impact",
        Impact::Maintenance => "Maintenance",
        Impact::Minor => "Minor impact",
        Impact::Major => "Major impact",
        Impact::Critical => "Critical impact",
    }
}

pub fn status_icon(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational => "✓",
        ComponentStatus::DegradedPerformance => "!",
        ComponentStatus::PartialOutage => "◐",
        ComponentStatus::MajorOutage => "✕",
        ComponentStatus::UnderMaintenance => "⚙",
    }
}

// --- status page ---------------------------------------------------------------------------

pub struct ActiveIncident {
    pub url: String,
    pub name: String,
    pub impact_class: &'static str,
    pub impact_label: &'static str,
    pub latest: Option<UpdateView>,
}

pub struct MaintenanceView {
    pub url: String,
    pub name: String,
    pub status_label: &'static str,
    pub window: String,
    pub latest: Option<UpdateView>,
}

pub struct Link {
    pub url: String,
    pub name: String,
}

pub struct DayView {
    pub class: &'static str,
    pub date: String,
    pub detail: String,
    pub incidents: Vec<Link>,
}

pub struct UptimeView {
    pub days: Vec<DayView>,
    pub percent: String,
}

pub struct ComponentView {
    pub name: String,
    pub description: Option<String>,
    pub status_class: &'static str,
    pub status_label: &'static str,
    pub icon: &'static str,
    pub uptime: Option<UptimeView>,
}

pub struct GroupView {
    pub name: String,
    pub status_class: &'static str,
    pub status_label: &'static str,
    pub icon: &'static str,
    pub open: bool,
    pub children: Vec<ComponentView>,
}

/// A top-level row: a group or a component.
pub struct Entry {
    pub group: Option<GroupView>,
    pub component: Option<ComponentView>,
}

pub struct PastIncident {
    pub url: String,
    pub name: String,
    pub impact_class: &'static str,
    pub updates: Vec<UpdateView>,
}

pub struct PastDay {
    pub label: String,
    pub incidents: Vec<PastIncident>,
}

#[derive(Template)]
#[template(path = "status.html")]
pub struct StatusPage {
    pub layout: Layout,
    pub banner_class: &'static str,
    pub banner_icon: &'static str,
    pub banner_text: &'static str,
    pub active: Vec<ActiveIncident>,
    pub maintenances: Vec<MaintenanceView>,
    pub entries: Vec<Entry>,
    pub past_days: Vec<PastDay>,
}

/// What the status page shows, as the store read it.
pub struct StatusData<'a> {
    pub unresolved: &'a [IncidentRecord],
    /// Scheduled, in progress or verifying.
    pub maintenances: &'a [IncidentRecord],
    /// Incidents and maintenances created since a little before the uptime window.
    pub recent: &'a [IncidentRecord],
    pub window: &'a StatusWindow,
}

fn incident_url(id: &str) -> String {
    format!("/incidents/{id}")
}

fn human_duration(d: Duration) -> String {
    let minutes = d.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, 0) => "less than a minute".to_owned(),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} hr"),
        (h, m) => format!("{h} hr {m} min"),
    }
}

fn day_detail(day: &uptime::Day) -> String {
    if day.worst.is_none() {
        return "No data".to_owned();
    }
    let parts: Vec<String> = [
        ("Major outage", day.major_outage),
        ("Partial outage", day.partial_outage),
        ("Degraded performance", day.degraded),
        ("Maintenance", day.maintenance),
    ]
    .into_iter()
    .filter(|(_, d)| *d > Duration::zero())
    .map(|(label, d)| format!("{label} {}", human_duration(d)))
    .collect();
    if parts.is_empty() {
        match day.worst {
            Some(ComponentStatus::Operational) | None => "No downtime".to_owned(),
            Some(s) => format!("{} briefly", s.label()),
        }
    } else {
        parts.join(", ")
    }
}

/// A day cell's class: short, since a page may hold thousands of cells.
fn day_class(worst: Option<ComponentStatus>) -> &'static str {
    match worst {
        None => "nd",
        Some(ComponentStatus::Operational) => "ok",
        Some(ComponentStatus::DegradedPerformance) => "dp",
        Some(ComponentStatus::PartialOutage) => "po",
        Some(ComponentStatus::MajorOutage) => "mo",
        Some(ComponentStatus::UnderMaintenance) => "um",
    }
}

fn uptime_view(ctx: &SiteContext<'_>, c: &ComponentRow, data: &StatusData<'_>) -> UptimeView {
    let logged_at_start = data
        .window
        .at_start
        .iter()
        .find(|(id, _)| id == &c.id)
        .and_then(|(_, s)| s.as_deref().map(ComponentStatus::from_db));
    // A component declared in use since `start_date` but added to Herald later was
    // operational as far as anyone knows: count those days, not "no data".
    // (Days before `start_date` itself are not counted at all.) Otherwise the first
    // change in the window says what the status was before it, when it knows.
    let first_old = data
        .window
        .changes
        .iter()
        .find(|change| change.component_id == c.id)
        .and_then(|change| change.old_status.as_deref().map(ComponentStatus::from_db));
    let status_at_start = logged_at_start
        .or(c.start_date.map(|_| ComponentStatus::Operational))
        .or(first_old);
    let changes: Vec<(DateTime<Utc>, ComponentStatus)> = data
        .window
        .changes
        .iter()
        .filter(|change| change.component_id == c.id)
        .map(|change| {
            (
                change.changed_at,
                ComponentStatus::from_db(&change.new_status),
            )
        })
        .collect();
    let history = History {
        status_at_start,
        changes: &changes,
        counted_from: c.start_date,
    };
    let computed = uptime::uptime(&history, UPTIME_DAYS, ctx.today(), ctx.zone, ctx.now);
    let days = computed
        .days
        .iter()
        .map(|day| {
            let start = ctx.zone.start_of_day(day.date);
            let end = ctx.zone.start_of_day(day.date + Duration::days(1));
            let incidents = data
                .recent
                .iter()
                .filter(|r| {
                    r.incident.kind() == IncidentKind::Realtime && r.component_ids.contains(&c.id)
                })
                .filter(|r| {
                    r.incident.started_at < end
                        && r.incident.resolved_at.unwrap_or(ctx.now) >= start
                })
                .map(|r| Link {
                    url: incident_url(&r.incident.id),
                    name: r.incident.name.clone(),
                })
                .collect();
            DayView {
                class: day_class(day.worst),
                date: ctx.date_label(day.date),
                detail: day_detail(day),
                incidents,
            }
        })
        .collect();
    UptimeView {
        days,
        percent: match computed.percent {
            Some(p) => format!("{:.2} % uptime", (p * 100.0).floor() / 100.0),
            None => "No data yet".to_owned(),
        },
    }
}

/// The day an incident is listed under among past incidents: the day it started; a
/// maintenance on the day it is scheduled for, once that has come.
fn past_incident_day(ctx: &SiteContext<'_>, r: &IncidentRecord) -> Option<NaiveDate> {
    match (r.incident.kind(), r.incident.scheduled_for) {
        (IncidentKind::Maintenance, Some(start)) if start > ctx.now => None,
        (IncidentKind::Maintenance, Some(start)) => Some(ctx.local_date(start)),
        _ => Some(ctx.local_date(r.incident.created_at)),
    }
}

fn component_view(ctx: &SiteContext<'_>, c: &ComponentRow, data: &StatusData<'_>) -> ComponentView {
    let status = c.status();
    ComponentView {
        name: c.name.clone(),
        description: c.description.clone(),
        status_class: status.as_str(),
        status_label: status.label(),
        icon: status_icon(status),
        uptime: c.showcase.then(|| uptime_view(ctx, c, data)),
    }
}

fn visible(c: &ComponentRow) -> bool {
    !(c.only_show_if_degraded && c.status() == ComponentStatus::Operational)
}

fn impact_class(impact: Impact) -> &'static str {
    impact.as_str()
}

pub fn status_page(ctx: &SiteContext<'_>, data: &StatusData<'_>) -> StatusPage {
    let statuses: Vec<ComponentStatus> = ctx
        .tree
        .components
        .iter()
        .map(ComponentRow::status)
        .collect();
    let impacts: Vec<Impact> = data
        .unresolved
        .iter()
        .map(|r| r.incident.impact())
        .collect();
    let rollup = page_status(&statuses, &impacts);
    let (banner_class, banner_icon) = match rollup.indicator {
        Indicator::None => ("none", "✓"),
        Indicator::Minor => ("minor", "!"),
        Indicator::Major => ("major", "◐"),
        Indicator::Critical => ("critical", "✕"),
        Indicator::Maintenance => ("maintenance", "⚙"),
    };

    // Top level: groups and ungrouped components, in page order.
    let mut entries: Vec<Entry> = Vec::new();
    for item in ctx.tree.top_level() {
        match item {
            TopLevel::Component(c) if visible(c) => entries.push(Entry {
                group: None,
                component: Some(component_view(ctx, c, data)),
            }),
            TopLevel::Component(_) => {}
            TopLevel::Group(g, children) => {
                let children: Vec<&ComponentRow> =
                    children.into_iter().filter(|c| visible(c)).collect();
                if children.is_empty() {
                    continue;
                }
                let status = group_status(children.iter().map(|c| c.status()));
                entries.push(Entry {
                    group: Some(GroupView {
                        name: g.name.clone(),
                        status_class: status.as_str(),
                        status_label: status.label(),
                        icon: status_icon(status),
                        open: status != ComponentStatus::Operational,
                        children: children
                            .into_iter()
                            .map(|c| component_view(ctx, c, data))
                            .collect(),
                    }),
                    component: None,
                });
            }
        }
    }

    let today = ctx.today();
    let past_days = (0..PAST_DAYS)
        .map(|back| {
            let date = today - Duration::days(i64::from(back));
            PastDay {
                label: ctx.date_label(date),
                incidents: data
                    .recent
                    .iter()
                    .filter(|r| past_incident_day(ctx, r) == Some(date))
                    .map(|r| PastIncident {
                        url: incident_url(&r.incident.id),
                        name: r.incident.name.clone(),
                        impact_class: impact_class(r.incident.impact()),
                        updates: updates(ctx, &r.updates),
                    })
                    .collect(),
            }
        })
        .collect();

    StatusPage {
        layout: ctx.layout(),
        banner_class,
        banner_icon,
        banner_text: rollup.description,
        active: data
            .unresolved
            .iter()
            .map(|r| ActiveIncident {
                url: incident_url(&r.incident.id),
                name: r.incident.name.clone(),
                impact_class: impact_class(r.incident.impact()),
                impact_label: impact_label(r.incident.impact()),
                latest: updates(ctx, &r.updates).into_iter().next(),
            })
            .collect(),
        maintenances: data
            .maintenances
            .iter()
            .map(|r| MaintenanceView {
                url: incident_url(&r.incident.id),
                name: r.incident.name.clone(),
                status_label: r.incident.status().label(),
                window: match (r.incident.scheduled_for, r.incident.scheduled_until) {
                    (Some(from), Some(until)) => ctx.window(from, until),
                    _ => String::new(),
                },
                latest: updates(ctx, &r.updates).into_iter().next(),
            })
            .collect(),
        entries,
        past_days,
    }
}

// --- incident page --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "incident.html")]
pub struct IncidentPage {
    pub layout: Layout,
    pub name: String,
    pub impact_class: &'static str,
    pub impact_label: &'static str,
    pub window: Option<String>,
    pub postmortem: Option<SafeHtml>,
    pub updates: Vec<UpdateView>,
    pub affected: Option<String>,
}

pub fn incident_page(ctx: &SiteContext<'_>, record: &IncidentRecord) -> IncidentPage {
    let i = &record.incident;
    let mut affected: Vec<&ComponentRow> = record
        .component_ids
        .iter()
        .filter_map(|id| ctx.tree.component(id))
        .collect();
    affected.sort_by_key(|c| (c.group_id.is_some(), c.position));
    let names: Vec<&str> = affected.iter().map(|c| c.name.as_str()).collect();
    IncidentPage {
        layout: ctx.layout(),
        name: i.name.clone(),
        impact_class: impact_class(i.impact()),
        impact_label: impact_label(i.impact()),
        window: match (i.kind(), i.scheduled_for, i.scheduled_until) {
            (IncidentKind::Maintenance, Some(from), Some(until)) => {
                Some(format!("Scheduled for {}", ctx.window(from, until)))
            }
            _ => None,
        },
        postmortem: record
            .postmortem
            .as_ref()
            .and_then(|p| p.published())
            .map(markdown::document),
        updates: updates(ctx, &record.updates),
        affected: (!names.is_empty()).then(|| names.join(", ")),
    }
}

// --- history ---------------------------------------------------------------------------------

pub struct HistoryItem {
    pub url: String,
    pub name: String,
    pub impact_class: &'static str,
    pub impact_label: &'static str,
    pub when: String,
}

pub struct Month {
    pub label: String,
    pub items: Vec<HistoryItem>,
}

#[derive(Template)]
#[template(path = "history.html")]
pub struct HistoryPage {
    pub layout: Layout,
    pub months: Vec<Month>,
    pub newer_url: Option<String>,
    pub older_url: Option<String>,
}

/// One page of history (`page_number` from 1), newest first, grouped by month.
pub fn history_page(
    ctx: &SiteContext<'_>,
    records: &[IncidentRecord],
    page_number: i64,
    has_older: bool,
) -> HistoryPage {
    let mut months: Vec<Month> = Vec::new();
    for r in records {
        let i = &r.incident;
        let local = i.created_at.with_timezone(&ctx.zone.tz());
        let label = local.format("%B %Y").to_string();
        let when = match i.resolved_at {
            Some(end) => format!("{} to {}", ctx.posted(i.created_at), ctx.posted(end)),
            None => format!("Since {}", ctx.posted(i.created_at)),
        };
        let item = HistoryItem {
            url: incident_url(&i.id),
            name: i.name.clone(),
            impact_class: impact_class(i.impact()),
            impact_label: impact_label(i.impact()),
            when,
        };
        match months.last_mut() {
            Some(month) if month.label == label => month.items.push(item),
            _ => months.push(Month {
                label,
                items: vec![item],
            }),
        }
    }
    let page_url = |n: i64| {
        if n == 1 {
            "/history".to_owned()
        } else {
            format!("/history?page={n}")
        }
    };
    HistoryPage {
        layout: ctx.layout(),
        months,
        newer_url: (page_number > 1).then(|| page_url(page_number - 1)),
        older_url: has_older.then(|| page_url(page_number + 1)),
    }
}

// --- errors ------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub message: &'static str,
}

pub fn error_page(layout: Layout, status: u16) -> ErrorPage {
    let (heading, message) = match status {
        404 => (
            "Page not found",
            "There is nothing at this address. The incident may have been removed.",
        ),
        400 => ("Bad request", "The address is malformed."),
        _ => (
            "Something went wrong",
            "The page could not be shown right now. Please try again in a moment.",
        ),
    };
    ErrorPage {
        layout,
        heading,
        message,
    }
}

// --- subscriptions ---------------------------------------------------------------------------

/// A component to choose, or a group holding some.
pub struct Choice {
    pub id: String,
    pub name: String,
    pub checked: bool,
    pub children: Vec<Choice>,
}

/// The page's components as checkboxes, in display order, `chosen` ones checked.
pub fn choices(tree: &ComponentTree, chosen: &[String]) -> Vec<Choice> {
    let leaf = |c: &ComponentRow| Choice {
        id: c.id.clone(),
        name: c.name.clone(),
        checked: chosen.contains(&c.id),
        children: Vec::new(),
    };
    tree.top_level()
        .into_iter()
        .filter_map(|item| match item {
            TopLevel::Component(c) => Some(leaf(c)),
            TopLevel::Group(_, children) if children.is_empty() => None,
            TopLevel::Group(g, children) => Some(Choice {
                id: g.id.clone(),
                name: g.name.clone(),
                checked: false,
                children: children.into_iter().map(leaf).collect(),
            }),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "subscribe.html")]
pub struct SubscribePage {
    pub layout: Layout,
    pub csrf: String,
    pub email: String,
    pub email_error: Option<String>,
    pub error: Option<String>,
    pub all_components: bool,
    pub choice_error: Option<String>,
    pub choices: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "manage.html")]
pub struct ManagePage {
    pub layout: Layout,
    pub csrf: String,
    pub email: String,
    pub state: &'static str,
    pub active: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub all_components: bool,
    pub choice_error: Option<String>,
    pub choices: Vec<Choice>,
    pub save_action: String,
    pub unsubscribe_action: String,
}

pub struct HiddenForm {
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub button: &'static str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: &'static str,
    pub paragraphs: Vec<String>,
    pub form: Option<HiddenForm>,
    pub link: Option<Link>,
}
