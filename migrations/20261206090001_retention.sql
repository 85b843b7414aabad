-- Logs of more than a few hundred bytes are kept zstd-compressed here (`logs` is then '').
ALTER TABLE invocations ADD COLUMN logs_zstd BLOB;

-- Per-minute rollups of the invocation records that retention pruned: what the metrics need,
-- kept longer than the records themselves. A record is either here or in `invocations`, never
-- in both (it is rolled up and deleted in one transaction).
CREATE TABLE invocation_minutes (
    function_id           TEXT NOT NULL,
    minute                INTEGER NOT NULL, -- minutes since the Unix epoch
    owner                 TEXT NOT NULL,
    function_name         TEXT NOT NULL,
    ran                   INTEGER NOT NULL, -- every status but throttled
    successes             INTEGER NOT NULL,
    errors                INTEGER NOT NULL,
    timeouts              INTEGER NOT NULL,
    out_of_memory         INTEGER NOT NULL,
    crashes               INTEGER NOT NULL,
    throttles             INTEGER NOT NULL,
    cold                  INTEGER NOT NULL,
    prewarmed             INTEGER NOT NULL,
    warm                  INTEGER NOT NULL,
    duration_ms_sum       REAL NOT NULL,
    duration_ms_max       REAL,
    init_ms_sum           REAL NOT NULL,
    inits                 INTEGER NOT NULL,
    peak_memory_bytes_max INTEGER,
    cpu_time_ms_sum       REAL NOT NULL,
    cpu_measured          INTEGER NOT NULL,
    durations             BLOB NOT NULL,    -- HDR histogram (V2) of the durations, microseconds
    PRIMARY KEY (function_id, minute)
);
CREATE INDEX invocation_minutes_by_owner ON invocation_minutes (owner, minute);
CREATE INDEX invocation_minutes_by_time ON invocation_minutes (minute);

-- Code blobs no version uses any more are deleted: finding out is one index lookup.
CREATE INDEX function_versions_by_code ON function_versions (code_sha256);
