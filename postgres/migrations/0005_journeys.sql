-- Applications on their way to agencies. Agencies in pull mode read their
-- own rows; a push adapter sends them; either way the result comes back
-- here and to the proposal's journey.
CREATE TABLE submissions (
    id           text PRIMARY KEY,
    proposal_id  text NOT NULL UNIQUE,
    agency       text NOT NULL,
    service      text NOT NULL,
    application  jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'granted', 'rejected')),
    note         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz
);
CREATE INDEX submissions_agency ON submissions (agency, status, created_at);

-- Exclusive services go to one member of the audience: the first accept
-- claims the service for the life event.
CREATE TABLE exclusive_claims (
    life_event_id  text NOT NULL,
    service        text NOT NULL,
    proposal_id    text NOT NULL,
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (life_event_id, service)
);
