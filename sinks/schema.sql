-- The MySQL projection of allot.decisions, written only by allot-sink-mysql (sinks/mysql_projection.cc).
-- Applied at every (re)connect, so every statement must be idempotent. Times are Unix milliseconds.
-- Statements are separated by a semicolon at the end of a line; keep semicolons out of comments.

-- One row per event, from its create_event decision. The counters are derived from `claim_counts`
-- after every batch (never incremented), so replaying a batch cannot move them.
CREATE TABLE IF NOT EXISTS events (
  event_id        VARCHAR(64)  NOT NULL PRIMARY KEY,
  title           VARCHAR(512) NOT NULL,
  stock           BIGINT       NOT NULL,
  per_user_limit  BIGINT       NOT NULL DEFAULT 1,
  opens_at        BIGINT       NULL,
  closes_at       BIGINT       NULL,
  issued          BIGINT       NOT NULL DEFAULT 0,  -- claims with outcome issued
  remaining       BIGINT       NOT NULL,            -- stock - issued
  claims_received BIGINT       NOT NULL DEFAULT 0,  -- claims decided for this event (unknown_event excluded)
  updated_at      BIGINT       NOT NULL             -- decided_at of the latest decision about the event
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per claim decision. coupon_seq is NULL unless issued, and unique per event when set.
CREATE TABLE IF NOT EXISTS claims (
  request_id        VARCHAR(64) NOT NULL PRIMARY KEY,
  event_id          VARCHAR(64) NOT NULL,
  user_id           VARCHAR(64) NOT NULL,
  outcome           VARCHAR(32) NOT NULL,  -- issued, sold_out, duplicate, not_open, closed, unknown_event
  coupon_seq        BIGINT      NULL,
  command_partition INT         NOT NULL,
  command_offset    BIGINT      NOT NULL,
  decided_at        BIGINT      NOT NULL,
  received_at       BIGINT      NOT NULL,
  UNIQUE KEY claims_event_coupon (event_id, coupon_seq),
  KEY claims_event_position (event_id, command_partition, command_offset),
  KEY claims_event_user (event_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The claims of an event counted per slice of its command partition: offsets
-- [bucket * 1000, bucket * 1000 + 999]. A batch recounts, from `claims`, only the slices it touched
-- (at most 1000 rows each), and an event's counters are the sums over its slices. So the counters stay
-- derived from the rows, and the cost of a batch does not grow with the size of the event.
-- The width 1000 is part of the key: changing it needs this table emptied and rebuilt.
CREATE TABLE IF NOT EXISTS claim_counts (
  event_id          VARCHAR(64) NOT NULL,
  command_partition INT         NOT NULL,
  bucket            BIGINT      NOT NULL,  -- command_offset DIV 1000
  issued            BIGINT      NOT NULL,  -- claims with outcome issued in the slice
  received          BIGINT      NOT NULL,  -- claims in the slice, unknown_event excluded
  last_decided_at   BIGINT      NOT NULL,
  PRIMARY KEY (event_id, command_partition, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
