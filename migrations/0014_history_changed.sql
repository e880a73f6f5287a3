-- Issue 41: a history version no longer stores what its event changed (`_changed`): it is the
-- difference from the key's previous version, computed when the history is read
-- (engine/detail/history_sql.hpp). History tables made before keep the column and its values (old
-- versions still read them), but new versions leave it NULL. Only NOT NULL is dropped: no rewrite,
-- and a reader's view over the column keeps working.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT c.table_schema, c.table_name FROM information_schema.columns c
     WHERE c.table_schema = 'reproj_data' AND c.column_name = '_changed' AND c.is_nullable = 'NO'
       AND EXISTS (SELECT 1 FROM information_schema.columns p WHERE p.table_schema = c.table_schema
                      AND p.table_name = c.table_name AND p.column_name = '_position')
  LOOP
    EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN _changed DROP NOT NULL', t.table_schema, t.table_name);
  END LOOP;
END
$$;
