#!/usr/bin/env python3
"""Ops.Dashboards: every query of every Grafana dashboard in compose/grafana/dashboards parses and
returns data from the real Prometheus of the local stack, after a short load this test runs itself.

1. The dashboards' JSON: every panel (rows' nested panels included) that is not a row or text panel has
   targets with a PromQL expression, on the provisioned Prometheus datasource (its uid is read from
   compose/grafana/provisioning/datasources); dashboard uids and panel ids are unique.
2. A bounded load through the real ingress: `allot-seed --users N --stock 100` (N = ALLOT_OPS_LOAD_USERS,
   default 3000; it waits for every decision and checks the invariants), then a few bad requests so that
   error series exist (400, 401, 404, 415). Then it waits (at most 60 s) until Prometheus has scraped the
   load's decisions from the processors and, when they run, the sinks.
3. Template variables: a `label_values(metric, label)` query must return values (through
   /api/v1/label/<label>/values); the variable takes the load's own event when offered, else the first value.
   In every expression $__rate_interval becomes 30s, $__interval 10s, $__range the checked window, and each
   dashboard variable its value; an unknown $variable left over is a failure.
4. Every target's expression, evaluated through /api/v1/query (now) and /api/v1/query_range (from just before
   the load to now, 2 s step): both must succeed (the query parses and evaluates); the instant result must be
   non-empty and the range result must hold at least one finite value (a NaN-only series is no data). Each
   {{label}} of the target's legendFormat must be a label of the returned series.
It prints the number of dashboards, panels, queries and variables checked. Any broken or empty query fails.

  dashboards_check.py [--build-dir DIR]     (ALLOT_PROMETHEUS_PORT, ALLOT_HTTP_PORT, ALLOT_ADMIN_TOKEN)
"""

import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import opslib

ROOT = opslib.repo_root()
DASHBOARDS = os.path.join(ROOT, "compose", "grafana", "dashboards")
DATASOURCES = os.path.join(ROOT, "compose", "grafana", "provisioning", "datasources")
NON_QUERY_PANELS = {"row", "text", "news", "dashlist", "alertlist"}
RATE_INTERVAL = "30s"
INTERVAL = "10s"
STEP_S = 2


def provisioned_uids():
    uids = set()
    for path in glob.glob(os.path.join(DATASOURCES, "*.y*ml")):
        with open(path) as f:
            uids.update(re.findall(r"^\s*uid:\s*['\"]?([\w-]+)", f.read(), re.MULTILINE))
    return uids


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def load_dashboards(failures):
    paths = sorted(glob.glob(os.path.join(DASHBOARDS, "*.json")))
    failures.check(paths, f"no dashboards in {DASHBOARDS}")
    uids = provisioned_uids()
    failures.check(uids, f"no datasource uid in {DATASOURCES}")
    boards, seen_uids = [], set()
    for path in paths:
        name = os.path.basename(path)
        try:
            with open(path) as f:
                d = json.load(f)
        except ValueError as e:
            failures.add(f"{name}: not JSON: {e}")
            continue
        uid = d.get("uid")
        failures.check(uid and uid not in seen_uids, f"{name}: missing or repeated uid {uid!r}")
        seen_uids.add(uid)
        failures.check(d.get("title"), f"{name}: no title")
        ids, panels = set(), []
        for p in all_panels(d.get("panels", [])):
            where = f"{name} panel {p.get('id')} {p.get('title')!r}"
            failures.check(p.get("id") not in ids, f"{where}: repeated panel id")
            ids.add(p.get("id"))
            if p.get("type") in NON_QUERY_PANELS:
                continue
            targets = [t for t in p.get("targets", []) if not t.get("hide")]
            failures.check(targets, f"{where}: no query")
            for t in targets:
                failures.check((t.get("expr") or "").strip(), f"{where} {t.get('refId')}: empty expression")
                ds = t.get("datasource") or p.get("datasource") or {}
                ds_uid = ds.get("uid") if isinstance(ds, dict) else ds
                failures.check(ds_uid in uids, f"{where}: datasource {ds_uid!r} is not the provisioned {sorted(uids)}")
            panels.append(p)
        boards.append((name, d, panels))
    return boards


