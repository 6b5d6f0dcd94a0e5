#!/usr/bin/env python3
"""Where a JVM (the Kafka broker) spends its CPU, from a JFR recording's execution samples.

    jcmd <broker pid> JFR.start duration=60s settings=profile filename=/tmp/broker.jfr   (during a run)
    bench/jfr_top.py /tmp/broker.jfr [N]

Prints, of all samples: the N methods most often on top of the stack (self time), and the N request handlers
and entry points most often anywhere on it (inclusive: KafkaApis.handle*, the log layer, the network layer,
replication, the group and transaction coordinators). Standard library only; needs `jfr` (the JDK's).
"""
import json
import subprocess
import sys
from collections import Counter

# Frames worth an inclusive count: a request type's handler, or a layer of the broker.
INCLUSIVE = ("kafka.server.KafkaApis.handle", "com.yammer.metrics.", "kafka.network.RequestChannel.", "kafka.log.UnifiedLog.", "kafka.network.", "org.apache.kafka.common.network.",
             "kafka.server.ReplicaManager.", "kafka.coordinator.", "org.apache.kafka.coordinator.",
             "kafka.server.DelayedFetch", "org.apache.kafka.storage.", "kafka.raft.", "org.apache.kafka.raft.",
             "org.apache.kafka.controller.", "kafka.server.FetchSession", "org.apache.kafka.common.record.")


def frames_of(event):
    for frame in (event.get("values", {}).get("stackTrace") or {}).get("frames", []):
        m = frame.get("method", {})
        yield f"{m.get('type', {}).get('name', '?').replace('/', '.')}.{m.get('name', '?')}"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: bench/jfr_top.py RECORDING.jfr [N]")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "96", "--events", "jdk.ExecutionSample",
                          sys.argv[1]], capture_output=True, text=True, check=True).stdout
    events = json.loads(out)["recording"]["events"]
    top, anywhere, threads = Counter(), Counter(), Counter()
    for e in events:
        frames = list(frames_of(e))
        if not frames:
            continue
        top[frames[0]] += 1
        thread = (e.get("values", {}).get("sampledThread") or {}).get("javaName") or "?"
        threads[thread.rstrip("0123456789-").rstrip("-")] += 1
        seen = set()
        for f in frames:
            for prefix in INCLUSIVE:
                if f.startswith(prefix):
                    key = f if prefix == "kafka.server.KafkaApis.handle" else prefix.rstrip(".")
                    if key not in seen:
                        seen.add(key)
                        anywhere[key] += 1
    total = sum(top.values()) or 1
    print(f"{total} samples")
    print(f"\nthreads (top {n}):")
    for name, c in threads.most_common(n):
        print(f"  {100 * c / total:5.1f}%  {name}")
    print(f"\non top of the stack (self, top {n}):")
    for name, c in top.most_common(n):
        print(f"  {100 * c / total:5.1f}%  {name}")
    print(f"\nanywhere on the stack (inclusive, top {n}):")
    for name, c in anywhere.most_common(n):
        print(f"  {100 * c / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
