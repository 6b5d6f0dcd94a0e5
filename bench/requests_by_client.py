#!/usr/bin/env python3
"""Which client makes a broker's requests: the broker's request log switched on for a window, tallied by client id
and request type (issue 23: the JMX counters of bench/run-experiment give the types, not who sent them).

    bench/requests_by_client.py [SECONDS] [--node N]     default 5 s on node 1; run it while a load runs

It sets the broker's logger kafka.request.logger to DEBUG (Kafka's ConfigCommand, broker-loggers: no restart),
waits SECONDS, sets it back to WARN (scripts/stack's level) and reads the "Completed request" lines the broker wrote
to its server.log in between. Each line costs the broker a little: keep the window short. A produce request is
told apart by whether it belongs to a transaction (the processors) or not (the ingress); librdkafka's default
client id "rdkafka" is what the ingress's producer, its decisions reader and the processors' producers send.
Prints requests per second by (client, type) and each one's share, and for produce requests the partitions per
request (librdkafka 2.0.2 sends one partition per produce request).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment  # bench/experiment.py: the stack's layout, the Kafka jars' places

MARK = "Completed request:"


def set_request_logger(cfg, node, level):
    """kafka.request.logger on broker `node` to `level`, through Kafka's ConfigCommand (takes a JVM start)."""
    classpath = os.path.join(cfg.kafka_tools, "*") + os.pathsep + os.path.join(cfg.kafka_libs, "*")
    done = subprocess.run(["java", "-Xmx256m", "-Dlog4j.configuration=file:/dev/null", "-cp", classpath,
                           "kafka.admin.ConfigCommand", "--bootstrap-server", cfg.brokers, "--entity-type",
                           "broker-loggers", "--entity-name", str(node), "--alter", "--add-config",
                           f"kafka.request.logger={level}"],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"setting kafka.request.logger={level} on node {node} failed: {done.stderr.strip()[-500:]}")


def tally(lines):
    """(client, request type) -> count, first and last timestamps, produce partitions per request."""
    counts, partitions, stamps = Counter(), Counter(), []
    for line in lines:
        at = line.find(MARK)
        if at < 0:
            continue
        end = line.rfind(" (kafka.request.logger)")
        try:
            entry = json.loads(line[at + len(MARK):end if end > at else None])
        except ValueError:
            continue  # a line cut by the log's rotation
        stamps.append(line[1:24])
        header = entry.get("requestHeader", {})
        client, kind = header.get("clientId", "?"), header.get("requestApiKeyName", "?")
        if kind == "PRODUCE":
            request = entry.get("request")
            if isinstance(request, dict):
                client += " (transactional)" if request.get("transactionalId") else " (plain)"
                partitions[sum(len(t.get("partitionData", [])) for t in request.get("topicData", []))] += 1
            else:
                client += " (body not logged)"
        counts[(client, kind)] += 1
    return counts, partitions, stamps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("seconds", nargs="?", type=float, default=5.0)
    parser.add_argument("--node", type=int, default=1, help="the broker (KRaft node id) whose requests to log")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        sys.exit("requests_by_client: SECONDS from 1 to 120 (the request log grows fast)")
    cfg = experiment.Config.from_env()
    if not 1 <= args.node <= cfg.layout.kafka_nodes:
        sys.exit(f"requests_by_client: --node {args.node}: the stack has Kafka nodes 1..{cfg.layout.kafka_nodes}")
    log = os.path.join(cfg.run_dir, cfg.layout.kafka_name(args.node), "server.log")
    if not os.path.exists(log):
        sys.exit(f"requests_by_client: no {log} (is the stack up? scripts/stack up)")
    before = os.stat(log)
    try:
        set_request_logger(cfg, args.node, "DEBUG")
        time.sleep(args.seconds)
    finally:
        set_request_logger(cfg, args.node, "WARN")  # also after a failure or Ctrl-C: the log grows fast
    # The log rolls at 50 MB (scripts/stack): then what was written went to server.log.1 after `before`'s end,
    # and the new server.log holds the rest.
    rolled = os.stat(log).st_ino != before.st_ino
    parts = [(log + ".1", before.st_size), (log, 0)] if rolled else [(log, before.st_size)]
    lines = []
    for path, offset in parts:
        with open(path, errors="replace") as f:
            f.seek(offset)
            lines.extend(f)
    counts, partitions, stamps = tally(lines)
    if len(stamps) < 2:
        sys.exit("requests_by_client: the broker logged fewer than two requests in the window")
    window = (time.mktime(time.strptime(stamps[-1][:19], "%Y-%m-%d %H:%M:%S")) + int(stamps[-1][20:]) / 1000
              - time.mktime(time.strptime(stamps[0][:19], "%Y-%m-%d %H:%M:%S")) - int(stamps[0][20:]) / 1000)
    window = max(window, 0.1)
    total = sum(counts.values())
    print(f"kafka node {args.node}: {total} requests in {window:.1f} s ({total / window:.0f}/s), logged {stamps[0]} to "
          f"{stamps[-1]}")
    print(f"  {'client':<40} {'request':<32} {'per s':>8} {'share':>6}")
    for (client, kind), n in counts.most_common():
        print(f"  {client:<40} {kind:<32} {n / window:8.1f} {100 * n / total:5.1f}%")
    if partitions:
        print("produce requests by partitions in them: " +
              ", ".join(f"{k}: {v}" for k, v in sorted(partitions.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