def run_load(build_dir, failures):
    """The seed scenario through the real ingress, then a few requests the ingress must refuse.
    Returns the event id of the load (or None)."""
    users = opslib.env_int("ALLOT_OPS_LOAD_USERS", 3000)
    seed = os.path.join(build_dir, "bench", "allot-seed")
    if not failures.check(os.access(seed, os.X_OK), f"{seed} is not built"):
        return None
    print(f"load: {seed} --users {users} --stock 100", flush=True)
    try:
        p = subprocess.run([seed, "--users", str(users), "--stock", "100"], check=False, capture_output=True, text=True,
                           timeout=240, cwd=ROOT)
    except subprocess.TimeoutExpired:
        failures.add("allot-seed did not finish within 240 s")
        return None
    print("\n".join("  " + line for line in (p.stdout + p.stderr).strip().splitlines()[-12:]), flush=True)
    if not failures.check(p.returncode == 0, f"allot-seed exited {p.returncode}"):
        return None
    m = re.search(r"event (\S+?),", p.stdout)
    event = m.group(1) if m else None
    failures.check(event, "no event id in allot-seed's output")

    base = f"http://{opslib.HOST}:{opslib.layout().http_port}"
    json_ct = {"Content-Type": "application/json"}
    auth = {"Authorization": f"Bearer {opslib.user_token('ops-user')}"}  # a signed-in user's bad requests
    bad = [
        ("POST", f"/api/events/{event}/claims", "{not json", {**json_ct, **auth}),
        ("POST", f"/api/events/{event}/claims", '{"user_id":"no spaces allowed"}', {**json_ct, **auth}),
        ("POST", f"/api/events/{event}/claims", "user_id=x", {"Content-Type": "text/plain", **auth}),
        ("POST", "/api/events", '{"event_id":"x","title":"x","stock":1}', json_ct),  # no admin token
        ("GET", "/api/no-such-route", None, {}),
    ]
    refused = 0
    for method, path, body, headers in bad:
        try:
            answer = opslib.http(method, base + path, body, headers, timeout=10)
        except OSError as e:
            failures.add(f"ingress does not answer {method} {path}: {e}")
            continue
        if 400 <= answer.status < 500:
            refused += 1
        else:
            failures.add(f"{method} {path} answered {answer.status}, expected a 4xx")
    print(f"load: {refused} bad requests refused with 4xx", flush=True)
    return event


def wait_for_scrapes(prom, before, users, sinks_built, failures):
    """Waits until Prometheus has the load: claims answered, decided, and (sinks) projected."""
    checks = [("ingress claims", 'sum(allot_ingress_requests_total{route="claim"})'),
              ("processor decisions", "sum(allot_processor_commands_total)")]
    if sinks_built:
        checks += [("sink-mysql decisions", 'sum(allot_sink_decisions_total{sink="mysql"})'),
                   ("sink-redis decisions", 'sum(allot_sink_decisions_total{sink="redis"})')]
    for what, expr in checks:
        def seen(expr=expr, what=what):
            try:
                value = prom.scalar(expr)
            except opslib.PrometheusError:
                return False
            if value is None:
                return False
            base = before.get(what, 0)
            return value >= (base if value >= base else 0) + users  # a restarted service counts from 0
        if not opslib.wait_until(60, seen):
            failures.add(f"Prometheus did not see the load's {what} within 60 s ({expr})")
    time.sleep(2 * STEP_S)  # one more scrape of everything


def counters_before(prom, sinks_built):
    out = {}
    for what, expr in [("ingress claims", 'sum(allot_ingress_requests_total{route="claim"})'),
                       ("processor decisions", "sum(allot_processor_commands_total)"),
                       ("sink-mysql decisions", 'sum(allot_sink_decisions_total{sink="mysql"})'),
                       ("sink-redis decisions", 'sum(allot_sink_decisions_total{sink="redis"})')]:
        try:
            out[what] = prom.scalar(expr) or 0
        except opslib.PrometheusError:
            out[what] = 0
    return out


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$")


def variable_values(prom, board_name, d, start, end, event, failures):
    """Evaluates the dashboard's template variables; returns {name: value}."""
    values = {}
    for v in d.get("templating", {}).get("list", []):
        name, kind = v.get("name"), v.get("type")
        where = f"{board_name} variable ${name}"
        if kind == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = LABEL_VALUES.match(q or "")
            if not failures.check(m, f"{where}: unsupported variable query {q!r} (this test knows label_values)"):
                continue
            match, label = m.group(1) or "{__name__=~\".+\"}", m.group(2)
            try:
                found = prom.label_values(label, match, start, end)
            except opslib.PrometheusError as e:
                failures.add(f"{where}: {q}: {e}")
                continue
            if not failures.check(found, f"{where}: {q} returned no values"):
                continue
            values[name] = event if event in found else found[0]
            print(f"  variable ${name}: {q} -> {len(found)} values; using {values[name]!r}")
        elif kind == "custom":
            options = [o.strip() for o in (v.get("query") or "").split(",") if o.strip()]
            if failures.check(options, f"{where}: custom variable without options"):
                values[name] = options[0]
        elif kind in ("constant", "textbox"):
            values[name] = v.get("query", "")
        elif kind == "interval":
            values[name] = RATE_INTERVAL
        elif kind != "datasource":
            failures.add(f"{where}: variable type {kind!r} not handled by this test")
    return values


