-- The citizen portal.
--
-- Inbox messages are keyed: the text is rendered in the reader's language
-- from the message catalogs, so a message stores its key and arguments.
-- Rows written before keeps their German subject and body.
-- §9 OZG ties delivery to when a message was made available (created_at),
-- when the citizen was notified and when they first opened it.
-- notify_claimed_at and notify_attempts let several notifiers share the
-- work without holding a transaction open while an e-mail goes out.
ALTER TABLE messages
    ADD COLUMN text_key          text,
    ADD COLUMN args              jsonb,
    ADD COLUMN notified_at       timestamptz,
    ADD COLUMN opened_at         timestamptz,
    ADD COLUMN notify_claimed_at timestamptz,
    ADD COLUMN notify_attempts   int NOT NULL DEFAULT 0;

-- Portal sessions (the layout the session library's Postgres store expects).
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Where citizens are told that a message waits (package notify), from the
-- identity provider's claims at each login.
CREATE TABLE contacts (
    citizen_id text PRIMARY KEY,
    email      text NOT NULL,
    lang       text NOT NULL DEFAULT 'de',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_unnotified ON messages (created_at) WHERE notified_at IS NULL AND opened_at IS NULL;
