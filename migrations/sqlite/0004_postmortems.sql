-- Postmortems: one per incident, a draft and (once published) the published body.
-- Mirrors postgres/0004_postmortems.sql.
CREATE TABLE postmortems (
    incident_id TEXT PRIMARY KEY NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    body_draft TEXT NOT NULL,
    body_draft_updated_at TEXT NOT NULL,
    body TEXT,
    body_updated_at TEXT,
    published_at TEXT,
    -- Whether publishing asked to tell subscribers, and when they were told (once).
    notify_subscribers BOOLEAN NOT NULL DEFAULT 0,
    notified_at TEXT,
    -- The timeline entry that publishing added (removed again by revert).
    incident_update_id TEXT,
    -- Hash of the content/postmortems file last applied, when it came from one.
    content_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
