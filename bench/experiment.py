#!/usr/bin/env python3
"""The seed experiment's driver: v1 (MySQL lock) vs v2 (Redis atomic) vs v3 (allot, Kafka), under k6.

Called by bench/run-experiment (which installs k6 and, for the report, matplotlib). Standard library only.
For every scenario and strategy it creates fresh events, runs bench/k6/claims.js, checks integrity on what
landed (Kafka via `allotctl verify`, MySQL, Redis), samples CPU per process from /proc (k6 included) and
asks Prometheus for the pipeline's own figures. Everything goes to a run folder (default .run/bench/RUN_ID/:
k6's summary JSON and per-claim records, checks' output, results.json); bench/report.py turns that into
bench/REPORT.md and the charts.

Every wait is bounded in time and every loop in count; every address is 127.0.0.1.
"""
import argparse
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import components  # scripts/components.py: the stack's component table, the same as scripts/stack's
import jvm_threads  # bench/jvm_threads.py: a JVM's CPU by thread group

STRATEGIES = ("v1", "v2", "v3")
OUTCOMES = ("issued", "sold_out", "duplicate", "not_open", "closed", "unknown_event")
STRATEGY_NAMES = {
    "v1": "v1 MySQL lock (SELECT ... FOR UPDATE)",
    "v2": "v2 Redis atomic (Lua) + MySQL insert",
    "v3": "v3 allot (Kafka, exactly-once processors)",
}


CLK = os.sysconf("SC_CLK_TCK")
# A v3 claim the broker took: 202 (pending), or 200 when POST ...?wait_ms=N saw its decision within the wait.
V3_ACCEPTED = (200, 202)
# Environment variables whose values never go into results.json (tokens, keys, passwords).
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY", re.IGNORECASE)


def env(name, default, environ=None):
    v = (os.environ if environ is None else environ).get(name)
    return v if v not in (None, "") else default


@dataclass(frozen=True)
class Config:
    """What the experiment talks to, read once (in main) from the ALLOT_* variables scripts/stack reads."""
    layout: components.Layout  # the stack's components: Kafka nodes, databases, services (scripts/components.py)
    base: str  # the ingress
    brokers: str
    mysql: tuple
    redis: tuple
    redis_prefix: str
    prom: str
    k6: str
    kafka_libs: str
    kafka_tools: str  # Kafka's command-line tools (scripts/setup): JmxTool reads the brokers' request counters
    allotctl: str
    admin_token: str | None  # ALLOT_ADMIN_TOKEN, else read from the run dir when needed
    child_env: dict = field(repr=False)  # every subprocess's environment: ours, plus MYSQL_PWD from ALLOT_MYSQL_PASSWORD

    @property
    def run_dir(self):
        return self.layout.run_dir

    @property
    def build_dir(self):
        return self.layout.build_dir

    @classmethod
    def from_env(cls, environ=None):
        """Raises components.ConfigError on a value scripts/stack would refuse too."""
        e = dict(os.environ if environ is None else environ)
        layout = components.Layout(e)
        child = dict(e)
        if child.get("MYSQL_PWD") is None and env("ALLOT_MYSQL_PASSWORD", "", e):
            child["MYSQL_PWD"] = e["ALLOT_MYSQL_PASSWORD"]  # never on a command line
        return cls(
            layout=layout,
            base=f"http://127.0.0.1:{layout.http_port}",
            brokers=env("ALLOT_KAFKA_BROKERS", layout.bootstrap(), e),
            mysql=("mariadb", "-h", env("ALLOT_MYSQL_HOST", "127.0.0.1", e), "-P", str(layout.mysql_port),
                   "-u", env("ALLOT_MYSQL_USER", "root", e), "-N", "-B", env("ALLOT_MYSQL_DATABASE", "allot", e)),
            redis=("redis-cli", "-h", env("ALLOT_REDIS_HOST", "127.0.0.1", e), "-p", str(layout.redis_port)),
            redis_prefix=env("ALLOT_REDIS_PREFIX", "allot:", e),
            prom=f"http://127.0.0.1:{layout.prometheus_port}",
            k6=env("ALLOT_K6_BIN", os.path.expanduser("~/.cache/allot/bin/k6"), e),
            kafka_libs=env("ALLOT_KAFKA_LIBS", os.path.expanduser("~/.cache/allot/kafka-libs"), e),
            kafka_tools=env("ALLOT_KAFKA_TOOLS", os.path.expanduser("~/.cache/allot/kafka-tools"), e),
            allotctl=os.path.join(layout.build_dir, "topics", "allotctl"),
            admin_token=env("ALLOT_ADMIN_TOKEN", None, e),
            child_env=child,
        )

    def secrets(self):
        """Values that must not appear in results.json: secret-looking variables and the run dir's token files."""
        values = {v for k, v in self.child_env.items()
                  if (k.startswith("ALLOT_") and SECRET_NAME.search(k)) or k == "MYSQL_PWD"}
        for name in ("admin-token", "admission-key"):
            try:
                with open(os.path.join(self.run_dir, name)) as f:
                    values.add(f.read().strip())
            except OSError:
                pass  # no such file: that secret was given in the environment, or the stack has none
        try:
            values.add(components.jwt_settings(self.child_env)[0])  # the users' tokens' secret, wherever it is
        except components.ConfigError:
            pass
        return {v for v in values if v}


class Skipped:
    """The steps a run left out, each with its reason: logged, and written to results.json's "skipped"."""

    def __init__(self):
        self.items = []

    def add(self, step, reason):
        log(f"skipped {step}: {reason}")
        self.items.append({"step": step, "reason": str(reason)})


class CommandFailed(RuntimeError):
    pass


def redacted(value, secrets):
    """value (JSON data) with every secret string replaced."""
    if isinstance(value, dict):
        return {k: redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "<redacted>")
    return value


