#!/usr/bin/env python3
"""Turns one run folder of bench/experiment.py into bench/REPORT.md and the charts bench/*.png.

    python bench/report.py .run/bench/RUN_ID [--out-dir bench]

Needs matplotlib (bench/run-experiment installs a pinned one in a venv). Reads results.json and each run's
per-claim records (records.log); computes time series, the sustained scenario's steps and knees.
"""
import argparse
import json
import math
import os
import sys
from collections import Counter, defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from experiment import OUTCOMES, ROOT, STRATEGY_NAMES, BrokerRequests, components, parse_records, pct

COLORS = {"v1": "#d62728", "v2": "#ff7f0e", "v3": "#1f77b4"}
SCENARIO_TITLES = {
    "seed": "(a) seed: 10,000 distinct users at once, 100 coupons",
    "sustained": "(b) sustained: arrival rate stepped up",
    "many": "(c) many events at once",
}


def f(v, d=1, unit=""):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{d}f}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def load(rundir):
    with open(os.path.join(rundir, "results.json")) as fh:
        doc = json.load(fh)
    for r in doc["runs"]:
        path = os.path.join(ROOT, r["outdir"], "records.log")
        if not os.path.exists(path):
            path = os.path.join(rundir, f"{r['scenario']}-{r['strategy']}", "records.log")
        r["_records"], _ = parse_records(path)
    return doc


# ---------------------------------------------------------------- series

def series(run, bucket_s):
    """Per time bucket (seconds since the scenario start): accepted/s, answered/s (by completion time), and the
    p50/p99 of the final answer of the claims sent in the bucket."""
    recs = run["_records"]
    if not recs:
        return None
    start = run.get("start_ms") or min(r["t0"] for r in recs)
    ok_status = (202,) if run["strategy"] == "v3" else (200, 409)
    acc, ans, errs = Counter(), Counter(), Counter()
    lat = defaultdict(list)
    for r in recs:
        if r["status"] in ok_status:
            acc[int((r["t0"] + r["accept_ms"] - start) / 1000 / bucket_s)] += 1
        if r["result"] in OUTCOMES:
            ans[int((r["t0"] + r["answer_ms"] - start) / 1000 / bucket_s)] += 1
            lat[int((r["t0"] - start) / 1000 / bucket_s)].append(r["answer_ms"])
        else:
            errs[int((r["t0"] - start) / 1000 / bucket_s)] += 1
    n = max(list(acc) + list(ans) + list(lat) + [0]) + 1
    xs = [(i + 0.5) * bucket_s for i in range(n)]
    out = {"t": xs, "accepted": [acc[i] / bucket_s for i in range(n)], "answered": [ans[i] / bucket_s for i in range(n)],
           "errors": [errs[i] / bucket_s for i in range(n)], "p50": [], "p99": []}
    for i in range(n):
        v = sorted(lat.get(i, []))
        out["p50"].append(pct(v, .5) if v else float("nan"))
        out["p99"].append(pct(v, .99) if v else float("nan"))
    return out


def steps(run, stages, bound_ms):
    """The sustained run cut into its steps (the 1 s ramp of each step left out)."""
    recs = run["_records"]
    if not recs:
        return [], None
    start = run.get("start_ms") or min(r["t0"] for r in recs)
    out = []
    t = 0.0
    for rate, secs in stages:
        lo, hi = start + (t + 1) * 1000, start + (t + secs) * 1000
        t += secs
        cohort = [r for r in recs if lo <= r["t0"] < hi]
        win = (hi - lo) / 1000
        ans = sorted(r["answer_ms"] for r in cohort if r["result"] in OUTCOMES)
        acc = sorted(r["accept_ms"] for r in cohort if r["status"] in ((202,) if run["strategy"] == "v3" else (200, 409)))
        n_err = sum(1 for r in cohort if r["result"] not in OUTCOMES)
        st = {"offered": rate, "started_per_s": len(cohort) / win, "answered_per_s": len(ans) / win,
              "accept_p99": pct(acc, .99), "answer_p50": pct(ans, .5), "answer_p95": pct(ans, .95),
              "answer_p99": pct(ans, .99), "errors": n_err, "error_rate": n_err / len(cohort) if cohort else None,
              "claims": len(cohort)}
        st["ok"] = bool(cohort) and st["started_per_s"] >= 0.9 * rate and n_err <= 0.001 * len(cohort) \
            and st["answer_p99"] is not None and st["answer_p99"] <= bound_ms
        out.append(st)
        if not cohort:
            break  # k6 stopped (aborted on a threshold): no later step ran
    knee = None
    for st in out:
        if not st["ok"]:
            break
        knee = st
    return out, knee


# ---------------------------------------------------------------- charts

