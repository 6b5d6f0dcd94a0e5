#!/usr/bin/env python3
"""The one table of the local stack's components: names, kinds, ports, programs and binaries.

scripts/stack asks it (service names in start order, metrics ports, binaries), tests/ops and bench import it;
everything comes from the same ALLOT_* variables and defaults as scripts/stack:

    ALLOT_RUN_DIR (.run)  ALLOT_BUILD_DIR (build)  relative ones from the repository root
    ALLOT_KAFKA_NODES     default: what `scripts/stack up` last used in the run dir ($RUN_DIR/kafka.nodes), else 1
    ALLOT_KAFKA_PORT (19092)  ALLOT_KAFKA_CONTROLLER_PORT (19093)  ALLOT_KAFKA_PORT_STEP (10): node N listens on
                              port + (N-1)*step, its controller on controller port + (N-1)*step
    ALLOT_MYSQL_PORT (13306)  ALLOT_REDIS_PORT (16379)  ALLOT_PROMETHEUS_PORT (19090)
    ALLOT_HTTP_PORT (8080: the ingress serves /metrics there too)
    ALLOT_PROCESSORS (2)  ALLOT_PROCESSOR_METRICS_BASE (9100: processor-K on base+K)
    ALLOT_SINK_MYSQL_METRICS_PORT (9201)  ALLOT_SINK_REDIS_METRICS_PORT (9202)
    ALLOT_NETLAB (unset)  1: the network lab's layout (bench/netlab): every Kafka node, the ingress and each processor
                          on a host of its own, a network namespace `allot-<name>` with the address NETLAB_HOSTS
                          gives it; the databases, Prometheus and the sinks stay on this machine's own stack (the
                          "db" host, reached from the lab at NETLAB_DB_ADDRESS)

An empty variable counts as unset (as `${X:-default}` in bash). Standard library only.

    python3 scripts/components.py services [--all] [--ports]   allot's services in start order (built ones only
                                                                unless --all); --ports: "NAME PORT" per line
    python3 scripts/components.py all [--long]                  every component: Kafka nodes, mariadb, redis,
                                                                prometheus, then the services (--long: tab-separated
                                                                name, kind, port, program, binary, controller port,
                                                                host, network namespace; "-" where a component has
                                                                none, so no field is empty)
    python3 scripts/components.py pid-files [KIND]              the components (of KIND: kafka, service, ...) that
                                                                have a pid file in the run dir, of any layout (what
                                                                `scripts/stack down` stops)
    python3 scripts/components.py metrics-port NAME             an allot service's /metrics port (any processor-K)
    python3 scripts/components.py port NAME                     the port `scripts/stack status` shows for NAME
    python3 scripts/components.py binary NAME                   an allot service's executable in the build
    python3 scripts/components.py program NAME                  what NAME's command line shows (kafka.Kafka, ...)
    python3 scripts/components.py host NAME                     the address NAME listens on (127.0.0.1 but in the lab)
    python3 scripts/components.py netns NAME                    NAME's network namespace in the lab (nothing when none)
    python3 scripts/components.py netlab-db-address             the db host's address in the lab (the bridge's)
    python3 scripts/components.py netlab-hosts                  the lab's hosts: "NAME ADDRESS NAMESPACE" per line
                                                                ("-" for the db host's namespace: this machine's own)
    python3 scripts/components.py kafka-nodes                   the Kafka node count
    python3 scripts/components.py prometheus-config TEMPLATE    compose/prometheus/prometheus.local.yml with its
                                                                @..._TARGETS@ filled in: every allot service of the
                                                                layout (built or not) and Prometheus itself
    python3 scripts/components.py json                          all of it, as JSON
    python3 scripts/components.py tokens PREFIX COUNT           COUNT users' tokens signed with the stack's JWT secret
                                                                (see jwt_settings): "PREFIX-<i> <token>" per line

Exit status 2 on a bad ALLOT_* value or a name that is no component.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, replace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The kinds, in `scripts/stack status` order.
KAFKA, DATABASE, MONITORING, SERVICE = "kafka", "database", "monitoring", "service"

# allot's own services: name pattern -> (binary under the build dir, the placeholder of the Prometheus job that
# scrapes its /metrics in compose/prometheus/prometheus.local.yml). The program its command line shows is
# "allot-" + the pattern.
_SERVICES = {
    "ingress": ("ingress/allot-ingress", "@INGRESS_TARGETS@"),
    "processor": ("processors/allot-processor", "@PROCESSOR_TARGETS@"),
    "sink-mysql": ("sinks/allot-sink-mysql", "@SINK_TARGETS@"),
    "sink-redis": ("sinks/allot-sink-redis", "@SINK_TARGETS@"),
}
_PROMETHEUS_TARGETS = "@PROMETHEUS_TARGETS@"  # Prometheus scrapes itself too
# `scripts/stack start` accepts processor-K for any K >= 1 (no leading zero), also beyond ALLOT_PROCESSORS.
_SERVICE_NAME = re.compile(r"ingress|processor-[1-9][0-9]*|sink-mysql|sink-redis")
_KAFKA_NAME = re.compile(r"kafka|kafka-[1-9]")

# The network lab (ALLOT_NETLAB=1, bench/netlab): a private /24 that exists only while the lab is up, on a bridge.
# This machine's own network namespace is the "db" host (the bridge's address): MariaDB, Redis, Prometheus and the
# sinks run there. Every other host is a namespace named after its component.
NETLAB_PREFIX = "10.77.0"
NETLAB_DB_ADDRESS = NETLAB_PREFIX + ".1"


def netlab_address(name):
    """The lab address of a component that has a host of its own (kafka-N, ingress, processor-K), else None."""
    if re.fullmatch(r"kafka-[1-9]", name):
        return f"{NETLAB_PREFIX}.{10 + int(name[len('kafka-'):])}"
    if name == "ingress":
        return f"{NETLAB_PREFIX}.30"
    if re.fullmatch(r"processor-[1-9][0-9]*", name) and int(name[len("processor-"):]) <= 99:
        return f"{NETLAB_PREFIX}.{100 + int(name[len('processor-'):])}"
    return None


class ConfigError(ValueError):
    """An ALLOT_* value scripts/stack would refuse too."""


class UnknownComponent(KeyError):
    pass


@dataclass(frozen=True)
class Component:
    name: str  # as in .run/<name>.pid and `scripts/stack status|start|stop NAME`
    kind: str  # KAFKA, DATABASE, MONITORING or SERVICE
    port: int  # where it listens; for allot's services their /metrics port (the ingress: its HTTP port)
    program: str  # what its command line shows (scripts/stack tells a stale pid file from our process by it)
    binary: str | None = None  # allot's services: the executable in the build folder
    controller_port: int | None = None  # Kafka nodes: the KRaft controller's listener
    host: str = "127.0.0.1"  # the address it listens on (another host's in the network lab)
    netns: str | None = None  # the network lab: the namespace it runs in (None: this machine's own)


def kind_of(name):
    """The kind of a component name (also of names outside the current layout: kafka-2, processor-7), or None."""
    if _KAFKA_NAME.fullmatch(name):
        return KAFKA
    if name in ("mariadb", "redis"):
        return DATABASE
    if name == "prometheus":
        return MONITORING
    if _SERVICE_NAME.fullmatch(name):
        return SERVICE
    return None


def _service_key(name):
    return "processor" if name.startswith("processor-") else name


class Layout:
    """The components one set of ALLOT_* variables describes. Reads `env` (default os.environ) once, here."""

    def __init__(self, env=None, root=ROOT):
        env = os.environ if env is None else env

        def text(name, default):
            value = env.get(name, "")
            return value if value != "" else default

        def number(name, default, pattern=r"[0-9]+", what="is not a number"):
            value = text(name, str(default))
            if not re.fullmatch(pattern, value):
                raise ConfigError(f"{name}={value} {what}")
            return int(value)

        self.root = root
        run_dir, build_dir = text("ALLOT_RUN_DIR", ".run"), text("ALLOT_BUILD_DIR", "build")
        self.run_dir = run_dir if os.path.isabs(run_dir) else os.path.join(root, run_dir)
        self.build_dir = build_dir if os.path.isabs(build_dir) else os.path.join(root, build_dir)
        self.processors = number("ALLOT_PROCESSORS", 2)
        nodes = text("ALLOT_KAFKA_NODES", "")
        if nodes == "":
            nodes = self._recorded_kafka_nodes()
        if not re.fullmatch(r"[1-9]", nodes):
            raise ConfigError(f"ALLOT_KAFKA_NODES={nodes} is not 1..9 (1 or 3)")
        self.kafka_nodes = int(nodes)
        self.kafka_port = number("ALLOT_KAFKA_PORT", 19092)
        self.kafka_controller_port = number("ALLOT_KAFKA_CONTROLLER_PORT", 19093)
        self.kafka_port_step = number("ALLOT_KAFKA_PORT_STEP", 10, r"[1-9][0-9]*")
        self.mysql_port = number("ALLOT_MYSQL_PORT", 13306)
        self.redis_port = number("ALLOT_REDIS_PORT", 16379)
        self.prometheus_port = number("ALLOT_PROMETHEUS_PORT", 19090)
        self.http_port = number("ALLOT_HTTP_PORT", 8080)
        self.processor_metrics_base = number("ALLOT_PROCESSOR_METRICS_BASE", 9100)
        self.sink_mysql_metrics_port = number("ALLOT_SINK_MYSQL_METRICS_PORT", 9201)
        self.sink_redis_metrics_port = number("ALLOT_SINK_REDIS_METRICS_PORT", 9202)
        netlab = text("ALLOT_NETLAB", "0")
        if netlab not in ("0", "1"):
            raise ConfigError(f"ALLOT_NETLAB={netlab} is not 0 or 1")
        self.netlab = netlab == "1"
        if self.netlab and self.kafka_nodes == 1:
            raise ConfigError("ALLOT_NETLAB=1 runs Kafka on hosts of their own: ALLOT_KAFKA_NODES=3")

    def _recorded_kafka_nodes(self):
        """What `scripts/stack up` last used in this run dir (it writes $RUN_DIR/kafka.nodes), else 1."""
        try:
            with open(os.path.join(self.run_dir, "kafka.nodes")) as f:
                return f.read().strip()
        except OSError:
            return "1"

    # ---- Kafka

    def kafka_name(self, node):
        """Node N's component name: `kafka` when it is the only one, else kafka-N (as scripts/stack)."""
        return "kafka" if self.kafka_nodes == 1 else f"kafka-{node}"

    def kafka_broker_port(self, node):
        return self.kafka_port + (node - 1) * self.kafka_port_step

    def kafka_node(self, node, name=None):
        """Node N (1-based; its KRaft node.id) as a component."""
        return self._placed(Component(name or self.kafka_name(node), KAFKA, self.kafka_broker_port(node), "kafka.Kafka",
                                      controller_port=self.kafka_controller_port + (node - 1) * self.kafka_port_step))

    def _placed(self, c):
        """`c` on its own host in the network lab (when it has one there), else as it is."""
        address = netlab_address(c.name) if self.netlab else None
        return replace(c, host=address, netns="allot-" + c.name) if address else c

    def netlab_hosts(self):
        """The lab's hosts: (name, address, namespace or None), the db host (this machine's namespace) first, then
        every Kafka node, the ingress and processors 1..max(ALLOT_PROCESSORS, 4)."""
        if not self.netlab:
            return []
        # Room for `scripts/stack start processor-K` up to 4 (the scaling scenarios), beyond ALLOT_PROCESSORS.
        extra = [self.service(f"processor-{k}") for k in range(self.processors + 1, 5)]
        return [("db", NETLAB_DB_ADDRESS, None)] + [(c.name, c.host, c.netns) for c in self.all() + extra if c.netns]

    def kafka(self):
        """Nodes 1..ALLOT_KAFKA_NODES, in node order."""
        return [self.kafka_node(n) for n in range(1, self.kafka_nodes + 1)]

    def bootstrap(self):
        """Every node's broker address (what `scripts/stack brokers` prints)."""
        return ",".join(f"{c.host}:{c.port}" for c in self.kafka())

    # ---- servers

    def servers(self):
        """Kafka's nodes, the databases and Prometheus, in `scripts/stack status` order."""
        return self.kafka() + [Component("mariadb", DATABASE, self.mysql_port, "mariadbd"),
                               Component("redis", DATABASE, self.redis_port, "redis-server"),
                               Component("prometheus", MONITORING, self.prometheus_port, "prometheus")]

    # ---- allot's services

    def service(self, name):
        """Any allot service by name, processor-K beyond ALLOT_PROCESSORS included."""
        if not _SERVICE_NAME.fullmatch(name):
            raise UnknownComponent(name)
        if name == "ingress":
            port = self.http_port
        elif name.startswith("processor-"):
            port = self.processor_metrics_base + int(name[len("processor-"):])
        elif name == "sink-mysql":
            port = self.sink_mysql_metrics_port
        else:
            port = self.sink_redis_metrics_port
        binary = _SERVICES[_service_key(name)][0]
        return self._placed(
            Component(name, SERVICE, port, "allot-" + _service_key(name), os.path.join(self.build_dir, binary)))

    def services(self, built_only=False):
        """allot's services in start order: ingress, processor-1..ALLOT_PROCESSORS, sink-mysql, sink-redis;
        built_only: those whose binary is built (what `scripts/stack up` starts)."""
        names = ["ingress"] + [f"processor-{k}" for k in range(1, self.processors + 1)] + ["sink-mysql", "sink-redis"]
        out = [self.service(n) for n in names]
        return [c for c in out if self.built(c)] if built_only else out

    def built(self, component):
        return component.binary is not None and os.access(component.binary, os.X_OK)

    # ---- everything

    def all(self, built_only=False):
        return self.servers() + self.services(built_only)

    def component(self, name):
        """Any component by name: the current layout's, or any allot service (processor-K)."""
        for c in self.servers():
            if c.name == name:
                return c
        if kind_of(name) == KAFKA:  # a node of the other layout (one node or a cluster)
            return self.kafka_node(1 if name == "kafka" else int(name[len("kafka-"):]), name)
        return self.service(name)

    def pid_file(self, name):
        return os.path.join(self.run_dir, f"{name}.pid")

    def with_pid_files(self):
        """The current layout's components, then any other component with a pid file in the run dir (a processor
        started beyond ALLOT_PROCESSORS, the nodes of another Kafka layout), as `scripts/stack down` finds them."""
        out = self.all()
        known = {c.name for c in out}
        try:
            files = sorted(os.listdir(self.run_dir))
        except OSError:
            files = []
        for f in files:
            name = f[:-len(".pid")] if f.endswith(".pid") else ""
            if name in known:
                continue
            if kind_of(name) in (KAFKA, SERVICE):
                out.append(self.component(name))
                known.add(name)
        return out

    def pid_files(self, kind=None):
        """The components (of `kind`, if given) that have a pid file in the run dir, in with_pid_files() order."""
        return [c for c in self.with_pid_files()
                if (kind is None or c.kind == kind) and os.path.exists(self.pid_file(c.name))]

    # ---- Prometheus

    def prometheus_targets(self):
        """What the local Prometheus scrapes, by placeholder of compose/prometheus/prometheus.local.yml: every allot
        service of the layout, built or not (one that is not built yet is simply down), and Prometheus itself."""
        targets = {placeholder: [] for _, placeholder in _SERVICES.values()}
        for c in self.services():
            targets[_SERVICES[_service_key(c.name)][1]].append(f"{c.host}:{c.port}")
        targets[_PROMETHEUS_TARGETS] = [f"127.0.0.1:{self.prometheus_port}"]
        return targets

    def prometheus_config(self, template):
        """`template` with each placeholder replaced by its targets as a YAML flow list's items: 'a:p', 'a:q'."""
        for placeholder, targets in self.prometheus_targets().items():
            template = template.replace(placeholder, ", ".join(f"'{t}'" for t in targets))
        return template

    def as_dict(self):
        return {"run_dir": self.run_dir, "build_dir": self.build_dir, "kafka_nodes": self.kafka_nodes,
                "processors": self.processors, "bootstrap": self.bootstrap(),
                "components": [dict(asdict(c), built=self.built(c) if c.kind == SERVICE else None)
                               for c in self.all()]}


