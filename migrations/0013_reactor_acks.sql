-- Issue 42: reactors deliver with several requests in flight ("ordering": "stream" | "none"), so an
-- event may be acknowledged while an earlier one is still being retried. The checkpoint stays the
-- position below which everything is done; the positions acknowledged (or dead-lettered) above it
-- are kept here, written in the checkpoint's transaction, so a restart sends only what was not.
CREATE TABLE reproj.reactor_acks (
  reactor          text   NOT NULL REFERENCES reproj.reactors (name) ON DELETE CASCADE,
  global_position  bigint NOT NULL,
  PRIMARY KEY (reactor, global_position)
);

-- What the deliverer had in flight and how many streams were backing off at its last checkpoint:
-- shown by every instance's API, not only the delivering one's.
ALTER TABLE reproj.reactors
  ADD COLUMN in_flight   int NOT NULL DEFAULT 0,
  ADD COLUMN backing_off int NOT NULL DEFAULT 0;
