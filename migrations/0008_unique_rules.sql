-- Issue 17: a rebuild whose unique rule the history breaks fails with a report of the duplicates
-- (at most 20): [{"table", "columns", "value", "key", "position", "existing_key", "existing_position"}].
ALTER TABLE reproj.rebuilds ADD COLUMN duplicates jsonb;
