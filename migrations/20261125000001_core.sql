-- Functions: one row per function, pointing at its current version.
CREATE TABLE functions (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    route       TEXT,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL, -- Unix milliseconds
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX functions_owner_name ON functions (owner, name);
CREATE UNIQUE INDEX functions_route ON functions (route);

-- Every version of every function, immutable once written.
CREATE TABLE function_versions (
    function_id  TEXT NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    language     TEXT NOT NULL,
    code_sha256  TEXT NOT NULL, -- the code itself is a blob under the data dir
    code_size    INTEGER NOT NULL,
    handler      TEXT NOT NULL,
    timeout_secs INTEGER NOT NULL,
    memory_mb    INTEGER NOT NULL,
    env          TEXT NOT NULL, -- JSON object
    runtime      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (function_id, version)
);

-- Every invocation; kept when its function is deleted.
CREATE TABLE invocations (
    id            TEXT PRIMARY KEY,
    function_id   TEXT NOT NULL,
    function_name TEXT NOT NULL,
    owner         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    runtime       TEXT NOT NULL,
    start         TEXT,          -- warm | prewarmed | cold; NULL when it never ran
    status        TEXT NOT NULL,
    result        TEXT,          -- JSON
    error         TEXT,          -- JSON {errorType, errorMessage, stackTrace}
    logs          TEXT NOT NULL,
    started_at    INTEGER NOT NULL, -- Unix milliseconds
    duration_ms   REAL NOT NULL,
    init_ms       REAL
);
CREATE INDEX invocations_by_function ON invocations (function_id, started_at);
CREATE INDEX invocations_by_owner ON invocations (owner, started_at);
