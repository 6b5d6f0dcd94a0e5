#!/usr/bin/env python3
"""The long run: v3 claims at a constant rate over many events for a bounded time, sampled every minute.

Called by bench/soak. For every minute it records what the clients got (claims answered, answer p99, errors,
from k6's per-claim records) and what the system holds (processor RSS, RocksDB size on disk, Kafka log size
on disk, metric series exposed by the services), so that growth with work is visible. Writes a run folder
(.run/bench/soak-ID/: k6 output, soak.json) and, unless --no-report, bench/SOAK.md and bench/soak.png.

Every wait is bounded in time and every loop in count; every address is 127.0.0.1.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment as ex  # the experiment's stack helpers: events, pids, k6, records


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def du_mib(cfg, patterns):
    total = 0
    for pattern in patterns:
        for top in glob.glob(os.path.join(cfg.run_dir, pattern)):
            for d, _, files in os.walk(top):
                for name in files:
                    try:
                        total += os.path.getsize(os.path.join(d, name))
                    except OSError:
                        pass  # compaction removed it meanwhile
    return total / (1 << 20)


def series_count(cfg):
    """Sample lines (series) in every service's /metrics, and the per-event ones among them."""
    total, per_event = 0, 0
    for service in cfg.layout.services(built_only=True):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/metrics", timeout=5) as r:
                for line in r.read().decode().splitlines():
                    if line and not line.startswith("#"):
                        total += 1
                        per_event += 'event_id="' in line
        except OSError:
            pass
    return total, per_event


def read_new_records(path, offset):
    """Per-claim records k6 appended since `offset` (whole lines only)."""
    recs = []
    if not os.path.exists(path):
        return recs, offset
    with open(path) as f:
        f.seek(offset)
        while True:
            line = f.readline()
            if not line.endswith("\n"):
                break  # a line k6 is still writing: next time
            offset = f.tell()
            p = line.rstrip("\n").split(",")
            if p[0] == "R" and len(p) >= 12:
                recs.append({"answer_ms": float(p[6]), "result": p[7]})
    return recs, offset


