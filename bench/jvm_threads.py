#!/usr/bin/env python3
"""CPU of a JVM's threads by group while a command runs: where a broker's CPU goes (request handling, GC, JIT).

    bench/jvm_threads.py PID -- bench/run-experiment --scenarios many --strategies v3 --no-limits --warmup-rounds 0

Threads are grouped by name without their number ("GC Thread#1" -> "GC Thread"; Linux keeps 15 characters of a
name, so Kafka's request handlers and network threads both read "data-plane-kafk"). Prints CPU seconds per group
and its share, largest first.
"""
import os
import re
import subprocess
import sys
from collections import Counter

CLK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds (user + system) per thread group of one process."""
    groups = Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended between the listing and the read
        groups[re.sub(r"[#-]?\d+$", "", name)] += (int(fields[11]) + int(fields[12])) / CLK
    return groups


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    before = thread_cpu(pid)
    status = subprocess.call(sys.argv[3:])
    after = thread_cpu(pid)
    delta = {name: after[name] - before.get(name, 0.0) for name in after}
    total = sum(delta.values()) or 1.0
    for name, seconds in sorted(delta.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{seconds:8.2f} s {100 * seconds / total:5.1f}%  {name}")
    print(f"{sum(delta.values()):8.2f} s in all")
    return status


if __name__ == "__main__":
    sys.exit(main())
