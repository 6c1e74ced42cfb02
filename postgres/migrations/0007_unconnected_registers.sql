-- Registers a municipality has not connected (vehicles, dogs, parkingZones,
-- wasteDistrict): what they would hold is unknown, not empty, so the rules
-- can say "please apply by hand" instead of "not eligible".
ALTER TABLE registry_municipalities ADD COLUMN unconnected text[] NOT NULL DEFAULT '{}';
