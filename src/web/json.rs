//! The Statuspage wire format: every documented key present (`null`, never missing),
//! timestamps with milliseconds in the page's zone, ids as strings. Public v2 objects
//! and their v1 (management) supersets are built here and nowhere else.

use serde::Serialize;
use serde_json::Value;

use crate::domain::rollup::{group_status, page_status};
use crate::domain::{ComponentStatus, Impact, IncidentKind};
use crate::store::{ComponentRow, ComponentTree, GroupRow, IncidentRecord, PageRow, UpdateRecord};
use crate::time::PageZone;
use chrono::{DateTime, Utc};

/// Everything a response needs to render objects: the page, its components, and the
/// public URL for links.
pub struct View<'a> {
    pub page: &'a PageRow,
    pub tree: &'a ComponentTree,
    pub base_url: &'a str,
    pub zone: PageZone,
}

#[derive(Serialize)]
pub struct PageRef {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: String,
    pub updated_at: String,
}

#[derive(Serialize)]
pub struct StatusJson {
    pub indicator: &'static str,
    pub description: &'static str,
}

#[derive(Serialize)]
pub struct ComponentJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub position: i64,
    pub description: Option<String>,
    pub showcase: bool,
    pub start_date: Option<String>,
    pub group_id: Option<String>,
    pub page_id: String,
    pub group: bool,
    pub only_show_if_degraded: bool,
    /// Only on group rows: the ordered child ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
    /// Only in the management API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automation_email: Option<Value>,
}

#[derive(Serialize)]
pub struct AffectedJson {
    pub code: String,
    pub name: String,
    pub old_status: String,
    pub new_status: String,
}

#[derive(Serialize)]
pub struct UpdateJson {
    pub id: String,
    pub status: &'static str,
    pub body: String,
    pub incident_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub display_at: String,
    pub affected_components: Option<Vec<AffectedJson>>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
    #[serde(flatten)]
    pub management: Option<UpdateManagement>,
}

/// Management-API fields of an incident update (Twitter: accepted, never acted on).
#[derive(Serialize)]
pub struct UpdateManagement {
    pub twitter_updated_at: Option<String>,
    pub wants_twitter_update: bool,
}

#[derive(Serialize)]
pub struct IncidentJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    pub impact: &'static str,
    pub shortlink: String,
    pub started_at: String,
    pub page_id: String,
    pub incident_updates: Vec<UpdateJson>,
    pub components: Vec<ComponentJson>,
    pub reminder_intervals: Option<String>,
}

#[derive(Serialize)]
pub struct MaintenanceJson {
    #[serde(flatten)]
    pub incident: IncidentJson,
    pub scheduled_for: Option<String>,
    pub scheduled_until: Option<String>,
}

/// The v1 incident: the public object plus the management fields (§2.8).
#[derive(Serialize)]
pub struct IncidentV1 {
    #[serde(flatten)]
    pub incident: IncidentJson,
    pub impact_override: Option<&'static str>,
    pub metadata: Value,
    pub backfilled: bool,
    pub postmortem_body: Option<String>,
    pub postmortem_body_last_updated_at: Option<String>,
    pub postmortem_ignored: bool,
    pub postmortem_notified_subscribers: bool,
    pub postmortem_notified_twitter: bool,
    pub postmortem_published_at: Option<String>,
    pub scheduled_for: Option<String>,
    pub scheduled_until: Option<String>,
    pub scheduled_remind_prior: bool,
    pub scheduled_reminded_at: Option<String>,
    pub scheduled_auto_in_progress: bool,
    pub scheduled_auto_completed: bool,
    pub auto_transition_to_maintenance_state: bool,
    pub auto_transition_to_operational_state: bool,
    pub auto_transition_deliver_notifications_at_start: bool,
    pub auto_transition_deliver_notifications_at_end: bool,
}

