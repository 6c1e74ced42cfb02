-- Four eyes for policy changes: an upload that passed every check is a
-- proposed revision; it goes live (activated_at) once enough different
-- people with the policy role approved it. The uploader is the first.
ALTER TABLE policy_bundles ADD COLUMN activated_at timestamptz;
-- A revision names one content: the digest (SHA-256 of the upload) keeps
-- a second, different upload from taking a name under review.
ALTER TABLE policy_bundles ADD COLUMN digest text;
UPDATE policy_bundles SET digest = encode(sha256(bundle), 'hex');
CREATE INDEX policy_bundles_revision ON policy_bundles (revision);
-- Uploads before this migration went live at once.
UPDATE policy_bundles SET activated_at = uploaded_at;
CREATE INDEX policy_bundles_active ON policy_bundles (activated_at DESC, id DESC) WHERE activated_at IS NOT NULL;

CREATE TABLE policy_approvals (
    bundle_id    bigint NOT NULL REFERENCES policy_bundles (id),
    approved_by  text NOT NULL,
    approved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bundle_id, approved_by)
);
INSERT INTO policy_approvals (bundle_id, approved_by, approved_at)
    SELECT id, uploaded_by, uploaded_at FROM policy_bundles;

-- The same (source, reference) with other data is a conflict, not a
-- duplicate: the digest of the application's content tells them apart.
-- Applications stored before have none and count as the same data.
ALTER TABLE applications ADD COLUMN digest text;
