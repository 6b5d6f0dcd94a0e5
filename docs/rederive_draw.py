#!/usr/bin/env python3
"""Re-derives allot's raffle draws and waiting-room pre-queue shuffles from the log, without allot's C++.

Written from docs/DESIGN.md section 6 ("Re-deriving a draw") alone; standard library only.

  python3 docs/rederive_draw.py seed EVENT_ID PARTITION OFFSET
      the draw's seed: FNV-1a 64 of "<event_id>|<partition>|<offset>"
  python3 docs/rederive_draw.py draw EVENT_ID PARTITION OFFSET ENTRIES STOCK
      the winners' entry indices (0-based, partition order), rank 1 first
  python3 docs/rederive_draw.py raw SEED ENTRIES STOCK
      the same from a seed (decimal or 0x...)
  python3 docs/rederive_draw.py check [FILE]
      reads allot.decisions values, one JSON object a line (FILE or stdin), e.g.
        kcat -b 127.0.0.1:19092 -t allot.decisions -C -e -q -X isolation.level=read_committed -f '%s\\n' \\
          | python3 docs/rederive_draw.py check
      re-derives every raffle draw and every pre-queue shuffle in it and compares them with the won/lost
      and queue_ticket decisions; prints one line per event and exits 1 on any difference.
"""
import json
import sys
from collections import defaultdict

MASK = (1 << 64) - 1
FNV_OFFSET_BASIS = 14695981039346656037  # 0xcbf29ce484222325
FNV_PRIME = 1099511628211                # 0x100000001b3


def draw_seed(event_id, partition, offset):
    """FNV-1a 64 over the bytes of "<event_id>|<partition>|<offset>" (decimal numbers)."""
    h = FNV_OFFSET_BASIS
    for byte in f"{event_id}|{partition}|{offset}".encode():
        h ^= byte
        h = (h * FNV_PRIME) & MASK
    return h


class SplitMix64:
    """splitmix64: the state advances by the golden gamma first; the first output is mix(seed + gamma)."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def draw_winners(seed, entries, stock):
    """Partial Fisher-Yates from the front: swap j with j + next() % (entries - j), for j = 0..w-1."""
    if entries <= 0 or stock <= 0:
        return []
    order = list(range(entries))
    winners = min(stock, entries)
    rng = SplitMix64(seed)
    for j in range(winners):
        pick = j + rng.next() % (entries - j)
        order[j], order[pick] = order[pick], order[j]
    return order[:winners]


def check(lines):
    """Every raffle draw and pre-queue shuffle in the decisions, re-derived and compared. Returns failures."""
    by_event = defaultdict(list)
    for line in lines:
        line = line.strip()
        if line:
            d = json.loads(line)
            by_event[d["event_id"]].append(d)
    failures = 0
    for event_id, ds in sorted(by_event.items()):
        ds.sort(key=lambda d: d["command_offset"])  # one event lives on one partition: offset order
        spec = next((d["event"] for d in ds if d["type"] == "create_event" and d["outcome"] == "created"), None)
        if spec is None:
            continue
        # A raffle: entries are the claims answered entered, indexed 0.. in partition order.
        results = {d["request_id"]: d for d in ds if d["type"] == "draw_result"}
        if spec.get("mode") == "raffle" and results:
            entries = [d for d in ds if d["type"] == "claim" and d["outcome"] == "entered"]
            first = next(iter(results.values()))
            at = (first["command_partition"], first["command_offset"])
            winners = draw_winners(draw_seed(event_id, *at), len(entries), spec["stock"])
            rank = {index: r + 1 for r, index in enumerate(winners)}
            bad = []
            for i, entry in enumerate(entries):
                got = results.get(entry["request_id"])
                want = ("won", rank[i]) if i in rank else ("lost", None)
                have = (got["outcome"], got.get("coupon_seq")) if got else ("missing", None)
                if have != want:
                    bad.append(f"{entry['user_id']}: {have}, re-derived {want}")
            print(f"{event_id}: raffle drawn at {at[0]}/{at[1]}, {len(entries)} entries, stock {spec['stock']}: "
                  f"winners {[entries[i]['user_id'] for i in winners]} " + ("OK" if not bad else "DIFFERS"))
            for b in bad:
                print("  " + b)
            failures += bool(bad)
        # A waiting room: pre-queued joins, indexed 0.. in partition order, shuffled into tickets 1..n.
        tickets = {d["request_id"]: d for d in ds if d["type"] == "queue_ticket"}
        if tickets:
            pre = [d for d in ds if d["type"] == "join" and d["outcome"] == "pre_queued"]
            first = next(iter(tickets.values()))
            at = (first["command_partition"], first["command_offset"])
            order = draw_winners(draw_seed(event_id, *at), len(pre), len(pre))
            bad = []
            for t, index in enumerate(order, start=1):
                got = tickets.get(pre[index]["request_id"])
                if not got or got.get("ticket") != t:
                    bad.append(f"{pre[index]['user_id']}: ticket {got and got.get('ticket')}, re-derived {t}")
            print(f"{event_id}: pre-queue opened at {at[0]}/{at[1]}, {len(pre)} joins: "
                  f"by ticket {[pre[i]['user_id'] for i in order]} " + ("OK" if not bad else "DIFFERS"))
            for b in bad:
                print("  " + b)
            failures += bool(bad)
    return failures


def main(argv):
    if len(argv) >= 1 and argv[0] == "seed" and len(argv) == 4:
        print(draw_seed(argv[1], int(argv[2]), int(argv[3])))
    elif len(argv) >= 1 and argv[0] == "draw" and len(argv) == 6:
        seed = draw_seed(argv[1], int(argv[2]), int(argv[3]))
        print(" ".join(map(str, draw_winners(seed, int(argv[4]), int(argv[5])))))
    elif len(argv) >= 1 and argv[0] == "raw" and len(argv) == 4:
        print(" ".join(map(str, draw_winners(int(argv[1], 0), int(argv[2]), int(argv[3])))))
    elif len(argv) >= 1 and argv[0] == "check" and len(argv) <= 2:
        if len(argv) == 2 and argv[1] != "-":
            with open(argv[1], encoding="utf-8") as f:
                return 1 if check(f) else 0
        return 1 if check(sys.stdin) else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
