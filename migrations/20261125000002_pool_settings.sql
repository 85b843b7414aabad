-- Per-function pool settings (NULL: the server's default).
ALTER TABLE function_versions ADD COLUMN max_concurrency INTEGER;
ALTER TABLE function_versions ADD COLUMN min_warm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE function_versions ADD COLUMN keep_alive_secs INTEGER;
