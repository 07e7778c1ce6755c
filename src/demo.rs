//! `herald demo`: fills an empty database with a clearly fictional history, so a
//! newcomer sees a living page at once. Everything goes through the normal store
//! calls, placed at past times, so timelines, the status log and the uptime bars are
//! exactly what real incidents would have made. Nobody is notified.

use chrono::{DateTime, Duration, Utc};

use crate::domain::incident::IncidentRequest;
use crate::domain::{ComponentStatus, IncidentStatus};
use crate::store::{
    ComponentTree, IncidentFilter, IncidentQuery, IncidentSettings, Store, StoreError,
};
use crate::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoOutcome {
    Filled {
        incidents: usize,
    },
    /// The database has incidents already: the demo never mixes with real history.
    NotEmpty,
}

/// One step of a story: minutes after its start, the status, the message, and
/// component changes (by role).
struct Step {
    after_minutes: i64,
    status: IncidentStatus,
    body: &'static str,
    components: &'static [(Role, ComponentStatus)],
}

/// Which component a story is about: found by name, else by position.
#[derive(Clone, Copy)]
enum Role {
    Api,
    Webhooks,
    SignIn,
    Dashboard,
    Database,
    Email,
    Storage,
}

impl Role {
    fn find(self, tree: &ComponentTree) -> Option<String> {
        let (words, fallback): (&[&str], usize) = match self {
            Role::Api => (&["api"], 0),
            Role::Webhooks => (&["webhook"], 1),
            Role::SignIn => (&["sign", "login", "auth"], 2),
            Role::Dashboard => (&["web app", "dashboard"], 3),
            Role::Database => (&["database", "db"], 4),
            Role::Email => (&["email", "mail"], 5),
            Role::Storage => (&["storage"], 6),
        };
        let by_name = tree
            .components
            .iter()
            .find(|c| words.iter().any(|w| c.name.to_lowercase().contains(w)));
        let components = &tree.components;
        by_name
            .or_else(|| (!components.is_empty()).then(|| &components[fallback % components.len()]))
            .map(|c| c.id.clone())
    }
}

const POSTMORTEM: &str = "## Summary

For 55 minutes, about a third of requests to the public API failed with HTTP 503. The
dashboard, which calls the API, loaded slowly for the same period. No data was lost.

## Timeline

| Time (UTC) | Event |
|------------|-------|
| 14:02 | A change lowering the API gateway's connection limit is deployed. |
| 14:05 | Error-rate alerts fire; the incident is opened. |
| 14:23 | The change is identified as the cause; the rollback starts. |
| 14:36 | The rollback completes; error rates fall to normal. |
| 15:00 | After 25 quiet minutes, the incident is resolved. |

## Root cause

The gateway's per-node connection limit was lowered from 4,096 to 512 as part of a
cost review. Under the afternoon peak, nodes reached the limit and refused new
connections. The change passed review because the load test ran at night-time traffic.

## Resolution and recovery

We rolled the setting back. Nodes recovered as soon as the new value reached them;
clients that retried succeeded at once.

## Corrective and preventive measures

- [x] Roll back the connection limit.
- [x] Alert on refused connections at the gateway, not only on 5xx at the edge.
- [ ] Run gateway load tests at peak-hour traffic.
- [ ] Require a capacity review for changes to connection limits.
";

