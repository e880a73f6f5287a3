-- SQL readers of projection tables survive a swap. A promote or rollback renames tables, but
-- PostgreSQL binds views, grants, policies, publications, comments and triggers to a table's
-- identity, not its name. These functions let the swap, in its own transaction, carry each of them
-- from the table it retires to the table it promotes under the same name.

ALTER TABLE reproj.rebuilds ADD COLUMN drop_dependent_views boolean NOT NULL DEFAULT false;
-- The version live when the rebuild started (the history shows from -> to).
ALTER TABLE reproj.rebuilds ADD COLUMN from_version int;

-- Waits until `projection`'s watermark reaches `target` (a global_position, e.g. the one an append
-- answered), at most `timeout`. True when reached. Each check takes a new snapshot, so call it in a
-- READ COMMITTED transaction (the default) and read the projection afterwards.
CREATE FUNCTION reproj.wait_for(projection text, target bigint, timeout interval DEFAULT '10 seconds')
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  deadline timestamptz := clock_timestamp() + timeout;
  watermark bigint;
BEGIN
  LOOP
    SELECT last_replayed INTO watermark FROM reproj.projections WHERE name = projection;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'unknown projection %', projection USING ERRCODE = 'undefined_object';
    END IF;
    IF watermark >= target THEN RETURN true; END IF;
    IF clock_timestamp() >= deadline THEN RETURN false; END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;

