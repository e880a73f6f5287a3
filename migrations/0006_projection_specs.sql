-- Projections as data (issue 15): spec versions deployed over HTTP or from files, stored here so
-- every instance sharing the database serves and rebuilds them. Versions are immutable: a row is
-- never updated; another document for the same (projection, version) is refused by reproj.
CREATE TABLE reproj.projection_specs (
  projection  text        NOT NULL CHECK (projection ~ '^[a-z][a-z0-9_]{0,62}$'),
  version     int         NOT NULL CHECK (version > 0),
  document    text        NOT NULL,           -- as deployed, compact, in document order
  sha256      text        NOT NULL,           -- of `document`
  source      text        NOT NULL CHECK (source IN ('file', 'api')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, version)
);

-- Instances LISTEN on reproj_specs and register what they lack within a second.
CREATE FUNCTION reproj.projection_specs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reproj_specs', NEW.projection || ' ' || NEW.version);
  RETURN NULL;
END $$;
CREATE TRIGGER projection_specs_notify AFTER INSERT ON reproj.projection_specs
  FOR EACH ROW EXECUTE FUNCTION reproj.projection_specs_notify();

-- A projection deployed new is built from the whole log before it serves: until the first
-- promote its reads answer 503 projection_building and the catch-up worker leaves it alone.
ALTER TABLE reproj.projections ADD COLUMN building boolean NOT NULL DEFAULT false;