# ---- who the user is (README "Who is the user"): the HS256 tokens with which tests, benches and load scripts
# sign their users' requests, as the operator's sign-in (or `allotctl token --user ID`) would.

def jwt_settings(env=None, root=ROOT):
    """(secret, issuer, audience) of the stack's user tokens: ALLOT_JWT_HS256_SECRET, else the file
    ALLOT_JWT_HS256_SECRET_FILE names, else <run dir>/jwt-secret (`scripts/stack up` writes it); ALLOT_JWT_ISSUER
    and ALLOT_JWT_AUDIENCE, else "allot" (as the ingress reads them). Raises ConfigError when no secret is found."""
    env = os.environ if env is None else env
    secret = env.get("ALLOT_JWT_HS256_SECRET", "")
    if not secret:
        path = env.get("ALLOT_JWT_HS256_SECRET_FILE", "") or os.path.join(Layout(env, root).run_dir, "jwt-secret")
        try:
            with open(path) as f:
                secret = f.read().rstrip("\r\n")
        except OSError as e:
            raise ConfigError(f"no JWT secret: set ALLOT_JWT_HS256_SECRET[_FILE] or run scripts/stack up ({e})")
        if not secret:
            raise ConfigError(f"no JWT secret: {path} is empty")
    return secret, env.get("ALLOT_JWT_ISSUER", "") or "allot", env.get("ALLOT_JWT_AUDIENCE", "") or "allot"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_JWT_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')