-- What would break if the live tables `live` (names in reproj_data) were replaced by tables of the
-- columns `target` ({"table": {"column": "type"}}): objects of users that use a column the target
-- lacks or types differently, or a table it lacks, and objects a swap cannot carry over.
-- kind: view, materialized view, policy, trigger, foreign key, publication. droppable: a view that
-- cannot read the target, which "drop_dependent_views" lets the swap drop.
CREATE FUNCTION reproj.swap_problems(live jsonb, target jsonb)
RETURNS TABLE (kind text, object text, detail text, droppable boolean) LANGUAGE sql STABLE AS $$
  WITH tables AS (
    SELECT c.oid, c.relname, target -> c.relname AS columns
    FROM jsonb_array_elements_text(live) AS l(name)
    JOIN pg_class c ON c.relname = l.name AND c.relnamespace = 'reproj_data'::regnamespace
  ),
  -- Every user object that depends on a live table (or one of its columns), by the catalog.
  uses AS (
    SELECT t.relname, t.columns, d.refobjsubid AS attnum,
           CASE d.classid
             WHEN 'pg_rewrite'::regclass THEN (SELECT CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END
                                               FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class WHERE r.oid = d.objid)
             WHEN 'pg_policy'::regclass THEN 'policy'
             WHEN 'pg_trigger'::regclass THEN 'trigger'
           END AS kind,
           CASE d.classid
             WHEN 'pg_rewrite'::regclass THEN (SELECT format('%I.%I', n.nspname, v.relname) FROM pg_rewrite r
                                               JOIN pg_class v ON v.oid = r.ev_class
                                               JOIN pg_namespace n ON n.oid = v.relnamespace WHERE r.oid = d.objid)
             WHEN 'pg_policy'::regclass THEN (SELECT format('%I on %s', p.polname, t.relname) FROM pg_policy p WHERE p.oid = d.objid)
             WHEN 'pg_trigger'::regclass THEN (SELECT format('%I on %s', g.tgname, t.relname) FROM pg_trigger g WHERE g.oid = d.objid)
           END AS object
    FROM tables t
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid
    WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_policy'::regclass, 'pg_trigger'::regclass)
      AND d.deptype = 'n'
      AND NOT (d.classid = 'pg_rewrite'::regclass
               AND (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid) = t.oid)
      AND NOT (d.classid = 'pg_trigger'::regclass
               AND (SELECT g.tgisinternal FROM pg_trigger g WHERE g.oid = d.objid))
  )
  SELECT DISTINCT u.kind, u.object,
         format('uses table reproj_data.%s, which the new version does not have', u.relname),
         u.kind IN ('view', 'materialized view')
  FROM uses u WHERE u.columns IS NULL
  UNION ALL
  SELECT DISTINCT u.kind, u.object,
         CASE WHEN NOT u.columns ? a.attname
              THEN format('uses column %s of reproj_data.%s, which the new version does not have', a.attname, u.relname)
              ELSE format('uses column %s of reproj_data.%s as %s, which the new version makes %s', a.attname,
                          u.relname, format_type(a.atttypid, a.atttypmod), u.columns ->> a.attname)
         END,
         u.kind IN ('view', 'materialized view')
  FROM uses u
  JOIN tables t ON t.relname = u.relname
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = u.attnum
  WHERE u.columns IS NOT NULL AND u.attnum > 0
    AND (NOT u.columns ? a.attname OR u.columns ->> a.attname <> format_type(a.atttypid, a.atttypmod))
  UNION ALL
  -- A foreign key binds to the referenced table's identity and its unique index; reproj does not
  -- move it (the retired table could then never be dropped).
  SELECT 'foreign key', format('%I on %I.%I', k.conname, n.nspname, c.relname),
         format('references reproj_data.%s; a swap cannot carry a foreign key to a projection table, drop it first',
                t.relname),
         false
  FROM tables t JOIN pg_constraint k ON k.contype = 'f' AND k.confrelid = t.oid
  JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  UNION ALL
  SELECT DISTINCT 'materialized view', format('%I.%I', v.relnamespace::regnamespace, v.relname),
         'has objects that depend on it; a swap re-creates a materialized view, so it must have none', false
  FROM tables t
  JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid AND d.classid = 'pg_rewrite'::regclass
  JOIN pg_rewrite r ON r.oid = d.objid
  JOIN pg_class v ON v.oid = r.ev_class AND v.relkind = 'm'
  WHERE EXISTS (SELECT 1 FROM pg_depend d2 JOIN pg_rewrite r2 ON r2.oid = d2.objid
                WHERE d2.classid = 'pg_rewrite'::regclass AND d2.refobjid = v.oid AND r2.ev_class <> v.oid)
  UNION ALL
  SELECT DISTINCT CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
         format('%I.%I', v.relnamespace::regnamespace, v.relname),
         format('is owned by role %s, which reproj''s role (%s) is not a member of, so a swap cannot re-point it',
                pg_get_userbyid(v.relowner), current_user),
         false
  FROM tables t
  JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid AND d.classid = 'pg_rewrite'::regclass
  JOIN pg_rewrite r ON r.oid = d.objid
  JOIN pg_class v ON v.oid = r.ev_class AND v.oid <> t.oid
  WHERE NOT pg_has_role(v.relowner, 'MEMBER')
  UNION ALL
  SELECT 'publication', p.pubname::text,
         format('publishes reproj_data.%s and is owned by role %s, which reproj''s role (%s) is not a member of',
                t.relname, pg_get_userbyid(p.pubowner), current_user),
         false
  FROM tables t JOIN pg_publication_rel pr ON pr.prrelid = t.oid JOIN pg_publication p ON p.oid = pr.prpubid
  WHERE NOT pg_has_role(p.pubowner, 'MEMBER')
$$;

-- Before a swap renames the live tables `live`: what must be re-created by name afterwards
-- (views, materialized views, triggers), as {"views": [...], "triggers": {"table": [...]}}.
CREATE FUNCTION reproj.swap_capture(live jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
  WITH tables AS (
    SELECT c.oid, c.relname
    FROM jsonb_array_elements_text(live) AS l(name)
    JOIN pg_class c ON c.relname = l.name AND c.relnamespace = 'reproj_data'::regnamespace
  ),
  views AS (
    SELECT DISTINCT v.oid
    FROM tables t
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid
    JOIN pg_class v ON v.oid = r.ev_class AND v.oid <> t.oid AND v.relkind IN ('v', 'm')
  )
  SELECT jsonb_build_object(
    'views', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'name', format('%I.%I', n.nspname, v.relname),
               'kind', v.relkind,
               -- The text names the live tables, so run after the renames it reads the promoted ones.
               'definition', pg_get_viewdef(v.oid),
               'options', coalesce(array_to_string(v.reloptions, ', '), ''),
               'populated', v.relispopulated,
               'owner', pg_get_userbyid(v.relowner),
               'comment', obj_description(v.oid, 'pg_class'),
               'acl', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'grantee', CASE a.grantee WHEN 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                          'privilege', a.privilege_type, 'grantable', a.is_grantable)), '[]')
                       FROM aclexplode(v.relacl) a WHERE a.grantee <> v.relowner),
               'indexes', (SELECT coalesce(jsonb_agg(pg_get_indexdef(i.indexrelid)), '[]')
                           FROM pg_index i WHERE i.indrelid = v.oid))
             ORDER BY v.oid)
      FROM views w JOIN pg_class v ON v.oid = w.oid JOIN pg_namespace n ON n.oid = v.relnamespace), '[]'),
    'triggers', coalesce((
      SELECT jsonb_object_agg(t.relname, (
               SELECT coalesce(jsonb_agg(jsonb_build_object('name', g.tgname, 'definition', pg_get_triggerdef(g.oid),
                                                            'enabled', g.tgenabled) ORDER BY g.tgname), '[]')
               FROM pg_trigger g WHERE g.tgrelid = t.oid AND NOT g.tgisinternal))
      FROM tables t), '{}'))
