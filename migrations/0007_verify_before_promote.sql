-- Verify before promote (issue 16): a rebuild may wait at `ready` -- its shadow following the tail --
-- until promoted by hand, or promote by itself only when the diff shows the expected changes.
ALTER TABLE reproj.rebuilds DROP CONSTRAINT rebuilds_state_check;
ALTER TABLE reproj.rebuilds ADD CONSTRAINT rebuilds_state_check
  CHECK (state IN ('replaying', 'catching_up', 'ready', 'promoting', 'done', 'failed', 'cancelled'));

-- `ready` is running: still one running rebuild per projection.
DROP INDEX reproj.rebuilds_one_running;
CREATE UNIQUE INDEX rebuilds_one_running ON reproj.rebuilds (projection)
  WHERE state IN ('replaying', 'catching_up', 'ready', 'promoting');

ALTER TABLE reproj.rebuilds
  ADD COLUMN promote           text    NOT NULL DEFAULT 'auto' CHECK (promote IN ('auto', 'manual', 'if_expected')),
  ADD COLUMN expect_changes    jsonb   NOT NULL DEFAULT '[]',  -- columns, "rows_added", "rows_removed"
  ADD COLUMN gate              text,                           -- why a ready rebuild waits: 'unexpected_changes'
  ADD COLUMN promote_requested boolean NOT NULL DEFAULT false,  -- POST /admin/rebuilds/{id}/promote
  ADD COLUMN diff_requested    boolean NOT NULL DEFAULT false,  -- POST /admin/rebuilds/{id}/diff
  ADD COLUMN diff              jsonb,                           -- the last report (GET /admin/rebuilds/{id}/diff)
  ADD COLUMN diff_at           timestamptz;

-- What a new version changes in one table: live against shadow, joined on the key, set-based, in
-- the caller's snapshot (reproj brings both to one position first). Columns present in both with
-- the same type are compared; the others are reported as added or dropped, not compared. Up to 20
-- samples per kind. `expected`: the columns the version is meant to change.
CREATE FUNCTION reproj.diff_table(live regclass, shadow regclass, key_column text, expected jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  common text[];
  added_columns text[];
  dropped_columns text[];
  distinct_any text := 'false';
  per_column text := '';
  c text;
  totals jsonb;
  changed_columns jsonb;
  samples jsonb;
BEGIN
  SELECT coalesce(array_agg(l.attname::text ORDER BY l.attnum), '{}') INTO common
    FROM pg_attribute l JOIN pg_attribute s
      ON s.attrelid = shadow AND s.attname = l.attname AND s.atttypid = l.atttypid AND s.attnum > 0 AND NOT s.attisdropped
   WHERE l.attrelid = live AND l.attnum > 0 AND NOT l.attisdropped AND l.attname <> key_column;
  SELECT coalesce(array_agg(attname::text ORDER BY attnum), '{}') INTO added_columns FROM pg_attribute
   WHERE attrelid = shadow AND attnum > 0 AND NOT attisdropped AND attname <> key_column AND NOT attname = ANY (common);
  SELECT coalesce(array_agg(attname::text ORDER BY attnum), '{}') INTO dropped_columns FROM pg_attribute
   WHERE attrelid = live AND attnum > 0 AND NOT attisdropped AND attname <> key_column AND NOT attname = ANY (common);
  FOREACH c IN ARRAY common LOOP
    distinct_any := distinct_any || format(' OR l.%1$I IS DISTINCT FROM s.%1$I', c);
    per_column := per_column || format(', %1$L, count(*) FILTER (WHERE l.%2$I IS NOT NULL AND s.%2$I IS NOT NULL AND l.%1$I IS DISTINCT FROM s.%1$I)',
                                       c, key_column);
  END LOOP;
  EXECUTE format(
    'SELECT jsonb_build_object(''live_rows'', count(l.%1$I), ''shadow_rows'', count(s.%1$I), '
    '''added'', count(*) FILTER (WHERE l.%1$I IS NULL), ''removed'', count(*) FILTER (WHERE s.%1$I IS NULL), '
    '''changed'', count(*) FILTER (WHERE l.%1$I IS NOT NULL AND s.%1$I IS NOT NULL AND (%2$s)), '
    '''per_column'', jsonb_build_object(''_'', 0 %3$s)) '
    'FROM %4$s l FULL JOIN %5$s s ON l.%1$I = s.%1$I',
    key_column, distinct_any, per_column, live, shadow) INTO totals;
  SELECT coalesce(jsonb_object_agg(key, value), '{}') INTO changed_columns
    FROM jsonb_each(totals -> 'per_column') WHERE key <> '_' AND value::bigint > 0;
  EXECUTE format(
    'SELECT (SELECT coalesce(jsonb_agg(x), ''[]'') FROM (SELECT jsonb_build_object(''key'', l.%1$I, ''kind'', ''changed'', ''columns'', '
    '  (SELECT jsonb_object_agg(c, jsonb_build_object(''live'', to_jsonb(l) -> c, ''shadow'', to_jsonb(s) -> c)) '
    '     FROM unnest($1) c WHERE (to_jsonb(l) -> c) IS DISTINCT FROM (to_jsonb(s) -> c))) AS x '
    '  FROM %2$s l JOIN %3$s s ON l.%1$I = s.%1$I WHERE %4$s ORDER BY l.%1$I LIMIT 20) t) '
    '|| (SELECT coalesce(jsonb_agg(x), ''[]'') FROM (SELECT jsonb_build_object(''key'', s.%1$I, ''kind'', ''added'') AS x '
    '  FROM %3$s s WHERE NOT EXISTS (SELECT 1 FROM %2$s l WHERE l.%1$I = s.%1$I) ORDER BY s.%1$I LIMIT 20) t) '
    '|| (SELECT coalesce(jsonb_agg(x), ''[]'') FROM (SELECT jsonb_build_object(''key'', l.%1$I, ''kind'', ''removed'') AS x '
    '  FROM %2$s l WHERE NOT EXISTS (SELECT 1 FROM %3$s s WHERE s.%1$I = l.%1$I) ORDER BY l.%1$I LIMIT 20) t)',
    key_column, live, shadow, distinct_any) INTO samples USING common;
  RETURN jsonb_build_object(
    'live_rows', totals -> 'live_rows', 'shadow_rows', totals -> 'shadow_rows',
    'added', totals -> 'added', 'removed', totals -> 'removed', 'changed', totals -> 'changed',
    'unchanged', (totals ->> 'live_rows')::bigint - (totals ->> 'removed')::bigint - (totals ->> 'changed')::bigint,
    'changed_columns', changed_columns,
    'unexpected_columns', (SELECT coalesce(jsonb_agg(k ORDER BY k), '[]') FROM jsonb_object_keys(changed_columns) k
                            WHERE NOT expected ? k),
    'columns_added', to_jsonb(added_columns), 'columns_dropped', to_jsonb(dropped_columns),
    'samples', samples);
END $$;
