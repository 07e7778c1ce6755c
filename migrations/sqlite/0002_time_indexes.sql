-- Indexes for reads bounded by time (the public site reads the last 90 days of the
-- status log and the newest incidents of any kind), so their cost does not grow with
-- the whole history. Mirrors postgres/0002_time_indexes.sql.
CREATE INDEX component_status_changes_by_time ON component_status_changes (changed_at);
CREATE INDEX incidents_by_created ON incidents (created_at);