def timeline_chart(doc, scenario, path, cores=2):
    runs = [r for r in doc["runs"] if r["scenario"] == scenario and r["_records"]]
    if not runs:
        return None
    span = max(max(x["t0"] for x in r["_records"]) - (r.get("start_ms") or min(x["t0"] for x in r["_records"])) for r in runs) / 1000
    bucket = 0.25 if span < 20 else (0.5 if span < 60 else 1.0)
    fig, ax = plt.subplots(3, 1, figsize=(10, 10), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
    for r in runs:
        s = series(r, bucket)
        c = COLORS[r["strategy"]]
        ax[0].plot(s["t"], s["answered"], color=c, lw=1.6, label=f"{r['strategy']} answered/s")
        if r["strategy"] == "v3":
            ax[0].plot(s["t"], s["accepted"], color=c, lw=1, ls="--", label="v3 accepted/s (202)")
        ax[1].plot(s["t"], s["p99"], color=c, lw=1.6, label=f"{r['strategy']} p99")
        ax[1].plot(s["t"], s["p50"], color=c, lw=1, ls=":", label=f"{r['strategy']} p50")
        samples = r.get("cpu_samples") or []
        if samples:
            t0 = (r.get("start_ms") or 0) / 1000 or samples[0][0]
            ax[2].plot([x[0] - t0 for x in samples], [100 * x[1] for x in samples], color=c, lw=1.4,
                       label=f"{r['strategy']} machine busy")
            ax[2].plot([x[0] - t0 for x in samples], [100 * x[2] for x in samples], color=c, lw=1, ls="--",
                       label=f"{r['strategy']} k6")
            ax[2].plot([x[0] - t0 for x in samples], [100 * max(x[1] - x[2] - x[3], 0) for x in samples], color=c,
                       lw=1, ls=":", label=f"{r['strategy']} other processes")
    ax[0].set_ylabel("claims/s")
    ax[0].set_title(f"{SCENARIO_TITLES.get(scenario, scenario)} — throughput ({bucket:g} s buckets)")
    ax[0].legend(fontsize=8, ncol=2)
    ax[0].grid(alpha=.3)
    ax[1].set_yscale("log")
    ax[1].set_ylabel("time to final answer (ms)")
    ax[1].set_title("latency of the claims sent in each bucket (v3: accept + processing + the decision back to the ingress)")
    ax[1].legend(fontsize=8, ncol=3)
    ax[1].grid(alpha=.3, which="both")
    ax[2].set_ylabel(f"CPU % of {cores} cores")
    ax[2].set_xlabel("seconds since the scenario started")
    ax[2].set_ylim(0, 105)
    ax[2].legend(fontsize=8, ncol=3)
    ax[2].grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return os.path.basename(path)


def knee_chart(doc, stage_list, bound, path):
    runs = [r for r in doc["runs"] if r["scenario"] == "sustained" and r["_records"]]
    if not runs:
        return None
    fig, ax = plt.subplots(1, 2, figsize=(12, 5))
    top = max(rate for rate, _ in stage_list)
    for r in runs:
        st, knee = r["_steps"], r["_knee"]
        xs = [s["offered"] for s in st]
        c = COLORS[r["strategy"]]
        ax[0].plot(xs, [s["answered_per_s"] for s in st], "o-", color=c, label=r["strategy"])
        ax[1].plot(xs, [s["answer_p99"] if s["answer_p99"] is not None else float("nan") for s in st], "o-", color=c,
                   label=f"{r['strategy']} p99")
        ax[1].plot(xs, [s["answer_p50"] if s["answer_p50"] is not None else float("nan") for s in st], "x:", color=c,
                   label=f"{r['strategy']} p50")
        if knee:
            ax[0].plot([knee["offered"]], [knee["answered_per_s"]], "*", ms=18, color=c, mec="k")
            ax[1].plot([knee["offered"]], [knee["answer_p99"]], "*", ms=18, color=c, mec="k")
    ax[0].plot([0, top], [0, top], color="grey", ls="--", lw=1, label="offered")
    ax[0].set_xlabel("offered arrival rate (claims/s)")
    ax[0].set_ylabel("answered claims/s (claims sent in the step)")
    ax[0].set_title("throughput vs offered load (★ = knee)")
    ax[0].legend()
    ax[0].grid(alpha=.3)
    ax[1].axhline(bound, color="grey", ls="--", lw=1, label=f"bound {bound:g} ms")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("offered arrival rate (claims/s)")
    ax[1].set_ylabel("time to final answer (ms)")
    ax[1].set_title("latency vs offered load")
    ax[1].legend(fontsize=8, ncol=2)
    ax[1].grid(alpha=.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return os.path.basename(path)


# ---------------------------------------------------------------- the report

def errors_text(fig):
    if not fig["errors"]:
        return "0"
    return ", ".join(f"{k} {v}" for k, v in sorted(fig["errors"].items()))


class Report:
    """One run folder read for the report: results.json with each run's records, the sustained steps and knees,
    the machine and stack as recorded, and the charts drawn into out_dir."""

    def __init__(self, rundir, out_dir):
        self.rundir, self.out_dir = rundir, out_dir
        doc = self.doc = load(rundir)
        # k6's no-op latency straight from its summary (percentiles it was asked for; older runs stored p95 as p99)
        noop = os.path.join(rundir, "limits", "k6-noop-summary.json")
        if os.path.exists(noop) and doc.get("limits"):
            with open(noop) as fh:
                d = json.load(fh)["metrics"]["http_req_duration"]
            doc["limits"]["noop_k6_p95_ms"] = d.get("p(95)")
            doc["limits"]["noop_k6_p99_ms"] = d.get("p(99)")
        self.args = doc["args"]
        self.bound = float(self.args.get("knee_p99_ms", 1000))
        self.stage_list = [tuple(int(x) for x in s.split(":")) for s in self.args["stages"].split(",")]
        for r in doc["runs"]:
            if r["scenario"] == "sustained":
                r["_steps"], r["_knee"] = steps(r, self.stage_list, self.bound)
        self.by = {(r["scenario"], r["strategy"]): r for r in doc["runs"]}
        self.scenarios = [s for s in ("seed", "sustained", "many") if any(r["scenario"] == s for r in doc["runs"])]
        self.machine, self.lim = doc["machine"], doc.get("limits") or {}
        # The machine and the stack as the run recorded them; a run from before they were recorded reads as the
        # stack was then (2 cores, one KRaft broker, two processors).
        self.cores = self.machine.get("cores") or 2
        self.kafka_nodes = self.machine.get("kafka_nodes") or 1
        self.processors = self.machine.get("processors") or 2
        self.charts = {}
        for s in self.scenarios:
            self.charts[s] = timeline_chart(doc, s, os.path.join(out_dir, f"report-{s}-timeline.png"), self.cores)
        self.charts["knee"] = knee_chart(doc, self.stage_list, self.bound, os.path.join(out_dir, "report-knee.png"))


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def counted(n, noun):
    """'two processors', 'one processor', '12 processors'."""
    return f"{NUMBER_WORDS.get(n, n)} {noun}{'' if n == 1 else 's'}"


def a_core(cores):
    """'a 2-core', 'an 8-core'."""
    return f"{'an' if str(cores).startswith('8') or cores in (11, 18) else 'a'} {cores}-core"


def kafka_text(rep):
    """How Kafka ran: "one KRaft broker" (also for runs that did not record it), else e.g. "three KRaft nodes"."""
    return "one KRaft broker" if rep.kafka_nodes == 1 else counted(rep.kafka_nodes, "KRaft node")


def header_section(w, rep):
    doc, m, a = rep.doc, rep.machine, rep
    w("# The seed experiment: v1 (MySQL lock) vs v2 (Redis atomic) vs v3 (allot over Kafka)")
    w("")
    w(f"Generated by `{doc['command']}` (run `{doc['run_id']}`, {doc['started']}, "
      f"{f(doc.get('duration_s', 0) / 60, 1)} min) at commit `{m.get('git')}`"
      f"{' with uncommitted changes' if m.get('git_dirty') else ''}. Every figure below comes from that one run on this "
      f"machine; raw data (k6 summaries, one line per claim, the checks' output) in `{os.path.relpath(a.rundir, ROOT)}/` "
      "(git-ignored). Re-render from it: `bench/run-experiment --report-only <that folder>`.")
    w("")
    w("Reproduce:")
    w("")
    w("```")
    w("scripts/stack up")
    w(doc["command"])
    w("```")
    w("")


def machine_section(w, rep):
    doc, by, m, args = rep.doc, rep.by, rep.machine, rep.args
    w("## Machine and setup")
    w("")
    w(f"- {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB, {m.get('os')}, kernel {m.get('kernel')}.")
    w(f"- Kafka {m.get('kafka')} ({kafka_text(rep)}), librdkafka {m.get('librdkafka')}, {m.get('mariadb')}, "
      f"{m.get('redis')}; load generator {m.get('k6')}.")
    env_ing = (m.get("service_env") or {}).get("ingress", {})
    env_proc = (m.get("service_env") or {}).get("processor-1", {})
    env_mysql = (m.get("service_env") or {}).get("sink-mysql", {})
    env_sink = (m.get("service_env") or {}).get("sink-redis", {})
    w(f"- The local stack (`scripts/stack up`): ingress (HTTP threads {env_ing.get('ALLOT_HTTP_THREADS', '2 (default)')}, "
      f"baseline pool {env_ing.get('ALLOT_BASELINE_POOL', '16 (default)')} workers with one MySQL and one Redis connection "
      f"each), {counted(rep.processors, 'processor')} over "
      f"{counted(m['topic_partitions'], 'partition') if m.get('topic_partitions') else 'the partitions'} of each topic "
      f"(batch ≤ {env_proc.get('ALLOT_BATCH_MAX_COMMANDS', '5000')} commands or "
      f"{env_proc.get('ALLOT_BATCH_MAX_MS', '100')} ms, or {env_proc.get('ALLOT_BATCH_IDLE_MS', '20')} ms without a next "
      f"command; the ingress lingers {produce_linger_ms(m)} ms), sinks to MySQL (batch ≤ "
      f"{env_mysql.get('ALLOT_SINK_BATCH_MAX_MS', '500')} ms) and Redis (batch ≤ {env_sink.get('ALLOT_SINK_BATCH_MAX_MS', '100')} ms), MariaDB, Redis ({redis_durability(m)}), Prometheus — all on the same "
      f"{rep.cores} cores as k6. k6 competes with the system under test, so every figure is a lower bound; its CPU share is "
      "reported next to each run.")
    seed = by.get(("seed", "v3")) or next((r for r in doc["runs"] if r["scenario"] == "seed"), None)
    vus = seed["k6_env"].get("ALLOT_VUS") if seed else args.get("vus")
    w(f"- 10,000 VUs would need ~30 GB (≈3 MB each), so the seed and many scenarios run {vus} VUs over a "
      "shared-iterations executor: each iteration is a distinct user (`exec.scenario.iterationInTest`) making one claim and "
      "waiting for its final answer; the next user starts as soon as a VU is free. "
      f"The sustained scenario is open-model (ramping-arrival-rate, {args.get('sustained_vus')} pre-allocated VUs, at most "
      f"{args.get('max_vus')}).")
    w("- v1 and v2 answer synchronously (200 issued / 409 sold_out|duplicate), so their accept and final answer are the "
      "same request. v3's client sends `POST .../claims?wait_ms=5000`: the ingress takes the claim only once the "
      "broker has it (the 202 point), then holds the request until the processors' decision reaches it (its own "
      "read_committed consumer of `allot.decisions`) and answers 200 with the decision; a claim not decided within "
      "the wait gets 202 + pending and the client long-polls `GET /api/claims/{id}?wait_ms=N`. So, like v1 and v2, "
      "one request per claim when the pipeline keeps up; for those claims the accept time shown is the final answer's.")
    w("- Every user is signed in, for all three strategies alike (README \"Who is the user\"): k6 signs each user's "
      "HS256 token with the stack's secret before the user's clock starts, and the ingress verifies it on every claim "
      "and long poll (a token it verified before is remembered). What verifying alone costs the claim path: "
      "`bench/identity_bench.sh`, in bench/README.md.")
    others = [r["cpu"].get("other_cpu_s", 0) / max(r["cpu"]["wall_s"] * r["cpu"]["cores"], 1e-9) for r in doc["runs"]]
    if others and max(others) > 0.05:
        w(f"- **Other work on the machine.** Processes outside this experiment (other people's builds, tests and stacks "
          f"on the same machine) used up to {100 * max(others):.0f}% of the {rep.cores} cores during a run (median "
          f"{100 * sorted(others)[len(others) // 2]:.0f}%); see the CPU table. Runs with a large share are noisier.")
    w("")


def headline_section(w, rep):
    by, charts = rep.by, rep.charts
    w("## Headline: the seed scenario (a)")
    w("")
    w("10,000 distinct users, one claim each, one event of 100 coupons, as simultaneous as the machine allows.")
    w("")
    table_runs(w, runs_of(by, "seed"))
    ratios(w, by, "seed")
    if charts.get("seed"):
        w(f"![seed timeline]({charts['seed']})")
        w("")


def sustained_section(w, rep):
    if "sustained" not in rep.scenarios:
        return
    by, charts, stage_list, bound = rep.by, rep.charts, rep.stage_list, rep.bound
    w("## (b) Sustained load: the knee of each strategy")
    w("")
    w(f"Arrival rate stepped up ({', '.join(f'{r}/s' for r, _ in stage_list)}; each step {stage_list[0][1]} s, reached "
      "in 1 s, that second left out of the figures); the event's stock is large enough that every claim is issued "
      "(the heavier path). A step passes when k6 kept up (≥ 90% of the offered rate started), errors ≤ 0.1% and the "
      f"p99 of the final answer ≤ {bound:g} ms. **The knee is the highest step below which every step passed.** "
      "k6 aborts a run once it has clearly blown up (20% errors or a cumulative p99 over 15 s).")
    w("")
    w("| strategy | knee (offered claims/s) | answered/s at the knee | answer p99 at the knee | first failing step |")
    w("|---|---:|---:|---:|---|")
    for r in runs_of(by, "sustained"):
        s = r["strategy"]
        knee = r["_knee"]
        fail = next((st for st in r["_steps"] if not st["ok"]), None)
        why = "none (all passed)"
        if fail:
            reasons = []
            if fail["claims"] == 0 or fail["started_per_s"] < 0.9 * fail["offered"]:
                reasons.append(f"k6 could start only {f(fail['started_per_s'], 0)}/s (machine saturated)")
            if fail["error_rate"] and fail["error_rate"] > 0.001:
                reasons.append(f"errors {f(100 * fail['error_rate'], 1)}%")
            if fail["answer_p99"] is None or fail["answer_p99"] > bound:
                reasons.append(f"p99 {f(fail['answer_p99'], 0)} ms")
            why = f"{fail['offered']}/s: " + ", ".join(reasons)
        w(f"| {STRATEGY_NAMES[s]} | {knee['offered'] if knee else 'below the first step'} | "
          f"{f(knee['answered_per_s'], 0) if knee else '–'} | {f(knee['answer_p99'], 0) + ' ms' if knee else '–'} | {why} |")
    k = {s: (by.get(("sustained", s)) or {}).get("_knee") for s in ("v1", "v2", "v3")}
    if k.get("v3"):
        parts = [f"v3/{b} {k['v3']['offered'] / k[b]['offered']:.2f}" for b in ("v1", "v2") if k.get(b)]
        if parts:
            w("")
            w("Knee ratios (offered claims/s at the knee, same run): " + ", ".join(parts) + ".")
    w("")
    if charts.get("knee"):
        w(f"![knee curves]({charts['knee']})")
        w("")
    w("Per step (claims sent during the step):")
    w("")
    w("| strategy | offered/s | started/s | answered/s | accept p99 ms | answer p50 ms | answer p95 ms | answer p99 ms | errors | pass |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in runs_of(by, "sustained"):
        for st in r["_steps"]:
            w(f"| {r['strategy']} | {st['offered']} | {f(st['started_per_s'], 0)} | {f(st['answered_per_s'], 0)} | "
              f"{f(st['accept_p99'], 1)} | {f(st['answer_p50'], 1)} | {f(st['answer_p95'], 1)} | {f(st['answer_p99'], 1)} | "
              f"{st['errors']} | {'yes' if st['ok'] else 'no'} |")
    w("")
    w("Whole runs:")
    w("")
    table_runs(w, runs_of(by, "sustained"))
    if charts.get("sustained"):
        w(f"![sustained timeline]({charts['sustained']})")
        w("")


def many_section(w, rep):
    if "many" not in rep.scenarios:
        return
    doc, by, charts = rep.doc, rep.by, rep.charts
    r0 = next(r for r in doc["runs"] if r["scenario"] == "many")
    w("## (c) Many events at once")
    w("")
    w(f"{r0['events']} events × {r0['stock_per_event']:,} coupons, {r0['claims_planned']:,} claims from distinct users "
      f"(claim i goes to event i mod {r0['events']}), {r0['k6_env'].get('ALLOT_VUS')} VUs, shared-iterations.")
    w("")
    table_runs(w, runs_of(by, "many"))
    ratios(w, by, "many")
    if charts.get("many"):
        w(f"![many-events timeline]({charts['many']})")
        w("")


def integrity_section(w, rep):
    doc = rep.doc
    w("## Integrity after every run")
    w("")
    w("- **v3**: after the pipeline caught up (`allotctl groups wait` for the processors and both sinks), "
      "`allotctl verify --events <the run's events> --accepted <ids answered 202> --projections`: every docs/DESIGN.md §4 invariant "
      "on `allot.commands`/`allot.decisions` (read_committed) — every accepted claim has exactly one decision, issued ≤ "
      "stock, sequences exactly 1..issued, at most one per user, first come first served in partition order — and MySQL "
      "and Redis equal the decisions. Then: every answer a user saw equals the MySQL projection's row, and per event "
      "issued = min(stock, distinct users accepted).")
    w("- **v1 / v2**: their own records (`v1_claims`, `v2_claims`): per event issued = min(stock, distinct users answered), "
      "no user issued twice, `coupon_seq` exactly 1..issued; every synchronous answer equals its row (no answer without a "
      "record, no record that disagrees); the strategy's own counter (v1: `v1_events.issued`; v2: Redis "
      "`allot:v2:<event>` field `issued`) equals the issued rows.")
    w("")
    w("| scenario | strategy | verdict | issued | events ok | details |")
    w("|---|---|---|---:|---:|---|")
    for r in doc["runs"]:
        i = r["integrity"]
        pe = i.get("per_event") or {}
        det = "; ".join(i["problems"][:4]) if i["problems"] else (i.get("verify") or "all checks passed")
        det = det.replace("|", "\\|")
        w(f"| {r['scenario']} | {r['strategy']} | **{i['verdict']}** | {pe.get('issued', '–')} | "
          f"{pe.get('events_ok', '–')}/{r['events']} | {det} |")
    w("")


def cpu_section(w, rep):
    doc = rep.doc
    w("## CPU during each run")
    w("")
    w(f"Shares of the machine ({rep.cores} cores = 100%) over the k6 run, from /proc (k6's own from its rusage). "
      "“other” is everything else on the machine, including other people's jobs.")
    w("")
    w("| scenario | strategy | wall s | machine busy | k6 | ingress | processors | sinks | kafka | mariadb | redis | other |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in doc["runs"]:
        c = r["cpu"]
        tot = max(c["wall_s"] * c["cores"], 1e-9)
        sv = c.get("services_cpu_s") or {}
        g = {part: f(part_cpu(sv, part) / tot * 100, 0) for part in STRATEGY_PARTS["v3"]}  # every column
        w(f"| {r['scenario']} | {r['strategy']} | {f(c['wall_s'], 1)} | {f(100 * (c.get('machine_busy_share') or 0), 0)}% | "
          f"{f(100 * (c.get('k6_share') or 0), 0)}% | {g['ingress']}% | {g['processors']}% | "
          f"{g['sinks']}% | {g['kafka']}% | {g['mariadb']}% | {g['redis']}% | "
          f"{f(100 * c.get('other_cpu_s', 0) / tot, 0)}% |")
    w("")
    cost_table(doc["runs"], w, rep.cores)
    warmup = doc.get("warmup")
    if warmup:
        loads = "; ".join(f"round {r.get('round', i + 1)} {r.get('shape', 'many')}: {r['claims']:,} claims, brokers "
                          f"{f(r['kafka_cpu_s'], 1)} CPU s of which JIT {f(r['jit_cpu_s'], 1)}"
                          + (f" (k6 exit {r['k6_exit_code']})" if r.get("k6_exit_code") else "")
                          for i, r in enumerate(warmup))
        last = warmup[-1].get("round", len(warmup))
        last_jit = sum(r["jit_cpu_s"] for r in warmup if r.get("round", len(warmup)) == last)
        bound = (doc.get("args") or {}).get("warmup_jit_s")
        ended = (f"it ended when a round's JIT CPU fell under {bound} s" if bound is not None and last_jit < bound
                 else "it ended at its round limit, the compilers still busy")
        w(f"Before the measured runs the brokers were warmed by {counted(len(warmup), 'unreported v3 load')} "
          f"(bench/README.md \"The broker's JIT, and the report's own JMX reads\"); {ended}: {loads}.")
        w("")
    broker_requests_table(doc["runs"], w)
    restarted = [(r["scenario"], r["strategy"], r["services_restarted"]) for r in doc["runs"] if r.get("services_restarted")]
    if restarted:
        w("Services that restarted during a run (their pid changed): " +
          "; ".join(f"{s}/{t}: {', '.join(n)}" for s, t, n in restarted) + ".")
        w("")


def prometheus_section(w, rep):
    doc = rep.doc
    w("## v3's pipeline during its runs (Prometheus)")
    w("")
    w("| scenario | decisions/s | mean batch | commit p99 ms | produce (202) p99 ms | decision → Redis p99 ms | decision → MySQL p99 ms | max sink lag | all caught up after the run |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in doc["runs"]:
        if r["strategy"] != "v3":
            continue
        p = r.get("prometheus") or {}
        w(f"| {r['scenario']} | {f(p.get('processor_decisions_per_s'), 0)} | {f(p.get('processor_batch_mean'), 0)} | "
          f"{f(p.get('processor_commit_p99_ms'), 1)} | {f(p.get('ingress_produce_p99_ms'), 1)} | "
          f"{f(p.get('sink_redis_decision_age_p99_ms'), 0)} | {f(p.get('sink_mysql_decision_age_p99_ms'), 0)} | "
          f"{f(p.get('sink_lag_max'), 0)} | {f(r['integrity'].get('catch_up_s'), 1, ' s')} |")
    w("")
    slow = [r for r in doc["runs"] if r["strategy"] == "v3" and (r["integrity"].get("catch_up_s") or 0) > 60]
    for r in slow:
        w(f"**The MySQL projection fell behind in the {r['scenario']} run**: the sinks caught up "
          f"{f(r['integrity']['catch_up_s'], 0)} s after the last answer (max lag "
          f"{f((r.get('prometheus') or {}).get('sink_lag_max'), 0)} decisions). The MySQL sink writes each claim row and "
          "recounts the touched slices per batch, on the same MariaDB and cores as everything else.")
        w("")
    w("(Histogram quantiles are bucket estimates; the largest bucket is 30 s. At rest the sinks' lag reads one per "
      "partition: the commit marker that ends each transaction. Users' answers come from the Redis projection, so a "
      "MySQL sink that falls behind delays the MySQL tables, not the answers; the integrity check waits for both.)")
    w("")


def produce_linger_ms(m):
    """The ingress producer's linger.ms as the run's stack had it (ingress/publisher.h's default when unset)."""
    return ((m.get("service_env") or {}).get("ingress") or {}).get("ALLOT_PRODUCE_LINGER_MS", "10")


def slower_section(w, rep):
    by, m, scenarios = rep.by, rep.machine, rep.scenarios
    w("## Where v3 is slower than a baseline, and why")
    w("")
    slower = []
    for sc in scenarios:
        v3 = by.get((sc, "v3"))
        if not v3:
            continue
        for base in ("v1", "v2"):
            b = by.get((sc, base))
            if not b:
                continue
            F, B = v3["figures"], b["figures"]
            for key, label in (("accept_ms", "accept"), ("answer_ms", "final answer")):
                for q in ("p50", "p99"):
                    if F[key][q] is not None and B[key][q] is not None and F[key][q] > B[key][q]:
                        slower.append(f"{sc}: v3's {label} {q} {f(F[key][q], 1)} ms > {base}'s {f(B[key][q], 1)} ms")
            for key, label in (("accepted_per_s", "accepted/s"), ("answered_per_s", "answered/s")):
                if F[key] < B[key]:
                    slower.append(f"{sc}: v3's {label} {f(F[key], 0)} < {base}'s {f(B[key], 0)}")
        if sc == "sustained":
            k3 = by[(sc, "v3")]["_knee"]
            for base in ("v1", "v2"):
                b = by.get((sc, base))
                if b and b["_knee"] and (not k3 or k3["offered"] < b["_knee"]["offered"]):
                    slower.append(f"sustained: v3's knee {k3['offered'] if k3 else 'below the first step'} < {base}'s "
                                  f"{b['_knee']['offered']} claims/s")
    if slower:
        for s in slower:
            w(f"- {s}")
        w("")
        w("Why:")
        w("")
        w("- **Accept.** v3's 202 is a broker round trip: the ingress answers only after the idempotent producer's "
          f"delivery report (acks=all, linger {produce_linger_ms(m)} ms), so that the claim is durable before the user is told it is queued. "
          "v1's and v2's answer is a database or Redis round trip with no such durability point in between (v2's Redis "
          f"here: {redis_durability(m)}; " + (
              "a Redis restart forgets the stock taken and who claimed, so v2 would issue the same coupons again"
              if m.get("redis_appendonly") == "no" else
              "with an append-only file fsynced every second, a crash can lose the last second of issues, which v2 "
              "would then issue again") + "; and a crash between its Lua script and its MySQL insert loses the record "
          "of an issued coupon).")
        w("- **Final answer.** v3's final answer is the sum of: the broker round trip of the accept; waiting for the "
          "processor's batch to close (≤ 100 ms); the Kafka transaction commit (decisions + changelog + offsets); and the "
          "ingress's own decisions consumer seeing the committed decision (read_committed). Each is there for "
          "exactly-once and replayability; each is tunable (smaller batches trade throughput for latency). v1/v2 decide "
          "inline in the request.")
        w("- **Throughput under a closed-model test.** Each k6 VU waits for its user's final answer before taking the next "
          f"user, and k6, the ingress, {'the broker' if rep.kafka_nodes == 1 else 'the brokers'}, the processors, the sinks, "
          f"MariaDB and Redis share the same {rep.cores} cores; "
          "neither Kafka nor the processor is the limit (v3 decides at a few percent of the processor's own rate, see "
          "the limits). The CPU-per-1,000-claims table says what each strategy costs the machine.")
        w("- **A shared, busy machine.** The “other” column of the CPU table is work outside this experiment that ran "
          "at the same time; runs are noisy in proportion, and a figure that differs by less than that noise is not a "
          "difference between the strategies.")
        brokers = "broker" if rep.kafka_nodes == 1 else counted(rep.kafka_nodes, "broker")
        w(f"- **Everything shares {rep.cores} cores.** v3 runs more processes per claim (ingress, {brokers}, "
          f"{counted(rep.processors, 'processor')}, two sinks, "
          f"MariaDB, Redis) than v1 (ingress, MariaDB) or v2 (ingress, Redis, MariaDB); on {a_core(rep.cores)} machine with k6 on it "
          "too, CPU, not the design, sets the ceiling (see the CPU table).")
    else:
        w("None in this run: v3 was at least as fast as both baselines on every figure reported above.")
    w("")
    w("What v3 buys for this: the decision is durable before it is made (commands in Kafka), exactly one decision per "
      "accepted claim even across crashes and rebalances, first come first served per event, and projections that can be "
      "rebuilt from the topics; v1 holds a row lock per claim, so one hot event serialises on it; v2 is fast but its "
      f"stock lives only in Redis ({redis_durability(m)}), and its MySQL record is a second, non-atomic write.")
    w("")


def limits_if_measured(w, rep):
    if rep.lim:
        limits_section(w, rep.lim, rep.by)


# REPORT.md, top to bottom.
SECTIONS = (header_section, machine_section, headline_section, limits_if_measured, sustained_section, many_section,
            integrity_section, cpu_section, prometheus_section, slower_section)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rundir")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "bench"))
    a = ap.parse_args()
    rep = Report(a.rundir, a.out_dir)
    L = []
    for section in SECTIONS:
        section(L.append, rep)
    with open(os.path.join(a.out_dir, "REPORT.md"), "w") as fh:
        fh.write("\n".join(L))
    print(f"wrote {os.path.relpath(os.path.join(a.out_dir, 'REPORT.md'), ROOT)} and "
          f"{', '.join(c for c in rep.charts.values() if c)}")


# The parts each strategy needs to run: v1 and v2 would be deployed without Kafka, processors and sinks,
# so the idle ones are left out of their cost (their CPU still shows in the table above).
STRATEGY_PARTS = {
    "v1": ("ingress", "mariadb"),
    "v2": ("ingress", "mariadb", "redis"),
    "v3": ("ingress", "kafka", "processors", "sinks", "mariadb", "redis"),
}


def part_of(name):
    """The column a component's CPU goes to: every Kafka node under kafka, every processor under processors."""
    kind = components.kind_of(name)
    if kind == components.KAFKA:
        return "kafka"
    if name.startswith("processor-"):
        return "processors"
    if name.startswith("sink-"):
        return "sinks"
    return name


def part_cpu(sv, *parts):
    """CPU seconds of the components in `parts` (columns: ingress, kafka, processors, sinks, mariadb, redis)."""
    return sum((v or 0) for name, v in sv.items() if part_of(name) in parts)


def cost_table(runs, w, cores=2):
    """CPU seconds the system under test spent per 1,000 answered claims (the load generator apart)."""
    w("### CPU seconds per 1,000 claims")
    w("")
    w("CPU (user + system, from /proc) of the parts each strategy needs, summed over the k6 run and divided by the "
      f"claims answered. k6, Prometheus and everything else on the machine are left out. On {a_core(cores)} box where the "
      "client shares the cores, this is the figure that carries to a bigger machine. v3's sinks finish the last "
      "batch shortly after k6 ends; that tail (well under a second) is not counted. \"of kafka: JIT\" is the part of "
      "the kafka column the brokers' JIT compiler threads spent (a JVM compiles its hot paths during its first minutes "
      "of load).")
    w("")
    w("| scenario | strategy | answered | CPU s total | per 1,000 claims | ingress | kafka | of kafka: JIT | processors "
      "| sinks | mariadb | redis |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        sv = r["cpu"].get("services_cpu_s") or {}
        n = r["figures"]["answered"]
        parts = STRATEGY_PARTS.get(r["strategy"], tuple({part_of(x) for x in sv}))
        total = part_cpu(sv, *parts)
        per_k = {part: f(part_cpu(sv, part) * 1000 / n, 2) if n and part in parts else f(0, 2) if n else "-"
                 for part in STRATEGY_PARTS["v3"]}  # every column
        jit = r["cpu"].get("jit_cpu_s")
        known = jit is not None and None not in jit.values()  # None: a broker gone during the run
        jit_k = f(sum(jit.values()) * 1000 / n, 2) if known and n and "kafka" in parts else "-"
        w(f"| {r['scenario']} | {r['strategy']} | {n:,} | {f(total, 1)} | **{f(total * 1000 / n, 2) if n else '-'}** | "
          f"{per_k['ingress']} | {per_k['kafka']} | {jit_k} | {per_k['processors']} | "
          f"{per_k['sinks']} | {per_k['mariadb']} | {per_k['redis']} |")
    w("")


# Kafka request types, grouped for the report: what a claim costs the broker.
REQUEST_GROUPS = (
    ("produce", ("Produce",)),
    ("fetch (consumers)", ("FetchConsumer",)),
    ("fetch (followers)", ("FetchFollower",)),
    ("transactions", ("AddPartitionsToTxn", "AddOffsetsToTxn", "TxnOffsetCommit", "EndTxn", "WriteTxnMarkers",
                      "AddPartitionsToTxnVerification", "InitProducerId")),
    ("offsets and groups", ("OffsetCommit", "OffsetFetch", "ListOffsets", "Heartbeat", "JoinGroup", "SyncGroup",
                            "LeaveGroup", "FindCoordinator")),
    ("metadata", ("Metadata",)),
)


def broker_requests_table(runs, w):
    """Kafka's own request counters over each v3 run (bench/experiment.py BrokerRequests), per 1,000 claims."""
    rows = [r for r in runs if r["strategy"] == "v3" and r.get("broker_requests")]
    if not rows:
        return
    w("### Kafka's requests per 1,000 claims (v3)")
    w("")
    w("The brokers' own counters (kafka.network RequestMetrics and BrokerTopicMetrics, over JMX), read before the "
      "k6 run and right after it, divided by the claims answered. \"Fetch (consumers)\" counts every fetch of the "
      "processors, the sinks and the ingress's decision reader, including the long polls that came back empty. "
      "Bytes in and out are what producers appended and consumers were sent (replication excluded), per claim.")
    w("")
    heads = [g for g, _ in REQUEST_GROUPS]
    w("| scenario | " + " | ".join(heads) + " | all requests | records appended | records per produce request | bytes in, out per claim |")
    w("|---|" + "---:|" * (len(heads) + 4))
    for r in rows:
        b, n = r["broker_requests"], r["figures"]["answered"]
        if not n:
            continue
        grouped = [sum(b.get(t, 0) for t in types) for _, types in REQUEST_GROUPS]
        every = sum(v for k, v in b.items() if k not in BrokerRequests.TOTALS)
        per_request = b.get("messages_in", 0) / b["produce_requests"] if b.get("produce_requests") else 0
        w(f"| {r['scenario']} | " + " | ".join(f(v * 1000 / n, 0) for v in grouped) +
          f" | {f(every * 1000 / n, 0)} | {f(b.get('messages_in', 0) * 1000 / n, 0)} | {f(per_request, 1)}"
          f" | {f(b.get('bytes_in', 0) / n, 0)}, {f(b.get('bytes_out', 0) / n, 0)} |")
    w("")


def redis_durability(m):
    aof = m.get("redis_appendonly")
    if aof is None:
        return "persistence not recorded"
    snap = "RDB snapshots off" if not m.get("redis_save") else f"RDB snapshots '{m.get('redis_save')}'"
    if aof == "yes":
        return f"append-only file, fsync {m.get('redis_appendfsync')}, {snap}"
    return f"no append-only file, {snap}"


def limits_section(w, lim, by):
    w("## Limits measured in the same run")
    w("")
    w("| what | rate | note |")
    w("|---|---:|---|")
    w(f"| HTTP no-op (`GET /healthz`), wrk -t1 -c64 | {f(lim.get('noop_wrk_rps'), 0)} req/s | p99 {lim.get('noop_wrk_p99', '–')}; the server's ceiling |")
    if lim.get("ingress_bench_claims_rps"):
        w(f"| Accepted claims (`POST .../claims`, 202 after the broker's ack), wrk -t1 -c64 | "
          f"{f(lim['ingress_bench_claims_rps'], 0)} req/s | p99 {lim.get('ingress_bench_claims_p99', '–')}; "
          f"{f(ratio(lim['ingress_bench_claims_rps'], lim.get('ingress_bench_noop_rps')), 2)} of the no-op rate "
          f"({f(lim.get('ingress_bench_noop_rps'), 0)} req/s) in the same `bench/ingress_bench.sh 10 64` call |")
    w(f"| HTTP no-op, k6 64 VUs | {f(lim.get('noop_k6_rps'), 0)} req/s | p95 {f(lim.get('noop_k6_p95_ms'), 1)} ms, "
      f"p99 {f(lim.get('noop_k6_p99_ms'), 1)} ms, k6 at "
      f"{f(100 * (lim.get('noop_k6_cpu_share') or 0), 0)}% of the machine; the load generator's ceiling here |")
    w(f"| librdkafka raw produce (kcat, idempotent, acks=all, 12 partitions, 200,000 claim-sized messages) | "
      f"{f(lim.get('raw_produce_msgs_per_s'), 0)} msg/s | |")
    w(f"| librdkafka raw consume (read_committed, 200,020 commands, 12 partitions) | "
      f"{f(lim.get('raw_consume_msgs_per_s'), 0)} msg/s | `allot-bench-processor --commands 200000 --partitions 12` |")
    w(f"| librdkafka raw consume through kcat (printing offsets) | {f(lim.get('raw_consume_kcat_msgs_per_s'), 0)} msg/s | |")
    w(f"| allot processor, exactly-once decisions (same data, one processor) | "
      f"{f(lim.get('processor_eos_decisions_per_s'), 0)} decisions/s | mean batch {f(lim.get('processor_mean_batch'), 0)}; "
      "a transaction per batch with decisions + changelog + offsets |")
    if lim.get("processor_eos_decisions_per_s_p1"):
        w(f"| allot processor on one partition (`allot-bench-processor --commands 200000 --partitions 1`) | "
          f"{f(lim['processor_eos_decisions_per_s_p1'], 0)} decisions/s | "
          f"{f(ratio(lim['processor_eos_decisions_per_s_p1'], lim.get('raw_consume_msgs_per_s_p1')), 3)} of the raw consume "
          f"rate of the same partition ({f(lim.get('raw_consume_msgs_per_s_p1'), 0)} msg/s); "
          f"{f(lim.get('processor_cpu_us_per_decision_p1'), 1)} µs CPU per decision; "
          f"mean batch {f(lim.get('processor_mean_batch_p1'), 0)} |")
    w("")
    v3s = by.get(("seed", "v3"))
    if v3s and lim.get("noop_k6_rps"):
        fig = v3s["figures"]
        w(f"Against these ceilings, v3's seed run sent {f(fig.get('http_reqs_per_s'), 0)} HTTP requests/s (claims + polls), "
          f"{f(100 * ratio(fig.get('http_reqs_per_s'), lim['noop_k6_rps']), 0)}% of what k6 reaches on a no-op endpoint "
          f"here, and decided at {f(fig['answered_per_s'], 0)} claims/s, "
          f"{f(100 * ratio(fig['answered_per_s'], lim.get('processor_eos_decisions_per_s')), 1)}% of the processor's own "
          "rate: on this machine the HTTP path (k6 included) is the limit, not Kafka or the processor.")
        w("")



def runs_of(by, scenario):
    """The runs of one scenario that took place, in strategy order."""
    return [by[(scenario, s)] for s in ("v1", "v2", "v3") if (scenario, s) in by]


def table_runs(w, runs):
    if not runs:
        return
    w("| strategy | answered / claims | accepted/s | answered/s | accept p50 / p95 / p99 ms | final answer p50 / p95 / p99 ms | issued / sold_out / duplicate | errors by kind | k6 CPU | integrity |")
    w("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for r in runs:
        g = r["figures"]
        a, b, o = g["accept_ms"], g["answer_ms"], g["outcomes"]
        w(f"| {STRATEGY_NAMES[r['strategy']]} | {g['answered']:,} / {g['claims']:,} | {f(g['accepted_per_s'], 0)} | "
          f"{f(g['answered_per_s'], 0)} | {f(a['p50'])} / {f(a['p95'])} / {f(a['p99'])} | "
          f"{f(b['p50'])} / {f(b['p95'])} / {f(b['p99'])} | {o.get('issued', 0):,} / {o.get('sold_out', 0):,} / "
          f"{o.get('duplicate', 0):,} | {errors_text(g)} | {f(100 * (r['cpu'].get('k6_share') or 0), 0)}% | "
          f"**{r['integrity']['verdict']}** |")
    w("")
    extra = []
    for r in runs:
        g = r["figures"]
        bits = [f"all answered after {f(g['all_answered_after_s'], 2)} s", f"{f(g.get('http_reqs_per_s'), 0)} HTTP req/s"]
        if g.get("polls_per_claim") is not None:
            bits.append(f"{f(g['polls_per_claim'], 2)} polls per claim")
        if g.get("dropped_iterations"):
            bits.append(f"{g['dropped_iterations']} iterations dropped by k6 (no free VU)")
        if g.get("error_detail"):
            bits.append("errors: " + ", ".join(f"{k} ×{v}" for k, v in g["error_detail"].items()))
        if r.get("k6_exit_code") not in (0, None):
            bits.append(f"k6 exit code {r['k6_exit_code']}" + (" (aborted on a threshold)" if r["k6_exit_code"] == 99 else ""))
        extra.append(f"{r['strategy']}: " + "; ".join(bits))
    w("Also: " + ". ".join(extra) + ". Percentiles from the per-claim records (k6's own summary agrees: "
      + "; ".join(f"{r['strategy']} answer p99 {f((r['figures'].get('k6_answer_ms') or {}).get('p99'))} ms" for r in runs)
      + ").")
    w("")


def ratios(w, by, scenario):
    v3 = by.get((scenario, "v3"))
    if not v3:
        return
    F = v3["figures"]
    w("Ratios from the same run (v3 ÷ baseline; > 1 means v3 is higher; for latencies higher is slower):")
    w("")
    w("| ratio | accepted/s | answered/s | accept p50 | accept p99 | final answer p50 | final answer p99 |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for base in ("v1", "v2"):
        b = by.get((scenario, base))
        if not b:
            continue
        B = b["figures"]
        w(f"| v3/{base} | {f(ratio(F['accepted_per_s'], B['accepted_per_s']), 2)} | "
          f"{f(ratio(F['answered_per_s'], B['answered_per_s']), 2)} | {f(ratio(F['accept_ms']['p50'], B['accept_ms']['p50']), 2)} | "
          f"{f(ratio(F['accept_ms']['p99'], B['accept_ms']['p99']), 2)} | {f(ratio(F['answer_ms']['p50'], B['answer_ms']['p50']), 2)} | "
          f"{f(ratio(F['answer_ms']['p99'], B['answer_ms']['p99']), 2)} |")
    w("")


if __name__ == "__main__":
    main()