#[derive(Serialize)]
pub struct GroupV1 {
    pub id: String,
    pub page_id: String,
    pub name: String,
    pub description: Option<String>,
    pub components: Vec<String>,
    pub position: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize)]
pub struct PageV1 {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub name: String,
    pub page_description: Option<String>,
    pub headline: Option<String>,
    pub branding: &'static str,
    pub subdomain: Option<String>,
    pub domain: Option<String>,
    pub url: Option<String>,
    pub support_url: Option<String>,
    pub hidden_from_search: bool,
    pub allow_page_subscribers: bool,
    pub allow_incident_subscribers: bool,
    pub allow_email_subscribers: bool,
    pub allow_sms_subscribers: bool,
    pub allow_rss_atom_feeds: bool,
    pub allow_webhook_subscribers: bool,
    pub notifications_from_email: Option<String>,
    pub notifications_email_footer: Option<String>,
    pub activity_score: i64,
    pub twitter_username: Option<String>,
    pub viewers_must_be_team_members: bool,
    pub ip_restrictions: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub time_zone: String,
    pub css_body_background_color: Option<String>,
    pub css_font_color: Option<String>,
    pub css_light_font_color: Option<String>,
    pub css_greens: Option<String>,
    pub css_yellows: Option<String>,
    pub css_oranges: Option<String>,
    pub css_blues: Option<String>,
    pub css_reds: Option<String>,
    pub css_border_color: Option<String>,
    pub css_graph_color: Option<String>,
    pub css_link_color: Option<String>,
    pub css_no_data: Option<String>,
    pub favicon_logo: Option<String>,
    pub transactional_logo: Option<String>,
    pub hero_cover: Option<String>,
    pub email_logo: Option<String>,
    pub twitter_logo: Option<String>,
}

/// Whether objects carry the management API's extra fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Public,
    Management,
}

impl<'a> View<'a> {
    pub fn new(page: &'a PageRow, tree: &'a ComponentTree, base_url: &'a str) -> Self {
        View {
            page,
            tree,
            base_url,
            zone: PageZone::parse(&page.time_zone).unwrap_or_else(PageZone::utc),
        }
    }

    fn ts(&self, at: DateTime<Utc>) -> String {
        self.zone.api_timestamp(at)
    }

    fn opt_ts(&self, at: Option<DateTime<Utc>>) -> Option<String> {
        at.map(|t| self.ts(t))
    }

    pub fn page_ref(&self) -> PageRef {
        PageRef {
            id: self.page.id.clone(),
            name: self.page.name.clone(),
            url: self.base_url.to_owned(),
            time_zone: self.page.time_zone.clone(),
            updated_at: self.ts(self.page.updated_at),
        }
    }

    /// §1.7 roll-up from the components and the open incidents' impacts.
    pub fn status(&self, unresolved: &[IncidentRecord]) -> StatusJson {
        let statuses: Vec<ComponentStatus> = self
            .tree
            .components
            .iter()
            .map(ComponentRow::status)
            .collect();
        let impacts: Vec<Impact> = unresolved
            .iter()
            .filter(|r| {
                r.incident.kind() == IncidentKind::Realtime && r.incident.status().is_open()
            })
            .map(|r| r.incident.impact())
            .collect();
        let status = page_status(&statuses, &impacts);
        StatusJson {
            indicator: status.indicator.as_str(),
            description: status.description,
        }
    }

    pub fn component(&self, c: &ComponentRow, api: Api) -> ComponentJson {
        ComponentJson {
            id: c.id.clone(),
            name: c.name.clone(),
            status: c.status().as_str(),
            created_at: self.ts(c.created_at),
            updated_at: self.ts(c.updated_at),
            position: c.position,
            description: c.description.clone(),
            showcase: c.showcase,
            start_date: c.start_date.map(|d| d.format("%Y-%m-%d").to_string()),
            group_id: c.group_id.clone(),
            page_id: self.page.id.clone(),
            group: false,
            only_show_if_degraded: c.only_show_if_degraded,
            components: None,
            automation_email: (api == Api::Management).then_some(Value::Null),
        }
    }

