-- The MySQL projection of allot.decisions, written only by allot-sink-mysql (sinks/mysql_projection.cc).
-- Applied at every (re)connect, so every statement must be idempotent. Times are Unix milliseconds.
-- Statements are separated by a semicolon at the end of a line; keep semicolons out of comments.
-- Columns added after a table's first version are also added to existing tables by the sink at connect
-- (MysqlProjection::repair, from information_schema: MySQL 8.0 has no ADD COLUMN IF NOT EXISTS).

-- One row per event, from its create_event decision. The counters are derived from `claim_counts`
-- after every batch (never incremented), so replaying a batch cannot move them.
CREATE TABLE IF NOT EXISTS events (
  event_id        VARCHAR(64)  NOT NULL PRIMARY KEY,
  title           VARCHAR(512) NOT NULL,
  stock           BIGINT       NOT NULL,
  per_user_limit  BIGINT       NOT NULL DEFAULT 1,
  opens_at        BIGINT       NULL,
  closes_at       BIGINT       NULL,
  issued          BIGINT       NOT NULL DEFAULT 0,  -- claims whose status is issued (fcfs), confirmed (hold) or won (raffle)
  remaining       BIGINT       NOT NULL,            -- stock - issued - held
  claims_received BIGINT       NOT NULL DEFAULT 0,  -- claims decided for this event (unknown_event excluded)
  updated_at      BIGINT       NOT NULL,            -- decided_at of the latest decision about the event or its claims
  mode            VARCHAR(16)  NOT NULL DEFAULT 'fcfs',  -- fcfs, raffle or hold
  hold_ms         BIGINT       NOT NULL DEFAULT 0,       -- hold: how long a held unit waits for its confirm
  held            BIGINT       NOT NULL DEFAULT 0,       -- claims whose status is held
  entries         BIGINT       NOT NULL DEFAULT 0,       -- raffle entries (claims with outcome entered)
  closed          TINYINT      NOT NULL DEFAULT 0,       -- 1 after a close_event (closed, drawn) or a draw
  deleted         TINYINT      NOT NULL DEFAULT 0        -- 1 after a delete_event: no user id left in claims, requests
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per claim, keyed by its request id. `outcome` is the claim's own decision and never changes;
-- `status` is where the claim is now: a held claim becomes confirmed, cancelled or expired, an entered
-- one won or lost (decisions confirm, cancel, hold_expired, draw_result); any other outcome is final.
-- A final status is never overwritten by an earlier one, so a re-applied batch cannot move it back.
-- coupon_seq: the issue sequence (issued, confirmed) or the draw rank (won), unique per event when set.
CREATE TABLE IF NOT EXISTS claims (
  request_id        VARCHAR(64) NOT NULL PRIMARY KEY,
  event_id          VARCHAR(64) NOT NULL,
  user_id           VARCHAR(64) NOT NULL,
  outcome           VARCHAR(32) NOT NULL,  -- issued, sold_out, duplicate, not_open, closed, unknown_event, held, entered
  coupon_seq        BIGINT      NULL,
  command_partition INT         NOT NULL,
  command_offset    BIGINT      NOT NULL,
  decided_at        BIGINT      NOT NULL,
  received_at       BIGINT      NOT NULL,
  status            VARCHAR(32) NULL,      -- current status; NULL in rows projected before event modes: read as outcome
  hold_expires_at   BIGINT      NULL,      -- held claims: when the hold ends unless confirmed
  ended_at          BIGINT      NULL,      -- decided_at of the decision that gave the final status to a held or entered claim
  UNIQUE KEY claims_event_coupon (event_id, coupon_seq),
  -- Covers the slice recount (status, outcome and times in the index): the recount reads only the index,
  -- not each row by its primary key (2.6x faster with 50 events: bench/README.md, "Many events: the MySQL
  -- sink's slice recount"). Older tables had claims_event_position (the first three columns): the sink replaces it.
  KEY claims_slice_recount (event_id, command_partition, command_offset, outcome, status, decided_at, ended_at),
  KEY claims_event_user (event_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The claims of an event counted per slice of its command partition: offsets
-- [bucket * 1000, bucket * 1000 + 999]. A batch recounts, from `claims`, only the slices it touched
-- (at most 1000 rows each), and an event's counters are the sums over its slices. So the counters stay
-- derived from the rows, and the cost of a batch does not grow with the size of the event.
-- A claim belongs to the slice of its own command: a later decision about it (confirm, expiry, draw)
-- recounts that slice. The width 1000 is part of the key: changing it needs this table emptied and rebuilt.
CREATE TABLE IF NOT EXISTS claim_counts (
  event_id          VARCHAR(64) NOT NULL,
  command_partition INT         NOT NULL,
  bucket            BIGINT      NOT NULL,  -- command_offset DIV 1000
  issued            BIGINT      NOT NULL,  -- claims in the slice whose status is issued, confirmed or won
  received          BIGINT      NOT NULL,  -- claims in the slice, unknown_event excluded
  last_decided_at   BIGINT      NOT NULL,  -- the latest decided_at or ended_at of its claims
  held              BIGINT      NOT NULL DEFAULT 0,  -- claims in the slice whose status is held
  entries           BIGINT      NOT NULL DEFAULT 0,  -- claims in the slice with outcome entered
  PRIMARY KEY (event_id, command_partition, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The requests that are not claims but act on one or on an event (confirm, cancel, close_event,
-- delete_event, join): one row per decision, keyed by the request's id, so a request can be looked up
-- like a claim. Their effect on the claim (status, coupon_seq) and the event (closed) is projected there
-- too; a join's place in line and its admission (queue_ticket and admission decisions) are its row's.
CREATE TABLE IF NOT EXISTS requests (
  request_id        VARCHAR(64) NOT NULL PRIMARY KEY,
  type              VARCHAR(16) NOT NULL,  -- confirm, cancel, close_event, delete_event, join
  event_id          VARCHAR(64) NOT NULL,
  user_id           VARCHAR(64) NULL,      -- who asked (confirm, cancel)
  claim_request_id  VARCHAR(64) NULL,      -- the claim a confirm or cancel acts on
  outcome           VARCHAR(32) NOT NULL,  -- confirmed, cancelled, expired, already_ended, not_yours, not_held,
                                           -- closed, drawn, already_closed, unknown_event, deleted,
                                           -- already_deleted, and a join's pre_queued, queued, admitted,
                                           -- already_queued, no_waiting_room
  coupon_seq        BIGINT      NULL,      -- confirmed: the issued unit's sequence
  ticket            BIGINT      NULL,      -- join: its place in line (NULL while pre-queued)
  admitted_at       BIGINT      NULL,      -- join: when the waiting room admitted it (ms, stream time)
  command_partition INT         NOT NULL,
  command_offset    BIGINT      NOT NULL,
  decided_at        BIGINT      NOT NULL,
  received_at       BIGINT      NOT NULL,
  KEY requests_event (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The wallets (README "Wallet"): one row per wallet decision (a charge or a reward: credited or balance_limit), keyed
-- by its request id, with the amount asked and the balance after it. Money is only ever in the log; these
-- rows repeat it, so `allotctl verify --projections` can compare them with allot.decisions.
CREATE TABLE IF NOT EXISTS wallet_ledger (
  request_id        VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id           VARCHAR(64) NOT NULL,
  type              VARCHAR(16) NOT NULL,  -- charge, reward, refund, order_result
  outcome           VARCHAR(32) NOT NULL,  -- credited, balance_limit, refunded, paid, failed
  amount            BIGINT      NOT NULL,  -- cents asked
  balance           BIGINT      NOT NULL,  -- cents in the wallet after the decision
  command_partition INT         NOT NULL,
  command_offset    BIGINT      NOT NULL,
  decided_at        BIGINT      NOT NULL,
  KEY wallet_ledger_user (user_id, command_offset)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each user's balance: that of their latest ledger row by command offset (a user's wallet decisions are on
-- one partition, in order), so re-applying an older batch cannot move it back.
-- An order's reservation of a sale event's units (README "Orders"): reserved, then sold or released.
-- A sale event's issued (sold), held (reserved) and remaining come from these rows. A state only ends
-- (reserved -> sold | released), so re-applying an older batch cannot bring a reservation back.
CREATE TABLE IF NOT EXISTS reservations (
  event_id          VARCHAR(64) NOT NULL,
  order_id          VARCHAR(64) NOT NULL,
  line              INT         NOT NULL,
  user_id           VARCHAR(64) NOT NULL,
  qty               BIGINT      NOT NULL,
  state             VARCHAR(16) NOT NULL,  -- reserved, sold, released
  decided_at        BIGINT      NOT NULL,
  PRIMARY KEY (event_id, order_id, line)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A seated event's seats (README "Seats"): free, held or sold (topics::seat_status), in the map's order.
CREATE TABLE IF NOT EXISTS seats (
  event_id          VARCHAR(64) NOT NULL,
  seat              VARCHAR(16) NOT NULL,
  position          INT         NOT NULL,  -- the seat's place in the event's map, from 1
  status            VARCHAR(8)  NOT NULL,
  decided_at        BIGINT      NOT NULL,
  PRIMARY KEY (event_id, seat)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS wallets (
  user_id           VARCHAR(64) NOT NULL PRIMARY KEY,
  balance           BIGINT      NOT NULL,
  command_offset    BIGINT      NOT NULL,  -- of the decision that set the balance
  updated_at        BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Orders (README "Orders"): one row per order, placed and then ended paid or failed (its order_result). Both
-- decisions are on the user's wallet partition, placed first. An end is never written over by a placed
-- decision re-applied from an older batch; NULL columns are what no decision has said yet.
CREATE TABLE IF NOT EXISTS orders (
  order_id          VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id           VARCHAR(64) NOT NULL,
  status            VARCHAR(16) NOT NULL,  -- placed, paid, failed
  amount            BIGINT      NULL,      -- cents: debited (paid) or what it would have cost (failed)
  reason            VARCHAR(32) NULL,      -- failed: the first step refused, or balance_short
  command_partition INT         NULL,      -- of the order's command (its placed decision)
  command_offset    BIGINT      NULL,
  placed_at         BIGINT      NULL,
  ended_at          BIGINT      NULL,
  KEY orders_user (user_id, placed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
