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
