-- Core schema: the page, components and groups, incidents with their timeline, the
-- append-only component status log, and API keys. Times are UTC, written by Herald
-- (never CURRENT_TIMESTAMP) so they compare as text. Mirrors postgres/0001_core.sql.

CREATE TABLE page (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    website_url TEXT,
    page_description TEXT,
    headline TEXT,
    support_url TEXT,
    notifications_from_email TEXT,
    notifications_email_footer TEXT,
    allow_page_subscribers BOOLEAN NOT NULL DEFAULT 1,
    allow_incident_subscribers BOOLEAN NOT NULL DEFAULT 1,
    allow_email_subscribers BOOLEAN NOT NULL DEFAULT 1,
    allow_rss_atom_feeds BOOLEAN NOT NULL DEFAULT 1,
    -- Hash of the [page] table of content/site.toml last applied (status as code).
    content_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE component_groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    position INTEGER NOT NULL,
    content_key TEXT UNIQUE,
    content_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE components (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    group_id TEXT REFERENCES component_groups (id) ON DELETE SET NULL,
    position INTEGER NOT NULL,
    showcase BOOLEAN NOT NULL DEFAULT 1,
    only_show_if_degraded BOOLEAN NOT NULL DEFAULT 0,
    start_date TEXT,
    content_key TEXT UNIQUE,
    content_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Append-only: uptime and history are computed from these intervals. No foreign key,
-- so the history of a deleted component survives.
CREATE TABLE component_status_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_id TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    cause TEXT NOT NULL,
    incident_id TEXT,
    incident_update_id TEXT
);
CREATE INDEX component_status_changes_by_component
    ON component_status_changes (component_id, changed_at);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    computed_impact TEXT NOT NULL,
    impact_override TEXT,
    backfilled BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    monitoring_at TEXT,
    resolved_at TEXT,
    scheduled_for TEXT,
    scheduled_until TEXT,
    scheduled_remind_prior BOOLEAN NOT NULL DEFAULT 0,
    scheduled_auto_in_progress BOOLEAN NOT NULL DEFAULT 0,
    scheduled_auto_completed BOOLEAN NOT NULL DEFAULT 0,
    auto_transition_to_maintenance_state BOOLEAN NOT NULL DEFAULT 0,
    auto_transition_to_operational_state BOOLEAN NOT NULL DEFAULT 0,
    auto_transition_deliver_notifications_at_start BOOLEAN NOT NULL DEFAULT 0,
    auto_transition_deliver_notifications_at_end BOOLEAN NOT NULL DEFAULT 0,
    reminder_intervals TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    -- The name case-folded by Herald (SQLite's LOWER folds ASCII only), for search.
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incidents_by_kind_created ON incidents (kind, created_at);

CREATE TABLE incident_components (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (incident_id, component_id)
);

CREATE TABLE incident_updates (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    display_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deliver_notifications BOOLEAN NOT NULL,
    -- Whether the change named components: false shows `affected_components: null`.
    names_components BOOLEAN NOT NULL,
    -- The body case-folded by Herald, for search.
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, display_at);

CREATE TABLE incident_update_components (
    incident_update_id TEXT NOT NULL REFERENCES incident_updates (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    -- The name when the update was posted, so a renamed or deleted component still reads right.
    name TEXT NOT NULL,
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    PRIMARY KEY (incident_update_id, ordinal)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- SHA-256 of the key: keys are 256-bit random, so a fast hash is enough and
    -- lets us look a key up by its hash.
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
