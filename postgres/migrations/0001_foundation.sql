-- Life events as the orchestrator received them: where each one stands.
CREATE TABLE life_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    source       text NOT NULL,
    workflow_id  text NOT NULL,
    status       text NOT NULL DEFAULT 'received',
    received_at  timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The citizen-facing read model of proposals. Workflows keep it current;
-- the API lists from here and never waits on Temporal.
CREATE TABLE proposals (
    id               text PRIMARY KEY,
    life_event_id    text NOT NULL,
    citizen_id       text NOT NULL,
    service          text NOT NULL,
    status           text NOT NULL,
    recipient_id     text NOT NULL,
    recipient_name   text NOT NULL,
    purpose          text NOT NULL,
    basis_kind       text NOT NULL CHECK (basis_kind IN ('consent', 'law')),
    basis_reference  text NOT NULL,
    fields           jsonb NOT NULL DEFAULT '[]',
    status_reason    text NOT NULL DEFAULT '',
    deadline         timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proposals_citizen ON proposals (citizen_id, created_at DESC);
CREATE INDEX proposals_life_event ON proposals (life_event_id);

-- The citizen's inbox.
CREATE TABLE messages (
    id           text PRIMARY KEY,
    citizen_id   text NOT NULL,
    kind         text NOT NULL,
    proposal_id  text,
    subject      text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_citizen ON messages (citizen_id, created_at DESC);
