-- Email subscribers and the durable outbox. Mirrors sqlite/0003_subscribers_outbox.sql.

-- Keys Herald makes for itself (the HMAC key that signs subscriber links), shared by
-- every instance on this database.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE subscribers (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    -- Lower-cased address: one subscriber per address.
    email_key TEXT NOT NULL UNIQUE,
    -- unconfirmed, active, quarantined, unsubscribed
    state TEXT NOT NULL,
    -- True: every component (and incidents naming none). False: the chosen set.
    all_components BOOLEAN NOT NULL,
    skip_confirmation_notification BOOLEAN NOT NULL DEFAULT FALSE,
    -- Changes when a confirmation link is issued; the link carries it, and confirming
    -- clears it, so each link works once.
    confirmation_nonce TEXT,
    confirmation_sent_at TIMESTAMPTZ,
    confirmed_at TIMESTAMPTZ,
    unsubscribed_at TIMESTAMPTZ,
    quarantined_at TIMESTAMPTZ,
    -- Permanent delivery failures in a row; the subscriber is quarantined at 3.
    bounce_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscribers_by_state ON subscribers (state, created_at);

CREATE TABLE subscriber_components (
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (subscriber_id, component_id)
);
CREATE INDEX subscriber_components_by_component ON subscriber_components (component_id);

-- Stage one of the outbox: one row per thing to tell, written in the same transaction
-- as the change. Cheap however many subscribers there are.
CREATE TABLE notification_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- incident_update, confirmation
    kind TEXT NOT NULL,
    incident_id TEXT,
    incident_update_id TEXT,
    -- For a confirmation: its one recipient.
    subscriber_id TEXT,
    -- The components the change concerns (JSON array of ids); [] means the whole page.
    component_ids TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    fanned_out_at TIMESTAMPTZ
);
CREATE INDEX notification_events_pending ON notification_events (fanned_out_at, id);

-- Stage two: one row per (event, recipient). The unique key is what makes a retry, a
-- double submit or a loop unable to multiply mail.
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- A worker that claimed the row holds it until then; after a crash it is retried.
    leased_until TIMESTAMPTZ,
    last_error TEXT,
    sent_at TIMESTAMPTZ,
    failed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (event_id, subscriber_id)
);
CREATE INDEX deliveries_due ON deliveries (sent_at, failed_at, next_attempt_at);
