-- Accounts. functions.owner and invocations.owner hold users.id, which never changes.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,  -- admin | user
    password_hash TEXT,           -- Argon2id PHC string; NULL: the user signs in with tokens only
    created_at    INTEGER NOT NULL -- Unix milliseconds
);

-- API tokens. A token's text is shown once, when it is made; only its SHA-256 digest is kept.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY, -- the public part of the text (kdl_<id>_<secret>)
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL,    -- hex SHA-256 of the whole text
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,          -- NULL: never
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
