-- Issue 38: sources -- logs reproj does not own (a team's PostgreSQL table, later a Redis stream or a
-- Kafka topic), ingested into reproj.events exactly once. A source's checkpoint commits in the
-- transaction that appends its records' events (docs/DESIGN.md, invariant 13), so it lives here, beside the log.
CREATE TABLE reproj.sources (
  name               text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  kind               text        NOT NULL,
  document           jsonb       NOT NULL,   -- as given; a URL named by url_env/url_file is never in it
  sha256             text        NOT NULL,   -- of the document as given: 200 for the same one again
  paused             boolean     NOT NULL DEFAULT false,
  state              text        NOT NULL DEFAULT 'catching_up'
                     CHECK (state IN ('catching_up', 'live', 'paused', 'reconnecting', 'stopped', 'gap')),
  -- Where ingestion goes on from: kind-specific ({"xid": "…", "position": n} for a table), null
  -- before the first record. Only the ingesting transaction moves it, comparing it first.
  checkpoint         jsonb,
  position           bigint,               -- the last ingested record's position (display, lag)
  tail               bigint,               -- the source's tail as the ingester last read it
  ingested           bigint      NOT NULL DEFAULT 0,
  quarantined        bigint      NOT NULL DEFAULT 0,
  records_per_second double precision NOT NULL DEFAULT 0,
  last_error         text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Records a source skipped under its "skip" policy, with their coordinates and why.
CREATE TABLE reproj.source_quarantine (
  source          text        NOT NULL REFERENCES reproj.sources (name) ON DELETE CASCADE,
  position        text        NOT NULL,
  reason          text        NOT NULL,
  record          jsonb,
  quarantined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, position)
);