def write_json(path, doc, cfg):
    with open(path, "w") as f:
        json.dump(redacted(doc, cfg.secrets()), f, indent=1)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout=600, check=True, **kw):
    """Runs a command, returns CompletedProcess with text output; pass env=cfg.child_env for the stack's tools.
    Raises CommandFailed (check) and subprocess.TimeoutExpired; OSError when the program is missing."""
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise CommandFailed(f"{' '.join(map(shlex.quote, cmd))} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p


def sql(cfg, query, timeout=120):
    out = run(list(cfg.mysql) + ["-e", query], timeout=timeout, env=cfg.child_env).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def redis(cfg, *args):
    return run(list(cfg.redis) + list(args), timeout=30, env=cfg.child_env).stdout.strip()


def http(cfg, method, path, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cfg.base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def prom_query(cfg, expr, at, skipped, what):
    """The largest value of an instant query, or None (and a skipped entry) when Prometheus cannot say."""
    url = f"{cfg.prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            res = json.loads(r.read().decode())["data"]["result"]
        vals = [float(x["value"][1]) for x in res]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:  # no answer, not JSON, not a vector
        # Prometheus figures are extras: never fail a run for them.
        skipped.add(f"prometheus {what}", f"{expr}: {e!r}")
        return None
    vals = [v for v in vals if not math.isnan(v)]
    return max(vals) if vals else None


def admin_token(cfg):
    if cfg.admin_token:
        return cfg.admin_token
    with open(os.path.join(cfg.run_dir, "admin-token")) as f:
        return f.read().strip()


def k6_identity_env(cfg):
    """What bench/k6/claims.js signs its users' tokens with (README "Who is the user"): the stack's JWT secret,
    issuer and audience, by environment only (never on a command line or in the results)."""
    secret, issuer, audience = components.jwt_settings(cfg.child_env)
    return {"ALLOT_JWT_HS256_SECRET": secret, "ALLOT_JWT_ISSUER": issuer, "ALLOT_JWT_AUDIENCE": audience}


def service_pids(cfg):
    """The live pid of every component the stack runs (every Kafka node, every processor, an extra one started
    beyond ALLOT_PROCESSORS included), from the run dir's <name>.pid files. A component without one is left out."""
    pids = {}
    for c in cfg.layout.with_pid_files():
        try:
            with open(cfg.layout.pid_file(c.name)) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            pids[c.name] = pid
        except (OSError, ValueError):
            pass  # not running (or no pid file): nothing to sample; main() records what is missing
    return pids


# ---------------------------------------------------------------- CPU accounting from /proc

def proc_cpu(pid):
    """CPU seconds (user+system) of one process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        r = s.rsplit(")", 1)[1].split()
        return (int(r[11]) + int(r[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


def jit_cpu(pid):
    """CPU seconds the JIT compiler threads ("C2 CompilerThread0", 15 characters kept) of one JVM have used, or None
    when it is gone. A freshly started broker compiles its request paths during its first minutes of load
    (bench/README.md "The broker's JIT, and the report's own JMX reads")."""
    try:
        groups = jvm_threads.thread_cpu(pid)
    except OSError:
        return None
    return sum(cpu for name, cpu in groups.items() if name in ("C1 CompilerThre", "C2 CompilerThre"))


def total_cpu(pids):
    """CPU seconds of the processes in {name: pid} together (those gone left out)."""
    return sum(c for c in (proc_cpu(p) for p in pids.values()) if c is not None)


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return (total - idle) / CLK, total / CLK


class CpuSampler:
    """Samples, once a second, the CPU of the machine, of k6 and of each service; keeps the totals."""

    def __init__(self, pids):
        self.pids = dict(pids)
        self.k6_pid = None
        self.samples = []  # (t, machine_busy_frac, k6_frac, stack_frac)
        self._stop = threading.Event()
        self.start_t = time.time()
        self.start_machine = machine_cpu()
        self.start_proc = {n: proc_cpu(p) for n, p in self.pids.items()}
        self.jvms = {n: p for n, p in self.pids.items() if components.kind_of(n) == components.KAFKA}
        self.start_jit = {n: jit_cpu(p) for n, p in self.jvms.items()}
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        prev_t, prev_m = time.time(), machine_cpu()
        prev_k6, prev_stack = None, self._stack_now()
        for _ in range(24 * 3600):  # bounded: one sample a second for at most a day
            if self._stop.wait(1.0):
                return
            t, m = time.time(), machine_cpu()
            k6 = proc_cpu(self.k6_pid) if self.k6_pid else None
            stack = self._stack_now()
            dt = max(t - prev_t, 1e-6)
            ncpu = os.cpu_count() or 1
            busy = (m[0] - prev_m[0]) / max(m[1] - prev_m[1], 1e-6)
            k6f = (k6 - prev_k6) / dt / ncpu if (k6 is not None and prev_k6 is not None) else 0.0
            stf = (stack - prev_stack) / dt / ncpu
            self.samples.append((t, busy, max(k6f, 0.0), max(stf, 0.0)))
            prev_t, prev_m, prev_k6, prev_stack = t, m, k6, stack

    def _stack_now(self):
        return total_cpu(self.pids)

    def stop(self, k6_cpu_seconds):
        self._stop.set()
        self._thread.join(timeout=5)
        wall = time.time() - self.start_t
        m = machine_cpu()
        ncpu = os.cpu_count() or 1
        per = {}
        for n, p in self.pids.items():
            a, b = self.start_proc.get(n), proc_cpu(p)
            per[n] = (b - a) if (a is not None and b is not None) else None
        jit = {}
        for n, p in self.jvms.items():
            a, b = self.start_jit.get(n), jit_cpu(p)
            jit[n] = (b - a) if (a is not None and b is not None) else None
        busy = m[0] - self.start_machine[0]
        known = sum(v for v in per.values() if v) + (k6_cpu_seconds or 0)
        return {
            "wall_s": wall,
            "cores": ncpu,
            "machine_busy_cpu_s": busy,
            "machine_busy_share": busy / (wall * ncpu) if wall > 0 else None,
            "k6_cpu_s": k6_cpu_seconds,
            "k6_share": (k6_cpu_seconds or 0) / (wall * ncpu) if wall > 0 else None,
            "services_cpu_s": per,
            "jit_cpu_s": jit,  # of the brokers' CPU above: their JIT compilers'
            "other_cpu_s": max(busy - known, 0.0),  # everything else on the machine (other users' jobs included)
            "samples": self.samples,
        }


# ---------------------------------------------------------------- the brokers' own request counters

JMX_BASE_PORT = 19990  # broker i's JMX agent (loopback only) listens on JMX_BASE_PORT + i
BROKER_COUNTERS = {
    # kafka.network RequestMetrics RequestsPerSec, summed over versions, by request type
    "requests": "kafka.network:type=RequestMetrics,name=RequestsPerSec,request=*,version=*",
    # records appended (every topic) and produce requests, from BrokerTopicMetrics
    "messages_in": "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
    "produce_requests": "kafka.server:type=BrokerTopicMetrics,name=TotalProduceRequestsPerSec",
    "fetch_requests": "kafka.server:type=BrokerTopicMetrics,name=TotalFetchRequestsPerSec",
    # bytes appended by producers and sent to consumers (every topic; replication excluded)
    "bytes_in": "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec",
    "bytes_out": "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec",
}


class BrokerRequests:
    """Kafka's own request counters (Count of kafka.network RequestMetrics and BrokerTopicMetrics), read over JMX with
    Kafka's JmxTool before and after a run: what each claim costs the broker in requests, by type. Each broker's JMX
    agent is started once (jcmd ManagementAgent.start, loopback only, no auth): the stack starts them without one."""

    def __init__(self, cfg, skipped):
        self.cfg, self.skipped, self.ports = cfg, skipped, {}
        for i, (name, pid) in enumerate(sorted((n, p) for n, p in service_pids(cfg).items()
                                               if components.kind_of(n) == components.KAFKA)):
            port = JMX_BASE_PORT + i
            try:
                # An agent started before (an earlier run) keeps its port: use that one.
                status = run(["jcmd", str(pid), "ManagementAgent.status"], timeout=30, check=False).stdout
                running = re.search(r"jmxremote\.port = (\d+)", status)
                if running:
                    port = int(running.group(1))
                else:
                    run(["jcmd", str(pid), "ManagementAgent.start", f"jmxremote.port={port}",
                         f"jmxremote.rmi.port={port}", "jmxremote.host=127.0.0.1", "jmxremote.authenticate=false",
                         "jmxremote.ssl=false"], timeout=30)
                self.ports[name] = port
            except (OSError, subprocess.SubprocessError, CommandFailed) as e:
                skipped.add(f"broker request counters: JMX agent of {name}", e)

    def snapshot(self):
        """{counter: count} summed over the brokers; {} when they cannot be read."""
        total = Counter()
        for name, port in self.ports.items():
            cmd = ["java", "-Xmx128m", "-Dlog4j.configuration=file:/dev/null", "-cp",
                   os.path.join(self.cfg.kafka_tools, "*"), "org.apache.kafka.tools.JmxTool", "--one-time", "true",
                   "--jmx-url", f"service:jmx:rmi:///jndi/rmi://127.0.0.1:{port}/jmxrmi", "--attributes", "Count",
                   "--report-format", "properties"]
            for pattern in BROKER_COUNTERS.values():
                cmd += ["--object-name", pattern]
            try:
                out = run(cmd, timeout=60).stdout
            except (OSError, subprocess.SubprocessError, CommandFailed) as e:
                self.skipped.add(f"broker request counters of {name}", e)
                return {}
            for line in out.splitlines():
                m = re.match(r"kafka\.(\w+):type=(\w+),name=(\w+)(?:,request=(\w+))?.*:Count=(\d+)$", line)
                if not m:
                    continue
                key = m.group(4) if m.group(4) else next(k for k, v in BROKER_COUNTERS.items() if m.group(3) in v)
                total[key] += int(m.group(5))
        return dict(total)

    # Keys of snapshot() that are totals, not request types (Fetch = FetchConsumer + FetchFollower).
    TOTALS = ("Fetch", "messages_in", "produce_requests", "fetch_requests", "bytes_in", "bytes_out")

    @staticmethod
    def delta(before, after):
        return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0} if before and after else {}


# ---------------------------------------------------------------- events

def create_events(cfg, ids, stock, timeout_s=90):
    token = admin_token(cfg)
    for eid in ids:
        for attempt in range(20):
            status, body = http(cfg, "POST", "/api/events", {"event_id": eid, "title": f"bench {eid}", "stock": stock,
                                                        "per_user_limit": 1},
                                {"Authorization": f"Bearer {token}"})
            if status == 202:
                break
            if status in (429, 503):
                time.sleep(0.5)
                continue
            raise RuntimeError(f"create event {eid}: HTTP {status} {body}")
        else:
            raise RuntimeError(f"create event {eid}: still refused after 20 tries")
    # Visible to v3 (ingress), v2 (the Redis hash, projected) and v1 (the MySQL `events` row, projected: v1
    # starts its own counters from it).
    deadline = time.time() + timeout_s
    pending = set(ids)
    for _ in range(int(timeout_s / 0.2) + 1):
        for eid in list(pending):
            if http(cfg, "GET", f"/api/events/{eid}")[0] == 200 and \
                    redis(cfg, "EXISTS", f"{cfg.redis_prefix}event:{eid}") == "1":
                pending.discard(eid)
        in_mysql = int(sql(cfg, "SELECT COUNT(*) FROM events WHERE event_id IN ({})".format(",".join(f"'{e}'" for e in ids)))[0][0])
        if not pending and in_mysql == len(ids):
            return
        if time.time() > deadline:
            break
        time.sleep(0.2)
    raise RuntimeError(f"events not visible after {timeout_s}s: not in the API/Redis: {sorted(pending)[:5]}; "
                       f"in MySQL: {in_mysql} of {len(ids)}")


def wait_quiet(max_s, threshold=0.3):
    """Waits (at most max_s) until the machine is mostly idle over a 2 s window: other people's jobs share it.
    Returns the busy share seen last."""
    busy = None
    deadline = time.time() + max_s
    for _ in range(int(max_s / 2) + 1):
        a = machine_cpu()
        time.sleep(2)
        b = machine_cpu()
        busy = (b[0] - a[0]) / max(b[1] - a[1], 1e-9)
        if busy < threshold or time.time() >= deadline:
            break
    return busy


def wait_caught_up(cfg, timeout_s=240):
    """Until the processors and both sinks have consumed everything (bounded)."""
    ok = True
    for group, topic in (("allot-processor", "allot.commands"), ("allot-sink-mysql", "allot.decisions"),
                         ("allot-sink-redis", "allot.decisions")):
        p = run([cfg.allotctl, "groups", "wait", group, topic, "--timeout", str(timeout_s), "--brokers", cfg.brokers],
                timeout=timeout_s + 30, check=False, env=cfg.child_env)
        if p.returncode != 0:
            log(f"not caught up: {p.stdout.strip()} {p.stderr.strip()[-300:]}")
            ok = False
    return ok


# ---------------------------------------------------------------- k6

def parse_records(path):
    """The per-claim lines k6 wrote (see bench/k6/claims.js record())."""
    recs, start = [], None
    if not os.path.exists(path):
        return recs, start
    with open(path) as f:
        for line in f:
            if line.startswith("R,"):
                p = line.rstrip("\n").split(",")
                if len(p) < 12:
                    continue
                recs.append({"t0": int(p[1]), "ev": int(p[2]), "user": p[3], "status": int(p[4]),
                             "accept_ms": float(p[5]), "answer_ms": float(p[6]), "result": p[7],
                             "seq": int(p[8]) if p[8] else None, "rid": p[9], "polls": int(p[10]), "code": p[11]})
            elif line.startswith("S,"):
                start = int(line.split(",")[1])
    return recs, start


def run_k6(cfg, strategy, scenario, events, outdir, extra_env, timeout_s):
    os.makedirs(outdir, exist_ok=True)
    records = os.path.join(outdir, "records.log")
    summary = os.path.join(outdir, "k6-summary.json")
    for p in (records, summary):
        if os.path.exists(p):
            os.remove(p)
    e = dict(cfg.child_env, **k6_identity_env(cfg))
    e.update({"ALLOT_STRATEGY": strategy, "ALLOT_SCENARIO": scenario, "ALLOT_EVENTS": ",".join(events),
              "ALLOT_BASE_URL": cfg.base, "ALLOT_RUN_TAG": os.path.basename(outdir.rstrip("/")).replace("_", "-")})
    e.update({k: str(v) for k, v in extra_env.items()})
    cmd = [cfg.k6, "run", "--quiet", "--no-color", "--log-format", "raw", "--console-output", records,
           "--summary-export", summary, os.path.join(BENCH, "k6", "claims.js")]
    log(f"k6 {strategy} {scenario}: {' '.join(f'{k}={v}' for k, v in extra_env.items())}")
    with open(os.path.join(outdir, "k6-stdout.txt"), "w") as out, open(os.path.join(outdir, "k6-stderr.txt"), "w") as err:
        sampler = CpuSampler(service_pids(cfg))
        t_start = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=e, cwd=ROOT)
        sampler.k6_pid = proc.pid
        deadline = time.time() + timeout_s
        rusage = None
        status = None
        while time.time() < deadline:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, rusage = st, ru
                break
            time.sleep(0.2)
        if rusage is None:
            log(f"k6 did not finish within {timeout_s}s: stopping it")
            proc.terminate()
            try:
                _, status, rusage = os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass
        proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -1
        t_end = time.time()
        k6_cpu = (rusage.ru_utime + rusage.ru_stime) if rusage else None
        cpu = sampler.stop(k6_cpu)
    summ = {}
    if os.path.exists(summary):
        with open(summary) as f:
            summ = json.load(f)
    return {"exit_code": proc.returncode, "t_start": t_start, "t_end": t_end, "cpu": cpu, "summary": summ,
            "k6_max_rss_kb": rusage.ru_maxrss if rusage else None, "records_path": records}


# ---------------------------------------------------------------- integrity

def answered(r):
    return r["result"] in OUTCOMES


def check_v3(cfg, events, stock, recs, outdir):
    """allotctl verify (every docs/DESIGN.md §4 invariant on the topics, accepted ids, projections) + what users saw."""
    problems = []
    t0 = time.time()
    caught_up = wait_caught_up(cfg, timeout_s=600)
    catch_up_s = time.time() - t0
    if not caught_up:
        problems.append("pipeline did not catch up within the bound before the check")
    acc_file = os.path.join(outdir, "accepted.txt")
    with open(acc_file, "w") as f:
        for r in recs:
            if r["status"] in V3_ACCEPTED and r["rid"]:
                f.write(r["rid"] + "\n")
    p = run([cfg.allotctl, "verify", "--events", ",".join(events), "--accepted", acc_file, "--projections",
             "--brokers", cfg.brokers], timeout=900, check=False, env=cfg.child_env)
    with open(os.path.join(outdir, "verify.txt"), "w") as f:
        f.write(p.stdout + p.stderr)
    verify_line = " ".join(l for l in p.stdout.splitlines() if l.startswith(("kafka:", "projections:", "verdict:")))
    if p.returncode != 0:
        problems.append(f"allotctl verify exited {p.returncode}: {verify_line or p.stderr.strip()[-300:]}")
    # The answer each user saw equals what the MySQL projection holds.
    rows = {}
    for i in range(0, len(events), 50):
        chunk = events[i:i + 50]
        for rid, ev, user, outcome, seq in sql(
                cfg, "SELECT request_id, event_id, user_id, outcome, IFNULL(coupon_seq,'') FROM claims WHERE event_id IN ({})"
                .format(",".join(f"'{e}'" for e in chunk)), timeout=300):
            rows[rid] = (ev, user, outcome, int(seq) if seq else None)
    mismatched = 0
    for r in recs:
        if answered(r):
            row = rows.get(r["rid"])
            if row is None or row[2] != r["result"] or row[3] != r["seq"]:
                mismatched += 1
    if mismatched:
        problems.append(f"{mismatched} answers seen by users differ from the MySQL projection")
    per_event = stock_checks(events, stock, recs, [(v[0], v[1], v[2], v[3]) for v in rows.values()], problems,
                             demand_status=V3_ACCEPTED)
    return {"verdict": "CLEAN" if not problems else "VIOLATIONS", "problems": problems, "verify": verify_line,
            "rows": len(rows), "per_event": per_event, "catch_up_s": catch_up_s}


def stock_checks(events, stock, recs, rows, problems, demand_status):
    """rows: (event, user, outcome, seq). issued == min(stock, demand); at most one per user; seq 1..issued."""
    demand = defaultdict(set)
    for r in recs:
        if r["status"] in demand_status:
            demand[events[r["ev"]]].add(r["user"])
    by_event = defaultdict(list)
    for ev, user, outcome, seq in rows:
        by_event[ev].append((user, outcome, seq))
    summary = {"issued": 0, "events_ok": 0}
    for ev in events:
        got = by_event.get(ev, [])
        issued = [(u, s) for u, o, s in got if o == "issued"]
        n = len(issued)
        summary["issued"] += n
        want = min(stock, len(demand.get(ev, ())))
        bad = []
        if n > stock:
            bad.append(f"issued {n} > stock {stock}")
        if n != want:
            bad.append(f"issued {n}, expected min(stock {stock}, distinct users {len(demand.get(ev, ()))}) = {want}")
        users = Counter(u for u, _ in issued)
        twice = [u for u, c in users.items() if c > 1]
        if twice:
            bad.append(f"{len(twice)} users issued more than once (per_user_limit 1)")
        seqs = sorted(s for _, s in issued if s is not None)
        if seqs != list(range(1, n + 1)):
            dup = len(seqs) - len(set(seqs))
            bad.append(f"coupon_seq not exactly 1..{n} (distinct {len(set(seqs))}, repeats {dup}, "
                       f"min {seqs[0] if seqs else None}, max {seqs[-1] if seqs else None})")
        if bad:
            problems.append(f"{ev}: " + "; ".join(bad))
        else:
            summary["events_ok"] += 1
    return summary


def check_baseline(cfg, strategy, events, stock, recs, outdir):
    """v1/v2: their own tables (v1_claims, v2_claims) and counters (v1_events.issued, Redis allot:v2:E)."""
    problems = []
    table = f"{strategy}_claims"
    rows = {}
    for i in range(0, len(events), 50):
        chunk = events[i:i + 50]
        for rid, ev, user, outcome, seq in sql(
                cfg, f"SELECT request_id, event_id, user_id, outcome, IFNULL(coupon_seq,'') FROM {table} WHERE event_id IN (%s)"
                % ",".join(f"'{e}'" for e in chunk), timeout=300):
            rows[rid] = (ev, user, outcome, int(seq) if seq else None)
    per_event = stock_checks(events, stock, recs, list(rows.values()), problems, demand_status=(200, 409))
    # Every synchronous answer is what the database recorded; no recorded decision nobody was told about.
    seen = set()
    mismatched = 0
    for r in recs:
        if answered(r):
            seen.add(r["rid"])
            row = rows.get(r["rid"])
            if row is None or row[2] != r["result"] or row[3] != r["seq"]:
                mismatched += 1
    if mismatched:
        problems.append(f"{mismatched} answers differ from (or are missing in) {table}")
    unanswered_rows = [rid for rid in rows if rid not in seen]
    errored = sum(1 for r in recs if not answered(r))
    if unanswered_rows:
        note = f"{len(unanswered_rows)} rows in {table} whose claim got no answer (of {errored} errored claims)"
        if len(unanswered_rows) > errored:
            problems.append(note)
    # The strategy's own counter equals its records.
    counters = {}
    for ev in events:
        n = sum(1 for v in rows.values() if v[0] == ev and v[2] == "issued")
        if strategy == "v1":
            got = sql(cfg, f"SELECT IFNULL(MAX(issued),0) FROM v1_events WHERE event_id='{ev}'")[0][0]
        else:
            got = redis(cfg, "HGET", f"{cfg.redis_prefix}v2:{ev}", "issued") or "0"
        counters[ev] = (int(got), n)
        if int(got) != n:
            problems.append(f"{ev}: {strategy} counter says {got} issued, {table} has {n}")
    with open(os.path.join(outdir, "integrity.txt"), "w") as f:
        f.write("\n".join(problems) or "clean\n")
    return {"verdict": "CLEAN" if not problems else "VIOLATIONS", "problems": problems, "rows": len(rows),
            "per_event": per_event}


# ---------------------------------------------------------------- figures of one run

def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def figures(strategy, recs, start_ms, k6res):
    """Headline figures of one run, from the per-claim records (k6's summary is kept next to them)."""
    n = len(recs)
    ok_status = V3_ACCEPTED if strategy == "v3" else (200, 409)
    acc = [r for r in recs if r["status"] in ok_status]
    ans = [r for r in recs if answered(r)]
    errs = Counter(r["result"] for r in recs if not answered(r))
    codes = Counter(f"{r['result']}:{r['status']}:{r['code']}" for r in recs if not answered(r))
    t0 = start_ms or (min(r["t0"] for r in recs) if recs else 0)
    last_acc = max((r["t0"] + r["accept_ms"] for r in acc), default=t0)
    last_ans = max((r["t0"] + r["answer_ms"] for r in ans), default=t0)
    acc_ms = sorted(r["accept_ms"] for r in acc)
    ans_ms = sorted(r["answer_ms"] for r in ans)
    m = (k6res.get("summary") or {}).get("metrics", {})

    def k6trend(name):
        t = m.get(name) or {}
        return {"p50": t.get("med"), "p95": t.get("p(95)"), "p99": t.get("p(99)"), "max": t.get("max")}

    outcomes = Counter(r["result"] for r in ans)
    return {
        "claims": n,
        "accepted": len(acc),
        "answered": len(ans),
        "accepted_per_s": len(acc) / max((last_acc - t0) / 1000, 1e-3) if acc else 0,
        "answered_per_s": len(ans) / max((last_ans - t0) / 1000, 1e-3) if ans else 0,
        "all_answered_after_s": (last_ans - t0) / 1000 if ans else None,
        "accept_ms": {"p50": pct(acc_ms, .5), "p95": pct(acc_ms, .95), "p99": pct(acc_ms, .99), "max": acc_ms[-1] if acc_ms else None},
        "answer_ms": {"p50": pct(ans_ms, .5), "p95": pct(ans_ms, .95), "p99": pct(ans_ms, .99), "max": ans_ms[-1] if ans_ms else None},
        "k6_accept_ms": k6trend("accept_ms"),
        "k6_answer_ms": k6trend("answer_ms"),
        "outcomes": dict(outcomes),
        "errors": dict(errs),
        "error_detail": dict(codes.most_common(10)),
        "polls_per_claim": (sum(r["polls"] for r in recs) / len(acc)) if (strategy == "v3" and acc) else None,
        "http_reqs": (m.get("http_reqs") or {}).get("count"),
        "http_reqs_per_s": (m.get("http_reqs") or {}).get("rate"),
        "dropped_iterations": (m.get("dropped_iterations") or {}).get("count", 0),
        "vus_max": (m.get("vus_max") or {}).get("value") or (m.get("vus_max") or {}).get("max"),
    }


def prom_figures(cfg, t_start, t_end, skipped):
    at = t_end + 3  # one scrape (2 s) after the end
    w = f"{max(int(at - t_start) + 1, 5)}s"
    q = {
        "processor_decisions_per_s": f"sum(increase(allot_processor_commands_total[{w}])) / {max(t_end - t_start, 1):.3f}",
        "processor_lag_max": f"max_over_time(sum(allot_processor_consumer_lag)[{w}:2s])",
        "sink_lag_max": f"max_over_time(max by (sink) (sum by (sink) (allot_sink_consumer_lag))[{w}:2s])",
        "processor_batch_mean": f"sum(increase(allot_processor_batch_commands_sum[{w}])) / sum(increase(allot_processor_batch_commands_count[{w}]))",
        "processor_commit_p99_ms": f"1000 * histogram_quantile(0.99, sum by (le) (increase(allot_processor_commit_seconds_bucket[{w}])))",
        "ingress_produce_p99_ms": f"1000 * histogram_quantile(0.99, sum by (le) (increase(allot_ingress_produce_seconds_bucket[{w}])))",
        "sink_redis_decision_age_p99_ms": f"1000 * histogram_quantile(0.99, sum by (le) (increase(allot_sink_decision_age_seconds_bucket{{sink=\"redis\"}}[{w}])))",
        "sink_mysql_decision_age_p99_ms": f"1000 * histogram_quantile(0.99, sum by (le) (increase(allot_sink_decision_age_seconds_bucket{{sink=\"mysql\"}}[{w}])))",
        "ingress_claim_requests": f"sum(increase(allot_ingress_requests_total{{route=~\".*claim.*\"}}[{w}]))",
    }
    return {k: prom_query(cfg, v, at, skipped, k) for k, v in q.items()}


# ---------------------------------------------------------------- limits of the machine, same run

# What a measurement step may fail with: a command that failed, hung or is missing, output not as expected.
STEP_ERRORS = (CommandFailed, subprocess.TimeoutExpired, OSError, ValueError, KeyError, IndexError)


def found(pattern, text, what):
    """The first group of pattern in text; ValueError naming `what` when it is not there."""
    m = re.search(pattern, text)
    if m is None:
        raise ValueError(f"no {what} in the output")
    return m.group(1)


def limits(cfg, outdir, skipped, seconds=5):
    os.makedirs(outdir, exist_ok=True)
    res = {}
    env = cfg.child_env
    # 1. The HTTP server's no-op rate: wrk (one thread, 64 connections) on GET /healthz.
    try:
        p = run(["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", f"{cfg.base}/healthz"], timeout=seconds + 30,
                env=env)
        out = p.stdout
        with open(os.path.join(outdir, "wrk-healthz.txt"), "w") as f:
            f.write(out)
        res["noop_wrk_rps"] = float(found(r"Requests/sec:\s+([\d.]+)", out, "Requests/sec"))
        res["noop_wrk_p99"] = found(r"\s99%\s+(\S+)", out, "99% latency")
    except STEP_ERRORS as e:
        skipped.add("limits: wrk no-op", e)
    # 1b. Accepted claims under the same wrk settings, next to the no-op in the same call (bench/ingress_bench.sh).
    try:
        p = run([os.path.join(BENCH, "ingress_bench.sh"), "10", "64"], timeout=120, env=env)
        with open(os.path.join(outdir, "ingress-bench.txt"), "w") as f:
            f.write(p.stdout)
        rows = {l.split("|")[1].strip(): l.split("|")[2:] for l in p.stdout.splitlines() if l.startswith("| ")}
        noop = next((v for k, v in rows.items() if k.startswith("GET /healthz")), None)
        claim = next((v for k, v in rows.items() if k.startswith("POST claims")), None)
        if noop is None or claim is None:
            raise ValueError("no 'GET /healthz' or 'POST claims' row in its table")
        res["ingress_bench_noop_rps"] = float(noop[0])
        res["ingress_bench_claims_rps"] = float(claim[0])
        res["ingress_bench_claims_p99"] = claim[3].strip()
    except STEP_ERRORS as e:
        skipped.add("limits: ingress_bench.sh", e)
    # 2. The load generator's own ceiling: k6 (64 VUs) on the same no-op endpoint.
    try:
        script = os.path.join(outdir, "noop.js")
        with open(script, "w") as f:
            f.write("import http from 'k6/http';\n"
                    f"export const options = {{ scenarios: {{ s: {{ executor: 'constant-vus', vus: 64, duration: '{seconds}s' }} }} }};\n"
                    f"export default function () {{ http.get('{cfg.base}/healthz'); }}\n")
        summ = os.path.join(outdir, "k6-noop-summary.json")
        t0 = time.time()
        proc = subprocess.Popen([cfg.k6, "run", "--quiet", "--no-color", "--summary-trend-stats", "avg,med,p(95),p(99),max",
                                 "--summary-export", summ, script],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, _, ru = os.wait4(proc.pid, 0)
        wall = time.time() - t0
        with open(summ) as f:
            m = json.load(f)["metrics"]
        res["noop_k6_rps"] = m["http_reqs"]["rate"]
        res["noop_k6_p95_ms"] = m["http_req_duration"].get("p(95)")
        res["noop_k6_p99_ms"] = m["http_req_duration"].get("p(99)")
        res["noop_k6_cpu_share"] = (ru.ru_utime + ru.ru_stime) / (wall * (os.cpu_count() or 1))
    except STEP_ERRORS as e:
        skipped.add("limits: k6 no-op", e)
    # 3. librdkafka's raw consume rate next to the processor's decisions/s (allot-bench-processor, fresh topics).
    java = ["java", "-cp", os.path.join(cfg.kafka_libs, "*"), os.path.join(BENCH, "BenchTopics.java"), cfg.brokers]

    def topics():
        p = run(java + ["list"], timeout=120, check=False, env=env)
        return set(p.stdout.split()) if p.returncode == 0 else None

    before = topics()
    for parts, suffix in ((12, ""), (1, "_p1")):
        try:
            p = run([os.path.join(cfg.build_dir, "bench", "allot-bench-processor"), "--commands", "200000",
                     "--partitions", str(parts)], timeout=600, env=env)
            with open(os.path.join(outdir, f"bench-processor-p{parts}.txt"), "w") as f:
                f.write(p.stdout)
            rows = [l for l in p.stdout.splitlines() if l.startswith(f"| {parts} |")]
            if not rows:
                raise ValueError(f"no '| {parts} |' row in its table")
            row = rows[-1].strip("|").split("|")
            res["raw_consume_msgs_per_s" + suffix] = float(row[2])
            res["processor_eos_decisions_per_s" + suffix] = float(row[3])
            res["processor_mean_batch" + suffix] = float(row[5])
            res["processor_cpu_us_per_decision" + suffix] = float(row[6])
        except STEP_ERRORS as e:
            skipped.add(f"limits: allot-bench-processor --partitions {parts}", e)
    after = topics()
    if before is None or after is None:
        skipped.add("limits: deleting allot-bench-processor's topics", "BenchTopics.java list failed")
    else:
        mine = sorted(t for t in after - before if re.fullmatch(r"bench\.\d+-p(1|12)\.(commands|decisions|changelog)", t))
        if mine:
            run(java + ["delete"] + mine, timeout=120, check=False, env=env)
    # 4. librdkafka's raw produce rate: kcat, idempotent, acks=all, 200,000 claim-sized keyed messages, 12 partitions.
    topic = f"bench.raw.{int(time.time() * 1000)}"
    try:
        run(java + ["create", topic, "12"], timeout=120, env=env)
        data = os.path.join(outdir, "raw-messages.txt")
        n = 200000
        with open(data, "w") as f:
            for i in range(n):
                ev = f"ev-{i % 20}"
                f.write(f'{ev}\t{{"type":"claim","request_id":"{i:032x}","event_id":"{ev}","user_id":"raw-user-{i}",'
                        f'"received_at":{int(time.time() * 1000)}}}\n')
        t0 = time.time()
        run(["kcat", "-P", "-b", cfg.brokers, "-t", topic, "-K", "\t", "-X", "enable.idempotence=true", "-X", "acks=all",
             "-X", "linger.ms=5", "-X", "batch.size=1000000", "-X", "queue.buffering.max.messages=1000000", "-l", data],
            timeout=300, env=env)
        res["raw_produce_msgs_per_s"] = n / (time.time() - t0)
        t0 = time.time()
        p = run(["kcat", "-C", "-b", cfg.brokers, "-t", topic, "-e", "-q", "-X", "isolation.level=read_committed",
                 "-f", "%o\n"], timeout=300, env=env)
        got = len(p.stdout.splitlines())
        res["raw_consume_kcat_msgs_per_s"] = got / (time.time() - t0)
        os.remove(data)
    except STEP_ERRORS as e:
        skipped.add("limits: kcat raw produce/consume", e)
    finally:
        run(java + ["delete", topic], timeout=120, check=False, env=env)
    log(f"limits: {json.dumps(res)}")
    return res


# ---------------------------------------------------------------- machine

def machine(cfg, skipped):
    env = cfg.child_env

    def first(cmd):
        """The first line a tool prints about itself (e.g. its version), or None (skipped) when it cannot."""
        try:
            p = run(cmd, timeout=20, check=False, env=env)
        except (subprocess.TimeoutExpired, OSError) as e:
            skipped.add(f"machine: {' '.join(cmd)}", e)
            return None
        lines = (p.stdout + p.stderr).strip().splitlines()
        if not lines:
            skipped.add(f"machine: {' '.join(cmd)}", f"no output (exit {p.returncode})")
        return lines[0] if lines else None

    def field_of(path, prefix, value):
        """value(line) of the first line of `path` that starts with prefix, or None (skipped)."""
        try:
            with open(path) as f:
                line = next((l for l in f if l.startswith(prefix)), None)
        except OSError as e:
            skipped.add(f"machine: {path}", e)
            return None
        if line is None:
            skipped.add(f"machine: {path}", f"no {prefix} line")
            return None
        return value(line)

    info = {"cores": os.cpu_count(), "kernel": platform.release()}
    info["cpu"] = field_of("/proc/cpuinfo", "model name", lambda l: l.split(":", 1)[1].strip())
    info["memory_gib"] = field_of("/proc/meminfo", "MemTotal", lambda l: round(int(l.split()[1]) / 2**20, 1))
    info["os"] = field_of("/etc/os-release", "PRETTY_NAME", lambda l: l.split("=", 1)[1].strip().strip('"'))
    info["k6"] = first([cfg.k6, "version"])
    info["mariadb"] = first(["mariadbd", "--version"])
    info["redis"] = first(["redis-server", "--version"])
    info["kcat"] = first(["kcat", "-V"])
    try:
        jars = [j for j in os.listdir(cfg.kafka_libs) if re.fullmatch(r"kafka_2\.13-.*\.jar", j)]
        info["kafka"] = jars[0][len("kafka_2.13-"):-4] if jars else None
    except OSError as e:
        skipped.add("machine: Kafka version", e)
        info["kafka"] = None
    try:
        info["librdkafka"] = found(r"librdkafka ([\d.]+)", run(["kcat", "-V"], timeout=10, env=env).stdout,
                                   "librdkafka version")
    except STEP_ERRORS as e:
        skipped.add("machine: librdkafka version", e)
    try:  # how durable v2's Redis is in this run
        info["redis_appendonly"] = redis(cfg, "CONFIG", "GET", "appendonly").splitlines()[-1]
        info["redis_appendfsync"] = redis(cfg, "CONFIG", "GET", "appendfsync").splitlines()[-1]
        info["redis_save"] = (redis(cfg, "CONFIG", "GET", "save").splitlines()[1:] or [""])[0]
    except STEP_ERRORS as e:
        skipped.add("machine: Redis persistence settings", e)
    try:  # the topics' partitions as created (ALLOT_TOPIC_PARTITIONS at creation; a later value does not change them)
        info["topic_partitions"] = int(found(r'topic "allot\.commands" with ([1-9]\d*) partitions',
                                             run(["kcat", "-L", "-b", cfg.brokers, "-t", "allot.commands"], timeout=20,
                                                 env=env).stdout, "partition count"))
    except STEP_ERRORS as e:
        skipped.add("machine: partitions of allot.commands", e)
    info["git"] = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    info["git_dirty"] = bool(run(["git", "-C", ROOT, "status", "--porcelain"], check=False).stdout.strip())
    # The stack's layout: how many Kafka nodes and processors ran (bench/report.py describes the setup from it).
    info["kafka_nodes"] = cfg.layout.kafka_nodes
    info["processors"] = sum(1 for c in cfg.layout.services() if c.name.startswith("processor-"))
    # The services' own configuration as started (ALLOT_* of each process; tokens, keys and passwords left out).
    service_env = {}
    for name, pid in service_pids(cfg).items():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                kv = [x.decode(errors="replace").split("=", 1) for x in f.read().split(b"\0") if x.startswith(b"ALLOT_")]
        except OSError as e:
            skipped.add(f"machine: {name}'s environment", e)
            continue
        service_env[name] = {k: v for k, v in kv if not SECRET_NAME.search(k)}
    info["service_env"] = service_env
    return info


# ---------------------------------------------------------------- one run

def one_run(cfg, args, run_id, scenario, strategy, rundir, skipped, broker=None):
    outdir = os.path.join(rundir, f"{scenario}-{strategy}")
    os.makedirs(outdir, exist_ok=True)
    if not wait_caught_up(cfg):
        log("warning: the pipeline still lags from before; going on")
    if scenario == "seed":
        n_events, stock, claims = 1, args.seed_stock, args.seed_users
        k6env = {"ALLOT_CLAIMS": claims, "ALLOT_VUS": args.vus, "ALLOT_MAX_DURATION": "5m"}
        timeout = 420
    elif scenario == "many":
        n_events, stock, claims = args.many_events, args.many_stock, args.many_claims
        k6env = {"ALLOT_CLAIMS": claims, "ALLOT_VUS": args.vus, "ALLOT_MAX_DURATION": f"{args.many_max_s}s"}
        timeout = args.many_max_s + 120
    else:  # sustained
        stages = [tuple(int(x) for x in s.split(":")) for s in args.stages.split(",")]
        claims = sum(r * s for r, s in stages)
        n_events, stock = 1, claims  # every claim can be issued: the heavier path, all the way up
        k6env = {"ALLOT_STAGES": args.stages, "ALLOT_VUS": args.sustained_vus, "ALLOT_MAX_VUS": args.max_vus}
        timeout = sum(s for _, s in stages) + 150
    events = [f"{run_id}-{scenario[:4]}-{strategy}-{i}" for i in range(n_events)]
    log(f"{scenario}/{strategy}: creating {n_events} event(s) of stock {stock}")
    create_events(cfg, events, stock)
    busy_before = wait_quiet(args.quiet_wait_s) if args.quiet_wait_s > 0 else None
    if busy_before is not None:
        log(f"machine busy {100 * busy_before:.0f}% before the run")
    pids_before = service_pids(cfg)
    requests_before = broker.snapshot() if broker and strategy == "v3" else {}
    k6res = run_k6(cfg, strategy, scenario, events, outdir, k6env, timeout)
    pids_after = service_pids(cfg)
    # Read at once, before the integrity checks' own reads of the topics; includes the sinks' tail after k6.
    broker_requests = BrokerRequests.delta(requests_before, broker.snapshot()) if requests_before else {}
    recs, start_ms = parse_records(k6res["records_path"])
    restarted = sorted(n for n in pids_before if pids_after.get(n) != pids_before[n])
    log(f"{scenario}/{strategy}: k6 exit {k6res['exit_code']}, {len(recs)} claims; checking integrity")
    if strategy == "v3":
        integ = check_v3(cfg, events, stock, recs, outdir)
    else:
        integ = check_baseline(cfg, strategy, events, stock, recs, outdir)
    if len(recs) < claims and scenario != "sustained":
        integ["problems"].append(f"only {len(recs)} of {claims} claims were sent (k6 stopped early?)")
    fig = figures(strategy, recs, start_ms, k6res)
    prom = prom_figures(cfg, k6res["t_start"], k6res["t_end"], skipped)
    result = {
        "scenario": scenario, "strategy": strategy, "events": len(events), "event_ids_sample": events[:3],
        "stock_per_event": stock, "claims_planned": claims, "k6_env": {k: str(v) for k, v in k6env.items()},
        "k6_exit_code": k6res["exit_code"], "k6_max_rss_kb": k6res["k6_max_rss_kb"],
        "t_start": k6res["t_start"], "t_end": k6res["t_end"], "start_ms": start_ms,
        "figures": fig, "integrity": integ, "cpu": {k: v for k, v in k6res["cpu"].items() if k != "samples"},
        "cpu_samples": k6res["cpu"]["samples"], "prometheus": prom, "broker_requests": broker_requests, "machine_busy_before": busy_before, "services_restarted": restarted,
        "outdir": os.path.relpath(outdir, ROOT),
    }
    write_json(os.path.join(outdir, "result.json"), result, cfg)
    log(f"{scenario}/{strategy}: answered {fig['answered']}/{fig['claims']} at {fig['answered_per_s']:.0f}/s, "
        f"answer p99 {fig['answer_ms']['p99']}, errors {fig['errors']}, integrity {integ['verdict']} {integ['problems'][:3]}")
    return result


def warm_broker(cfg, args, run_id, rundir, broker):
    """Unreported v3 loads until the brokers' JIT compilers go quiet: rounds of a many-events load and then a
    seed-shaped one (one hot event: its own code paths, compiled on first use), until a round spends less than
    --warmup-jit-s in the compilers, at most --warmup-rounds. A fresh broker spends ~9-17 CPU s compiling during its
    first 100,000 claims; without the warm-up that start-up cost lands on whichever run comes first. Each load reads
    the brokers' counters over JMX before and after, as a measured run does: the first JMX reads compile the brokers'
    RMI paths, and that compilation ran into the first measured v3 run (bench/README.md "The broker's JIT, and the
    report's own JMX reads")."""
    loads = []
    for i in range(args.warmup_rounds):
        round_jit_s = 0.0
        for shape in ("many", "seed"):
            if shape == "many":
                events = [f"{run_id}-warm{i}-{e}" for e in range(args.many_events)]
                stock, claims = args.many_stock, args.warmup_claims
            else:
                events, stock, claims = [f"{run_id}-warm{i}-seed"], args.seed_stock, args.seed_users
            create_events(cfg, events, stock)
            k6env = {"ALLOT_CLAIMS": claims, "ALLOT_VUS": args.vus, "ALLOT_MAX_DURATION": f"{args.many_max_s}s"}
            broker.snapshot()
            res = run_k6(cfg, "v3", shape, events, os.path.join(rundir, "warmup", f"{i}-{shape}"), k6env,
                         args.many_max_s + 120)
            broker.snapshot()
            cpu = res["cpu"]
            kafka_s = sum(v or 0 for n, v in cpu["services_cpu_s"].items() if components.kind_of(n) == components.KAFKA)
            jit_s = sum(v or 0 for v in cpu["jit_cpu_s"].values())
            round_jit_s += jit_s
            loads.append({"round": i + 1, "shape": shape, "claims": claims, "wall_s": cpu["wall_s"],
                          "kafka_cpu_s": kafka_s, "jit_cpu_s": jit_s, "k6_exit_code": res["exit_code"]})
            log(f"warm-up round {i + 1}, {shape}: {claims} claims in {cpu['wall_s']:.0f} s, brokers {kafka_s:.1f} CPU s, "
                f"of which their JIT compilers {jit_s:.1f} s" + (f"; k6 exit {res['exit_code']}" if res["exit_code"] else ""))
        if round_jit_s < args.warmup_jit_s:
            break
    if not wait_caught_up(cfg):
        log("warning: the pipeline still lags after the warm-up; going on")
    # The warm-up's claims also went to MariaDB; its background flushing must not land on the next (v1, v2) runs.
    databases = {n: p for n, p in service_pids(cfg).items() if components.kind_of(n) == components.DATABASE}
    settle_s = wait_processes_quiet(databases, 120)
    log(f"after the warm-up the databases were quiet after {settle_s:.0f} s")
    return loads


def wait_processes_quiet(pids, max_s, window_s=5.0, cores=0.03):
    """Waits (at most max_s) until the processes together use less than `cores` of a core over a window; returns
    how long it waited."""
    t0 = time.time()
    while time.time() - t0 < max_s:
        before = total_cpu(pids)
        time.sleep(window_s)
        after = total_cpu(pids)
        if after - before < cores * window_s:
            break
    return time.time() - t0


def print_table(results):
    rows = [r for r in results if r["scenario"] == "seed"]
    if not rows:
        return
    f = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
    print()
    print(f"Seed scenario: {rows[0]['claims_planned']:,} distinct users, one claim each, "
          f"{rows[0]['stock_per_event']} coupons, {rows[0]['k6_env'].get('ALLOT_VUS')} k6 VUs, same machine")
    hdr = ("strategy", "answered", "accepted/s", "answered/s", "accept p50/p95/p99 ms", "answer p50/p95/p99 ms",
           "issued/sold_out/dup", "errors", "k6 CPU", "integrity")
    lines = [hdr]
    for r in rows:
        g = r["figures"]
        a, b = g["accept_ms"], g["answer_ms"]
        o = g["outcomes"]
        lines.append((r["strategy"], f"{g['answered']:,}/{g['claims']:,}", f(g["accepted_per_s"], 0), f(g["answered_per_s"], 0),
                      f"{f(a['p50'])}/{f(a['p95'])}/{f(a['p99'])}", f"{f(b['p50'])}/{f(b['p95'])}/{f(b['p99'])}",
                      f"{o.get('issued', 0)}/{o.get('sold_out', 0)}/{o.get('duplicate', 0)}",
                      str(sum(g["errors"].values())), f"{100 * (r['cpu']['k6_share'] or 0):.0f}%",
                      r["integrity"]["verdict"]))
    widths = [max(len(str(l[i])) for l in lines) for i in range(len(hdr))]
    for i, l in enumerate(lines):
        print("  ".join(str(c).ljust(w) for c, w in zip(l, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    by = {r["strategy"]: r["figures"] for r in rows}
    if "v3" in by:
        for base in ("v1", "v2"):
            if base in by and by[base]["answered_per_s"]:
                print(f"v3/{base}: answered/s x{by['v3']['answered_per_s'] / by[base]['answered_per_s']:.2f}, "
                      f"accepted/s x{by['v3']['accepted_per_s'] / max(by[base]['accepted_per_s'], 1e-9):.2f}, "
                      f"answer p99 x{(by['v3']['answer_ms']['p99'] or 0) / max(by[base]['answer_ms']['p99'] or 1e-9, 1e-9):.2f}")
    for r in rows:
        for p in r["integrity"]["problems"]:
            print(f"  {r['strategy']}: {p}")
    ok = all(r["integrity"]["verdict"] == "CLEAN" for r in rows)
    print(f"integrity: {'CLEAN in every strategy' if ok else 'VIOLATIONS (see above)'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed-only", action="store_true", help="only scenario (a) for v1, v2, v3; print the table; no report")
    ap.add_argument("--scenarios", default="seed,sustained,many")
    ap.add_argument("--strategies", default="v1,v2,v3")
    ap.add_argument("--seed-users", type=int, default=10000)
    ap.add_argument("--seed-stock", type=int, default=100)
    ap.add_argument("--vus", type=int, default=1000, help="VUs of the seed and many scenarios (shared-iterations)")
    ap.add_argument("--stages", default="250:10,500:10,750:10,1000:10,1250:10,1500:10,2000:10,2500:10,3000:10,4000:10",
                    help="sustained: rate:seconds steps of the arrival rate")
    ap.add_argument("--sustained-vus", type=int, default=300, help="pre-allocated VUs of the sustained scenario")
    ap.add_argument("--max-vus", type=int, default=1500, help="VU ceiling of the sustained scenario")
    ap.add_argument("--many-events", type=int, default=50)
    ap.add_argument("--many-stock", type=int, default=1000)
    ap.add_argument("--many-claims", type=int, default=200000)
    ap.add_argument("--many-max-s", type=int, default=420, help="bound on one many-events run")
    ap.add_argument("--knee-p99-ms", type=float, default=1000.0)
    ap.add_argument("--quiet-wait-s", type=float, default=None,
                    help="before each run, wait up to this long for the machine to be < 30%% busy "
                         "(default 60, with --seed-only 10; 0: don't)")
    ap.add_argument("--no-limits", action="store_true", help="skip the no-op HTTP and librdkafka raw measurements")
    ap.add_argument("--warmup-rounds", type=int, default=3,
                    help="before the measured runs, at most this many unreported v3 loads that warm the brokers' JIT "
                         "(0: none)")
    ap.add_argument("--warmup-claims", type=int, default=100000,
                    help="claims of a warm-up round's many-events load (its seed-shaped load has --seed-users)")
    ap.add_argument("--warmup-jit-s", type=float, default=2.0,
                    help="the warm-up ends after a round (a many-events and a seed-shaped load) whose brokers' JIT "
                         "compilers used less CPU than this")
    ap.add_argument("--out", help="run folder (default .run/bench/RUN_ID)")
    ap.add_argument("--command", default="bench/run-experiment", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.seed_only:
        args.scenarios = "seed"
        args.no_limits = True
        args.warmup_rounds = 0  # the quick look stays quick
    if args.quiet_wait_s is None:
        args.quiet_wait_s = 10 if args.seed_only else 60

    try:
        cfg = Config.from_env()
    except components.ConfigError as e:
        sys.exit(f"run-experiment: {e}")
    for tool in (cfg.k6, cfg.allotctl):
        if not os.access(tool, os.X_OK):
            sys.exit(f"run-experiment: {tool} is missing (bench/install-k6; cmake --build build)")
    p = run([os.path.join(ROOT, "scripts", "stack"), "status"], check=False, env=cfg.child_env)
    if p.returncode != 0:
        sys.exit("run-experiment: the stack is not fully up (scripts/stack up):\n" + p.stdout)
    try:
        k6_identity_env(cfg)  # k6 signs the users' tokens with the stack's secret: it must be there
    except components.ConfigError as e:
        sys.exit(f"run-experiment: {e}")
    skipped = Skipped()
    pids = service_pids(cfg)
    for c in cfg.layout.all():
        if c.name not in pids and (c.kind != components.SERVICE or cfg.layout.built(c)):
            skipped.add(f"CPU of {c.name}", f"no live pid in {cfg.layout.pid_file(c.name)}")
    log(f"sampling the CPU of {', '.join(pids)}")

    rundir = os.path.abspath(args.out) if args.out else os.path.join(cfg.run_dir, "bench", "x" + time.strftime("%m%d%H%M%S"))
    run_id = "x" + time.strftime("%d%H%M%S")
    os.makedirs(rundir, exist_ok=True)
    log(f"run {run_id}: results in {os.path.relpath(rundir, ROOT)}")
    t0 = time.time()
    doc = {"run_id": run_id, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": args.command,
           "args": vars(args), "machine": machine(cfg, skipped), "limits": {}, "runs": [], "skipped": skipped.items}
    if not args.no_limits:
        log("limits: no-op HTTP (wrk, k6), librdkafka raw consume/produce, processor EOS")
        doc["limits"] = limits(cfg, os.path.join(rundir, "limits"), skipped)
    broker = BrokerRequests(cfg, skipped) if "v3" in args.strategies.split(",") else None
    if "v3" in args.strategies.split(",") and args.warmup_rounds > 0:
        log(f"warm-up: up to {args.warmup_rounds} unreported v3 loads until the brokers' JIT compilers go quiet")
        doc["warmup"] = warm_broker(cfg, args, run_id, rundir, broker)
    for scenario in args.scenarios.split(","):
        for strategy in args.strategies.split(","):
            doc["runs"].append(one_run(cfg, args, run_id, scenario, strategy, rundir, skipped, broker))
            write_json(os.path.join(rundir, "results.json"), doc, cfg)
    doc["duration_s"] = time.time() - t0
    write_json(os.path.join(rundir, "results.json"), doc, cfg)
    print_table(doc["runs"])
    print(f"results: {os.path.relpath(os.path.join(rundir, 'results.json'), ROOT)}")
    clean = all(r["integrity"]["verdict"] == "CLEAN" for r in doc["runs"])
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
