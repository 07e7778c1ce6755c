//! The store's SQL, compiled once per backend: `sqlite.rs` and `postgres.rs` each
//! include this file as their `queries` module with their own `Db`. Write it once,
//! in SQL both dialects understand.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sqlx::{QueryBuilder, Transaction};

use super::{Db, BEGIN_WRITE, CHANGE_NOTIFY, SKIP_LOCKED, WRITE_LOCK};
use crate::domain::account::{Actor, AuditEvent, Role};
use crate::domain::ids::new_id;
use crate::domain::incident::{self, CurrentStatuses, IncidentRequest, Plan};
use crate::domain::text::{parse_body, BODY_MAX};
use crate::domain::{ComponentStatus, DomainError};
use crate::store::{
    AffectedRow, ApiKeyRow, AuditQuery, AuditRow, ComponentPatch, ComponentRow, ComponentTree,
    ContentComponent, ContentGroup, ContentSpec, DeliveryJob, EventRow, GroupPatch, GroupRow,
    IncidentFilter, IncidentQuery, IncidentRecord, IncidentRow, IncidentSettings, NewComponent,
    NewGroup, NewSubscription, NewUser, OutboxStats, PagePatch, PageRow, PageSeed, Pools,
    PostmortemRow, SignInAttempt, SignInFailureRow, StatusChangeRow, StatusWindow, StoreError,
    StoreResult, SubscribeOutcome, Subscriber, SubscriberQuery, SubscriberRow, SyncOutcome,
    UpdateEdit, UpdateRecord, UpdateRow, UserRow,
};
use crate::time::Stamp;

type P = Pools<Db>;
type Conn = <Db as sqlx::Database>::Connection;
type Tx = Transaction<'static, Db>;

/// Starts a write transaction (on PostgreSQL, takes the write lock) and only then
/// reads the clock, so the times of changes follow the order in which they commit.
async fn begin(p: &P, at: Stamp) -> StoreResult<(Tx, DateTime<Utc>)> {
    let mut tx = p.write.begin_with(BEGIN_WRITE).await?;
    if let Some(lock) = WRITE_LOCK {
        sqlx::query(lock).execute(&mut *tx).await?;
    }
    Ok((tx, at.resolve()))
}

/// Every public change moves the page's `updated_at` (v2 `page.updated_at`) and, on
/// PostgreSQL, tells the other instances (the notification goes out on commit).
async fn touch_page(conn: &mut Conn, now: DateTime<Utc>) -> StoreResult<()> {
    sqlx::query("UPDATE page SET updated_at = $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if let Some(notify) = CHANGE_NOTIFY {
        sqlx::query(notify).execute(conn).await?;
    }
    Ok(())
}

// --- page ------------------------------------------------------------------------------

pub async fn page(p: &P) -> StoreResult<PageRow> {
    let mut conn = p.read.acquire().await?;
    load_page(&mut conn).await
}

async fn load_page(conn: &mut Conn) -> StoreResult<PageRow> {
    sqlx::query_as::<_, PageRow>("SELECT * FROM page LIMIT 1")
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound("page"))
}

