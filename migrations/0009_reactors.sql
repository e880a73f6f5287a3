-- Issue 19: reactors deliver events to webhooks. A reactor is not a projection: it has its own
-- checkpoint, which only its deliverer moves (past events acknowledged or dead-lettered); rebuilds,
-- rollbacks and promotes never touch these tables.
CREATE TABLE reproj.reactors (
  name                 text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  config               jsonb       NOT NULL,   -- url, events, timeout_ms, max_attempts, secret, ...
  position             bigint      NOT NULL CHECK (position >= 0),  -- every event at or below: done
  state                text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused', 'stopped')),
  circuit              text        NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open', 'half_open')),
  consecutive_failures int         NOT NULL DEFAULT 0,
  last_error           text,
  next_attempt_at      timestamptz,
  delivered            bigint      NOT NULL DEFAULT 0,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Events a reactor gave up on. 'retrying': an operator asked for one more delivery; the deliverer
-- sends it before the log's next event and deletes the row on success.
CREATE TABLE reproj.reactor_dead_letters (
  reactor          text        NOT NULL REFERENCES reproj.reactors (name) ON DELETE CASCADE,
  event_id         text        NOT NULL,
  global_position  bigint      NOT NULL,
  event_type       text        NOT NULL,
  attempts         int         NOT NULL,
  last_error       text        NOT NULL,
  status           text        NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'retrying')),
  dead_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (reactor, event_id)
);
CREATE INDEX reactor_dead_letters_by_position ON reproj.reactor_dead_letters (reactor, global_position);
