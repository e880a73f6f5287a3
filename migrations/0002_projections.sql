-- Projection metadata: one row per projection. Rows of the live tables and last_replayed commit
-- together; appliers lock this row (FOR UPDATE) before touching the live tables.
CREATE SCHEMA IF NOT EXISTS reproj_data;

CREATE TABLE reproj.projections (
  name            text        PRIMARY KEY,
  active_version  int         NOT NULL,
  last_replayed   bigint      NOT NULL DEFAULT 0,
  state           text        NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'failed')),
  error           text,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
