-- Browser sessions are tokens too (listed, expiring, revocable like them), of their own kind:
-- a session is accepted only from the dashboard's HttpOnly cookie, an API token only as a bearer.
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api'; -- api | session
