-- An administrator's changes to a user's quotas (JSON of crate::quotas::QuotaOverrides); NULL:
-- the defaults.
ALTER TABLE users ADD COLUMN quotas TEXT;
