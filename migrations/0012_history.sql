-- Issue 41: time travel (docs/DESIGN.md, invariant 14). A projection version's history tables live
-- next to its rows in reproj_data (<table>__h, engine/detail/history_sql.hpp); this records how far
-- back each can still be read. The janitor raises a horizon (committed) before it prunes below it,
-- so a read as of a position at or past the recorded horizon always finds what it needs.
CREATE TABLE reproj.history_horizons (
  projection text    NOT NULL,
  version    integer NOT NULL,
  horizon    bigint  NOT NULL CHECK (horizon >= 0),
  PRIMARY KEY (projection, version)
);
