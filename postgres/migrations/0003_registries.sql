-- Reference registries of the district: what the journeys look up about a
-- citizen. In production a real register adapter can stand in for these.
CREATE TABLE registry_municipalities (
    key             text PRIMARY KEY,
    name            text NOT NULL,
    waste_district  text NOT NULL
);

CREATE TABLE registry_citizens (
    citizen_id    text PRIMARY KEY,
    name          text NOT NULL,
    municipality  text NOT NULL,
    address       text NOT NULL,
    salary        numeric
);

CREATE TABLE registry_vehicles (
    plate      text PRIMARY KEY,
    holder_id  text NOT NULL,
    kind       text NOT NULL
);
CREATE INDEX registry_vehicles_holder ON registry_vehicles (holder_id);

CREATE TABLE registry_parking_zones (
    municipality  text NOT NULL,
    street        text NOT NULL,
    zone          text NOT NULL,
    PRIMARY KEY (municipality, street)
);

CREATE TABLE registry_dogs (
    id            text PRIMARY KEY,
    owner_id      text NOT NULL,
    name          text NOT NULL,
    municipality  text NOT NULL
);
CREATE INDEX registry_dogs_owner ON registry_dogs (owner_id);

-- Audit of policy decisions: which revision decided what on which input.
CREATE TABLE policy_decisions (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    revision    text NOT NULL,
    query       text NOT NULL,
    input_hash  text NOT NULL,
    allow       boolean NOT NULL,
    reasons     jsonb NOT NULL
);

-- Policy bundles uploaded through the API. The newest row is the active
-- revision; every process polls for it, so an upload reaches all workers.
CREATE TABLE policy_bundles (
    id          bigserial PRIMARY KEY,
    revision    text NOT NULL,
    bundle      bytea NOT NULL,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
