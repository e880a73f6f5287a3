-- Issue 40: who may append, read and administer (docs/DESIGN.md, invariant 17), and what operators did.
-- A token's secret is never stored: only its SHA-256. Secrets are 256 random bits, so a fast hash is
-- enough (no dictionary to guess from); a leaked table gives no token.
CREATE TABLE reproj.tokens (
  name          text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$'),
  secret_sha256 bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
  scopes        text[]      NOT NULL CHECK (cardinality(scopes) > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text        NOT NULL,
  expires_at    timestamptz
);

-- One row per admin action: who (a token's name), what, on which object, the request's essentials
-- (never a secret: bodies that may hold one are kept as their SHA-256), and the outcome.
CREATE TABLE reproj.audit (
  id       bigserial   PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  token    text        NOT NULL,
  action   text        NOT NULL,
  object   text        NOT NULL,
  request  jsonb       NOT NULL DEFAULT '{}',
  outcome  text        NOT NULL,   -- "ok", or "error: <code>"
  status   integer     NOT NULL
);
