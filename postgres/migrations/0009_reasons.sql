-- Withdrawals by consent recorded their reason as "consent withdrawn" while
-- the journeys record "consent_withdrawn": one spelling, the journeys'
-- (proposals.ReasonConsentWithdrawn), for old rows too.
UPDATE proposals SET status_reason = 'consent_withdrawn' WHERE status_reason = 'consent withdrawn';