def substitute(expr, values, range_s):
    builtins = {"__rate_interval": RATE_INTERVAL, "__interval": INTERVAL, "__range": f"{int(range_s)}s",
                "__range_s": str(int(range_s)), "__interval_ms": str(int(INTERVAL[:-1]) * 1000)}

    def value_of(name):
        if name in builtins:
            return builtins[name]
        if name in values:
            return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", values[name])  # regex-safe, as Grafana does
        return None

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        v = value_of(name)
        return m.group(0) if v is None else v

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


def legend_labels(fmt):
    return set(re.findall(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}", fmt or ""))


def check_target(prom, where, expr, legend, start, end, failures):
    """Evaluates one target; returns (series, finite points) when it passes, else None."""
    try:
        instant = prom.query(expr, at=end)
    except opslib.PrometheusError as e:
        failures.add(f"{where}: instant query fails: {e}\n    {expr}")
        return None
    result = instant.get("result", [])
    if instant.get("resultType") == "scalar":
        result = [{"metric": {}, "value": result}]
    ok = failures.check(len(result) > 0, f"{where}: instant query returned no data\n    {expr}")
    try:
        ranged = prom.query_range(expr, start, end, STEP_S)
    except opslib.PrometheusError as e:
        failures.add(f"{where}: range query fails: {e}\n    {expr}")
        return None
    series = ranged.get("result", [])
    finite = sum(1 for s in series for _, v in s.get("values", []) if math.isfinite(float(v)))
    ok = failures.check(finite > 0, f"{where}: range query returned no data "
                                    f"({len(series)} series, {finite} finite values)\n    {expr}") and ok
    labels = set()
    for s in series + result:
        labels.update(s.get("metric", {}).keys())
    missing = legend_labels(legend) - labels
    ok = failures.check(not missing or not series, f"{where}: legend {legend!r} uses {sorted(missing)}, "
                                                   f"not labels of the result {sorted(labels)}") and ok
    return (len(series), finite) if ok else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    build_dir = opslib.build_dir_from(args.build_dir)
    failures = opslib.Failures("Ops.Dashboards")

    boards = load_dashboards(failures)
    prom = opslib.Prometheus()
    if not prom.ready():
        failures.add(f"Prometheus at {prom.base} is not ready; is the stack up (scripts/stack up)?")
        failures.finish("nothing queried")
    targets = prom.targets()
    down = [f"{t['labels'].get('job')} {t['labels'].get('instance')}: {t.get('lastError')}"
            for t in targets if t.get("health") != "up"]
    print(f"prometheus {prom.base}: {len(targets)} scrape targets, {len(down)} not up" +
          "".join(f"\n  down: {d}" for d in down), flush=True)

    services = opslib.stack_services(build_dir)
    sinks_built = all(built for name, _, _, built in services if name.startswith("sink-"))
    users = opslib.env_int("ALLOT_OPS_LOAD_USERS", 3000)
    before = counters_before(prom, sinks_built)
    start = time.time() - 10
    event = run_load(build_dir, failures)
    if event is None:
        failures.finish("the load did not run; nothing queried")
    wait_for_scrapes(prom, before, users, sinks_built, failures)
    end = time.time()
    print(f"range queries over the load: {time.strftime('%H:%M:%S', time.gmtime(start))}Z + {end - start:.0f} s, "
          f"step {STEP_S} s", flush=True)

    n_panels = n_queries = n_vars = n_ok = 0
    for name, d, panels in boards:
        print(f"dashboard {d.get('title')!r} ({name}): {len(panels)} panels", flush=True)
        values = variable_values(prom, name, d, start, end, event, failures)
        n_vars += len(values)
        for p in panels:
            n_panels += 1
            for t in [t for t in p.get("targets", []) if not t.get("hide")]:
                n_queries += 1
                where = f"{name} panel {p.get('id')} {p.get('title')!r} {t.get('refId')}"
                expr = substitute(t.get("expr", ""), values, end - start)
                left = [v for v in re.findall(r"\$\{?([a-zA-Z_]\w*)", expr)]
                if left:
                    failures.add(f"{where}: unknown variable(s) {left} in {expr}")
                    continue
                res = check_target(prom, where, expr, t.get("legendFormat"), start, end, failures)
                if res:
                    n_ok += 1
                    print(f"  ok  {where}: {res[0]} series, {res[1]} finite points")
    failures.finish(f"{len(boards)} dashboards, {n_panels} panels, {n_queries} queries "
                    f"({n_queries} instant + {n_queries} range evaluations), {n_vars} template variables checked; "
                    f"{n_ok} of {n_queries} queries parse and return data")


if __name__ == "__main__":
    main()