/// Creates the page from site.toml, or re-applies it when its text changed. Returns
/// whether anything was written.
async fn apply_page_seed(
    conn: &mut Conn,
    seed: &PageSeed,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let existing = sqlx::query_as::<_, PageRow>("SELECT * FROM page LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    match existing {
        None => {
            sqlx::query(
                "INSERT INTO page (id, name, time_zone, content_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(seed.id.clone().unwrap_or_else(new_id))
            .bind(&seed.name)
            .bind(&seed.time_zone)
            .bind(&seed.content_hash)
            .bind(now)
            .execute(conn)
            .await?;
            Ok(true)
        }
        Some(row) if row.content_hash.as_deref() != Some(seed.content_hash.as_str()) => {
            sqlx::query("UPDATE page SET name = $1, time_zone = $2, content_hash = $3")
                .bind(&seed.name)
                .bind(&seed.time_zone)
                .bind(&seed.content_hash)
                .execute(conn)
                .await?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

pub async fn update_page(
    p: &P,
    actor: &Actor,
    patch: &PagePatch,
    at: Stamp,
) -> StoreResult<PageRow> {
    let (mut tx, now) = begin(p, at).await?;
    let mut page = load_page(&mut tx).await?;
    fn set<T: Clone>(target: &mut T, value: &Option<T>) {
        if let Some(v) = value {
            *target = v.clone();
        }
    }
    set(&mut page.name, &patch.name);
    set(&mut page.time_zone, &patch.time_zone);
    set(&mut page.website_url, &patch.website_url);
    set(&mut page.page_description, &patch.page_description);
    set(&mut page.headline, &patch.headline);
    set(&mut page.support_url, &patch.support_url);
    set(
        &mut page.notifications_from_email,
        &patch.notifications_from_email,
    );
    set(
        &mut page.notifications_email_footer,
        &patch.notifications_email_footer,
    );
    set(
        &mut page.allow_page_subscribers,
        &patch.allow_page_subscribers,
    );
    set(
        &mut page.allow_incident_subscribers,
        &patch.allow_incident_subscribers,
    );
    set(
        &mut page.allow_email_subscribers,
        &patch.allow_email_subscribers,
    );
    set(&mut page.allow_rss_atom_feeds, &patch.allow_rss_atom_feeds);
    sqlx::query(
        "UPDATE page SET name = $1, time_zone = $2, website_url = $3, page_description = $4,
             headline = $5, support_url = $6, notifications_from_email = $7,
             notifications_email_footer = $8, allow_page_subscribers = $9,
             allow_incident_subscribers = $10, allow_email_subscribers = $11,
             allow_rss_atom_feeds = $12, updated_at = $13
         WHERE id = $14",
    )
    .bind(&page.name)
    .bind(&page.time_zone)
    .bind(&page.website_url)
    .bind(&page.page_description)
    .bind(&page.headline)
    .bind(&page.support_url)
    .bind(&page.notifications_from_email)
    .bind(&page.notifications_email_footer)
    .bind(page.allow_page_subscribers)
    .bind(page.allow_incident_subscribers)
    .bind(page.allow_email_subscribers)
    .bind(page.allow_rss_atom_feeds)
    .bind(now)
    .bind(&page.id)
    .execute(&mut *tx)
    .await?;
    touch_page(&mut tx, now).await?;
    let event = AuditEvent::new("page.update", "page", &page.id, "page settings");
    audit(&mut tx, actor, now, event).await?;
    let page = load_page(&mut tx).await?;
    tx.commit().await?;
    Ok(page)
}

// --- components and groups ---------------------------------------------------------------

const COMPONENT_COLUMNS: &str = "id, name, description, status, group_id, position, showcase, \
     only_show_if_degraded, start_date, created_at, updated_at";
const GROUP_COLUMNS: &str = "id, name, description, position, created_at, updated_at";

pub async fn list_components(p: &P) -> StoreResult<ComponentTree> {
    let mut conn = p.read.acquire().await?;
    load_tree(&mut conn).await
}

async fn load_tree(conn: &mut Conn) -> StoreResult<ComponentTree> {
    let groups = sqlx::query_as::<_, GroupRow>(&format!(
        "SELECT {GROUP_COLUMNS} FROM component_groups ORDER BY position, created_at, id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let components = sqlx::query_as::<_, ComponentRow>(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY position, created_at, id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(ComponentTree { groups, components })
}

async fn find_component(conn: &mut Conn, id: &str) -> StoreResult<Option<ComponentRow>> {
    Ok(sqlx::query_as::<_, ComponentRow>(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

async fn find_group(conn: &mut Conn, id: &str) -> StoreResult<Option<GroupRow>> {
    Ok(sqlx::query_as::<_, GroupRow>(&format!(
        "SELECT {GROUP_COLUMNS} FROM component_groups WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Position after the last sibling: groups and ungrouped components share the top level.
async fn next_position(conn: &mut Conn, group_id: Option<&str>) -> StoreResult<i64> {
    let last: Option<i64> = match group_id {
        None => {
            sqlx::query_scalar(
                "SELECT MAX(position) FROM (
                     SELECT position FROM components WHERE group_id IS NULL
                     UNION ALL SELECT position FROM component_groups) AS top_level",
            )
            .fetch_one(conn)
            .await?
        }
        Some(group) => {
            sqlx::query_scalar("SELECT MAX(position) FROM components WHERE group_id = $1")
                .bind(group)
                .fetch_one(conn)
                .await?
        }
    };
    Ok(last.unwrap_or(0) + 1)
}

/// Renumbers the positions of a container 1..n, keeping their order.
async fn renumber(conn: &mut Conn, group_id: Option<&str>) -> StoreResult<()> {
    let siblings: Vec<(String, bool, i64)> = match group_id {
        None => {
            sqlx::query_as(
                "SELECT id, is_group, position FROM (
                     SELECT id, FALSE AS is_group, position, created_at FROM components
                         WHERE group_id IS NULL
                     UNION ALL
                     SELECT id, TRUE AS is_group, position, created_at FROM component_groups
                 ) AS top_level ORDER BY position, created_at, id",
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Some(group) => {
            sqlx::query_as(
                "SELECT id, FALSE AS is_group, position FROM components WHERE group_id = $1
                 ORDER BY position, created_at, id",
            )
            .bind(group)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    for (index, (id, is_group, position)) in siblings.into_iter().enumerate() {
        let wanted = index as i64 + 1;
        if position != wanted {
            let table = if is_group {
                "component_groups"
            } else {
                "components"
            };
            sqlx::query(&format!("UPDATE {table} SET position = $1 WHERE id = $2"))
                .bind(wanted)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Moves a component or a group one place up (`-1`) or down (`+1`) among its
/// siblings: the components of its group, or the top level. At either end, nothing.
pub async fn move_item(p: &P, actor: &Actor, id: &str, step: i64, at: Stamp) -> StoreResult<()> {
    let (mut tx, now) = begin(p, at).await?;
    let (container, name, kind) = if let Some(component) = find_component(&mut tx, id).await? {
        (component.group_id, component.name, "component")
    } else if let Some(group) = find_group(&mut tx, id).await? {
        (None, group.name, "group")
    } else {
        return Err(StoreError::NotFound("component or group"));
    };
    renumber(&mut tx, container.as_deref()).await?;
    let siblings: Vec<(String, bool)> = match container.as_deref() {
        None => {
            sqlx::query_as(
                "SELECT id, is_group FROM (
                     SELECT id, FALSE AS is_group, position FROM components WHERE group_id IS NULL
                     UNION ALL SELECT id, TRUE AS is_group, position FROM component_groups
                 ) AS top_level ORDER BY position",
            )
            .fetch_all(&mut *tx)
            .await?
        }
        Some(group) => sqlx::query_as(
            "SELECT id, FALSE AS is_group FROM components WHERE group_id = $1 ORDER BY position",
        )
        .bind(group)
        .fetch_all(&mut *tx)
        .await?,
    };
    let Some(index) = siblings.iter().position(|(sibling, _)| sibling == id) else {
        return Err(StoreError::NotFound("component or group"));
    };
    let target = index as i64 + step;
    if target < 0 || target >= siblings.len() as i64 {
        tx.commit().await?;
        return Ok(());
    }
    // Positions are 1..n after renumbering: swap the two neighbours'.
    for (position, (sibling, is_group)) in [
        (target + 1, &siblings[index]),
        (index as i64 + 1, &siblings[target as usize]),
    ] {
        let table = if *is_group {
            "component_groups"
        } else {
            "components"
        };
        sqlx::query(&format!(
            "UPDATE {table} SET position = $1, updated_at = $2 WHERE id = $3"
        ))
        .bind(position)
        .bind(now)
        .bind(sibling)
        .execute(&mut *tx)
        .await?;
    }
    touch_page(&mut tx, now).await?;
    let direction = if step < 0 { "up" } else { "down" };
    let event = AuditEvent::new(
        if kind == "group" {
            "group.move"
        } else {
            "component.move"
        },
        kind,
        id,
        format!("{name}: moved {direction}"),
    );
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(())
}

/// A group cannot be empty: it goes when its last component leaves.
async fn drop_group_if_empty(conn: &mut Conn, group_id: &str) -> StoreResult<()> {
    let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM components WHERE group_id = $1")
        .bind(group_id)
        .fetch_one(&mut *conn)
        .await?;
    if children == 0 {
        sqlx::query("DELETE FROM component_groups WHERE id = $1")
            .bind(group_id)
            .execute(&mut *conn)
            .await?;
    } else {
        renumber(conn, Some(group_id)).await?;
    }
    Ok(())
}

struct StatusLogEntry<'a> {
    component_id: &'a str,
    old: Option<ComponentStatus>,
    new: ComponentStatus,
    at: DateTime<Utc>,
    cause: &'a str,
    incident_id: Option<&'a str>,
    incident_update_id: Option<&'a str>,
}

async fn log_status(conn: &mut Conn, entry: StatusLogEntry<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO component_status_changes
             (component_id, old_status, new_status, changed_at, cause, incident_id, incident_update_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.component_id)
    .bind(entry.old.map(ComponentStatus::as_str))
    .bind(entry.new.as_str())
    .bind(entry.at)
    .bind(entry.cause)
    .bind(entry.incident_id)
    .bind(entry.incident_update_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn require_group(conn: &mut Conn, field: &str, group_id: &str) -> StoreResult<()> {
    match find_group(conn, group_id).await? {
        Some(_) => Ok(()),
        None => {
            Err(DomainError::new(field, format!("names an unknown group id {group_id:?}")).into())
        }
    }
}

async fn insert_component(
    conn: &mut Conn,
    id: &str,
    new: &NewComponent,
    position: i64,
    content: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let status = new.status.unwrap_or(ComponentStatus::Operational);
    sqlx::query(
        "INSERT INTO components (id, name, description, status, group_id, position, showcase,
             only_show_if_degraded, start_date, content_key, content_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(id)
    .bind(&new.name)
    .bind(&new.description)
    .bind(status.as_str())
    .bind(&new.group_id)
    .bind(position)
    .bind(new.showcase.unwrap_or(true))
    .bind(new.only_show_if_degraded.unwrap_or(false))
    .bind(new.start_date)
    .bind(content.map(|(key, _)| key))
    .bind(content.map(|(_, hash)| hash))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let cause = if content.is_some() {
        "content"
    } else {
        "created"
    };
    log_status(
        conn,
        StatusLogEntry {
            component_id: id,
            old: None,
            new: status,
            at: now,
            cause,
            incident_id: None,
            incident_update_id: None,
        },
    )
    .await
}

pub async fn create_component(
    p: &P,
    actor: &Actor,
    new: &NewComponent,
    at: Stamp,
) -> StoreResult<ComponentRow> {
    let (mut tx, now) = begin(p, at).await?;
    if let Some(group) = &new.group_id {
        require_group(&mut tx, "component[group_id]", group).await?;
    }
    let position = next_position(&mut tx, new.group_id.as_deref()).await?;
    let id = new_id();
    insert_component(&mut tx, &id, new, position, None, now).await?;
    touch_page(&mut tx, now).await?;
    let row = find_component(&mut tx, &id)
        .await?
        .ok_or(StoreError::NotFound("component"))?;
    let event = AuditEvent::new(
        "component.create",
        "component",
        &id,
        format!("{} ({})", row.name, row.status),
    );
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn update_component(
    p: &P,
    actor: &Actor,
    id: &str,
    patch: &ComponentPatch,
    at: Stamp,
) -> StoreResult<ComponentRow> {
    let (mut tx, now) = begin(p, at).await?;
    let mut row = find_component(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound("component"))?;
    if let Some(name) = &patch.name {
        row.name = name.clone();
    }
    if let Some(description) = &patch.description {
        row.description = description.clone();
    }
    if let Some(showcase) = patch.showcase {
        row.showcase = showcase;
    }
    if let Some(only) = patch.only_show_if_degraded {
        row.only_show_if_degraded = only;
    }
    if let Some(start_date) = patch.start_date {
        row.start_date = start_date;
    }
    if let Some(status) = patch.status {
        let old = row.status();
        if old != status {
            row.status = status.as_str().to_owned();
            log_status(
                &mut tx,
                StatusLogEntry {
                    component_id: id,
                    old: Some(old),
                    new: status,
                    at: now,
                    cause: "manual",
                    incident_id: None,
                    incident_update_id: None,
                },
            )
            .await?;
        }
    }
    let old_group = row.group_id.clone();
    if let Some(new_group) = &patch.group_id {
        if *new_group != old_group {
            if let Some(group) = new_group {
                require_group(&mut tx, "component[group_id]", group).await?;
            }
            row.position = next_position(&mut tx, new_group.as_deref()).await?;
            row.group_id = new_group.clone();
        }
    }
    sqlx::query(
        "UPDATE components SET name = $1, description = $2, status = $3, group_id = $4,
             position = $5, showcase = $6, only_show_if_degraded = $7, start_date = $8,
             updated_at = $9
         WHERE id = $10",
    )
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.status)
    .bind(&row.group_id)
    .bind(row.position)
    .bind(row.showcase)
    .bind(row.only_show_if_degraded)
    .bind(row.start_date)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if old_group != row.group_id {
        if let Some(group) = &old_group {
            drop_group_if_empty(&mut tx, group).await?;
        }
        renumber(&mut tx, None).await?;
    }
    touch_page(&mut tx, now).await?;
    let row = find_component(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound("component"))?;
    let event = AuditEvent::new(
        "component.update",
        "component",
        id,
        format!("{}: {}", row.name, patch.describe(&row)),
    );
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn delete_component(p: &P, actor: &Actor, id: &str, at: Stamp) -> StoreResult<()> {
    let (mut tx, now) = begin(p, at).await?;
    let row = find_component(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound("component"))?;
    sqlx::query("DELETE FROM components WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if let Some(group) = &row.group_id {
        drop_group_if_empty(&mut tx, group).await?;
    }
    renumber(&mut tx, None).await?;
    touch_page(&mut tx, now).await?;
    let event = AuditEvent::new("component.delete", "component", id, row.name.clone());
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks a group's member list: not empty, every id a known component.
async fn check_members(conn: &mut Conn, ids: &[String]) -> StoreResult<()> {
    const FIELD: &str = "component_group[components]";
    if ids.is_empty() {
        return Err(DomainError::new(
            FIELD,
            "can't be empty: a group needs at least one component",
        )
        .into());
    }
    for id in ids {
        if find_component(conn, id).await?.is_none() {
            return Err(
                DomainError::new(FIELD, format!("names an unknown component id {id:?}")).into(),
            );
        }
    }
    Ok(())
}

/// Makes `ids` the members of `group_id`, in that order. Former members move to the top
/// level; groups that lose their last member go.
async fn set_members(
    conn: &mut Conn,
    group_id: &str,
    ids: &[String],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let former: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM components WHERE group_id = $1 ORDER BY position, created_at, id",
    )
    .bind(group_id)
    .fetch_all(&mut *conn)
    .await?;
    for id in former.iter().filter(|id| !ids.contains(id)) {
        let position = next_position(conn, None).await?;
        sqlx::query(
            "UPDATE components SET group_id = NULL, position = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(position)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    let mut left_groups: Vec<String> = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        let previous: Option<String> =
            sqlx::query_scalar("SELECT group_id FROM components WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        if let Some(previous) = previous.filter(|g| g != group_id) {
            left_groups.push(previous);
        }
        sqlx::query(
            "UPDATE components SET group_id = $1, position = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(group_id)
        .bind(index as i64 + 1)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    for group in left_groups {
        drop_group_if_empty(conn, &group).await?;
    }
    renumber(conn, None).await
}

pub async fn create_group(
    p: &P,
    actor: &Actor,
    new: &NewGroup,
    at: Stamp,
) -> StoreResult<GroupRow> {
    let (mut tx, now) = begin(p, at).await?;
    check_members(&mut tx, &new.component_ids).await?;
    let id = new_id();
    let position = next_position(&mut tx, None).await?;
    sqlx::query(
        "INSERT INTO component_groups (id, name, description, position, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&id)
    .bind(&new.name)
    .bind(&new.description)
    .bind(position)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    set_members(&mut tx, &id, &new.component_ids, now).await?;
    touch_page(&mut tx, now).await?;
    let row = find_group(&mut tx, &id)
        .await?
        .ok_or(StoreError::NotFound("component group"))?;
    let event = AuditEvent::new("group.create", "group", &id, row.name.clone());
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn update_group(
    p: &P,
    actor: &Actor,
    id: &str,
    patch: &GroupPatch,
    at: Stamp,
) -> StoreResult<GroupRow> {
    let (mut tx, now) = begin(p, at).await?;
    let mut row = find_group(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound("component group"))?;
    if let Some(name) = &patch.name {
        row.name = name.clone();
    }
    if let Some(description) = &patch.description {
        row.description = description.clone();
    }
    sqlx::query(
        "UPDATE component_groups SET name = $1, description = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(&row.name)
    .bind(&row.description)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if let Some(ids) = &patch.component_ids {
        check_members(&mut tx, ids).await?;
        set_members(&mut tx, id, ids, now).await?;
    }
    touch_page(&mut tx, now).await?;
    let row = find_group(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound("component group"))?;
    let event = AuditEvent::new("group.update", "group", id, row.name.clone());
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn delete_group(p: &P, actor: &Actor, id: &str, at: Stamp) -> StoreResult<GroupRow> {
    let (mut tx, now) = begin(p, at).await?;
    let row = find_group(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound("component group"))?;
    // Children are orphaned, not deleted: they move to the end of the top level.
    let children: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM components WHERE group_id = $1 ORDER BY position, created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    for child in &children {
        let position = next_position(&mut tx, None).await?;
        sqlx::query(
            "UPDATE components SET group_id = NULL, position = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(position)
        .bind(now)
        .bind(child)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM component_groups WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    renumber(&mut tx, None).await?;
    touch_page(&mut tx, now).await?;
    let event = AuditEvent::new("group.delete", "group", id, row.name.clone());
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn status_changes(p: &P, component_id: &str) -> StoreResult<Vec<StatusChangeRow>> {
    Ok(sqlx::query_as::<_, StatusChangeRow>(
        "SELECT component_id, old_status, new_status, changed_at, cause, incident_id, incident_update_id
         FROM component_status_changes WHERE component_id = $1 ORDER BY changed_at, id",
    )
    .bind(component_id)
    .fetch_all(&p.read)
    .await?)
}

pub async fn status_window(p: &P, since: DateTime<Utc>) -> StoreResult<StatusWindow> {
    let mut conn = p.read.acquire().await?;
    // One index lookup per component for its status when the window opens.
    let at_start: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.id, (SELECT s.new_status FROM component_status_changes s
                       WHERE s.component_id = c.id AND s.changed_at < $1
                       ORDER BY s.changed_at DESC, s.id DESC LIMIT 1)
         FROM components c",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    let changes = sqlx::query_as::<_, StatusChangeRow>(
        "SELECT component_id, old_status, new_status, changed_at, cause, incident_id, incident_update_id
         FROM component_status_changes WHERE changed_at >= $1 ORDER BY changed_at, id",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(StatusWindow { at_start, changes })
}

async fn sync_group(
    tx: &mut Conn,
    spec: &ContentGroup,
    now: DateTime<Utc>,
) -> StoreResult<SyncOutcome> {
    let existing: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT id, content_hash FROM component_groups WHERE content_key = $1")
            .bind(&spec.key)
            .fetch_optional(&mut *tx)
            .await?;
    let outcome = match existing {
        None => {
            let id = spec.id.clone().unwrap_or_else(new_id);
            sqlx::query(
                "INSERT INTO component_groups
                     (id, name, description, position, content_key, content_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&id)
            .bind(&spec.name)
            .bind(&spec.description)
            .bind(spec.position)
            .bind(&spec.key)
            .bind(&spec.content_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            SyncOutcome::Created
        }
        Some((id, hash)) if hash.as_deref() != Some(spec.content_hash.as_str()) => {
            sqlx::query(
                "UPDATE component_groups SET name = $1, description = $2, position = $3,
                     content_hash = $4, updated_at = $5
                 WHERE id = $6",
            )
            .bind(&spec.name)
            .bind(&spec.description)
            .bind(spec.position)
            .bind(&spec.content_hash)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            SyncOutcome::Updated
        }
        Some(_) => SyncOutcome::Unchanged,
    };
    Ok(outcome)
}

async fn sync_component(
    tx: &mut Conn,
    spec: &ContentComponent,
    now: DateTime<Utc>,
) -> StoreResult<SyncOutcome> {
    let group_id: Option<String> = match &spec.group_key {
        None => None,
        Some(key) => Some(
            sqlx::query_scalar("SELECT id FROM component_groups WHERE content_key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    DomainError::new("group", format!("names an unknown group {key:?}"))
                })?,
        ),
    };
    let existing: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT id, content_hash FROM components WHERE content_key = $1")
            .bind(&spec.key)
            .fetch_optional(&mut *tx)
            .await?;
    let outcome = match existing {
        None => {
            let id = spec.id.clone().unwrap_or_else(new_id);
            let new = NewComponent {
                name: spec.name.clone(),
                description: spec.description.clone(),
                status: Some(spec.status),
                group_id,
                showcase: Some(spec.showcase),
                only_show_if_degraded: Some(spec.only_show_if_degraded),
                start_date: spec.start_date,
            };
            insert_component(
                &mut *tx,
                &id,
                &new,
                spec.position,
                Some((&spec.key, &spec.content_hash)),
                now,
            )
            .await?;
            SyncOutcome::Created
        }
        Some((id, hash)) if hash.as_deref() != Some(spec.content_hash.as_str()) => {
            let row = find_component(&mut *tx, &id)
                .await?
                .ok_or(StoreError::NotFound("component"))?;
            if row.status() != spec.status {
                log_status(
                    &mut *tx,
                    StatusLogEntry {
                        component_id: &id,
                        old: Some(row.status()),
                        new: spec.status,
                        at: now,
                        cause: "content",
                        incident_id: None,
                        incident_update_id: None,
                    },
                )
                .await?;
            }
            sqlx::query(
                "UPDATE components SET name = $1, description = $2, status = $3, group_id = $4,
                     position = $5, showcase = $6, only_show_if_degraded = $7, start_date = $8,
                     content_hash = $9, updated_at = $10
                 WHERE id = $11",
            )
            .bind(&spec.name)
            .bind(&spec.description)
            .bind(spec.status.as_str())
            .bind(&group_id)
            .bind(spec.position)
            .bind(spec.showcase)
            .bind(spec.only_show_if_degraded)
            .bind(spec.start_date)
            .bind(&spec.content_hash)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            SyncOutcome::Updated
        }
        Some(_) => SyncOutcome::Unchanged,
    };
    Ok(outcome)
}

pub async fn sync_content(
    p: &P,
    actor: &Actor,
    spec: &ContentSpec,
    at: Stamp,
) -> StoreResult<Vec<SyncOutcome>> {
    let (mut tx, now) = begin(p, at).await?;
    let page_written = apply_page_seed(&mut tx, &spec.page, now).await?;
    let mut outcomes = Vec::with_capacity(spec.groups.len() + spec.components.len());
    for group in &spec.groups {
        outcomes.push(sync_group(&mut tx, group, now).await?);
    }
    for component in &spec.components {
        outcomes.push(sync_component(&mut tx, component, now).await?);
    }
    let changed = outcomes
        .iter()
        .filter(|o| **o != SyncOutcome::Unchanged)
        .count();
    if page_written || changed > 0 {
        touch_page(&mut tx, now).await?;
        let summary = format!(
            "site.toml applied: {}{changed} of {} groups and components changed",
            if page_written {
                "page settings and "
            } else {
                ""
            },
            outcomes.len()
        );
        let event = AuditEvent::new("content.sync", "page", "site.toml", summary);
        audit(&mut tx, actor, now, event).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

// --- incidents ----------------------------------------------------------------------------

const INCIDENT_COLUMNS: &str = "id, kind, name, status, computed_impact, impact_override, \
     backfilled, created_at, updated_at, started_at, monitoring_at, resolved_at, scheduled_for, \
     scheduled_until, scheduled_remind_prior, scheduled_auto_in_progress, scheduled_auto_completed, \
     auto_transition_to_maintenance_state, auto_transition_to_operational_state, \
     auto_transition_deliver_notifications_at_start, auto_transition_deliver_notifications_at_end, \
     reminder_intervals, metadata";

const UPDATE_COLUMNS: &str = "id, incident_id, status, body, display_at, created_at, updated_at, \
     deliver_notifications, names_components";

/// A LIKE pattern (with `ESCAPE '\\'`) matching text that contains `text` literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Text as search compares it: case-folded in Rust, the same on both databases.
fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// The audit entry of a change to an incident or maintenance, as it stands after it.
fn incident_event(action: &'static str, record: &IncidentRecord) -> AuditEvent {
    let row = &record.incident;
    let mut summary = format!("{}: {}", row.name, row.status);
    if row.backfilled {
        summary.push_str(" (backfilled)");
    }
    if action == "incident.update" {
        if let Some(latest) = record.updates.first() {
            if latest.row.created_at == row.updated_at && !latest.row.body.is_empty() {
                let body: String = latest.row.body.chars().take(80).collect();
                summary.push_str(&format!(": {body}"));
            }
        }
    }
    AuditEvent::new(action, "incident", &row.id, summary)
}

async fn current_statuses(conn: &mut Conn) -> StoreResult<CurrentStatuses> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, status FROM components")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, status)| (id, ComponentStatus::from_db(&status)))
        .collect())
}

fn apply_settings(row: &mut IncidentRow, s: &IncidentSettings) {
    fn set(target: &mut bool, value: Option<bool>) {
        if let Some(v) = value {
            *target = v;
        }
    }
    if let Some(metadata) = &s.metadata {
        row.metadata = metadata.clone();
    }
    set(&mut row.scheduled_remind_prior, s.scheduled_remind_prior);
    set(
        &mut row.scheduled_auto_in_progress,
        s.scheduled_auto_in_progress,
    );
    set(
        &mut row.scheduled_auto_completed,
        s.scheduled_auto_completed,
    );
    set(
        &mut row.auto_transition_to_maintenance_state,
        s.auto_transition_to_maintenance_state,
    );
    set(
        &mut row.auto_transition_to_operational_state,
        s.auto_transition_to_operational_state,
    );
    set(
        &mut row.auto_transition_deliver_notifications_at_start,
        s.auto_transition_deliver_notifications_at_start,
    );
    set(
        &mut row.auto_transition_deliver_notifications_at_end,
        s.auto_transition_deliver_notifications_at_end,
    );
    if let Some(intervals) = &s.reminder_intervals {
        row.reminder_intervals = intervals.clone();
    }
}

/// Copies the plan's decisions onto the incident row.
fn apply_plan_to_row(row: &mut IncidentRow, plan: &Plan, now: DateTime<Utc>) {
    if let Some(name) = &plan.name {
        row.name = name.clone();
    }
    row.status = plan.status.as_str().to_owned();
    row.computed_impact = plan.computed_impact.as_str().to_owned();
    if let Some(impact_override) = plan.impact_override {
        row.impact_override = impact_override.map(|i| i.as_str().to_owned());
    }
    row.monitoring_at = plan.monitoring_at;
    row.resolved_at = plan.resolved_at;
    row.scheduled_for = plan.scheduled_for;
    row.scheduled_until = plan.scheduled_until;
    row.updated_at = now;
}

async fn write_incident_row(conn: &mut Conn, row: &IncidentRow, insert: bool) -> StoreResult<()> {
    let sql = if insert {
        format!(
            "INSERT INTO incidents ({INCIDENT_COLUMNS}, search_text) VALUES ($1, $2, $3, $4, $5, $6,
                 $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
                 $24)"
        )
    } else {
        "UPDATE incidents SET kind = $2, name = $3, status = $4, computed_impact = $5,
             impact_override = $6, backfilled = $7, created_at = $8, updated_at = $9,
             started_at = $10, monitoring_at = $11, resolved_at = $12, scheduled_for = $13,
             scheduled_until = $14, scheduled_remind_prior = $15, scheduled_auto_in_progress = $16,
             scheduled_auto_completed = $17, auto_transition_to_maintenance_state = $18,
             auto_transition_to_operational_state = $19,
             auto_transition_deliver_notifications_at_start = $20,
             auto_transition_deliver_notifications_at_end = $21, reminder_intervals = $22,
             metadata = $23, search_text = $24
         WHERE id = $1"
            .to_owned()
    };
    sqlx::query(&sql)
        .bind(&row.id)
        .bind(&row.kind)
        .bind(&row.name)
        .bind(&row.status)
        .bind(&row.computed_impact)
        .bind(&row.impact_override)
        .bind(row.backfilled)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.started_at)
        .bind(row.monitoring_at)
        .bind(row.resolved_at)
        .bind(row.scheduled_for)
        .bind(row.scheduled_until)
        .bind(row.scheduled_remind_prior)
        .bind(row.scheduled_auto_in_progress)
        .bind(row.scheduled_auto_completed)
        .bind(row.auto_transition_to_maintenance_state)
        .bind(row.auto_transition_to_operational_state)
        .bind(row.auto_transition_deliver_notifications_at_start)
        .bind(row.auto_transition_deliver_notifications_at_end)
        .bind(&row.reminder_intervals)
        .bind(&row.metadata)
        .bind(fold(&row.name))
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes the plan's timeline entry, component changes (with their log entries) and
/// affected-component bookkeeping.
async fn apply_plan(
    conn: &mut Conn,
    incident_id: &str,
    plan: &Plan,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for component_id in &plan.add_component_ids {
        sqlx::query(
            "INSERT INTO incident_components (incident_id, component_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(incident_id)
        .bind(component_id)
        .execute(&mut *conn)
        .await?;
    }
    let mut update_id = None;
    if let Some(update) = &plan.update {
        let id = new_id();
        sqlx::query(&format!(
            "INSERT INTO incident_updates ({UPDATE_COLUMNS}, search_text)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)"
        ))
        .bind(&id)
        .bind(incident_id)
        .bind(update.status.as_str())
        .bind(&update.body)
        .bind(update.display_at)
        .bind(now)
        .bind(update.deliver_notifications)
        .bind(update.affected.is_some())
        .bind(fold(&update.body))
        .execute(&mut *conn)
        .await?;
        for (ordinal, affected) in update.affected.iter().flatten().enumerate() {
            let name: String = sqlx::query_scalar("SELECT name FROM components WHERE id = $1")
                .bind(&affected.component_id)
                .fetch_one(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO incident_update_components
                     (incident_update_id, ordinal, component_id, name, old_status, new_status)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(ordinal as i64)
            .bind(&affected.component_id)
            .bind(name)
            .bind(affected.old_status.as_str())
            .bind(affected.new_status.as_str())
            .execute(&mut *conn)
            .await?;
        }
        if update.deliver_notifications {
            enqueue_update_event(conn, incident_id, &id, now).await?;
        }
        update_id = Some(id);
    }
    for change in &plan.component_changes {
        sqlx::query("UPDATE components SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(change.new_status.as_str())
            .bind(now)
            .bind(&change.component_id)
            .execute(&mut *conn)
            .await?;
        log_status(
            conn,
            StatusLogEntry {
                component_id: &change.component_id,
                old: Some(change.old_status),
                new: change.new_status,
                at: now,
                cause: "incident",
                incident_id: Some(incident_id),
                incident_update_id: update_id.as_deref(),
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn create_incident(
    p: &P,
    actor: &Actor,
    req: &IncidentRequest,
    settings: &IncidentSettings,
    at: Stamp,
) -> StoreResult<IncidentRecord> {
    let (mut tx, now) = begin(p, at).await?;
    let current = current_statuses(&mut tx).await?;
    let plan = incident::plan_create(req, &current, now)?;
    let mut row = IncidentRow {
        id: new_id(),
        kind: plan.kind.as_str().to_owned(),
        name: String::new(),
        status: String::new(),
        computed_impact: String::new(),
        impact_override: None,
        backfilled: req.backfilled,
        created_at: plan.created_at,
        updated_at: now,
        started_at: plan.started_at,
        monitoring_at: None,
        resolved_at: None,
        scheduled_for: None,
        scheduled_until: None,
        scheduled_remind_prior: false,
        scheduled_auto_in_progress: false,
        scheduled_auto_completed: false,
        auto_transition_to_maintenance_state: false,
        auto_transition_to_operational_state: false,
        auto_transition_deliver_notifications_at_start: false,
        auto_transition_deliver_notifications_at_end: false,
        reminder_intervals: None,
        metadata: "{}".to_owned(),
    };
    apply_plan_to_row(&mut row, &plan, now);
    apply_settings(&mut row, settings);
    write_incident_row(&mut tx, &row, true).await?;
    apply_plan(&mut tx, &row.id, &plan, now).await?;
    touch_page(&mut tx, now).await?;
    let record = load_incident(&mut tx, &row.id).await?;
    audit(
        &mut tx,
        actor,
        now,
        incident_event("incident.create", &record),
    )
    .await?;
    tx.commit().await?;
    Ok(record)
}

pub async fn patch_incident(
    p: &P,
    actor: &Actor,
    id: &str,
    req: &IncidentRequest,
    settings: &IncidentSettings,
    at: Stamp,
) -> StoreResult<IncidentRecord> {
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, id).await?;
    let record = patch_loaded(&mut tx, actor, record, req, settings, now).await?;
    tx.commit().await?;
    Ok(record)
}

/// Moves a maintenance on only if it still has status `from` when the write lock is
/// held: several workers may see the same transition due, one applies it.
pub async fn advance_maintenance(
    p: &P,
    actor: &Actor,
    id: &str,
    from: crate::domain::IncidentStatus,
    req: &IncidentRequest,
    at: Stamp,
) -> StoreResult<Option<IncidentRecord>> {
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, id).await?;
    if record.incident.status() != from {
        return Ok(None);
    }
    let settings = IncidentSettings::default();
    let record = patch_loaded(&mut tx, actor, record, req, &settings, now).await?;
    tx.commit().await?;
    Ok(Some(record))
}

/// The body of a patch, inside the caller's transaction, with its audit entry.
async fn patch_loaded(
    conn: &mut Conn,
    actor: &Actor,
    record: IncidentRecord,
    req: &IncidentRequest,
    settings: &IncidentSettings,
    now: DateTime<Utc>,
) -> StoreResult<IncidentRecord> {
    let id = record.incident.id.clone();
    let current = current_statuses(conn).await?;
    let mut state = record.state();
    state.held_elsewhere = sqlx::query_scalar(
        "SELECT DISTINCT ic.component_id FROM incident_components ic
         JOIN incidents i ON i.id = ic.incident_id
         WHERE i.id <> $1 AND i.backfilled = FALSE
           AND i.status IN ('investigating', 'identified', 'monitoring', 'in_progress', 'verifying')",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    let plan = incident::plan_patch(&state, req, &current, now)?;
    let mut row = record.incident;
    apply_plan_to_row(&mut row, &plan, now);
    apply_settings(&mut row, settings);
    write_incident_row(conn, &row, false).await?;
    apply_plan(conn, &id, &plan, now).await?;
    touch_page(conn, now).await?;
    let record = load_incident(conn, &id).await?;
    audit(conn, actor, now, incident_event("incident.update", &record)).await?;
    Ok(record)
}

pub async fn delete_incident(
    p: &P,
    actor: &Actor,
    id: &str,
    at: Stamp,
) -> StoreResult<IncidentRecord> {
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, id).await?;
    sqlx::query("DELETE FROM incidents WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    touch_page(&mut tx, now).await?;
    audit(
        &mut tx,
        actor,
        now,
        incident_event("incident.delete", &record),
    )
    .await?;
    tx.commit().await?;
    Ok(record)
}

pub async fn get_incident(p: &P, id: &str) -> StoreResult<IncidentRecord> {
    let mut conn = p.read.acquire().await?;
    load_incident(&mut conn, id).await
}

async fn load_incident(conn: &mut Conn, id: &str) -> StoreResult<IncidentRecord> {
    let row = sqlx::query_as::<_, IncidentRow>(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("incident"))?;
    let mut records = load_records(conn, vec![row]).await?;
    records.pop().ok_or(StoreError::NotFound("incident"))
}

fn push_id_list(qb: &mut QueryBuilder<'_, Db>, ids: &[String]) {
    qb.push("(");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    qb.push(")");
}

/// Attaches timelines (newest first) and affected component ids to incident rows.
async fn load_records(conn: &mut Conn, rows: Vec<IncidentRow>) -> StoreResult<Vec<IncidentRecord>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();

    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {UPDATE_COLUMNS} FROM incident_updates WHERE incident_id IN "
    ));
    push_id_list(&mut qb, &ids);
    qb.push(" ORDER BY display_at DESC, created_at DESC, id DESC");
    let updates: Vec<UpdateRow> = qb.build_query_as().fetch_all(&mut *conn).await?;

    let mut qb = QueryBuilder::<Db>::new(
        "SELECT a.incident_update_id, a.ordinal, a.component_id, a.name, a.old_status, a.new_status
         FROM incident_update_components a
         JOIN incident_updates u ON u.id = a.incident_update_id
         WHERE u.incident_id IN ",
    );
    push_id_list(&mut qb, &ids);
    qb.push(" ORDER BY a.incident_update_id, a.ordinal");
    let affected: Vec<AffectedRow> = qb.build_query_as().fetch_all(&mut *conn).await?;

    let mut qb = QueryBuilder::<Db>::new(
        "SELECT incident_id, component_id FROM incident_components WHERE incident_id IN ",
    );
    push_id_list(&mut qb, &ids);
    let links: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;

    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {POSTMORTEM_COLUMNS} FROM postmortems WHERE incident_id IN "
    ));
    push_id_list(&mut qb, &ids);
    let postmortems: Vec<PostmortemRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut postmortem_by_incident: HashMap<String, PostmortemRow> = postmortems
        .into_iter()
        .map(|p| (p.incident_id.clone(), p))
        .collect();

    let mut affected_by_update: HashMap<String, Vec<AffectedRow>> = HashMap::new();
    for a in affected {
        affected_by_update
            .entry(a.incident_update_id.clone())
            .or_default()
            .push(a);
    }
    let mut updates_by_incident: HashMap<String, Vec<UpdateRecord>> = HashMap::new();
    for row in updates {
        let affected = if row.names_components {
            Some(affected_by_update.remove(&row.id).unwrap_or_default())
        } else {
            None
        };
        updates_by_incident
            .entry(row.incident_id.clone())
            .or_default()
            .push(UpdateRecord { row, affected });
    }
    let mut components_by_incident: HashMap<String, Vec<String>> = HashMap::new();
    for (incident_id, component_id) in links {
        components_by_incident
            .entry(incident_id)
            .or_default()
            .push(component_id);
    }
    Ok(rows
        .into_iter()
        .map(|incident| IncidentRecord {
            updates: updates_by_incident.remove(&incident.id).unwrap_or_default(),
            component_ids: components_by_incident
                .remove(&incident.id)
                .unwrap_or_default(),
            postmortem: postmortem_by_incident.remove(&incident.id),
            incident,
        })
        .collect())
}

pub async fn list_incidents(p: &P, query: &IncidentQuery) -> StoreResult<Vec<IncidentRecord>> {
    let condition = match query.filter {
        IncidentFilter::Everything => "1 = 1",
        IncidentFilter::Incidents => "kind = 'realtime'",
        IncidentFilter::Unresolved => {
            "kind = 'realtime' AND status IN ('investigating', 'identified', 'monitoring')"
        }
        IncidentFilter::Maintenances => "kind = 'maintenance'",
        IncidentFilter::UpcomingMaintenances => "kind = 'maintenance' AND status = 'scheduled'",
        IncidentFilter::ActiveMaintenances => {
            "kind = 'maintenance' AND status IN ('in_progress', 'verifying')"
        }
        IncidentFilter::OpenMaintenances => "kind = 'maintenance' AND status <> 'completed'",
    };
    let order = match query.filter {
        IncidentFilter::UpcomingMaintenances
        | IncidentFilter::ActiveMaintenances
        | IncidentFilter::OpenMaintenances => "scheduled_for ASC, created_at ASC, id ASC",
        _ => "created_at DESC, id DESC",
    };
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {condition}"
    ));
    if let Some(since) = query.created_since {
        qb.push(" AND created_at >= ");
        qb.push_bind(since);
    }
    if let Some(search) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let folded = fold(search);
        let pattern = contains_pattern(&folded);
        qb.push(" AND (search_text LIKE ");
        qb.push_bind(pattern.clone());
        qb.push(" ESCAPE '\\' OR status = ");
        qb.push_bind(folded);
        qb.push(
            " OR EXISTS (SELECT 1 FROM incident_updates u WHERE u.incident_id = incidents.id
                 AND u.search_text LIKE ",
        );
        qb.push_bind(pattern);
        qb.push(" ESCAPE '\\'))");
    }
    qb.push(format!(" ORDER BY {order} LIMIT "));
    qb.push_bind(query.limit);
    qb.push(" OFFSET ");
    qb.push_bind(query.offset);
    let mut conn = p.read.acquire().await?;
    let rows: Vec<IncidentRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    load_records(&mut conn, rows).await
}

pub async fn edit_update(
    p: &P,
    actor: &Actor,
    incident_id: &str,
    update_id: &str,
    edit: &UpdateEdit,
    at: Stamp,
) -> StoreResult<UpdateRecord> {
    let (mut tx, now) = begin(p, at).await?;
    let mut row = sqlx::query_as::<_, UpdateRow>(&format!(
        "SELECT {UPDATE_COLUMNS} FROM incident_updates WHERE id = $1 AND incident_id = $2"
    ))
    .bind(update_id)
    .bind(incident_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound("incident update"))?;
    if let Some(body) = &edit.body {
        row.body = parse_body("incident_update[body]", body, BODY_MAX)?;
    }
    if let Some(display_at) = edit.display_at {
        row.display_at = display_at;
    }
    if let Some(deliver) = edit.deliver_notifications {
        row.deliver_notifications = deliver;
    }
    sqlx::query(
        "UPDATE incident_updates SET body = $1, display_at = $2, deliver_notifications = $3,
             updated_at = $4, search_text = $6
         WHERE id = $5",
    )
    .bind(&row.body)
    .bind(row.display_at)
    .bind(row.deliver_notifications)
    .bind(now)
    .bind(update_id)
    .bind(fold(&row.body))
    .execute(&mut *tx)
    .await?;
    // An entry moved before the start (importing or correcting history) moves the start.
    sqlx::query(
        "UPDATE incidents SET updated_at = $1,
             started_at = CASE WHEN started_at > $2 THEN $2 ELSE started_at END
         WHERE id = $3",
    )
    .bind(now)
    .bind(row.display_at)
    .bind(incident_id)
    .execute(&mut *tx)
    .await?;
    touch_page(&mut tx, now).await?;
    let record = load_incident(&mut tx, incident_id).await?;
    let mut edited = Vec::new();
    if edit.body.is_some() {
        edited.push("text");
    }
    if edit.display_at.is_some() {
        edited.push("display time");
    }
    if edit.deliver_notifications.is_some() {
        edited.push("notification flag");
    }
    let summary = format!(
        "{}: edited the {} update ({})",
        record.incident.name,
        row.status,
        edited.join(", ")
    );
    let event = AuditEvent::new("incident_update.edit", "incident", incident_id, summary);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    record
        .updates
        .into_iter()
        .find(|u| u.row.id == update_id)
        .ok_or(StoreError::NotFound("incident update"))
}

// --- API keys ---------------------------------------------------------------------------------

const KEY_COLUMNS: &str = "id, name, created_at, last_used_at, revoked_at";

pub async fn create_api_key(
    p: &P,
    actor: &Actor,
    name: &str,
    key_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<ApiKeyRow> {
    let (mut tx, now) = begin(p, Stamp::At(now)).await?;
    let id = new_id();
    sqlx::query("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(key_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::new("api_key.create", "api_key", &id, name);
    audit(&mut tx, actor, now, event).await?;
    let row = find_api_key(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(row)
}

async fn find_api_key(conn: &mut Conn, id: &str) -> StoreResult<ApiKeyRow> {
    sqlx::query_as::<_, ApiKeyRow>(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound("API key"))
}

pub async fn list_api_keys(p: &P) -> StoreResult<Vec<ApiKeyRow>> {
    Ok(sqlx::query_as::<_, ApiKeyRow>(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
    ))
    .fetch_all(&p.read)
    .await?)
}

pub async fn revoke_api_key(
    p: &P,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<ApiKeyRow> {
    let (mut tx, now) = begin(p, Stamp::At(now)).await?;
    let key = find_api_key(&mut tx, id).await?;
    if key.revoked_at.is_none() {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let event = AuditEvent::new("api_key.revoke", "api_key", id, key.name.clone());
        audit(&mut tx, actor, now, event).await?;
    }
    let key = find_api_key(&mut tx, id).await?;
    tx.commit().await?;
    Ok(key)
}

pub async fn use_api_key(
    p: &P,
    key_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<ApiKeyRow>> {
    let key = sqlx::query_as::<_, ApiKeyRow>(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(key_hash)
    .fetch_optional(&p.read)
    .await?;
    if let Some(key) = &key {
        // One write a minute per key at most: the hot path stays read-only.
        if key
            .last_used_at
            .is_none_or(|t| now - t > Duration::minutes(1))
        {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&key.id)
                .execute(&p.write)
                .await?;
        }
    }
    Ok(key)
}

// --- subscribers -------------------------------------------------------------------------------

const SUBSCRIBER_COLUMNS: &str =
    "id, email, state, all_components, skip_confirmation_notification, \
     confirmation_nonce, confirmation_sent_at, confirmed_at, unsubscribed_at, quarantined_at, \
     bounce_count, created_at, updated_at";

async fn find_subscriber(conn: &mut Conn, id: &str) -> StoreResult<Subscriber> {
    let row = sqlx::query_as::<_, SubscriberRow>(&format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("subscriber"))?;
    let component_ids = sqlx::query_scalar(
        "SELECT sc.component_id FROM subscriber_components sc JOIN components c ON c.id = sc.component_id
         WHERE sc.subscriber_id = $1 ORDER BY c.position, c.created_at",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(Subscriber { row, component_ids })
}

async fn set_subscriber_components(
    conn: &mut Conn,
    id: &str,
    chosen: Option<&[String]>,
    field: &str,
) -> StoreResult<()> {
    if let Some(ids) = chosen {
        for component in ids {
            if find_component(conn, component).await?.is_none() {
                return Err(DomainError::new(
                    field,
                    format!("names an unknown component id {component:?}"),
                )
                .into());
            }
        }
    }
    sqlx::query("DELETE FROM subscriber_components WHERE subscriber_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for component in chosen.unwrap_or_default() {
        sqlx::query(
            "INSERT INTO subscriber_components (subscriber_id, component_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(component)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE subscribers SET all_components = $1 WHERE id = $2")
        .bind(chosen.is_none())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn enqueue_confirmation(
    conn: &mut Conn,
    subscriber_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO notification_events (kind, subscriber_id, created_at) VALUES ('confirmation', $1, $2)",
    )
    .bind(subscriber_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE subscribers SET confirmation_sent_at = $1 WHERE id = $2")
        .bind(now)
        .bind(subscriber_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One event for an update that notifies, naming the incident's components then.
async fn enqueue_update_event(
    conn: &mut Conn,
    incident_id: &str,
    update_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let components: Vec<String> = sqlx::query_scalar(
        "SELECT component_id FROM incident_components WHERE incident_id = $1 ORDER BY component_id",
    )
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO notification_events (kind, incident_id, incident_update_id, component_ids, created_at)
         VALUES ('incident_update', $1, $2, $3, $4)",
    )
    .bind(incident_id)
    .bind(update_id)
    .bind(serde_json::to_string(&components).unwrap_or_else(|_| "[]".to_owned()))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn subscribe(
    p: &P,
    actor: &Actor,
    new: &NewSubscription,
    at: Stamp,
) -> StoreResult<(Subscriber, SubscribeOutcome)> {
    use crate::domain::subscriber::{subscribe_action, SubscribeAction, SubscriberState};
    let (mut tx, now) = begin(p, at).await?;
    let existing: Option<SubscriberRow> = sqlx::query_as(&format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email_key = $1"
    ))
    .bind(new.email.key())
    .fetch_optional(&mut *tx)
    .await?;
    let field = "subscriber[component_ids]";
    // Checked first, whatever the address's state: the answer must not tell whether
    // an address is subscribed.
    for component in new.component_ids.iter().flatten() {
        if find_component(&mut tx, component).await?.is_none() {
            return Err(DomainError::new(
                field,
                format!("names an unknown component id {component:?}"),
            )
            .into());
        }
    }
    let id = match &existing {
        Some(row) => row.id.clone(),
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO subscribers (id, email, email_key, state, all_components,
                     skip_confirmation_notification, created_at, updated_at)
                 VALUES ($1, $2, $3, 'unconfirmed', TRUE, $4, $5, $5)",
            )
            .bind(&id)
            .bind(new.email.as_str())
            .bind(new.email.key())
            .bind(new.skip_confirmation)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    let action = subscribe_action(
        existing.as_ref().map(SubscriberRow::state),
        existing.as_ref().and_then(|r| r.confirmation_sent_at),
        now,
    );
    let outcome = match action {
        // Someone already subscribed: a stranger must not change their choices.
        SubscribeAction::Nothing => SubscribeOutcome::AlreadySubscribed,
        _ if new.skip_confirmation => {
            set_subscriber_components(&mut tx, &id, new.component_ids.as_deref(), field).await?;
            sqlx::query(
                "UPDATE subscribers SET state = 'active', confirmed_at = $1, confirmation_nonce = NULL,
                     unsubscribed_at = NULL, skip_confirmation_notification = TRUE, updated_at = $1
                 WHERE id = $2",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            SubscribeOutcome::Activated
        }
        SubscribeAction::StartConfirmation => {
            set_subscriber_components(&mut tx, &id, new.component_ids.as_deref(), field).await?;
            sqlx::query(
                "UPDATE subscribers SET state = $1, confirmation_nonce = $2, unsubscribed_at = NULL,
                     email = $3, updated_at = $4
                 WHERE id = $5",
            )
            .bind(SubscriberState::Unconfirmed.as_str())
            .bind(new_id())
            .bind(new.email.as_str())
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            enqueue_confirmation(&mut tx, &id, now).await?;
            SubscribeOutcome::ConfirmationQueued
        }
        SubscribeAction::ResendConfirmation { allowed } => {
            set_subscriber_components(&mut tx, &id, new.component_ids.as_deref(), field).await?;
            if allowed {
                enqueue_confirmation(&mut tx, &id, now).await?;
                SubscribeOutcome::ConfirmationQueued
            } else {
                SubscribeOutcome::ConfirmationHeldBack
            }
        }
    };
    let subscriber = find_subscriber(&mut tx, &id).await?;
    let event = subscriber_event("subscriber.subscribe", &subscriber);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok((subscriber, outcome))
}

pub async fn get_subscriber(p: &P, id: &str) -> StoreResult<Subscriber> {
    let mut conn = p.read.acquire().await?;
    find_subscriber(&mut conn, id).await
}

pub async fn list_subscribers(p: &P, query: &SubscriberQuery) -> StoreResult<Vec<Subscriber>> {
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE 1 = 1"
    ));
    if let Some(state) = query.state {
        qb.push(" AND state = ");
        qb.push_bind(state.as_str());
    }
    if let Some(search) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        qb.push(" AND email_key LIKE ");
        qb.push_bind(contains_pattern(&fold(search)));
        qb.push(" ESCAPE '\\'");
    }
    if let Some((created_at, id)) = &query.after {
        // The order below is created_at DESC, id: "after" is older, or as old with a
        // greater id.
        qb.push(" AND (created_at < ");
        qb.push_bind(*created_at);
        qb.push(" OR (created_at = ");
        qb.push_bind(*created_at);
        qb.push(" AND id > ");
        qb.push_bind(id.clone());
        qb.push("))");
    }
    qb.push(" ORDER BY created_at DESC, id LIMIT ");
    qb.push_bind(query.limit);
    qb.push(" OFFSET ");
    qb.push_bind(query.offset);
    let mut conn = p.read.acquire().await?;
    let rows: Vec<SubscriberRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Every listed subscriber's chosen components in one query.
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT sc.subscriber_id, sc.component_id FROM subscriber_components sc
         JOIN components c ON c.id = sc.component_id WHERE sc.subscriber_id IN ",
    );
    push_id_list(&mut qb, &ids);
    qb.push(" ORDER BY c.position, c.created_at");
    let links: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut chosen: HashMap<String, Vec<String>> = HashMap::new();
    for (subscriber, component) in links {
        chosen.entry(subscriber).or_default().push(component);
    }
    Ok(rows
        .into_iter()
        .map(|row| Subscriber {
            component_ids: chosen.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

/// Confirms with the nonce from a confirmation link: works once, then the subscriber
/// is active (confirming again is harmless).
pub async fn confirm_subscriber(
    p: &P,
    actor: &Actor,
    id: &str,
    nonce: &str,
    at: Stamp,
) -> StoreResult<Subscriber> {
    let (mut tx, now) = begin(p, at).await?;
    let current = find_subscriber(&mut tx, id).await?;
    let matches = current.row.confirmation_nonce.as_deref() == Some(nonce);
    match current.row.state.as_str() {
        "active" if current.row.confirmation_nonce.is_none() => {}
        "unconfirmed" if matches => {
            sqlx::query(
                "UPDATE subscribers SET state = 'active', confirmed_at = $1, confirmation_nonce = NULL,
                     bounce_count = 0, quarantined_at = NULL, updated_at = $1
                 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        _ => return Err(StoreError::NotFound("confirmation")),
    }
    let subscriber = find_subscriber(&mut tx, id).await?;
    let event = subscriber_event("subscriber.confirm", &subscriber);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(subscriber)
}

pub async fn update_subscriber_components(
    p: &P,
    actor: &Actor,
    id: &str,
    chosen: Option<&[String]>,
    at: Stamp,
) -> StoreResult<Subscriber> {
    let (mut tx, now) = begin(p, at).await?;
    find_subscriber(&mut tx, id).await?;
    set_subscriber_components(&mut tx, id, chosen, "component_ids").await?;
    sqlx::query("UPDATE subscribers SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let subscriber = find_subscriber(&mut tx, id).await?;
    let event = subscriber_event("subscriber.components", &subscriber);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(subscriber)
}

pub async fn unsubscribe(p: &P, actor: &Actor, id: &str, at: Stamp) -> StoreResult<Subscriber> {
    let (mut tx, now) = begin(p, at).await?;
    find_subscriber(&mut tx, id).await?;
    sqlx::query(
        "UPDATE subscribers SET state = 'unsubscribed', unsubscribed_at = COALESCE(unsubscribed_at, $1),
             confirmation_nonce = NULL, updated_at = $1
         WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let subscriber = find_subscriber(&mut tx, id).await?;
    let event = subscriber_event("subscriber.unsubscribe", &subscriber);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(subscriber)
}

/// The audit entry of a change to a subscriber: the address and its state after it.
fn subscriber_event(action: &'static str, subscriber: &Subscriber) -> AuditEvent {
    let row = &subscriber.row;
    let summary = format!("{} ({})", row.email, row.state);
    AuditEvent::new(action, "subscriber", &row.id, summary)
}

/// Sends the confirmation again (operators, through the API): only while unconfirmed.
pub async fn resend_confirmation(
    p: &P,
    actor: &Actor,
    id: &str,
    at: Stamp,
) -> StoreResult<Subscriber> {
    let (mut tx, now) = begin(p, at).await?;
    let subscriber = find_subscriber(&mut tx, id).await?;
    if subscriber.row.state != "unconfirmed" {
        return Err(DomainError::new(
            "subscriber",
            format!(
                "is {}; only unconfirmed subscribers get a confirmation",
                subscriber.row.state
            ),
        )
        .into());
    }
    if subscriber.row.confirmation_nonce.is_none() {
        sqlx::query("UPDATE subscribers SET confirmation_nonce = $1 WHERE id = $2")
            .bind(new_id())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    enqueue_confirmation(&mut tx, id, now).await?;
    let subscriber = find_subscriber(&mut tx, id).await?;
    let event = subscriber_event("subscriber.resend_confirmation", &subscriber);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(subscriber)
}

/// Deletes addresses that never confirmed; returns how many.
pub async fn purge_unconfirmed(
    p: &P,
    actor: &Actor,
    created_before: DateTime<Utc>,
) -> StoreResult<u64> {
    let (mut tx, now) = begin(p, Stamp::Clock).await?;
    let done =
        sqlx::query("DELETE FROM subscribers WHERE state = 'unconfirmed' AND COALESCE(confirmation_sent_at, created_at) < $1")
            .bind(created_before)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() > 0 {
        let summary = format!(
            "deleted {} addresses that never confirmed",
            done.rows_affected()
        );
        let event = AuditEvent::new("subscriber.purge", "subscriber", "unconfirmed", summary);
        audit(&mut tx, actor, now, event).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected())
}

// --- the outbox ------------------------------------------------------------------------------

/// The HMAC key named `name`, made on first use and shared by every instance.
pub async fn secret(p: &P, name: &str) -> StoreResult<String> {
    if let Some(value) = sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_optional(&p.read)
        .await?
    {
        return Ok(value);
    }
    let (mut tx, now) = begin(p, Stamp::Clock).await?;
    sqlx::query(
        "INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .bind(crate::domain::ids::new_secret())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let value: String = sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(value)
}

const EVENT_COLUMNS: &str =
    "id, kind, incident_id, incident_update_id, subscriber_id, component_ids, created_at";

/// Turns waiting events into one delivery per recipient; returns how many events it
/// handled. The unique (event, subscriber) key makes running this twice harmless.
pub async fn fan_out(p: &P, max_events: i64, at: Stamp) -> StoreResult<usize> {
    // A read first: an idle worker should not take the write lock.
    let waiting: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM notification_events WHERE fanned_out_at IS NULL LIMIT 1",
    )
    .fetch_optional(&p.read)
    .await?;
    if waiting.is_none() {
        return Ok(0);
    }
    let mut tx = p.write.begin_with(BEGIN_WRITE).await?;
    let now = at.resolve();
    let events: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM notification_events WHERE fanned_out_at IS NULL
         ORDER BY id LIMIT $1{SKIP_LOCKED}"
    ))
    .bind(max_events)
    .fetch_all(&mut *tx)
    .await?;
    for event in &events {
        if let Some(subscriber) = &event.subscriber_id {
            sqlx::query(
                "INSERT INTO deliveries (event_id, subscriber_id, next_attempt_at, created_at)
                 SELECT $1, id, $2, $2 FROM subscribers WHERE id = $3
                 ON CONFLICT DO NOTHING",
            )
            .bind(event.id)
            .bind(now)
            .bind(subscriber)
            .execute(&mut *tx)
            .await?;
        } else {
            // The rule of domain::subscriber::hears_about, in SQL so it runs over
            // every subscriber at once: all components, or page-wide news, or a
            // chosen component among the changed ones.
            let changed: Vec<String> =
                serde_json::from_str(&event.component_ids).unwrap_or_default();
            let mut qb = QueryBuilder::<Db>::new("INSERT INTO deliveries (event_id, subscriber_id, next_attempt_at, created_at) SELECT ");
            qb.push_bind(event.id);
            qb.push(", s.id, ");
            qb.push_bind(now);
            qb.push(", ");
            qb.push_bind(now);
            qb.push(" FROM subscribers s WHERE s.state = 'active'");
            if !changed.is_empty() {
                qb.push(
                    " AND (s.all_components OR EXISTS (SELECT 1 FROM subscriber_components sc
                       WHERE sc.subscriber_id = s.id AND sc.component_id IN ",
                );
                push_id_list(&mut qb, &changed);
                qb.push("))");
            }
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE notification_events SET fanned_out_at = $1 WHERE id = $2")
            .bind(now)
            .bind(event.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(events.len())
}

/// Claims up to `max` due deliveries for `lease`: until then no other worker takes
/// them; if this one dies, they come due again.
pub async fn claim_deliveries(
    p: &P,
    max: i64,
    lease: Duration,
    at: Stamp,
) -> StoreResult<Vec<DeliveryJob>> {
    let now = at.resolve();
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM deliveries WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
           AND (leased_until IS NULL OR leased_until < $1) LIMIT 1",
    )
    .bind(now)
    .fetch_optional(&p.read)
    .await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = p.write.begin_with(BEGIN_WRITE).await?;

    let claimed: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
        "UPDATE deliveries SET leased_until = $1, attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM deliveries
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
               AND (leased_until IS NULL OR leased_until < $2)
             ORDER BY next_attempt_at, id LIMIT $3{SKIP_LOCKED})
         RETURNING id, event_id, attempts, subscriber_id"
    ))
    .bind(now + lease)
    .bind(now)
    .bind(max)
    .fetch_all(&mut *tx)
    .await?;
    let mut jobs = Vec::with_capacity(claimed.len());
    for (delivery_id, event_id, attempts, subscriber_id) in claimed {
        let event: EventRow = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM notification_events WHERE id = $1"
        ))
        .bind(event_id)
        .fetch_one(&mut *tx)
        .await?;
        let subscriber = find_subscriber(&mut tx, &subscriber_id).await?.row;
        jobs.push(DeliveryJob {
            delivery_id,
            attempts,
            event,
            subscriber,
        });
    }
    jobs.sort_by_key(|j| j.delivery_id);
    tx.commit().await?;
    Ok(jobs)
}

pub async fn mark_sent(p: &P, delivery_id: i64, at: Stamp) -> StoreResult<()> {
    let mut tx = p.write.begin_with(BEGIN_WRITE).await?;
    let now = at.resolve();
    let subscriber: String = sqlx::query_scalar(
        "UPDATE deliveries SET sent_at = $1, leased_until = NULL, last_error = NULL WHERE id = $2
         RETURNING subscriber_id",
    )
    .bind(now)
    .bind(delivery_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE subscribers SET bounce_count = 0 WHERE id = $1 AND bounce_count <> 0")
        .bind(subscriber)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn mark_retry(
    p: &P,
    delivery_id: i64,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE deliveries SET next_attempt_at = $1, leased_until = NULL, last_error = $2 WHERE id = $3")
        .bind(next_attempt_at)
        .bind(error)
        .bind(delivery_id)
        .execute(&p.write)
        .await?;
    Ok(())
}

/// Gives a delivery up. A permanent refusal (`bounce`) counts against the subscriber,
/// who is quarantined after too many in a row; a dropped mail (the recipient left) does not.
pub async fn mark_failed(
    p: &P,
    delivery_id: i64,
    error: &str,
    bounce: bool,
    at: Stamp,
) -> StoreResult<()> {
    use crate::domain::subscriber::QUARANTINE_AFTER;
    let mut tx = p.write.begin_with(BEGIN_WRITE).await?;
    let now = at.resolve();
    let subscriber: String = sqlx::query_scalar(
        "UPDATE deliveries SET failed_at = $1, leased_until = NULL, last_error = $2 WHERE id = $3
         RETURNING subscriber_id",
    )
    .bind(now)
    .bind(error)
    .bind(delivery_id)
    .fetch_one(&mut *tx)
    .await?;
    if bounce {
        sqlx::query(
            "UPDATE subscribers SET bounce_count = bounce_count + 1,
                 state = CASE WHEN bounce_count + 1 >= $1 AND state = 'active' THEN 'quarantined' ELSE state END,
                 quarantined_at = CASE WHEN bounce_count + 1 >= $1 AND state = 'active' THEN $2 ELSE quarantined_at END,
                 updated_at = $2
             WHERE id = $3",
        )
        .bind(QUARANTINE_AFTER)
        .bind(now)
        .bind(subscriber)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn outbox_stats(p: &P) -> StoreResult<OutboxStats> {
    let mut conn = p.read.acquire().await?;
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back to read it as i64.
    let (queued, sent, failed, retries): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
             CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT),
             CAST(COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT),
             CAST(COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT),
             CAST(COALESCE(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS BIGINT)
         FROM deliveries",
    )
    .fetch_one(&mut *conn)
    .await?;
    // A mail waits since its news was posted, not since it was fanned out.
    let oldest_queued_at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT MIN(e.created_at) FROM deliveries d JOIN notification_events e ON e.id = d.event_id
         WHERE d.sent_at IS NULL AND d.failed_at IS NULL",
    )
    .fetch_one(&mut *conn)
    .await?;
    let events_waiting: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM notification_events WHERE fanned_out_at IS NULL")
            .fetch_one(&mut *conn)
            .await?;
    let oldest_event: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT MIN(created_at) FROM notification_events WHERE fanned_out_at IS NULL",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(OutboxStats {
        queued,
        events_waiting,
        oldest_queued_at: [oldest_queued_at, oldest_event].into_iter().flatten().min(),
        sent,
        failed,
        retries,
    })
}

// --- postmortems -----------------------------------------------------------------------------

const POSTMORTEM_COLUMNS: &str = "incident_id, body_draft, body_draft_updated_at, body, body_updated_at, \
     published_at, notify_subscribers, notified_at, incident_update_id, content_hash, created_at, updated_at";

async fn find_postmortem(conn: &mut Conn, incident_id: &str) -> StoreResult<Option<PostmortemRow>> {
    Ok(sqlx::query_as::<_, PostmortemRow>(&format!(
        "SELECT {POSTMORTEM_COLUMNS} FROM postmortems WHERE incident_id = $1"
    ))
    .bind(incident_id)
    .fetch_optional(conn)
    .await?)
}

/// The postmortem of an incident (`None`: the incident has none yet).
pub async fn get_postmortem(p: &P, incident_id: &str) -> StoreResult<Option<PostmortemRow>> {
    let mut conn = p.read.acquire().await?;
    load_incident(&mut conn, incident_id).await?;
    find_postmortem(&mut conn, incident_id).await
}

/// Creates or replaces the draft. `content_hash` marks a draft that came from a file.
pub async fn save_postmortem_draft(
    p: &P,
    actor: &Actor,
    incident_id: &str,
    draft: &str,
    content_hash: Option<&str>,
    at: Stamp,
) -> StoreResult<PostmortemRow> {
    let draft = crate::domain::postmortem::parse_draft("postmortem[body_draft]", draft)?;
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, incident_id).await?;
    write_draft(&mut tx, incident_id, &draft, content_hash, now).await?;
    let row = find_postmortem(&mut tx, incident_id)
        .await?
        .ok_or(StoreError::NotFound("postmortem"))?;
    let event = postmortem_event("postmortem.save_draft", &record);
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

async fn write_draft(
    conn: &mut Conn,
    incident_id: &str,
    draft: &str,
    content_hash: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO postmortems (incident_id, body_draft, body_draft_updated_at, content_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $3, $3)
         ON CONFLICT (incident_id) DO UPDATE SET body_draft = $2, body_draft_updated_at = $3,
             content_hash = $4, updated_at = $3",
    )
    .bind(incident_id)
    .bind(draft)
    .bind(now)
    .bind(content_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Publishes the draft (first replaced by `draft`, when given, in the same
/// transaction: what an editor shows is what gets published, or nothing changes):
/// it becomes the published body, the incident moves to `postmortem` with one
/// timeline entry (updated, not repeated, when republishing), and subscribers are
/// told once, when `notify` asks for it.
pub async fn publish_postmortem(
    p: &P,
    actor: &Actor,
    incident_id: &str,
    draft: Option<&str>,
    notify: bool,
    at: Stamp,
) -> StoreResult<PostmortemRow> {
    use crate::domain::postmortem::{check_publish, parse_draft};
    let draft = draft
        .map(|d| parse_draft("postmortem[body_draft]", d))
        .transpose()?;
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, incident_id).await?;
    if let Some(draft) = &draft {
        // A refusal below rolls this back with everything else.
        let saved = record.postmortem.as_ref();
        let content_hash = saved.and_then(|p| p.content_hash.as_deref());
        write_draft(&mut tx, incident_id, draft, content_hash, now).await?;
    }
    let current = find_postmortem(&mut tx, incident_id).await?;
    check_publish(
        record.incident.kind(),
        record.incident.status(),
        current.as_ref().map(|p| p.body_draft.as_str()),
    )?;
    let Some(current) = current else {
        return Err(StoreError::NotFound("postmortem"));
    };
    let existing_entry = match &current.incident_update_id {
        Some(id) => record
            .updates
            .iter()
            .any(|u| &u.row.id == id)
            .then(|| id.clone()),
        None => None,
    };
    let update_id = match existing_entry {
        Some(id) => {
            sqlx::query("UPDATE incident_updates SET body = $1, search_text = $2, updated_at = $3 WHERE id = $4")
                .bind(&current.body_draft)
                .bind(fold(&current.body_draft))
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            id
        }
        None => {
            let id = new_id();
            sqlx::query(&format!(
                "INSERT INTO incident_updates ({UPDATE_COLUMNS}, search_text)
                 VALUES ($1, $2, 'postmortem', $3, $4, $4, $4, $5, FALSE, $6)"
            ))
            .bind(&id)
            .bind(incident_id)
            .bind(&current.body_draft)
            .bind(now)
            .bind(notify)
            .bind(fold(&current.body_draft))
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    let tell = notify && current.notified_at.is_none();
    if tell {
        enqueue_update_event(&mut tx, incident_id, &update_id, now).await?;
    }
    sqlx::query(
        "UPDATE postmortems SET body = body_draft, body_updated_at = $1,
             published_at = COALESCE(published_at, $1), incident_update_id = $2,
             notify_subscribers = (notify_subscribers OR $3),
             notified_at = CASE WHEN $4 THEN $1 ELSE notified_at END, updated_at = $1
         WHERE incident_id = $5",
    )
    .bind(now)
    .bind(&update_id)
    .bind(notify)
    .bind(tell)
    .bind(incident_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE incidents SET status = 'postmortem', updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(incident_id)
        .execute(&mut *tx)
        .await?;
    touch_page(&mut tx, now).await?;
    let row = find_postmortem(&mut tx, incident_id)
        .await?
        .ok_or(StoreError::NotFound("postmortem"))?;
    audit(
        &mut tx,
        actor,
        now,
        postmortem_event("postmortem.publish", &record),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The audit entry of a change to an incident's postmortem.
fn postmortem_event(action: &'static str, record: &IncidentRecord) -> AuditEvent {
    let name = record.incident.name.clone();
    AuditEvent::new(action, "incident", &record.incident.id, name)
}

/// Takes a published postmortem back: hidden again, its timeline entry removed, the
/// incident resolved. The draft stays.
async fn unpublish(
    conn: &mut Conn,
    current: &PostmortemRow,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(update_id) = &current.incident_update_id {
        sqlx::query("DELETE FROM incident_updates WHERE id = $1")
            .bind(update_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "UPDATE postmortems SET published_at = NULL, body = NULL, body_updated_at = NULL,
             incident_update_id = NULL, updated_at = $1
         WHERE incident_id = $2",
    )
    .bind(now)
    .bind(&current.incident_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE incidents SET status = 'resolved', updated_at = $1 WHERE id = $2 AND status = 'postmortem'")
        .bind(now)
        .bind(&current.incident_id)
        .execute(&mut *conn)
        .await?;
    touch_page(conn, now).await
}

pub async fn revert_postmortem(
    p: &P,
    actor: &Actor,
    incident_id: &str,
    at: Stamp,
) -> StoreResult<PostmortemRow> {
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, incident_id).await?;
    let current = find_postmortem(&mut tx, incident_id)
        .await?
        .ok_or(StoreError::NotFound("postmortem"))?;
    if current.published_at.is_none() {
        return Err(
            DomainError::new("postmortem", "is not published: there is nothing to revert").into(),
        );
    }
    unpublish(&mut tx, &current, now).await?;
    let row = find_postmortem(&mut tx, incident_id)
        .await?
        .ok_or(StoreError::NotFound("postmortem"))?;
    audit(
        &mut tx,
        actor,
        now,
        postmortem_event("postmortem.revert", &record),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn delete_postmortem(
    p: &P,
    actor: &Actor,
    incident_id: &str,
    at: Stamp,
) -> StoreResult<()> {
    let (mut tx, now) = begin(p, at).await?;
    let record = load_incident(&mut tx, incident_id).await?;
    let current = find_postmortem(&mut tx, incident_id)
        .await?
        .ok_or(StoreError::NotFound("postmortem"))?;
    if current.published_at.is_some() {
        unpublish(&mut tx, &current, now).await?;
    }
    sqlx::query("DELETE FROM postmortems WHERE incident_id = $1")
        .bind(incident_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        actor,
        now,
        postmortem_event("postmortem.delete", &record),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// --- the audit log ----------------------------------------------------------------------------

/// Records a change in the audit log, inside the change's own transaction: the entry
/// exists exactly when the change does.
async fn audit(
    conn: &mut Conn,
    actor: &Actor,
    now: DateTime<Utc>,
    event: AuditEvent,
) -> StoreResult<()> {
    let search_text = fold(&format!(
        "{} {} {}",
        actor.name(),
        event.target_id,
        event.summary
    ));
    sqlx::query(
        "INSERT INTO audit_log
           (at, actor_kind, actor_name, action, target_kind, target_id, summary, search_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now)
    .bind(actor.kind())
    .bind(actor.name())
    .bind(event.action)
    .bind(event.target_kind)
    .bind(&event.target_id)
    .bind(&event.summary)
    .bind(search_text)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn audit_log(p: &P, query: &AuditQuery) -> StoreResult<Vec<AuditRow>> {
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT id, at, actor_kind, actor_name, action, target_kind, target_id, summary
         FROM audit_log WHERE 1 = 1",
    );
    let actor = query.actor.trim();
    if !actor.is_empty() {
        qb.push(" AND LOWER(actor_name) LIKE ");
        qb.push_bind(contains_pattern(&fold(actor)));
        qb.push(" ESCAPE '\\'");
    }
    if !query.actor_kind.is_empty() {
        qb.push(" AND actor_kind = ");
        qb.push_bind(query.actor_kind.clone());
    }
    if !query.target_kind.is_empty() {
        qb.push(" AND target_kind = ");
        qb.push_bind(query.target_kind.clone());
    }
    let text = query.text.trim();
    if !text.is_empty() {
        qb.push(" AND search_text LIKE ");
        qb.push_bind(contains_pattern(&fold(text)));
        qb.push(" ESCAPE '\\'");
    }
    if let Some(since) = query.since {
        qb.push(" AND at >= ");
        qb.push_bind(since);
    }
    if let Some(until) = query.until {
        qb.push(" AND at < ");
        qb.push_bind(until);
    }
    if let Some(before) = query.before_id {
        qb.push(" AND id < ");
        qb.push_bind(before);
    }
    qb.push(" ORDER BY id DESC LIMIT ");
    qb.push_bind(query.limit);
    Ok(qb.build_query_as().fetch_all(&p.read).await?)
}

// --- console users ----------------------------------------------------------------------------

const USER_COLUMNS: &str = "id, email, role, password_hash, session_generation, last_sign_in_at, \
     created_at, updated_at";

async fn user_by_email(conn: &mut Conn, email: &str) -> StoreResult<Option<UserRow>> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

async fn require_user(conn: &mut Conn, email: &str) -> StoreResult<UserRow> {
    user_by_email(conn, email)
        .await?
        .ok_or(StoreError::NotFound("user"))
}

/// Refuses a change that would leave no admin: nobody could manage users any more.
async fn keep_an_admin(conn: &mut Conn, losing: &UserRow) -> StoreResult<()> {
    if losing.role() != Role::Admin {
        return Ok(());
    }
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(conn)
        .await?;
    if admins <= 1 {
        return Err(DomainError::new(
            "email",
            format!(
                "{} is the last admin; make another admin first",
                losing.email
            ),
        )
        .into());
    }
    Ok(())
}

pub async fn create_user(p: &P, actor: &Actor, new: &NewUser, at: Stamp) -> StoreResult<UserRow> {
    let (mut tx, now) = begin(p, at).await?;
    if user_by_email(&mut tx, &new.email).await?.is_some() {
        return Err(
            DomainError::new("email", format!("{} already has an account", new.email)).into(),
        );
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO users (id, email, role, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&id)
    .bind(&new.email)
    .bind(new.role.as_str())
    .bind(&new.password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent::new(
        "user.add",
        "user",
        &id,
        format!("{} ({})", new.email, new.role),
    );
    audit(&mut tx, actor, now, event).await?;
    let row = require_user(&mut tx, &new.email).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list_users(p: &P) -> StoreResult<Vec<UserRow>> {
    Ok(
        sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
            .fetch_all(&p.read)
            .await?,
    )
}

pub async fn find_user_by_email(p: &P, email: &str) -> StoreResult<Option<UserRow>> {
    let mut conn = p.read.acquire().await?;
    user_by_email(&mut conn, email).await
}

pub async fn get_user(p: &P, id: &str) -> StoreResult<UserRow> {
    sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&p.read)
        .await?
        .ok_or(StoreError::NotFound("user"))
}

pub async fn remove_user(p: &P, actor: &Actor, email: &str, at: Stamp) -> StoreResult<UserRow> {
    let (mut tx, now) = begin(p, at).await?;
    let row = require_user(&mut tx, email).await?;
    keep_an_admin(&mut tx, &row).await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::new("user.remove", "user", &row.id, row.email.clone());
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn set_user_password(
    p: &P,
    actor: &Actor,
    email: &str,
    password_hash: &str,
    at: Stamp,
) -> StoreResult<UserRow> {
    let (mut tx, now) = begin(p, at).await?;
    let row = require_user(&mut tx, email).await?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, session_generation = session_generation + 1,
           updated_at = $2 WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now)
    .bind(&row.id)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent::new(
        "user.password",
        "user",
        &row.id,
        format!("{}: new password, signed out everywhere", row.email),
    );
    audit(&mut tx, actor, now, event).await?;
    let row = require_user(&mut tx, email).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn set_user_role(
    p: &P,
    actor: &Actor,
    email: &str,
    role: Role,
    at: Stamp,
) -> StoreResult<UserRow> {
    let (mut tx, now) = begin(p, at).await?;
    let row = require_user(&mut tx, email).await?;
    if row.role() == role {
        tx.commit().await?;
        return Ok(row);
    }
    keep_an_admin(&mut tx, &row).await?;
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now)
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::new(
        "user.role",
        "user",
        &row.id,
        format!("{}: {} → {}", row.email, row.role, role),
    );
    audit(&mut tx, actor, now, event).await?;
    let row = require_user(&mut tx, email).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn note_sign_in(p: &P, actor: &Actor, user_id: &str, at: Stamp) -> StoreResult<()> {
    let (mut tx, now) = begin(p, at).await?;
    sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::new("user.sign_in", "user", user_id, "signed in to the console");
    audit(&mut tx, actor, now, event).await?;
    tx.commit().await?;
    Ok(())
}

// --- failed sign-ins --------------------------------------------------------------------------

const FAILURE_COLUMNS: &str = "key, failures, first_failure_at, last_failure_at, held_until";

async fn failures_of(conn: &mut Conn, keys: &[String]) -> StoreResult<Vec<SignInFailureRow>> {
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {FAILURE_COLUMNS} FROM sign_in_failures WHERE key IN "
    ));
    push_id_list(&mut qb, keys);
    qb.push(" ORDER BY key");
    Ok(qb.build_query_as().fetch_all(conn).await?)
}

pub async fn sign_in_failures(p: &P, keys: &[String]) -> StoreResult<Vec<SignInFailureRow>> {
    let mut conn = p.read.acquire().await?;
    failures_of(&mut conn, keys).await
}

/// Counts a sign-in attempt against each key before its password is checked, so
/// that attempts sent all at once are counted (and held back) one after another.
/// When a key is held back already, counts nothing and says until when. A key
/// reaching its limit is held back for `hold` from now.
pub async fn count_sign_in_attempt(
    p: &P,
    keys: &[(String, i64)],
    window: Duration,
    hold: Duration,
    at: Stamp,
) -> StoreResult<SignInAttempt> {
    let (mut tx, now) = begin(p, at).await?;
    let names: Vec<String> = keys.iter().map(|(key, _)| key.clone()).collect();
    let existing = failures_of(&mut tx, &names).await?;
    let held = existing
        .iter()
        .filter_map(|row| row.held_until)
        .filter(|until| *until > now)
        .max();
    if held.is_some() {
        tx.commit().await?;
        return Ok(SignInAttempt {
            held_until: held,
            attempts: existing.iter().map(|r| r.failures).max().unwrap_or(0),
        });
    }
    let mut attempts = 0;
    for (key, limit) in keys {
        let previous = existing.iter().find(|row| &row.key == key);
        let (failures, first) = match previous {
            Some(row) if now - row.first_failure_at < window => {
                (row.failures + 1, row.first_failure_at)
            }
            _ => (1, now),
        };
        attempts = attempts.max(failures);
        let held_until = (failures >= *limit).then(|| now + hold);
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_failures (key, failures, first_failure_at, last_failure_at, held_until)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key)
        .bind(failures)
        .bind(first)
        .bind(now)
        .bind(held_until)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(SignInAttempt {
        held_until: None,
        attempts,
    })
}

/// Takes back the count of an attempt that turned out to be right (for an address:
/// an office's good sign-ins must not add up to a hold).
pub async fn forgive_sign_in_attempt(p: &P, key: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sign_in_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0",
    )
    .bind(key)
    .execute(&p.write)
    .await?;
    Ok(())
}

pub async fn clear_sign_in_failures(p: &P, keys: &[String]) -> StoreResult<()> {
    let mut qb = QueryBuilder::<Db>::new("DELETE FROM sign_in_failures WHERE key IN ");
    push_id_list(&mut qb, keys);
    qb.build().execute(&p.write).await?;
    Ok(())
}

// --- signed-out sessions ----------------------------------------------------------------------

pub async fn end_session(p: &P, id: &str, expires_at: DateTime<Utc>, at: Stamp) -> StoreResult<()> {
    let (mut tx, now) = begin(p, at).await?;
    sqlx::query("DELETE FROM ended_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM ended_sessions WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO ended_sessions (id, expires_at) VALUES ($1, $2)")
        .bind(id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn session_ended(p: &P, id: &str) -> StoreResult<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM ended_sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(&p.read)
        .await?;
    Ok(found.is_some())
}
