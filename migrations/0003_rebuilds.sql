-- One row per rebuild of a projection to a version. Shadow rows and `position` commit together at
-- each checkpoint, so a rebuild resumes from its last checkpoint after a crash.
CREATE TABLE reproj.rebuilds (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  projection        text        NOT NULL REFERENCES reproj.projections (name),
  version           int         NOT NULL,
  state             text        NOT NULL DEFAULT 'replaying'
                    CHECK (state IN ('replaying', 'catching_up', 'promoting', 'done', 'failed', 'cancelled')),
  position          bigint      NOT NULL DEFAULT 0,   -- the shadow's last_replayed
  target            bigint      NOT NULL,             -- the safe tail when the rebuild started
  events_replayed   bigint      NOT NULL DEFAULT 0,
  shadow_rows       bigint      NOT NULL DEFAULT 0,   -- rows in the shadow tables at the checkpoint
  events_per_second double precision NOT NULL DEFAULT 0,
  resumes           int         NOT NULL DEFAULT 0,   -- times a runner picked it up from a checkpoint
  resumed_from      bigint,                           -- the checkpoint the last resume started from
  runner            text,                             -- who runs it now (host:pid)
  error             text,
  retired_version   int,                              -- after done: the version kept for rollback
  retired_position  bigint,                           -- and its watermark
  started_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz
);

-- At most one running rebuild per projection: a second request is refused with the first's id.
CREATE UNIQUE INDEX rebuilds_one_running ON reproj.rebuilds (projection)
  WHERE state IN ('replaying', 'catching_up', 'promoting');
