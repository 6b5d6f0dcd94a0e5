#!/usr/bin/env python3
"""Ops.ConsumerLagDrains: the "Consumer lag" dashboard tells the truth at rest. After a load whose every
command is decided (allot-seed waits for all decisions), the lag Prometheus shows must drain, within 40 s:
  - processors (group allot-processor, max over instances per partition, as the dashboard plots it): at
    most 1 on every partition. allot.commands is written by the idempotent, non-transactional ingress
    producer, so a caught-up consumer has nothing left but the tick the ingress appends to every partition
    each ALLOT_TICK_MS: between its fetch and its batch's commit (batch_max_ms plus the commit) the
    statistics see it. Their 2 s period against the 1 s ticks can sample that window for a minute running,
    as a CI run showed (1 on all 12 partitions for 40 s). A lag that is not followed grows by a tick a
    second, so 1 still tells a drained consumer from a stuck one;
  - sinks (when built): 0 on every partition. A sink commits its consumer's position, which librdkafka
    moves past the commit markers and aborted records a read_committed consumer is never handed.
A lag that only grows (e.g. librdkafka's consumer_lag, which ignores offsets committed through
send_offsets_to_transaction) fails here with the values per partition.

  lag_check.py [--build-dir DIR]      (ALLOT_PROMETHEUS_PORT, ALLOT_OPS_LAG_USERS: default 2000)
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import opslib

PROCESSOR_LAG = "max by (partition) (allot_processor_consumer_lag)"
SINK_LAG = "max by (sink, partition) (allot_sink_consumer_lag)"


def vector(prom, expr):
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in prom.query(expr).get("result", [])}


def describe(values):
    return ", ".join(f"{'/'.join(v for _, v in k)}={x:.0f}" for k, x in sorted(values.items()) if x) or "all 0"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    build_dir = opslib.build_dir_from(args.build_dir)
    failures = opslib.Failures("Ops.ConsumerLagDrains")
    prom = opslib.Prometheus()
    if not prom.ready():
        failures.add(f"Prometheus at {prom.base} is not ready; is the stack up (scripts/stack up)?")
        failures.finish("nothing checked")
    services = opslib.stack_services(build_dir)
    sinks_built = all(built for name, _, _, built in services if name.startswith("sink-"))

    users = opslib.env_int("ALLOT_OPS_LAG_USERS", 2000)
    seed = os.path.join(build_dir, "bench", "allot-seed")
    if not failures.check(os.access(seed, os.X_OK), f"{seed} is not built"):
        failures.finish("no load")
    try:
        p = subprocess.run([seed, "--users", str(users), "--stock", "100"], check=False, capture_output=True, text=True,
                           timeout=240, cwd=opslib.repo_root())
    except subprocess.TimeoutExpired:
        failures.add("allot-seed did not finish within 240 s")
        failures.finish("no load")
    if not failures.check(p.returncode == 0, f"allot-seed exited {p.returncode}:\n{p.stdout[-1500:]}{p.stderr[-1500:]}"):
        failures.finish("no load")
    print(f"load: allot-seed --users {users}: every claim decided", flush=True)

    def processors_drained():
        values = vector(prom, PROCESSOR_LAG)
        return values if values and all(v <= 1 for v in values.values()) else None

    def sinks_drained():
        values = vector(prom, SINK_LAG)
        return values if values and all(v == 0 for v in values.values()) else None

    if opslib.wait_until(40, processors_drained):
        print(f"processors: lag at most 1 (a tick in flight) on every partition: {describe(vector(prom, PROCESSOR_LAG))}", flush=True)
    else:
        values = vector(prom, PROCESSOR_LAG)
        failures.add(f"processor lag did not drain within 40 s after every command was decided: {describe(values)} "
                     f"({len(values)} partitions). The gauge must follow the offsets the transactions commit "
                     f"(librdkafka's consumer_lag does not see send_offsets_to_transaction).")
    if sinks_built:
        if opslib.wait_until(40, sinks_drained):
            print("sinks: lag 0 on every partition", flush=True)
        else:
            failures.add(f"sink lag did not drain to 0 on every partition within 40 s: {describe(vector(prom, SINK_LAG))}")
    else:
        print("sinks are not built, so the stack does not run them: not checked")
    failures.finish("the lag dashboards show drained consumers once the load is decided")


if __name__ == "__main__":
    main()
