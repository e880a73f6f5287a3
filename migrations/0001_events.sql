-- The global event log: the public contract writers append to.
CREATE TABLE reproj.events (
  global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        text        NOT NULL,
  stream_id       text        NOT NULL,
  stream_version  int         NOT NULL CHECK (stream_version >= 1),
  event_type      text        NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_event_id_key UNIQUE (event_id),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
  CONSTRAINT events_ids_not_empty CHECK (event_id <> '' AND stream_id <> '' AND event_type <> '')
);

-- Positions can commit out of order under concurrent appends, so a reader polling
-- `global_position > last` would skip the late one. reproj serializes appenders instead: every
-- INSERT or COPY into events first takes this transaction-scoped advisory lock, and positions are
-- drawn only after it is held, so transactions commit in position order and the highest visible
-- position is final (safe_tail). Cost: one appending transaction at a time (batches amortize it).
-- Enforced by a trigger so raw SQL inserts and COPY obey it too.
CREATE FUNCTION reproj.lock_appends() RETURNS void LANGUAGE sql AS
$$ SELECT pg_advisory_xact_lock(7239001) $$;

CREATE FUNCTION reproj.events_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM reproj.lock_appends();
  RETURN NULL;
END $$;

CREATE FUNCTION reproj.events_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Delivered at commit, folded into one per transaction; consumers then read safe_tail.
  PERFORM pg_notify('reproj_events', '');
  RETURN NULL;
END $$;

CREATE FUNCTION reproj.events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'reproj.events is append-only (% refused)', TG_OP;
END $$;

CREATE TRIGGER events_serialize_appends BEFORE INSERT ON reproj.events
  FOR EACH STATEMENT EXECUTE FUNCTION reproj.events_before_insert();
CREATE TRIGGER events_notify AFTER INSERT ON reproj.events
  FOR EACH STATEMENT EXECUTE FUNCTION reproj.events_after_insert();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON reproj.events
  FOR EACH ROW EXECUTE FUNCTION reproj.events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON reproj.events
  FOR EACH STATEMENT EXECUTE FUNCTION reproj.events_append_only();
