#!/usr/bin/env python3
"""What the stack costs at rest: CPU seconds of every component over a quiet window (no claims), and the
brokers' requests per second by type (Kafka's own counters over JMX, as bench/experiment.py reads them).
Every long run pays this floor on top of its claims, so it is a share of v3's CPU per claim (issue 23).

    bench/idle-cost [SECONDS]        default 30; needs the stack up (scripts/stack up) and scripts/setup's Kafka tools

Standard library only; every address is 127.0.0.1.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment  # bench/experiment.py: config, pids, /proc CPU, the brokers' counters


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    if not 5 <= seconds <= 3600:
        sys.exit("usage: bench/idle-cost [SECONDS]   (5 to 3600)")
    cfg = experiment.Config.from_env()
    skipped = experiment.Skipped()
    pids = experiment.service_pids(cfg)
    broker = experiment.BrokerRequests(cfg, skipped)
    before_requests = broker.snapshot()
    before_cpu = {name: experiment.proc_cpu(pid) for name, pid in pids.items()}
    started = time.time()
    time.sleep(seconds)
    after_cpu = {name: experiment.proc_cpu(pid) for name, pid in pids.items()}
    wall = time.time() - started
    after_requests = broker.snapshot()
    print(f"at rest for {wall:.0f} s: CPU of each component (% of one core)")
    for name in sorted(pids):
        a, b = before_cpu.get(name), after_cpu.get(name)
        if a is not None and b is not None:
            print(f"  {name:<12} {100 * (b - a) / wall:5.1f}%")
    delta = experiment.BrokerRequests.delta(before_requests, after_requests)
    if delta:
        print("Kafka requests per second (every broker; the JmxTool reads themselves add a few Metadata/ApiVersions)")
        for kind, n in sorted(delta.items(), key=lambda kv: -kv[1]):
            if kind not in experiment.BrokerRequests.TOTALS:
                print(f"  {kind:<32} {n / wall:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
