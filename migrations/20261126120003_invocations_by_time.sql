-- The metrics of an administrator (every owner, every function) select by time alone.
CREATE INDEX invocations_by_time ON invocations (started_at);