    /// A group as a row of the flat component list: status and `updated_at` follow
    /// its children.
    pub fn group_row(&self, g: &GroupRow, api: Api) -> ComponentJson {
        let children: Vec<&ComponentRow> = self.tree.children(&g.id).collect();
        let updated_at = children
            .iter()
            .map(|c| c.updated_at)
            .fold(g.updated_at, DateTime::max);
        ComponentJson {
            id: g.id.clone(),
            name: g.name.clone(),
            status: group_status(children.iter().map(|c| c.status())).as_str(),
            created_at: self.ts(g.created_at),
            updated_at: self.ts(updated_at),
            position: g.position,
            description: g.description.clone(),
            showcase: false,
            start_date: None,
            group_id: None,
            page_id: self.page.id.clone(),
            group: true,
            only_show_if_degraded: false,
            components: Some(children.iter().map(|c| c.id.clone()).collect()),
            automation_email: (api == Api::Management).then_some(Value::Null),
        }
    }

    /// Groups and components in one list, by position then creation (§1.6). Rows
    /// created together (a content sync) tie on both: then top-level rows come before
    /// children, and children follow their group's order.
    pub fn components(&self, api: Api) -> Vec<ComponentJson> {
        type Key = (i64, DateTime<Utc>, i64);
        let group_position = |id: &Option<String>| match id {
            None => 0,
            Some(id) => self
                .tree
                .groups
                .iter()
                .find(|g| &g.id == id)
                .map_or(0, |g| g.position),
        };
        let mut rows: Vec<(Key, ComponentJson)> = self
            .tree
            .components
            .iter()
            .map(|c| {
                (
                    (c.position, c.created_at, group_position(&c.group_id)),
                    self.component(c, api),
                )
            })
            .chain(
                self.tree
                    .groups
                    .iter()
                    .map(|g| ((g.position, g.created_at, 0), self.group_row(g, api))),
            )
            .collect();
        rows.sort_by_key(|(key, _)| *key);
        rows.into_iter().map(|(_, json)| json).collect()
    }

    pub fn group_v1(&self, g: &GroupRow) -> GroupV1 {
        GroupV1 {
            id: g.id.clone(),
            page_id: self.page.id.clone(),
            name: g.name.clone(),
            description: g.description.clone(),
            components: self.tree.children(&g.id).map(|c| c.id.clone()).collect(),
            position: g.position,
            created_at: self.ts(g.created_at),
            updated_at: self.ts(g.updated_at),
        }
    }

    pub fn update(&self, u: &UpdateRecord, api: Api) -> UpdateJson {
        UpdateJson {
            id: u.row.id.clone(),
            status: u.row.status().as_str(),
            body: u.row.body.clone(),
            incident_id: u.row.incident_id.clone(),
            created_at: self.ts(u.row.created_at),
            updated_at: self.ts(u.row.updated_at),
            display_at: self.ts(u.row.display_at),
            affected_components: u.affected.as_ref().map(|list| {
                list.iter()
                    .map(|a| AffectedJson {
                        code: a.component_id.clone(),
                        name: a.name.clone(),
                        old_status: a.old_status.clone(),
                        new_status: a.new_status.clone(),
                    })
                    .collect()
            }),
            deliver_notifications: u.row.deliver_notifications,
            custom_tweet: None,
            tweet_id: None,
            management: (api == Api::Management).then_some(UpdateManagement {
                twitter_updated_at: None,
                wants_twitter_update: false,
            }),
        }
    }

    pub fn incident_url(&self, id: &str) -> String {
        format!("{}/incidents/{id}", self.base_url)
    }

