-- What the kernel accounted to each invocation (cgroups); NULL where the runtime cannot tell.
ALTER TABLE invocations ADD COLUMN peak_memory_bytes INTEGER;
ALTER TABLE invocations ADD COLUMN cpu_time_ms REAL;