pub async fn fill(store: &Store) -> Result<DemoOutcome, StoreError> {
    let store = &store.acting_as(crate::domain::account::Actor::Cli {
        user: "herald demo".to_owned(),
    });
    let any = store
        .list_incidents(&IncidentQuery::new(IncidentFilter::Everything, 1))
        .await?;
    if !any.is_empty() {
        return Ok(DemoOutcome::NotEmpty);
    }
    let tree = store.list_components().await?;
    let now = time::now();
    let day = |days_ago: i64, hour: u32, minute: u32| -> DateTime<Utc> {
        let date = (now - Duration::days(days_ago)).date_naive();
        date.and_hms_opt(hour, minute, 0)
            .unwrap_or_default()
            .and_utc()
    };
    use ComponentStatus::*;
    use IncidentStatus::*;
    let stories: Vec<(&str, DateTime<Utc>, Vec<Step>)> = vec![
        (
            "Elevated error rates on the public API",
            day(78, 14, 5),
            vec![
                Step { after_minutes: 0, status: Investigating, body: "We are investigating elevated 5xx error rates on the API. The dashboard may load slowly.", components: &[(Role::Api, PartialOutage), (Role::Dashboard, DegradedPerformance)] },
                Step { after_minutes: 18, status: Identified, body: "A configuration change to the API gateway's connection limit is refusing connections. We are rolling it back.", components: &[] },
                Step { after_minutes: 31, status: Monitoring, body: "The rollback is complete and error rates are back to normal. We are monitoring.", components: &[(Role::Api, DegradedPerformance), (Role::Dashboard, Operational)] },
                Step { after_minutes: 55, status: Resolved, body: "This incident has been resolved. A postmortem will follow.", components: &[] },
            ],
        ),
        (
            "Delayed webhook deliveries",
            day(61, 9, 20),
            vec![
                Step { after_minutes: 0, status: Investigating, body: "Webhook deliveries are delayed by up to 20 minutes. No events are lost.", components: &[(Role::Webhooks, DegradedPerformance)] },
                Step { after_minutes: 35, status: Identified, body: "A queue consumer stalled after a deploy. We are restarting it and draining the backlog.", components: &[] },
                Step { after_minutes: 130, status: Resolved, body: "The backlog is drained and deliveries are on time again.", components: &[] },
            ],
        ),
        (
            "Sign-in failures for single sign-on users",
            day(44, 22, 40),
            vec![
                Step { after_minutes: 0, status: Investigating, body: "Users who sign in with single sign-on see an error. Password sign-in works.", components: &[(Role::SignIn, MajorOutage)] },
                Step { after_minutes: 12, status: Identified, body: "An expired signing certificate at our identity provider. We are installing the renewed one.", components: &[] },
                Step { after_minutes: 25, status: Resolved, body: "Single sign-on works again. Users who saw the error can sign in now.", components: &[] },
            ],
        ),
        (
            "Slow dashboard loads",
            day(27, 7, 15),
            vec![
                Step { after_minutes: 0, status: Investigating, body: "Some dashboard pages take several seconds to load.", components: &[(Role::Dashboard, DegradedPerformance)] },
                Step { after_minutes: 40, status: Monitoring, body: "We added capacity to the report service; pages load normally again.", components: &[] },
                Step { after_minutes: 70, status: Resolved, body: "Load times have stayed normal. This incident is resolved.", components: &[] },
            ],
        ),
        (
            "Email notifications delayed",
            day(6, 16, 45),
            vec![
                Step { after_minutes: 0, status: Investigating, body: "Emails from the product arrive up to 30 minutes late.", components: &[(Role::Email, PartialOutage)] },
                Step { after_minutes: 22, status: Identified, body: "Our mail provider is throttling us after a traffic spike; we switched to the backup route.", components: &[(Role::Email, DegradedPerformance)] },
                Step { after_minutes: 41, status: Resolved, body: "Mail flows normally again; delayed messages have been delivered.", components: &[] },
            ],
        ),
        (
            "Increased latency in object storage",
            day(1, 11, 30),
            vec![
                Step { after_minutes: 0, status: Investigating, body: "Uploads and downloads are slower than usual in one region.", components: &[(Role::Storage, DegradedPerformance)] },
                Step { after_minutes: 26, status: Resolved, body: "A failing disk was taken out of rotation; latency is back to normal.", components: &[] },
            ],
        ),
    ];

    let quiet = IncidentSettings::default();
    let mut count = 0;
    for (n, (name, start, steps)) in stories.iter().enumerate() {
        let changes = |step: &Step| -> Vec<(String, ComponentStatus)> {
            step.components
                .iter()
                .filter_map(|(role, s)| role.find(&tree).map(|id| (id, *s)))
                .collect()
        };
        let first = &steps[0];
        let created = store
            .create_incident(
                &IncidentRequest {
                    name: Some(name.to_string()),
                    status: Some(first.status),
                    body: Some(first.body.to_owned()),
                    component_statuses: changes(first),
                    deliver_notifications: Some(false),
                    ..IncidentRequest::default()
                },
                &quiet,
                *start,
            )
            .await?;
        for step in &steps[1..] {
            store
                .patch_incident(
                    &created.incident.id,
                    &IncidentRequest {
                        status: Some(step.status),
                        body: Some(step.body.to_owned()),
                        component_statuses: changes(step),
                        deliver_notifications: Some(false),
                        ..IncidentRequest::default()
                    },
                    &quiet,
                    *start + Duration::minutes(step.after_minutes),
                )
                .await?;
        }
        if n == 0 {
            let written = *start + Duration::days(2);
            store
                .save_postmortem_draft(&created.incident.id, POSTMORTEM, None, written)
                .await?;
            store
                .publish_postmortem(&created.incident.id, None, false, written)
                .await?;
        }
        count += 1;
    }

    // A finished maintenance and an upcoming one.
    let db = Role::Database.find(&tree);
    let window = |from: DateTime<Utc>, minutes: i64| (from, from + Duration::minutes(minutes));
    let (from, until) = window(day(15, 2, 0), 45);
    let done = store
        .create_incident(
            &IncidentRequest {
                name: Some("Database engine upgrade".to_owned()),
                status: Some(Scheduled),
                body: Some("We will upgrade the database engine. The dashboard will be read-only for up to 45 minutes.".to_owned()),
                component_ids: db.iter().cloned().collect(),
                deliver_notifications: Some(false),
                scheduled_for: Some(from),
                scheduled_until: Some(until),
                ..IncidentRequest::default()
            },
            &quiet,
            from - Duration::days(5),
        )
        .await?;
    for (at, status, body, component) in [
        (
            from,
            InProgress,
            "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
            Some(UnderMaintenance),
        ),
        (
            until - Duration::minutes(10),
            Completed,
            "The scheduled maintenance has been completed.",
            None,
        ),
    ] {
        store
            .patch_incident(
                &done.incident.id,
                &IncidentRequest {
                    status: Some(status),
                    body: Some(body.to_owned()),
                    component_statuses: match (&db, component) {
                        (Some(id), Some(s)) => vec![(id.clone(), s)],
                        _ => Vec::new(),
                    },
                    deliver_notifications: Some(false),
                    ..IncidentRequest::default()
                },
                &quiet,
                at,
            )
            .await?;
    }
    let (from, until) = window(day(-4, 2, 0), 60);
    store
        .create_incident(
            &IncidentRequest {
                name: Some("Network maintenance in one region".to_owned()),
                status: Some(Scheduled),
                body: Some(
                    "We will replace core switches. Connections may drop briefly and reconnect."
                        .to_owned(),
                ),
                component_ids: Role::Storage.find(&tree).into_iter().collect(),
                deliver_notifications: Some(false),
                scheduled_for: Some(from),
                scheduled_until: Some(until),
                ..IncidentRequest::default()
            },
            &quiet,
            now,
        )
        .await?;
    Ok(DemoOutcome::Filled {
        incidents: count + 2,
    })
}

/// The console account of a demo: made only when the database has no account at all,
/// with a random password that is shown once. Returns (email, password) when made.
pub async fn demo_account(store: &Store) -> anyhow::Result<Option<(String, String)>> {
    if !store.list_users().await?.is_empty() {
        return Ok(None);
    }
    let email = "admin@example.com".to_owned();
    // 96 random bits are plenty for a demo's password, and short enough to type.
    let password = crate::domain::ids::new_secret()[..24].to_owned();
    let new = crate::store::NewUser {
        email: email.clone(),
        role: crate::domain::account::Role::Admin,
        password_hash: crate::password::hash(&password)?,
    };
    store
        .acting_as(crate::domain::account::Actor::Cli {
            user: "herald demo".to_owned(),
        })
        .create_user(&new, time::Stamp::Clock)
        .await?;
    Ok(Some((email, password)))
}
