#!/usr/bin/env python3
"""Ops.MetricsExposition: the live /metrics of every allot service the stack runs is valid Prometheus
text exposition.

For the ingress, each processor and each sink (every service whose binary is built: those are the
ones `scripts/stack up` starts; a built service that does not answer fails the test):
  - GET /metrics answers 200 with text/plain and a non-empty body;
  - `promtool check metrics` (Debian's prometheus package) accepts it: it parses, and passes the lint;
  - a parser of the text format written here, independent of the C++ module, accepts it too and checks
    what promtool does not: HELP/TYPE at most once and before the family's samples, samples of a family
    together, no duplicate series, label values well escaped (only \\\\, \\" and \\n), and for every
    histogram series: `le` buckets in increasing order with non-decreasing counts, a +Inf bucket equal
    to _count, and a _sum;
  - the metric families the dashboards rely on are exposed (their TYPE line is there even before the
    first sample).
At least one labelled histogram must be among them (the ingress's allot_ingress_request_seconds{route}).

  metrics_check.py [--build-dir DIR]      (ports: ALLOT_HTTP_PORT, ALLOT_PROCESSORS,
                                           ALLOT_PROCESSOR_METRICS_BASE, ALLOT_SINK_*_METRICS_PORT)
"""

import argparse
import itertools
import math
import re
import shutil
import subprocess
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import opslib

# Families each kind of service must expose (what compose/grafana/dashboards query). The per-event gauges
# allot_event_stock and allot_event_issued appear only once a processor has decided a command of an event:
# the dashboards test (dashboards_check.py) requires them after its own load.
EXPECTED = {
    "ingress": ["allot_ingress_requests_total", "allot_ingress_request_seconds", "allot_ingress_rejections_total",
                "allot_ingress_in_flight", "allot_ingress_produce_seconds"],
    "processor": ["allot_processor_commands_total", "allot_processor_batch_commands", "allot_processor_commit_seconds",
                  "allot_processor_aborts_total", "allot_processor_restores_total",
                  "allot_processor_restored_records_total", "allot_processor_restore_seconds",
                  "allot_processor_consumer_lag", "allot_processor_assigned_partitions"],
    "sink": ["allot_sink_decisions_total", "allot_sink_batch_seconds", "allot_sink_decision_age_seconds",
             "allot_sink_retries_total", "allot_sink_consumer_lag", "allot_sink_assigned_partitions"],
}

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(Exception):
    pass


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"bad value {text!r}")


