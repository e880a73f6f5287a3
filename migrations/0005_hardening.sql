-- Hardening of the log against raw SQL writers (issue 14).
--
-- Positions: a reader trusts that no event appears at or below the highest visible position, which
-- holds only if every position is drawn after the append lock is taken. OVERRIDING SYSTEM VALUE
-- lets a writer pick any position, and a nextval() drawn before the lock is just as stale. So the
-- statement trigger that takes the lock records the sequence's value at that moment (the floor):
-- every row must lie above it (checked per row by a constraint: builtins only, cheap on COPY), and
-- after the statement no row may lie above what the sequence has handed out (a far-future position
-- would make the next appends land below the tail).
CREATE OR REPLACE FUNCTION reproj.events_before_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM reproj.lock_appends();
  PERFORM set_config('reproj.append_floor',
                     coalesce(pg_sequence_last_value('reproj.events_global_position_seq'), 0)::text, true);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION reproj.events_after_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  highest bigint := (SELECT max(global_position) FROM reproj.events);
  drawn bigint := coalesce(pg_sequence_last_value('reproj.events_global_position_seq'), 0);
BEGIN
  IF highest > drawn THEN
    RAISE EXCEPTION 'reproj.events: position % was not drawn from the log''s sequence (it has reached %)',
      highest, drawn
      USING ERRCODE = 'check_violation', HINT = 'Leave global_position to its default (no OVERRIDING SYSTEM VALUE).';
  END IF;
  -- Delivered at commit, folded into one per transaction; consumers then read safe_tail.
  PERFORM pg_notify('reproj_events', '');
  RETURN NULL;
END $$;

-- NOT VALID: the rows already there are not checked (the setting exists only inside an append), and
-- pg_dump restores such a constraint after the data.
ALTER TABLE reproj.events ADD CONSTRAINT events_position_drawn_under_lock
  CHECK (global_position > coalesce(nullif(current_setting('reproj.append_floor', true), '')::bigint,
                                    9223372036854775807)) NOT VALID;

-- With session_replication_role = replica, ordinary triggers stay silent: appends would no longer be
-- serialized and UPDATE/DELETE would pass. ALWAYS triggers fire in every role.
ALTER TABLE reproj.events ENABLE ALWAYS TRIGGER events_serialize_appends;
ALTER TABLE reproj.events ENABLE ALWAYS TRIGGER events_notify;
ALTER TABLE reproj.events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE reproj.events ENABLE ALWAYS TRIGGER events_no_truncate;

-- Poison policy per projection (engine/poison.hpp) and the events it skipped.
ALTER TABLE reproj.projections
  ADD COLUMN poison_policy text NOT NULL DEFAULT 'skip' CHECK (poison_policy IN ('skip', 'stop'));

CREATE TABLE reproj.quarantine (
  projection      text        NOT NULL REFERENCES reproj.projections (name),
  version         int         NOT NULL,
  global_position bigint      NOT NULL,
  event_id        text        NOT NULL,
  event_type      text        NOT NULL,
  error           text        NOT NULL,
  rebuild_id      bigint,                 -- the rebuild that skipped it; NULL: the live version
  quarantined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, version, global_position)
);

-- A rebuild's skipped events, and why a running rebuild is waiting (a transient error it backs off
-- from, a swap that found no gap in the readers' locks).
ALTER TABLE reproj.rebuilds
  ADD COLUMN events_skipped bigint NOT NULL DEFAULT 0,
  ADD COLUMN waiting text;
