"""Shared helpers of the operations tests (tests/ops): where the stack's services listen (the same
ALLOT_* variables and defaults as scripts/stack), bounded HTTP, Prometheus's HTTP API, and a
failure collector. Standard library only."""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts"))
import components  # scripts/components.py: the stack's component table

HOST = "127.0.0.1"


def env_int(name, default):
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        sys.exit(f"{name}={value!r} is not a number")


def build_dir_from(path):
    """The build folder: --build-dir, else ALLOT_BUILD_DIR, else <repo>/build (as scripts/stack)."""
    root = repo_root()
    path = path or os.environ.get("ALLOT_BUILD_DIR") or "build"
    return path if os.path.isabs(path) else os.path.join(root, path)


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def layout(environ=None):
    """The stack's components as scripts/stack sees them (scripts/components.py), from the environment."""
    try:
        return components.Layout(environ)
    except components.ConfigError as e:
        sys.exit(str(e))


def stack_services(build_dir):
    """The allot services scripts/stack starts from this build, with their /metrics ports:
    [(name, port, binary, built)], from scripts/components.py (the stack's own table); only the built ones run
    (that is what `stack up` starts)."""
    stack = layout(dict(os.environ, ALLOT_BUILD_DIR=build_dir))
    return [(c.name, c.port, c.binary, stack.built(c)) for c in stack.services()]


def user_token(user, ttl=3600):
    """A token for `user` signed with the stack's JWT secret (scripts/components.py jwt_settings): what a signed-in
    user's requests carry as Authorization: Bearer. Raises components.ConfigError when there is no secret."""
    secret, issuer, audience = components.jwt_settings()
    return components.mint_token(user, secret, issuer, audience, ttl)


class HttpAnswer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, headers=None, timeout=10):
    """One HTTP request, bounded by `timeout`; 4xx/5xx answers are returned, not raised.
    Raises OSError when nothing answers."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return HttpAnswer(r.status, dict(r.headers), r.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:
        return HttpAnswer(e.code, dict(e.headers), e.read().decode("utf-8", "replace"))


class PrometheusError(Exception):
    pass


class Prometheus:
    """Prometheus's HTTP API (POST form bodies, so long queries are fine)."""

    def __init__(self, port=None):
        self.base = f"http://{HOST}:{port or layout().prometheus_port}"

    def _call(self, path, params, timeout=20, method="POST"):
        body = urllib.parse.urlencode(params, doseq=True)
        try:
            if method == "GET":
                answer = http("GET", f"{self.base}{path}?{body}", timeout=timeout)
            else:
                answer = http("POST", self.base + path, body,
                              {"Content-Type": "application/x-www-form-urlencoded"}, timeout=timeout)
        except OSError as e:
            raise PrometheusError(f"Prometheus at {self.base} does not answer: {e}") from e
        try:
            doc = answer.json()
        except ValueError:
            raise PrometheusError(f"HTTP {answer.status}: {answer.body[:200]}")
        if doc.get("status") != "success":
            raise PrometheusError(f"{doc.get('errorType', 'error')}: {doc.get('error', answer.body[:200])}")
        return doc["data"]

    def ready(self):
        try:
            return http("GET", self.base + "/-/ready", timeout=5).status == 200
        except OSError:
            return False

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._call("/api/v1/query", params)

    def query_range(self, expr, start, end, step):
        return self._call("/api/v1/query_range",
                          {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}s"})

    def label_values(self, label, match, start, end):
        return self._call(f"/api/v1/label/{urllib.parse.quote(label)}/values",
                          {"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"}, method="GET")

    def scalar(self, expr):
        """The value of a one-element instant query, or None when the result is empty."""
        data = self.query(expr)
        result = data.get("result", [])
        if not result:
            return None
        value = result[0]["value"][1] if data["resultType"] == "vector" else result[1]
        return float(value)

    def targets(self):
        try:
            return self._call("/api/v1/targets", {"state": "active"}, method="GET").get("activeTargets", [])
        except PrometheusError:
            return []


def wait_until(seconds, probe, interval=1.0):
    """Polls probe() until it returns a truthy value or `seconds` pass; returns the last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Failures:
    """Collects failures so that one run reports all of them; exit status 1 if any."""

    def __init__(self, name):
        self.name, self.items = name, []

    def add(self, message):
        self.items.append(message)
        print(f"FAIL: {message}", flush=True)

    def check(self, condition, message):
        if not condition:
            self.add(message)
        return condition

    def finish(self, summary):
        if self.items:
            print(f"{self.name}: {len(self.items)} failure(s); {summary}", flush=True)
            sys.exit(1)
        print(f"{self.name}: OK: {summary}", flush=True)