    pub fn incident(&self, r: &IncidentRecord, api: Api) -> IncidentJson {
        let i = &r.incident;
        let mut components: Vec<&ComponentRow> = r
            .component_ids
            .iter()
            .filter_map(|id| self.tree.component(id))
            .collect();
        components.sort_by_key(|c| (c.position, c.created_at));
        IncidentJson {
            id: i.id.clone(),
            name: i.name.clone(),
            status: i.status().as_str(),
            created_at: self.ts(i.created_at),
            updated_at: self.ts(i.updated_at),
            monitoring_at: self.opt_ts(i.monitoring_at),
            resolved_at: self.opt_ts(i.resolved_at),
            impact: i.impact().as_str(),
            shortlink: self.incident_url(&i.id),
            started_at: self.ts(i.started_at),
            page_id: self.page.id.clone(),
            incident_updates: r.updates.iter().map(|u| self.update(u, api)).collect(),
            components: components
                .into_iter()
                .map(|c| self.component(c, api))
                .collect(),
            reminder_intervals: i.reminder_intervals.clone(),
        }
    }

    pub fn maintenance(&self, r: &IncidentRecord) -> MaintenanceJson {
        MaintenanceJson {
            incident: self.incident(r, Api::Public),
            scheduled_for: self.opt_ts(r.incident.scheduled_for),
            scheduled_until: self.opt_ts(r.incident.scheduled_until),
        }
    }

    pub fn incident_v1(&self, r: &IncidentRecord) -> IncidentV1 {
        let i = &r.incident;
        IncidentV1 {
            incident: self.incident(r, Api::Management),
            impact_override: i.impact_override().map(Impact::as_str),
            metadata: serde_json::from_str(&i.metadata)
                .unwrap_or_else(|_| Value::Object(Default::default())),
            backfilled: i.backfilled,
            postmortem_body: r
                .postmortem
                .as_ref()
                .and_then(|p| p.published().map(str::to_owned)),
            postmortem_body_last_updated_at: self
                .opt_ts(r.postmortem.as_ref().and_then(|p| p.body_updated_at)),
            postmortem_ignored: false,
            postmortem_notified_subscribers: r
                .postmortem
                .as_ref()
                .is_some_and(|p| p.notified_at.is_some()),
            postmortem_notified_twitter: false,
            postmortem_published_at: self
                .opt_ts(r.postmortem.as_ref().and_then(|p| p.published_at)),
            scheduled_for: self.opt_ts(i.scheduled_for),
            scheduled_until: self.opt_ts(i.scheduled_until),
            scheduled_remind_prior: i.scheduled_remind_prior,
            scheduled_reminded_at: None,
            scheduled_auto_in_progress: i.scheduled_auto_in_progress,
            scheduled_auto_completed: i.scheduled_auto_completed,
            auto_transition_to_maintenance_state: i.auto_transition_to_maintenance_state,
            auto_transition_to_operational_state: i.auto_transition_to_operational_state,
            auto_transition_deliver_notifications_at_start: i
                .auto_transition_deliver_notifications_at_start,
            auto_transition_deliver_notifications_at_end: i
                .auto_transition_deliver_notifications_at_end,
        }
    }