$$;

-- True when `a` or `b` carries anything swap_carry_over copies or moves (the common case, a table
-- nobody configured, then costs one statement under the swap's lock instead of a dozen).
CREATE FUNCTION reproj.swap_has_objects(a oid, b oid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid IN (a, b)
                 AND (c.relacl IS NOT NULL OR c.relrowsecurity OR c.relforcerowsecurity OR c.reloptions IS NOT NULL))
      OR (SELECT count(DISTINCT relowner) FROM pg_class WHERE oid IN (a, b)) > 1
      OR EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid IN (a, b) AND attnum > 0
                 AND (attacl IS NOT NULL OR attstattarget >= 0))
      OR EXISTS (SELECT 1 FROM pg_description WHERE objoid IN (a, b) AND classoid = 'pg_class'::regclass)
      OR EXISTS (SELECT 1 FROM pg_policy WHERE polrelid IN (a, b))
      OR EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid IN (a, b))
      OR EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid IN (a, b) AND NOT tgisinternal)
$$;

-- After a swap renamed each live table to `moved ->> live_name` and put the new version's table
-- in its place: makes the promoted table carry what its predecessor carried. Grants (table and
-- column), owner, row-level security and its policies, comments, statistics targets and storage
-- options are copied; publication membership and user triggers move (a retired table must not
-- publish or fire: a rollback's catch-up writes to it); views are re-pointed by re-creating them
-- from `captured`. A view the promoted table cannot serve is dropped when `drop_views`, else the
-- swap fails naming it (nothing of it is then applied: it is one transaction).
CREATE FUNCTION reproj.swap_carry_over(captured jsonb, moved jsonb, drop_views boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  live_name text;
  old_name text;
  src oid;
  dst oid;
  dst_name text;
  r record;
  v jsonb;
  g jsonb;
BEGIN
  FOR live_name, old_name IN SELECT key, value FROM jsonb_each_text(moved) LOOP
    src := to_regclass(format('reproj_data.%I', old_name));
    dst := to_regclass(format('reproj_data.%I', live_name));
    CONTINUE WHEN src IS NULL OR dst IS NULL OR NOT reproj.swap_has_objects(src, dst);
    dst_name := format('reproj_data.%I', live_name);

    -- Owner first: grants below are then made by (and for) the right owner.
    IF (SELECT relowner FROM pg_class WHERE oid = src) <> (SELECT relowner FROM pg_class WHERE oid = dst) THEN
      EXECUTE format('ALTER TABLE %s OWNER TO %I', dst_name,
                     pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = src)));
    END IF;

    -- Privileges: the destination (fresh, or a retired table brought back) gets exactly the source's.
    FOR r IN SELECT DISTINCT CASE a.grantee WHEN 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS who
             FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = dst AND a.grantee <> c.relowner LOOP
      EXECUTE format('REVOKE ALL ON %s FROM %s', dst_name, r.who);
    END LOOP;
    FOR r IN SELECT CASE a.grantee WHEN 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS who,
                    a.privilege_type, a.is_grantable
             FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = src AND a.grantee <> c.relowner LOOP
      EXECUTE format('GRANT %s ON %s TO %s%s', r.privilege_type, dst_name, r.who,
                     CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR r IN SELECT a.attname,
                    CASE x.grantee WHEN 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(x.grantee)) END AS who
             FROM pg_attribute a, aclexplode(a.attacl) x WHERE a.attrelid = dst AND a.attnum > 0 LOOP
      EXECUTE format('REVOKE ALL (%I) ON %s FROM %s', r.attname, dst_name, r.who);
    END LOOP;
    FOR r IN SELECT a.attname, x.privilege_type, x.is_grantable,
                    CASE x.grantee WHEN 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(x.grantee)) END AS who
             FROM pg_attribute a, aclexplode(a.attacl) x
             WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped
               AND EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = dst AND b.attname = a.attname
                           AND b.attnum > 0 AND NOT b.attisdropped) LOOP
      EXECUTE format('GRANT %s (%I) ON %s TO %s%s', r.privilege_type, r.attname, dst_name, r.who,
                     CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;

    -- Row-level security and its policies. (Each statement here is a catalog change under the swap's
    -- locks, so only what differs is changed.)
    IF (SELECT relrowsecurity FROM pg_class WHERE oid = src) <> (SELECT relrowsecurity FROM pg_class WHERE oid = dst) THEN
      EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', dst_name,
                     CASE WHEN (SELECT relrowsecurity FROM pg_class WHERE oid = src) THEN 'ENABLE' ELSE 'DISABLE' END);
    END IF;
    IF (SELECT relforcerowsecurity FROM pg_class WHERE oid = src)
       <> (SELECT relforcerowsecurity FROM pg_class WHERE oid = dst) THEN
      EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', dst_name,
                     CASE WHEN (SELECT relforcerowsecurity FROM pg_class WHERE oid = src) THEN 'FORCE' ELSE 'NO FORCE' END);
    END IF;
    FOR r IN SELECT polname FROM pg_policy WHERE polrelid = dst LOOP
      EXECUTE format('DROP POLICY %I ON %s', r.polname, dst_name);
    END LOOP;
    FOR r IN SELECT p.policyname, p.permissive, p.cmd, p.qual, p.with_check,
                    (SELECT string_agg(CASE WHEN x = 'public' THEN 'public' ELSE quote_ident(x) END, ', ')
                     FROM unnest(p.roles) x) AS roles
             FROM pg_policies p WHERE p.schemaname = 'reproj_data' AND p.tablename = old_name LOOP
      EXECUTE format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', r.policyname, dst_name, r.permissive, r.cmd,
                     r.roles, CASE WHEN r.qual IS NULL THEN '' ELSE ' USING (' || r.qual || ')' END,
                     CASE WHEN r.with_check IS NULL THEN '' ELSE ' WITH CHECK (' || r.with_check || ')' END);
    END LOOP;

    -- Comments, statistics targets and storage options.
    IF obj_description(src, 'pg_class') IS DISTINCT FROM obj_description(dst, 'pg_class') THEN
      EXECUTE format('COMMENT ON TABLE %s IS %L', dst_name, obj_description(src, 'pg_class'));
    END IF;
    FOR r IN SELECT b.attname, col_description(src, a.attnum) AS note, col_description(dst, b.attnum) AS dst_note,
                    a.attstattarget, b.attstattarget AS dst_target
             FROM pg_attribute a JOIN pg_attribute b ON b.attrelid = dst AND b.attname = a.attname
                                                   AND b.attnum > 0 AND NOT b.attisdropped
             WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped LOOP
      IF r.note IS DISTINCT FROM r.dst_note THEN
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', dst_name, r.attname, r.note);
      END IF;
      IF r.attstattarget <> r.dst_target THEN
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', dst_name, r.attname, r.attstattarget);
      END IF;
    END LOOP;
    IF (SELECT reloptions FROM pg_class WHERE oid = src) IS NOT NULL
       AND (SELECT reloptions FROM pg_class WHERE oid = src) IS DISTINCT FROM (SELECT reloptions FROM pg_class WHERE oid = dst) THEN
      EXECUTE format('ALTER TABLE %s SET (%s)', dst_name,
                     (SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = src));
    END IF;

    -- Publications move with the name.
    FOR r IN SELECT p.pubname FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
             WHERE pr.prrelid = dst LOOP
      EXECUTE format('ALTER PUBLICATION %I DROP TABLE %s', r.pubname, dst_name);
    END LOOP;
    FOR r IN SELECT p.pubname, pg_get_expr(pr.prqual, pr.prrelid) AS filter,
                    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = src AND a.attnum = ANY (pr.prattrs::int2[])) AS cols
             FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE pr.prrelid = src LOOP
      EXECUTE format('ALTER PUBLICATION %I DROP TABLE %s', r.pubname, format('reproj_data.%I', old_name));
      EXECUTE format('ALTER PUBLICATION %I ADD TABLE %s%s%s', r.pubname, dst_name,
                     CASE WHEN r.cols IS NULL THEN '' ELSE ' (' || r.cols || ')' END,
                     CASE WHEN r.filter IS NULL THEN '' ELSE ' WHERE (' || r.filter || ')' END);
    END LOOP;

    -- User triggers move: dropped from both, then re-created on the promoted table from the text
    -- captured before the renames (it names the live table, now the promoted one).
    FOR r IN SELECT tgrelid, tgname FROM pg_trigger WHERE tgrelid IN (src, dst) AND NOT tgisinternal LOOP
      EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.tgrelid::regclass);
    END LOOP;
    FOR g IN SELECT * FROM jsonb_array_elements(coalesce(captured -> 'triggers' -> live_name, '[]')) LOOP
      EXECUTE g ->> 'definition';
      IF g ->> 'enabled' <> 'O' THEN
        EXECUTE format('ALTER TABLE %s %s TRIGGER %I', dst_name,
                       CASE g ->> 'enabled' WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                                            ELSE 'ENABLE ALWAYS' END, g ->> 'name');
      END IF;
    END LOOP;
  END LOOP;

  -- Views: re-created from their text, which names the live tables and so now reads the promoted
  -- ones. A plain view keeps its identity (CREATE OR REPLACE: its grants and the views on it stay);
  -- a materialized view is re-created, filled if it was, with its indexes, owner, grants and comment.
  FOR v IN SELECT * FROM jsonb_array_elements(captured -> 'views') LOOP
    BEGIN
      IF v ->> 'kind' = 'v' THEN
        EXECUTE format('CREATE OR REPLACE VIEW %s%s AS %s', v ->> 'name',
                       CASE WHEN v ->> 'options' = '' THEN '' ELSE ' WITH (' || (v ->> 'options') || ')' END,
                       rtrim(v ->> 'definition', ';'));
      ELSE
        EXECUTE format('DROP MATERIALIZED VIEW %s', v ->> 'name');
        EXECUTE format('CREATE MATERIALIZED VIEW %s%s AS %s WITH %s', v ->> 'name',
                       CASE WHEN v ->> 'options' = '' THEN '' ELSE ' WITH (' || (v ->> 'options') || ')' END,
                       rtrim(v ->> 'definition', ';'),
                       CASE WHEN (v ->> 'populated')::boolean THEN 'DATA' ELSE 'NO DATA' END);
        EXECUTE format('ALTER MATERIALIZED VIEW %s OWNER TO %I', v ->> 'name', v ->> 'owner');
        FOR g IN SELECT * FROM jsonb_array_elements(v -> 'indexes') LOOP
          EXECUTE g #>> '{}';
        END LOOP;
        FOR g IN SELECT * FROM jsonb_array_elements(v -> 'acl') LOOP
          EXECUTE format('GRANT %s ON %s TO %s%s', g ->> 'privilege', v ->> 'name', g ->> 'grantee',
                         CASE WHEN (g ->> 'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
        EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', v ->> 'name', v ->> 'comment');
      END IF;
    EXCEPTION WHEN OTHERS THEN
      IF NOT drop_views THEN
        RAISE EXCEPTION 'the promoted version cannot serve % %: %',
          CASE v ->> 'kind' WHEN 'm' THEN 'materialized view' ELSE 'view' END, v ->> 'name', SQLERRM
          USING ERRCODE = 'dependent_objects_still_exist';
      END IF;
      EXECUTE format('DROP %s IF EXISTS %s', CASE v ->> 'kind' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END,
                     v ->> 'name');
      RAISE WARNING 'reproj: dropped % %, which the promoted version cannot serve: %',
        CASE v ->> 'kind' WHEN 'm' THEN 'materialized view' ELSE 'view' END, v ->> 'name', SQLERRM;
    END;
  END LOOP;
END $$;
