-- Core schema: the page, components and groups, incidents with their timeline, the
-- append-only component status log, and API keys. Times are TIMESTAMPTZ written by
-- Herald in UTC. Mirrors sqlite/0001_core.sql column for column.

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
    allow_page_subscribers BOOLEAN NOT NULL DEFAULT TRUE,
    allow_incident_subscribers BOOLEAN NOT NULL DEFAULT TRUE,
    allow_email_subscribers BOOLEAN NOT NULL DEFAULT TRUE,
    allow_rss_atom_feeds BOOLEAN NOT NULL DEFAULT TRUE,
    -- Hash of the [page] table of content/site.toml last applied (status as code).
    content_hash TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE component_groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    position BIGINT NOT NULL,
    content_key TEXT UNIQUE,
    content_hash TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE components (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    group_id TEXT REFERENCES component_groups (id) ON DELETE SET NULL,
    position BIGINT NOT NULL,
    showcase BOOLEAN NOT NULL DEFAULT TRUE,
    only_show_if_degraded BOOLEAN NOT NULL DEFAULT FALSE,
    start_date DATE,
    content_key TEXT UNIQUE,
    content_hash TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Append-only: uptime and history are computed from these intervals. No foreign key,
-- so the history of a deleted component survives.
CREATE TABLE component_status_changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component_id TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
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
    backfilled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    monitoring_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    scheduled_for TIMESTAMPTZ,
    scheduled_until TIMESTAMPTZ,
    scheduled_remind_prior BOOLEAN NOT NULL DEFAULT FALSE,
    scheduled_auto_in_progress BOOLEAN NOT NULL DEFAULT FALSE,
    scheduled_auto_completed BOOLEAN NOT NULL DEFAULT FALSE,
    auto_transition_to_maintenance_state BOOLEAN NOT NULL DEFAULT FALSE,
    auto_transition_to_operational_state BOOLEAN NOT NULL DEFAULT FALSE,
    auto_transition_deliver_notifications_at_start BOOLEAN NOT NULL DEFAULT FALSE,
    auto_transition_deliver_notifications_at_end BOOLEAN NOT NULL DEFAULT FALSE,
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
    display_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deliver_notifications BOOLEAN NOT NULL,
    -- Whether the change named components: false shows `affected_components: null`.
    names_components BOOLEAN NOT NULL,
    -- The body case-folded by Herald, for search.
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, display_at);

CREATE TABLE incident_update_components (
    incident_update_id TEXT NOT NULL REFERENCES incident_updates (id) ON DELETE CASCADE,
    ordinal BIGINT NOT NULL,
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
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
