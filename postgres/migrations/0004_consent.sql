-- Consent records in the substance of ISO/IEC TS 27560: what the citizen
-- agreed to (or objected to), for which purpose, which data, which
-- recipient, on which notice. The record's content never changes; its
-- state is derived from its append-only history of events.
CREATE TABLE consents (
    id                 text PRIMARY KEY,
    citizen_id         text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('proposal', 'standing', 'offers', 'objection', 'optional-data')),
    purpose            text NOT NULL,
    controller         text NOT NULL,
    recipient          text NOT NULL,
    data_categories    jsonb NOT NULL,
    fields             jsonb NOT NULL,
    legal_basis        text NOT NULL,
    collection_method  text NOT NULL,
    notice_version     text NOT NULL,
    proposal_id        text,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consents_citizen ON consents (citizen_id, purpose, recipient);

CREATE TABLE consent_events (
    id          bigserial PRIMARY KEY,
    consent_id  text NOT NULL REFERENCES consents (id),
    kind        text NOT NULL CHECK (kind IN ('given', 'renewed', 'withdrawn', 'expired')),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_until timestamptz,
    method      text NOT NULL
);
CREATE INDEX consent_events_consent ON consent_events (consent_id, id);

-- The current state of each consent, kept in the same transaction as the
-- event that changes it. The history stays the record; this row is what
-- transfers lock: a withdrawal updates it, so a transfer waiting on the
-- lock re-checks the new state (PostgreSQL re-evaluates a locked row that
-- changed), and the two can never both win.
CREATE TABLE consent_state (
    consent_id   text PRIMARY KEY REFERENCES consents (id),
    status       text NOT NULL CHECK (status IN ('active', 'withdrawn', 'expired')),
    valid_until  timestamptz
);
CREATE INDEX consent_state_due ON consent_state (valid_until) WHERE status = 'active';

CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER consents_immutable BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

-- The transparency log: every transfer of a citizen's data, with the names
-- (never the values) of the fields, written in the transfer's transaction.
CREATE TABLE transfers (
    id               text PRIMARY KEY,
    citizen_id       text NOT NULL,
    proposal_id      text,
    service          text NOT NULL,
    recipient        text NOT NULL,
    purpose          text NOT NULL,
    basis_kind       text NOT NULL CHECK (basis_kind IN ('consent', 'law')),
    basis_reference  text NOT NULL,
    fields           jsonb NOT NULL,
    at               timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX transfers_citizen ON transfers (citizen_id, at DESC);
