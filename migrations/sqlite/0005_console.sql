-- The console: people who sign in, the audit log of every change, and the record of
-- failed sign-ins that slows and then holds back password guessing.
-- Mirrors postgres/0005_console.sql.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    -- Lower-cased, so one person is one account whatever they type.
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'responder')),
    -- argon2id, PHC string format.
    password_hash TEXT NOT NULL,
    -- Bumped when the password changes: sessions carry the generation they were
    -- issued in, so changing a password signs the account out everywhere.
    session_generation BIGINT NOT NULL DEFAULT 0,
    last_sign_in_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    -- user, api_key, cli, content, scheduler, public
    actor_kind TEXT NOT NULL,
    -- The person's email, the key's name, the OS user, the file...
    actor_name TEXT NOT NULL,
    -- e.g. incident.create, component.update
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    -- What a reader of the log needs: the incident's name and new status, etc.
    summary TEXT NOT NULL,
    -- actor_name, target_id and summary case-folded by Herald (SQLite's LOWER folds
    -- only ASCII), for the log's text filter.
    search_text TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- One row per account (key 'account:EMAIL') and per address ('address:IP').
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    first_failure_at TEXT NOT NULL,
    last_failure_at TEXT NOT NULL,
    held_until TEXT
);

-- Sessions signed out before they expired. A session lives in its cookie; a copy of
-- the cookie taken before signing out must not work after it. Rows go once the
-- session would have expired anyway.
CREATE TABLE ended_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    expires_at TEXT NOT NULL
);
