-- The seed experiment's baselines (ingress/baselines.cc): each keeps its own stock accounting, apart from
-- the projection tables and from each other. Applied at the ingress's first database use; idempotent.
-- Statements end with a semicolon at the end of a line.

-- v1: pessimistic locking. The event row is locked (SELECT ... FOR UPDATE) for every claim.
CREATE TABLE IF NOT EXISTS v1_events (
  event_id       VARCHAR(64) NOT NULL PRIMARY KEY,
  stock          BIGINT      NOT NULL,
  per_user_limit BIGINT      NOT NULL,
  opens_at       BIGINT      NULL,
  closes_at      BIGINT      NULL,
  issued         BIGINT      NOT NULL DEFAULT 0
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS v1_claims (
  request_id VARCHAR(64) NOT NULL PRIMARY KEY,
  event_id   VARCHAR(64) NOT NULL,
  user_id    VARCHAR(64) NOT NULL,
  outcome    VARCHAR(32) NOT NULL,
  coupon_seq BIGINT      NULL,
  decided_at BIGINT      NOT NULL,
  UNIQUE KEY v1_event_coupon (event_id, coupon_seq),
  KEY v1_event_user (event_id, user_id, outcome)
) ENGINE=InnoDB;

-- v2: Redis decides atomically (a Lua script); MySQL only records what Redis decided.
CREATE TABLE IF NOT EXISTS v2_claims (
  request_id VARCHAR(64) NOT NULL PRIMARY KEY,
  event_id   VARCHAR(64) NOT NULL,
  user_id    VARCHAR(64) NOT NULL,
  outcome    VARCHAR(32) NOT NULL,
  coupon_seq BIGINT      NULL,
  decided_at BIGINT      NOT NULL,
  UNIQUE KEY v2_event_coupon (event_id, coupon_seq),
  KEY v2_event_user (event_id, user_id)
) ENGINE=InnoDB;
