-- A secret key rotated in the dashboard is shown once, on the page the rotation redirects to
-- (post/redirect/get: a reload cannot rotate again). Until that page takes it, the key waits
-- here sealed with a key derived from the session's cookie token, which the server does not
-- keep: only the browser holding the cookie can open it. Empty: nothing waiting.
ALTER TABLE dashboard_sessions ADD COLUMN reveal TEXT NOT NULL DEFAULT '';