def parse_labels(text, pos):
    """Parses `{a="x",b="y"}` starting at text[pos] == '{'; returns (labels, position after '}', escapes)."""
    labels, escapes = {}, 0
    pos += 1
    while True:
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1, escapes
        m = LABEL_NAME.match(text, pos)
        if not m:
            raise ParseError(f"bad label name at column {pos + 1}")
        name = m.group(0)
        pos = m.end()
        if text[pos:pos + 2] != '="':
            raise ParseError(f"expected =\" after label {name}")
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise ParseError(f"unterminated value of label {name}")
            c = text[pos]
            if c == "\\":
                nxt = text[pos + 1:pos + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ParseError(f"bad escape \\{nxt} in label {name}")
                value.append("\n" if nxt == "n" else nxt)
                escapes += 1
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                value.append(c)
                pos += 1
        if name in labels:
            raise ParseError(f"label {name} twice")
        labels[name] = "".join(value)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != "}":
            raise ParseError(f"expected , or }} after label {name}")


def family_of(name, types):
    """The family a sample name belongs to (histogram x: x_bucket, x_sum, x_count)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if types.get(base) in ("histogram", "summary"):
                return base
    return name


def parse_exposition(body):
    """Parses text format 0.0.4. Returns {family: {"type", "help", "samples": [(name, labels, value)]}}
    and the number of escaped characters met in label values. Raises ParseError."""
    families, types, order, escapes = {}, {}, [], 0
    seen_series, closed = set(), set()
    current = None
    for lineno, line in enumerate(body.split("\n"), 1):
        try:
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    name = parts[2]
                    if not METRIC_NAME.fullmatch(name):
                        raise ParseError(f"bad metric name {name!r}")
                    fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                    if name in closed or fam["samples"]:
                        raise ParseError(f"{parts[1]} of {name} after its samples")
                    key = parts[1].lower()
                    if fam[key] is not None:
                        raise ParseError(f"second {parts[1]} line for {name}")
                    text = parts[3] if len(parts) > 3 else ""
                    if key == "type":
                        if text not in TYPES:
                            raise ParseError(f"unknown type {text!r}")
                        types[name] = text
                    fam[key] = text
                    if current is not None and current != name:
                        closed.add(current)
                    current = name
                    if name not in order:
                        order.append(name)
                continue
            m = METRIC_NAME.match(line)
            if not m:
                raise ParseError("bad metric name")
            name, pos = m.group(0), m.end()
            labels = {}
            if pos < len(line) and line[pos] == "{":
                labels, pos, n = parse_labels(line, pos)
                escapes += n
            rest = line[pos:].split()
            if len(rest) not in (1, 2):
                raise ParseError("expected a value and an optional timestamp")
            value = parse_value(rest[0])
            if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
                raise ParseError(f"bad timestamp {rest[1]!r}")
            fam_name = family_of(name, types)
            if fam_name in closed:
                raise ParseError(f"samples of {fam_name} are not together")
            if current is not None and current != fam_name:
                closed.add(current)
            current = fam_name
            fam = families.setdefault(fam_name, {"type": None, "help": None, "samples": []})
            if fam_name not in order:
                order.append(fam_name)
            series = (name, tuple(sorted(labels.items())))
            if series in seen_series:
                raise ParseError(f"duplicate series {name}{labels}")
            seen_series.add(series)
            fam["samples"].append((name, labels, value))
        except ParseError as e:
            raise ParseError(f"line {lineno}: {e}: {line[:160]!r}")
    return families, escapes


def check_family(name, fam):
    """Semantic checks of one family; returns a list of problems."""
    problems = []
    kind = fam["type"] or "untyped"
    for sample_name, _, value in fam["samples"]:
        if kind == "counter" and (value < 0 or math.isnan(value)):
            problems.append(f"counter {sample_name} is {value}")
    if kind != "histogram":
        return problems
    groups = {}
    for sample_name, labels, value in fam["samples"]:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sample_name == name + "_bucket":
            if "le" not in labels:
                problems.append(f"{sample_name}{dict(rest)} without le")
                continue
            g["buckets"].append((parse_value(labels["le"]), value))
        elif sample_name == name + "_sum":
            g["sum"] = value
        elif sample_name == name + "_count":
            g["count"] = value
        else:
            problems.append(f"unexpected sample {sample_name} in histogram {name}")
    for rest, g in groups.items():
        where = f"{name}{dict(rest) if rest else ''}"
        b = g["buckets"]
        if not b:
            problems.append(f"{where}: no buckets")
            continue
        les = [le for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            problems.append(f"{where}: le not strictly increasing: {les}")
        counts = [c for _, c in b]
        if any(c2 < c1 for c1, c2 in itertools.pairwise(counts)):
            problems.append(f"{where}: bucket counts decrease: {counts}")
        if les[-1] != math.inf:
            problems.append(f"{where}: no +Inf bucket")
        elif g["count"] is None or counts[-1] != g["count"]:
            problems.append(f"{where}: +Inf bucket {counts[-1]} != _count {g['count']}")
        if g["sum"] is None:
            problems.append(f"{where}: no _sum")
    return problems


def self_test():
    """The parser itself: escaped label values and a labelled histogram are read back exactly, and
    broken expositions are refused (so a pass below means something)."""
    good = ('# HELP t_seconds A histogram.\n# TYPE t_seconds histogram\n'
            't_seconds_bucket{route="a\\\\b\\"c\\nd",le="0.1"} 1\n'
            't_seconds_bucket{route="a\\\\b\\"c\\nd",le="+Inf"} 2\n'
            't_seconds_sum{route="a\\\\b\\"c\\nd"} 0.3\nt_seconds_count{route="a\\\\b\\"c\\nd"} 2\n')
    fams, escapes = parse_exposition(good)
    assert escapes == 12, escapes
    assert fams["t_seconds"]["samples"][0][1]["route"] == 'a\\b"c\nd'
    assert not check_family("t_seconds", fams["t_seconds"])
    bad = [
        't{a="x\\y"} 1\n',  # bad escape
        't{a="x} 1\n',  # unterminated
        "# TYPE t counter\nt 1\n# TYPE t counter\n",  # TYPE twice
        "t 1\nu 1\nt 2\n",  # not together
        "t 1\nt 1\n",  # duplicate
    ]
    for text in bad:
        try:
            parse_exposition(text)
        except ParseError:
            continue
        raise AssertionError(f"parser accepted {text!r}")
    broken_histogram = ("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n")
    fams, _ = parse_exposition(broken_histogram)
    assert check_family("h", fams["h"]), "decreasing buckets not caught"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    build_dir = opslib.build_dir_from(args.build_dir)
    failures = opslib.Failures("Ops.MetricsExposition")

    self_test()
    promtool = shutil.which("promtool")
    failures.check(promtool, "promtool not found (Debian package prometheus; scripts/setup installs it)")

    checked, labelled_histograms, escaped = 0, set(), 0
    for name, port, binary, built in opslib.stack_services(build_dir):
        if not built:
            print(f"{name}: {binary} is not built, so the stack does not run it: not checked")
            continue
        url = f"http://{opslib.HOST}:{port}/metrics"
        try:
            answer = opslib.http("GET", url, timeout=10)
        except OSError as e:
            failures.add(f"{name}: {url} does not answer ({e}); is the stack up (scripts/stack up)?")
            continue
        ctype = answer.headers.get("Content-Type", "")
        if not failures.check(answer.status == 200, f"{name}: {url} answered {answer.status}"):
            continue
        failures.check(ctype.startswith("text/plain"), f"{name}: Content-Type is {ctype!r}, not text/plain")
        if not failures.check(answer.body.strip(), f"{name}: empty /metrics"):
            continue
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], check=False, input=answer.body, capture_output=True, text=True,
                               timeout=30)
            out = (p.stdout + p.stderr).strip()
            failures.check(p.returncode == 0, f"{name}: promtool check metrics exited {p.returncode}:\n{out}")
        try:
            families, n_escapes = parse_exposition(answer.body)
        except ParseError as e:
            failures.add(f"{name}: {e}")
            continue
        escaped += n_escapes
        samples = 0
        for fam_name, fam in families.items():
            samples += len(fam["samples"])
            for problem in check_family(fam_name, fam):
                failures.add(f"{name}: {problem}")
            if fam["type"] == "histogram" and any(set(l) - {"le"} for _, l, _ in fam["samples"]):
                labelled_histograms.add(fam_name)
        kind = name.split("-")[0]
        for expected in EXPECTED[kind]:
            failures.check(expected in families and families[expected]["type"],
                           f"{name}: family {expected} is not exposed")
        print(f"{name}: {url}: {len(families)} families, {samples} samples: promtool and parser OK")
        checked += 1

    failures.check(checked > 0, "no service checked")
    failures.check(labelled_histograms, "no histogram with labels in any exposition")
    failures.finish(f"{checked} endpoints valid; labelled histograms: {', '.join(sorted(labelled_histograms))}; "
                    f"escaped characters in label values: {escaped}")


if __name__ == "__main__":
    main()
