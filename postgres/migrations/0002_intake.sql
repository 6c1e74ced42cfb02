-- Initial applications as the registry offices posted them. (source,
-- reference) identifies an application: posting it again returns the same
-- event id instead of starting a second journey.
CREATE TABLE applications (
    event_id     text PRIMARY KEY,
    source       text NOT NULL,
    reference    text NOT NULL,
    type         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, reference)
);

-- Transactional outbox: written in the application's transaction, relayed
-- to Kafka after commit, marked published once the broker acknowledged.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL,
    topic         text NOT NULL,
    key           bytea,
    value         bytea NOT NULL,
    headers       jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Dead letters as read back from life-events.dlq, for operators to list
-- and replay. id is "<partition>-<offset>" on the dead-letter topic.
CREATE TABLE dead_letters (
    id           text PRIMARY KEY,
    key          bytea,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '[]',
    error        text NOT NULL,
    stage        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz
);