def mint_token(user, secret, issuer="allot", audience="allot", ttl=3600, now=None):
    """An HS256 JWT for `user`: claims sub, iss, aud, iat, nbf (now) and exp (now + ttl seconds)."""
    now = int(time.time() if now is None else now)
    claims = {"sub": user, "iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + int(ttl)}
    signing_input = _JWT_HEADER + "." + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def main(argv):
    usage = ("usage: components.py services [--all] [--ports] | all [--long] | pid-files [KIND] | metrics-port NAME | "
             "port NAME | binary NAME | program NAME | host NAME | netns NAME | netlab-db-address | netlab-hosts | "
             "kafka-nodes | "
             "prometheus-config TEMPLATE | json | tokens PREFIX COUNT")
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    try:
        layout = Layout()
        if cmd == "services" and set(rest) <= {"--all", "--ports"}:
            for c in layout.services(built_only="--all" not in rest):
                print(f"{c.name} {c.port}" if "--ports" in rest else c.name)
        elif cmd == "all" and set(rest) <= {"--long"}:
            for c in layout.all():
                long = [c.name, c.kind, str(c.port), c.program, c.binary or "-", str(c.controller_port or "-"), c.host,
                        c.netns or "-"]
                print("\t".join(long) if rest else c.name)
        elif cmd == "pid-files" and len(rest) <= 1:
            for c in layout.pid_files(rest[0] if rest else None):
                print(c.name)
        elif cmd in ("metrics-port", "binary") and len(rest) == 1:
            c = layout.service(rest[0])
            print(c.port if cmd == "metrics-port" else c.binary)
        elif cmd in ("port", "program") and len(rest) == 1:
            c = layout.component(rest[0])
            print(c.port if cmd == "port" else c.program)
        elif cmd in ("host", "netns") and len(rest) == 1:
            c = layout.component(rest[0])
            print(c.host if cmd == "host" else c.netns or "")
        elif cmd == "netlab-db-address" and not rest:
            print(NETLAB_DB_ADDRESS)
        elif cmd == "netlab-hosts" and not rest:
            for name, address, netns in layout.netlab_hosts():
                print(name, address, netns or "-")
        elif cmd == "kafka-nodes" and not rest:
            print(layout.kafka_nodes)
        elif cmd == "prometheus-config" and len(rest) == 1:
            with open(rest[0]) as f:
                sys.stdout.write(layout.prometheus_config(f.read()))
        elif cmd == "json" and not rest:
            print(json.dumps(layout.as_dict(), indent=1))
        elif cmd == "tokens" and len(rest) == 2 and rest[1].isdigit():
            secret, issuer, audience = jwt_settings()
            now = int(time.time())
            sys.stdout.writelines(f"{rest[0]}-{i} {mint_token(f'{rest[0]}-{i}', secret, issuer, audience, now=now)}\n"
                                  for i in range(int(rest[1])))
        else:
            print(usage, file=sys.stderr)
            return 2
    except ConfigError as e:
        print(f"components: {e}", file=sys.stderr)
        return 2
    except UnknownComponent as e:
        what = "an allot service" if cmd in ("metrics-port", "binary") else "a component"
        print(f"components: {e.args[0]} is not {what}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
