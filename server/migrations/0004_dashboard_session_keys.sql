-- A dashboard session ends when a secret key it signed in with is revoked or rotated away:
-- the session keeps each key's SHA-256 hash by mode ('test:<hash>,live:<hash>'), and every
-- page checks them. Sessions from before this column name no key to check, so they end here
-- (their people sign in again); the operator's sessions name none and stay.
DELETE FROM dashboard_sessions WHERE operator = 0;
ALTER TABLE dashboard_sessions ADD COLUMN secret_keys TEXT NOT NULL DEFAULT '';