    pub fn page_v1(&self) -> PageV1 {
        let p = self.page;
        PageV1 {
            id: p.id.clone(),
            created_at: self.ts(p.created_at),
            updated_at: self.ts(p.updated_at),
            name: p.name.clone(),
            page_description: p.page_description.clone(),
            headline: p.headline.clone(),
            branding: "basic",
            subdomain: None,
            domain: self
                .base_url
                .split("://")
                .nth(1)
                .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned()),
            url: p.website_url.clone(),
            support_url: p.support_url.clone(),
            hidden_from_search: false,
            allow_page_subscribers: p.allow_page_subscribers,
            allow_incident_subscribers: p.allow_incident_subscribers,
            allow_email_subscribers: p.allow_email_subscribers,
            allow_sms_subscribers: false,
            allow_rss_atom_feeds: p.allow_rss_atom_feeds,
            allow_webhook_subscribers: false,
            notifications_from_email: p.notifications_from_email.clone(),
            notifications_email_footer: p.notifications_email_footer.clone(),
            activity_score: 0,
            twitter_username: None,
            viewers_must_be_team_members: false,
            ip_restrictions: None,
            city: None,
            state: None,
            country: None,
            time_zone: p.time_zone.clone(),
            css_body_background_color: None,
            css_font_color: None,
            css_light_font_color: None,
            css_greens: None,
            css_yellows: None,
            css_oranges: None,
            css_blues: None,
            css_reds: None,
            css_border_color: None,
            css_graph_color: None,
            css_link_color: None,
            css_no_data: None,
            favicon_logo: None,
            transactional_logo: None,
            hero_cover: None,
            email_logo: None,
            twitter_logo: None,
        }
    }
}

/// A subscriber (§2.8): email only, so the other channels' keys are `null`.
#[derive(Serialize)]
pub struct SubscriberJson {
    pub id: String,
    pub skip_confirmation_notification: bool,
    pub mode: &'static str,
    pub email: String,
    pub endpoint: Option<String>,
    pub phone_number: Option<String>,
    pub phone_country: Option<String>,
    pub display_phone_number: Option<String>,
    pub obfuscated_channel_name: Option<String>,
    pub workspace_name: Option<String>,
    pub quarantined_at: Option<String>,
    pub purge_at: Option<String>,
    /// The components it hears about: every one when it chose all.
    pub components: Vec<String>,
    pub page_access_user_id: Option<String>,
    pub created_at: String,
    /// Herald's addition: unconfirmed, active, quarantined or unsubscribed.
    pub state: &'static str,
}

impl View<'_> {
    pub fn subscriber(&self, s: &crate::store::Subscriber) -> SubscriberJson {
        let row = &s.row;
        let state = row.state();
        SubscriberJson {
            id: row.id.clone(),
            skip_confirmation_notification: row.skip_confirmation_notification,
            mode: "email",
            email: row.email.clone(),
            endpoint: None,
            phone_number: None,
            phone_country: None,
            display_phone_number: None,
            obfuscated_channel_name: None,
            workspace_name: None,
            quarantined_at: self.opt_ts(row.quarantined_at),
            purge_at: (state == crate::domain::subscriber::SubscriberState::Unconfirmed)
                .then(|| self.ts(row.created_at + chrono::Duration::days(7))),
            components: if row.all_components {
                self.tree.components.iter().map(|c| c.id.clone()).collect()
            } else {
                s.component_ids.clone()
            },
            page_access_user_id: None,
            created_at: self.ts(row.created_at),
            state: state.as_str(),
        }
    }
}

/// A postmortem (§2.8). Twitter fields are accepted and never acted on.
#[derive(Serialize)]
pub struct PostmortemJson {
    pub preview_key: Option<String>,
    pub body: Option<String>,
    pub body_updated_at: Option<String>,
    pub body_draft: String,
    pub body_draft_updated_at: String,
    pub published_at: Option<String>,
    pub notify_subscribers: bool,
    pub notify_twitter: bool,
    pub custom_tweet: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl View<'_> {
    pub fn postmortem(&self, p: &crate::store::PostmortemRow) -> PostmortemJson {
        PostmortemJson {
            preview_key: None,
            body: p.published().map(str::to_owned),
            body_updated_at: self.opt_ts(p.body_updated_at),
            body_draft: p.body_draft.clone(),
            body_draft_updated_at: self.ts(p.body_draft_updated_at),
            published_at: self.opt_ts(p.published_at),
            notify_subscribers: p.notify_subscribers,
            notify_twitter: false,
            custom_tweet: None,
            created_at: self.ts(p.created_at),
            updated_at: self.ts(p.updated_at),
        }
    }
}