def sample(cfg, minute, recs, wall_s):
    pids = ex.service_pids(cfg)
    answers = sorted(r["answer_ms"] for r in recs if r["answer_ms"] >= 0)
    series, event_series = series_count(cfg)
    return {
        "minute": minute,
        "wall_s": round(wall_s, 1),
        "claims": len(recs),
        "answered_per_s": len(answers) / 60.0,
        "answer_p50_ms": ex.pct(answers, 0.50),
        "answer_p99_ms": ex.pct(answers, 0.99),
        "errors": len(recs) - len(answers),
        "processor_rss_mib": {n: rss_mib(p) for n, p in pids.items() if n.startswith("processor")},
        "ingress_rss_mib": rss_mib(pids["ingress"]) if "ingress" in pids else None,
        "rocksdb_mib": du_mib(cfg, ["processor-*/state"]),
        "kafka_log_mib": du_mib(cfg, ["kafka*/data"]),
        "metric_series": series,
        "per_event_series": event_series,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--rate", type=int, default=200, help="claims per second (open model)")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--stock", type=int, default=100, help="stock of each event")
    ap.add_argument("--vus", type=int, default=300)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--report-only", metavar="RUN_DIR", help="re-render bench/SOAK.md and soak.png from a run folder")
    args = ap.parse_args()
    if args.report_only:
        with open(os.path.join(args.report_only, "soak.json")) as f:
            report(json.load(f), args.report_only)
        return 0
    if not 1 <= args.minutes <= 24 * 60:
        sys.exit("--minutes must be between 1 and 1440")

    try:
        cfg = ex.Config.from_env()
    except ex.components.ConfigError as e:
        sys.exit(f"soak: {e}")
    run_id = time.strftime("%m%d%H%M%S")
    outdir = args.out or os.path.join(cfg.run_dir, "bench", f"soak-{run_id}")
    os.makedirs(outdir, exist_ok=True)
    events = [f"soak{run_id}-{i}" for i in range(args.events)]
    ex.log(f"soak: creating {len(events)} events of stock {args.stock}")
    ex.create_events(cfg, events, args.stock)

    records = os.path.join(outdir, "records.log")
    env = dict(cfg.child_env, **ex.k6_identity_env(cfg))
    env.update({"ALLOT_STRATEGY": "v3", "ALLOT_SCENARIO": "soak", "ALLOT_EVENTS": ",".join(events),
                "ALLOT_BASE_URL": cfg.base, "ALLOT_RUN_TAG": f"soak{run_id}", "ALLOT_RATE": str(args.rate),
                "ALLOT_DURATION_S": str(args.minutes * 60), "ALLOT_VUS": str(args.vus),
                "ALLOT_MAX_VUS": str(max(args.vus, 1500))})
    cmd = [cfg.k6, "run", "--quiet", "--no-color", "--log-format", "raw", "--console-output", records,
           "--summary-export", os.path.join(outdir, "k6-summary.json"), os.path.join(ex.BENCH, "k6", "claims.js")]
    samples = [sample(cfg, 0, [], 0.0)]
    ex.log(f"soak: {args.rate} claims/s for {args.minutes} min over {len(events)} events; sampling every minute")
    t0 = time.time()
    offset = 0
    with open(os.path.join(outdir, "k6-stdout.txt"), "w") as out, open(os.path.join(outdir, "k6-stderr.txt"), "w") as err:
        k6 = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        try:
            for minute in range(1, args.minutes + 2):  # the last one takes the claims answered after k6's end
                deadline = t0 + 60 * minute
                while time.time() < deadline and k6.poll() is None:
                    time.sleep(min(1.0, max(deadline - time.time(), 0)))
                recs, offset = read_new_records(records, offset)
                if k6.poll() is not None and minute > args.minutes:
                    k6.wait(timeout=60)
                    recs2, offset = read_new_records(records, offset)
                    recs += recs2
                s = sample(cfg, minute, recs, time.time() - t0)
                samples.append(s)
                ex.log(f"soak minute {minute}: {s['claims']} claims, {s['answered_per_s']:.0f} answered/s, "
                       f"p99 {s['answer_p99_ms']} ms, processors {s['processor_rss_mib']} MiB RSS, "
                       f"rocksdb {s['rocksdb_mib']:.0f} MiB, kafka {s['kafka_log_mib']:.0f} MiB, "
                       f"{s['metric_series']} series ({s['per_event_series']} per event)")
                if k6.poll() is not None and minute >= args.minutes:
                    break
        finally:
            if k6.poll() is None:
                k6.terminate()
                k6.wait(timeout=60)
    ex.log("soak: checking integrity (allotctl verify)")
    verify = ex.run([cfg.allotctl, "verify", "--projections", "--brokers", cfg.brokers], timeout=900, check=False,
                    env=cfg.child_env)
    with open(os.path.join(outdir, "verify.txt"), "w") as f:
        f.write(verify.stdout + verify.stderr)
    doc = {"run_id": run_id, "args": vars(args), "k6_exit_code": k6.returncode, "samples": samples,
           "verify_exit_code": verify.returncode, "verify_tail": (verify.stdout + verify.stderr).strip()[-2000:],
           "commit": ex.run(["git", "rev-parse", "--short", "HEAD"], check=False).stdout.strip(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with open(os.path.join(outdir, "soak.json"), "w") as f:
        json.dump(doc, f, indent=1)
    ex.log(f"soak: results in {outdir}; verify exit {verify.returncode}")
    if not args.no_report:
        report(doc, outdir)
    return 0 if verify.returncode == 0 and k6.returncode == 0 else 1


def report(doc, outdir):
    import matplotlib  # only the report needs it (bench/soak installs it into the bench venv)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = doc["samples"]
    minutes = [x["minute"] for x in s]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    ax[0][0].plot(minutes[1:], [x["answered_per_s"] for x in s[1:]], marker="o", label="answered/s")
    ax[0][0].set_title("claims answered per second")
    ax2 = ax[0][0].twinx()
    ax2.plot(minutes[1:], [x["answer_p99_ms"] or 0 for x in s[1:]], color="tab:red", marker="x", label="p99 ms")
    ax2.set_ylabel("answer p99 (ms)", color="tab:red")
    for name in sorted(s[0]["processor_rss_mib"]):
        ax[0][1].plot(minutes, [x["processor_rss_mib"].get(name) or 0 for x in s], marker="o", label=name)
    ax[0][1].plot(minutes, [x["ingress_rss_mib"] or 0 for x in s], marker="o", label="ingress")
    ax[0][1].set_title("RSS (MiB)")
    ax[0][1].legend()
    ax[1][0].plot(minutes, [x["rocksdb_mib"] for x in s], marker="o", label="RocksDB (both processors)")
    ax[1][0].plot(minutes, [x["kafka_log_mib"] for x in s], marker="o", label="Kafka log")
    ax[1][0].set_title("on disk (MiB)")
    ax[1][0].legend()
    ax[1][1].plot(minutes, [x["metric_series"] for x in s], marker="o", label="all series")
    ax[1][1].plot(minutes, [x["per_event_series"] for x in s], marker="o", label="per-event series")
    ax[1][1].set_title("metric series exposed")
    ax[1][1].legend()
    for a in ax.flat:
        a.set_xlabel("minute")
        a.grid(alpha=0.3)
    fig.suptitle(f"bench/soak: {doc['args']['rate']} claims/s over {doc['args']['events']} events, "
                 f"{doc['args']['minutes']} min (commit {doc['commit']})")
    fig.tight_layout()
    png = os.path.join(ex.BENCH, "soak.png")
    fig.savefig(png, dpi=80)
    fig.savefig(os.path.join(outdir, "soak.png"), dpi=80)

    a = doc["args"]
    lines = [
        "# The long run (soak)",
        "",
        (f"Generated by `bench/soak --minutes {a['minutes']} --rate {a['rate']} --events {a['events']} --stock {a['stock']}` "
         f"on {doc['date']} at commit `{doc['commit']}`; raw data in `{os.path.relpath(outdir, ex.ROOT)}/` (git-ignored). "
         "v3 claims (`POST ...?wait_ms`, then the long poll if still pending) at a constant rate, each to the next of the events in "
         "turn; every minute the figures below. Minute 0 is before the load."),
        "",
        ("| minute | claims | answered/s | answer p50 ms | answer p99 ms | errors | processor RSS MiB | ingress RSS MiB | "
         "RocksDB MiB | Kafka log MiB | metric series | per-event series |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in s:
        rss = " / ".join(f"{v:.0f}" for _, v in sorted(x["processor_rss_mib"].items()) if v is not None)
        p50 = "-" if x["answer_p50_ms"] is None else f"{x['answer_p50_ms']:.0f}"
        p99 = "-" if x["answer_p99_ms"] is None else f"{x['answer_p99_ms']:.0f}"
        lines.append(f"| {x['minute']} | {x['claims']:,} | {x['answered_per_s']:.0f} | {p50} | {p99} | {x['errors']} | "
                     f"{rss} | {x['ingress_rss_mib'] or 0:.0f} | {x['rocksdb_mib']:.1f} | {x['kafka_log_mib']:.1f} | "
                     f"{x['metric_series']} | {x['per_event_series']} |")
    loaded = [x for x in s if 1 <= x["minute"] <= a["minutes"]]  # the tail minute only collects stragglers
    if len(loaded) >= 2:
        first, last = loaded[0], loaded[-1]
        span = max(last["minute"] - first["minute"], 1)
        per_min = lambda get: (get(last) - get(first)) / span
        rss = lambda x: sum(v or 0 for v in x["processor_rss_mib"].values())
        lines += ["", (f"Growth per minute of load (minute {first['minute']} to {last['minute']}): processors' RSS "
                       f"{per_min(rss):+.1f} MiB, ingress RSS {per_min(lambda x: x['ingress_rss_mib'] or 0):+.1f} MiB, "
                       f"RocksDB {per_min(lambda x: x['rocksdb_mib']):+.1f} MiB, Kafka log {per_min(lambda x: x['kafka_log_mib']):+.1f} MiB, "
                       f"metric series {per_min(lambda x: x['metric_series']):+.1f}, answered/s "
                       f"{first['answered_per_s']:.0f} then {last['answered_per_s']:.0f}.")]
    lines += ["", f"Integrity after the run (`allotctl verify --projections`): exit {doc['verify_exit_code']}.", "",
              "```", doc["verify_tail"], "```", "", "![soak](soak.png)", ""]
    with open(os.path.join(ex.BENCH, "SOAK.md"), "w") as f:
        f.write("\n".join(lines))
    ex.log("soak: wrote bench/SOAK.md and bench/soak.png")


if __name__ == "__main__":
    sys.exit(main())
