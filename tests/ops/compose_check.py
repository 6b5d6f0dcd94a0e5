#!/usr/bin/env python3
"""Ops.Compose: compose/docker-compose.yml and the Dockerfile, checked as far as a machine without a
Docker engine allows.

1. `docker-compose -f compose/docker-compose.yml config` parses it (Debian's docker-compose 1.29, no
   daemon needed), and its "load" profile holds k6.
2. Every file it references exists: build contexts and Dockerfiles, bind-mounted files and folders, and
   the files services name inside a mount (Prometheus's config, Grafana's home dashboard, the k6 script);
   the Grafana provisioning (datasource on the prometheus service, dashboard provider whose path is
   mounted and holds the dashboards); the Dockerfile's COPY sources (and none of them dockerignored);
   paths inside the allot image that services use (/app/topics/topics.json) are COPY destinations.
3. Every allot service's command is one of allot's executables: an add_executable() of the CMake
   sources, copied into the runtime image from where CMake builds it, and built in the build folder.
   Every binary the image carries is used by some service.
4. Images are pinned: every third-party image and every FROM has an explicit version tag (never latest);
   apache/kafka has the Kafka version of scripts/kafka/pom.xml, grafana/k6 the k6 version bench/install-k6
   pins; FROM is the Debian release of this machine.
5. Packages: the Dockerfile's build stage installs exactly scripts/setup's APT_PACKAGES minus
   EXCLUDED_FROM_BUILD below (each with its reason); its runtime stage installs exactly the Debian
   packages that own the shared libraries the copied binaries link to (readelf NEEDED + dpkg -S), minus
   those every Debian image has, plus RUNTIME_EXTRAS; and each of those library packages is a
   dependency of a -dev package in scripts/setup's list.
6. Configuration: every ALLOT_* variable a service sets is one that allot's code reads; the ingress
   listens on 0.0.0.0 (ALLOT_HTTP_HOST) and every scraped service's /metrics too (ALLOT_METRICS_HOST, and
   the code of that service must read it); the processor can scale (no container_name, no host port);
   compose/prometheus/prometheus.yml passes `promtool check config` and scrapes compose services on the
   ports they serve /metrics on.
7. Kafka, alone and as the three brokers of compose/docker-compose.3brokers.yml (merged onto the file by
   `docker-compose -f ... -f ... config`, which must parse): node ids 1..N, one cluster id, every node's
   quorum voters are all the nodes, replication (default, min.insync.replicas, the internal topics') as
   topics/topics.json asks for N brokers, host ports and data volumes of their own, and allot's services
   and the topics job bootstrap from every node (the job with --cluster-size N) once every node is healthy.

  compose_check.py [--build-dir DIR]

Needs PyYAML, which Debian's docker-compose depends on: without it in this interpreter, the script
re-runs itself with docker-compose's own interpreter.
"""

import argparse
import fnmatch
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # re-run under docker-compose's interpreter (Debian's python3-yaml)
    dc = shutil.which("docker-compose")
    if dc and not os.environ.get("ALLOT_OPS_REEXEC"):
        with open(dc) as f:
            first = f.readline()
        if first.startswith("#!"):
            interpreter = first[2:].strip().split()[0]
            os.environ["ALLOT_OPS_REEXEC"] = "1"
            os.execv(interpreter, [interpreter] + sys.argv)
    sys.exit("compose_check: PyYAML is missing (Debian: python3-yaml, a dependency of docker-compose)")

sys.path.insert(0, os.path.dirname(__file__))
import opslib

ROOT = opslib.repo_root()
COMPOSE = os.path.join(ROOT, "compose", "docker-compose.yml")
COMPOSE_3BROKERS = os.path.join(ROOT, "compose", "docker-compose.3brokers.yml")
TOPICS_JSON = os.path.join(ROOT, "topics", "topics.json")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
SETUP = os.path.join(ROOT, "scripts", "setup")

# scripts/setup installs these for the machine without Docker; the image's build stage does not need them.
EXCLUDED_FROM_BUILD = {
    "git": "operator tool; the build context is copied in, nothing is cloned",
    "curl": "operator tool (and runtime healthchecks: see RUNTIME_EXTRAS); the build downloads nothing",
    "jq": "operator tool for scripts; not used by the build",
    "clang-tidy": "the lint test (tests/lint) runs on the developer machine and in CI, not in the image build",
    "clang-format": "scripts/lint runs on the developer machine and in CI, not in the image build",
    "shellcheck": "scripts/lint runs on the developer machine and in CI, not in the image build",
    "openjdk-17-jre-headless": "runs the local Kafka broker; compose runs the apache/kafka image",
    "maven": "resolves the local Kafka broker's jars; compose runs the apache/kafka image",
    "mariadb-server": "the local database server; compose runs the mysql image",
    "mariadb-client": "talks to the local database server; not needed to build",
    "redis-server": "the local Redis; compose runs the redis image",
    "prometheus": "the local Prometheus (and promtool for tests); compose runs the prom/prometheus image",
    "kcat": "Kafka command-line tool for operators and tests",
    "wrk": "HTTP benchmark tool (bench/)",
    "chromium": "the browser test (tests/web)",
    "docker-compose": "checks compose/docker-compose.yml (this test); the image does not run Docker",
    "gnuplot-nox": "draws bench/metrics/render's charts; not used by the build",
    "iproute2": "the network lab (bench/netlab) runs on the host, not in the image",
    "nftables": "the network lab (bench/netlab) runs on the host, not in the image",
    "iptables": "the network lab (bench/netlab) runs on the host, not in the image",
    "libnetfilter-queue-dev": "only the network lab's delayer (bench/netdelay.cc) links it; optional in CMake",
}
# Installed in the runtime stage although no binary links to them.
RUNTIME_EXTRAS = {
    "curl": "the compose healthchecks (curl -sf http://127.0.0.1:PORT/healthz)",
}
# Packages every Debian image has (essential or required by libc++ programs' base): not listed.
BASE_IMAGE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
ALLOT_BINARIES = {"allot-ingress", "allot-processor", "allot-sink-mysql", "allot-sink-redis", "allotctl"}
# Which source folders make up each binary (to check that a setting is read by the right program).
BINARY_SOURCES = {
    "allot-ingress": ["ingress", "common"],
    "allot-processor": ["processors", "state", "common"],
    "allot-sink-mysql": ["sinks", "common"],
    "allot-sink-redis": ["sinks", "common"],
    "allotctl": ["topics", "common"],
}


# --------------------------------------------------------------------------------------------------
# Parsing scripts/setup and the Dockerfile
# --------------------------------------------------------------------------------------------------

def setup_packages():
    with open(SETUP) as f:
        text = f.read()
    m = re.search(r"^APT_PACKAGES=\((.*?)^\)", text, re.DOTALL | re.MULTILINE)
    if not m:
        sys.exit(f"compose_check: no APT_PACKAGES=( ... ) in {SETUP}")
    body = "\n".join(line.split("#", 1)[0] for line in m.group(1).splitlines())
    return body.split()


def dockerfile_instructions(path):
    """[(instruction, arguments)] with continuation lines joined and comments dropped."""
    out, current = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if current and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            parts = current.strip().split(None, 1)
            out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
            current = ""
    return out


def dockerfile_stages(path):
    """{stage name: {"from": image, "packages": [...], "copies": [(from_stage, [srcs], dest)], "env": {}}}"""
    stages, order, stage = {}, [], None
    for ins, args in dockerfile_instructions(path):
        if ins == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            name = (m.group(2) or f"stage{len(order)}").lower()
            stage = stages[name] = {"from": m.group(1), "packages": [], "copies": [], "env": {}}
            order.append(name)
        elif stage is None:
            continue
        elif ins == "RUN":
            for segment in re.split(r"&&|;|\|\|", args):
                words = segment.split()
                if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                    after = words[words.index("install") + 1:]
                    stage["packages"] += [w for w in after if not w.startswith("-")]
        elif ins in ("COPY", "ADD"):
            words = shlex.split(args)
            src_stage = None
            flags = [w for w in words if w.startswith("--")]
            words = [w for w in words if not w.startswith("--")]
            for flag in flags:
                if flag.startswith("--from="):
                    src_stage = flag.split("=", 1)[1].lower()
            stage["copies"].append((src_stage, words[:-1], words[-1]))
        elif ins == "ENV":
            for k, v in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", args):
                stage["env"][k] = v.strip('"')
        elif ins in ("ENTRYPOINT", "CMD"):
            stage[ins.lower()] = args
    return stages, order


def dockerignore_patterns():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip().rstrip("/") for line in f if line.strip() and not line.startswith("#")]


def ignored(rel, patterns):
    for p in patterns:
        p = p.rstrip("/")
        if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p + "/*") or rel.split("/")[0] == p:
            return True
    return False


# --------------------------------------------------------------------------------------------------
# What CMake builds and what the binaries link to
# --------------------------------------------------------------------------------------------------

def cmake_executables():
    """{name: folder relative to the repo} from every add_executable() of the sources."""
    out = {}
    for path in glob.glob(os.path.join(ROOT, "**", "CMakeLists.txt"), recursive=True):
        rel_dir = os.path.relpath(os.path.dirname(path), ROOT)
        if rel_dir.startswith("build") or "node_modules" in rel_dir:
            continue
        with open(path) as f:
            for name in re.findall(r"^\s*add_executable\(\s*([\w.+-]+)", f.read(), re.MULTILINE):
                out[name] = rel_dir
    return out


def needed_packages(binary):
    """Debian packages owning the shared libraries `binary` links to directly (readelf NEEDED)."""
    p = subprocess.run(["readelf", "-d", binary], check=False, capture_output=True, text=True, timeout=30)
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", p.stdout)
    packages = {}
    for so in sonames:
        q = subprocess.run(["dpkg", "-S", f"*/{so}"], check=False, capture_output=True, text=True, timeout=30)
        owners = {line.split(":")[0] for line in q.stdout.splitlines() if line.strip()}
        packages[so] = owners
    return packages


def package_depends(pkg):
    q = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", pkg], check=False, capture_output=True, text=True, timeout=30)
    return {re.split(r"[\s(:]", d.strip())[0] for alt in q.stdout.split(",") for d in alt.split("|") if d.strip()}


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

def compose_command():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def image_pinned(image):
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and re.search(r"\d", tag) is not None


def command_words(svc):
    cmd = svc.get("command")
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    return cmd or []


def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def bind_mounts(svc, base):
    """[(host path, container path)] of a service's bind mounts (relative host paths resolved)."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            if v.get("type") == "bind":
                out.append((os.path.normpath(os.path.join(base, v["source"])), v["target"]))
            continue
        parts = v.split(":")
        if len(parts) >= 2 and (parts[0].startswith((".", "/", "~"))):
            out.append((os.path.normpath(os.path.join(base, os.path.expanduser(parts[0]))), parts[1]))
    return out


def host_path(container_path, mounts):
    for host, target in sorted(mounts, key=lambda m: -len(m[1])):
        if container_path == target:
            return host
        if container_path.startswith(target.rstrip("/") + "/"):
            return os.path.join(host, os.path.relpath(container_path, target))
    return None


def code_reads(names_dirs):
    """ALLOT_* names read by the C++ sources under the given folders."""
    found = set()
    for d in names_dirs:
        for path in glob.glob(os.path.join(ROOT, d, "**", "*.*"), recursive=True):
            if path.endswith((".cc", ".h", ".in")):
                with open(path, errors="replace") as f:
                    found.update(re.findall(r'"(ALLOT_[A-Z0-9_]+)"', f.read()))
    return found


def replication_for(n_brokers):
    """(replication factor, min.insync.replicas) that topics/topics.json's defaults ask of n brokers: the
    rule of topics/topics.h replication_for()."""
    import json
    with open(TOPICS_JSON) as f:
        doc = json.load(f)
    rf, min_isr = int(doc.get("replication_factor", 1)), int(doc.get("min_insync_replicas", 1))
    if n_brokers >= rf:
        return rf, min_isr
    rf = max(1, n_brokers)
    return rf, max(1, min(min_isr, rf - 1))


def check_kafka_cluster(failures, services, label):
    """Section 7 on one merged configuration (`docker-compose config` output); returns the node count."""
    nodes = {n: s for n, s in services.items() if (s.get("image") or "").startswith("apache/kafka:")}
    if not failures.check(nodes, f"{label}: no apache/kafka service"):
        return 0
    envs = {n: env_of(s) for n, s in nodes.items()}
    ids = {n: e.get("KAFKA_NODE_ID", "") for n, e in envs.items()}
    failures.check(sorted(ids.values()) == [str(i) for i in range(1, len(nodes) + 1)],
                   f"{label}: Kafka node ids {sorted(ids.values())}, not 1..{len(nodes)}")
    voters = ",".join(f"{ids[n]}@{n}:9093" for n in sorted(nodes, key=lambda n: ids[n]))
    rf, min_isr = replication_for(len(nodes))
    want = {"KAFKA_CONTROLLER_QUORUM_VOTERS": voters, "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_DEFAULT_REPLICATION_FACTOR": str(rf), "KAFKA_MIN_INSYNC_REPLICAS": str(min_isr),
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": str(rf),
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": str(rf),
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": str(min_isr)}
    for n, e in envs.items():
        for k, v in want.items():
            failures.check(e.get(k) == v, f"{label}: {n}: {k}={e.get(k)!r}, want {v!r}")
    failures.check(len({e.get("CLUSTER_ID") for e in envs.values()}) == 1,
                   f"{label}: the Kafka nodes do not share one CLUSTER_ID")
    host_ports, volumes = [], []
    for n, svc in nodes.items():
        m = re.search(r"HOST://127\.0\.0\.1:(\d+)", envs[n].get("KAFKA_ADVERTISED_LISTENERS", ""))
        published = [str(p).split("/")[0] for p in svc.get("ports") or []]
        if failures.check(m, f"{label}: {n} advertises no HOST listener on 127.0.0.1"):
            host_ports.append(m.group(1))
            failures.check(f"127.0.0.1:{m.group(1)}:19092" in published,
                           f"{label}: {n} advertises 127.0.0.1:{m.group(1)} but publishes {published}")
        failures.check(f"PLAINTEXT://{n}:9092" in envs[n].get("KAFKA_ADVERTISED_LISTENERS", ""),
                       f"{label}: {n} does not advertise PLAINTEXT://{n}:9092")
        volumes += [str(v).split(":")[0] for v in svc.get("volumes") or [] if ":/var/lib/kafka/data" in str(v)]
    failures.check(len(set(host_ports)) == len(nodes), f"{label}: Kafka host ports {host_ports} are not one per node")
    failures.check(len(set(volumes)) == len(nodes), f"{label}: Kafka data volumes {volumes} are not one per node")
    bootstrap = {f"{n}:9092" for n in nodes}
    for name, svc in services.items():
        brokers = env_of(svc).get("ALLOT_KAFKA_BROKERS")
        if brokers is not None:
            failures.check(set(brokers.split(",")) == bootstrap,
                           f"{label}: {name}: ALLOT_KAFKA_BROKERS={brokers}, want every node {sorted(bootstrap)}")
    topics = services.get("topics", {})
    words = command_words(topics)
    given = words[words.index("--brokers") + 1] if "--brokers" in words[:-1] else ""
    failures.check(set(given.split(",")) == bootstrap, f"{label}: topics: --brokers {given!r}, want {sorted(bootstrap)}")
    size = words[words.index("--cluster-size") + 1] if "--cluster-size" in words[:-1] else None
    failures.check(size == str(len(nodes)) if len(nodes) > 1 else size in (None, "1"),
                   f"{label}: topics: --cluster-size {size}, for {len(nodes)} Kafka node(s)")
    deps = topics.get("depends_on") or {}
    for n in nodes:
        cond = deps.get(n, {}).get("condition") if isinstance(deps, dict) else None
        failures.check(cond == "service_healthy", f"{label}: topics does not wait for {n} to be healthy")
    return len(nodes)


def merged_config(dc, files):
    """The configuration docker-compose makes of `files` (interpolated with the defaults), or None."""
    args = [a for f in files for a in ("-f", f)]
    p = subprocess.run(dc + args + ["config"], check=False, capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if not k.startswith("ALLOT_")})
    if p.returncode != 0:
        return None, p.stdout + p.stderr
    return yaml.safe_load(p.stdout), ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    build_dir = opslib.build_dir_from(args.build_dir)
    failures = opslib.Failures("Ops.Compose")
    base = os.path.dirname(COMPOSE)
    n_files = 0

    # 1. docker-compose parses it.
    dc = compose_command()
    if failures.check(dc, "neither docker-compose nor `docker compose` is installed (Debian: docker-compose)"):
        p = subprocess.run(dc + ["-f", COMPOSE, "config", "-q"], check=False, capture_output=True, text=True, timeout=60)
        failures.check(p.returncode == 0, f"{' '.join(dc)} config failed:\n{p.stdout}{p.stderr}")
        p = subprocess.run(dc + ["-f", COMPOSE, "config", "--profiles"], check=False, capture_output=True, text=True, timeout=60)
        failures.check("load" in p.stdout.split(), f"no profile 'load' in {p.stdout.split()}")
        print(f"{' '.join(dc)} config: parses; profiles: {' '.join(p.stdout.split())}")
    with open(COMPOSE) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services", {})
    failures.check(services, "no services")
    failures.check("load" in (services.get("k6", {}).get("profiles") or []), "k6 is not in profile 'load'")

    # The Dockerfile of the allot image.
    stages, order = dockerfile_stages(DOCKERFILE)
    failures.check(len(order) >= 2, f"the Dockerfile has {len(order)} stage(s); expected build + runtime")
    build_stage = stages.get("build") or stages[order[0]]
    runtime_stage = stages[order[-1]]
    image_files = {}  # destination path in the runtime image -> source (repo-relative or build-stage path)
    for src_stage, srcs, dest in runtime_stage["copies"]:
        for src in srcs:
            target = dest.rstrip("/") + "/" + os.path.basename(src) if dest.endswith("/") else dest
            image_files[target] = (src_stage, src)
    patterns = dockerignore_patterns()

    # 2. Files referenced.
    built_services = {n: s for n, s in services.items() if s.get("build")}
    for name, svc in services.items():
        b = svc.get("build")
        if b:
            ctx = os.path.normpath(os.path.join(base, b if isinstance(b, str) else b.get("context", ".")))
            dfile = os.path.join(ctx, "Dockerfile" if isinstance(b, str) else b.get("dockerfile", "Dockerfile"))
            failures.check(os.path.isdir(ctx), f"{name}: build context {ctx} does not exist")
            failures.check(os.path.isfile(dfile), f"{name}: Dockerfile {dfile} does not exist")
            failures.check(os.path.samefile(dfile, DOCKERFILE) if os.path.isfile(dfile) else False,
                           f"{name}: builds from {dfile}, not the repository's Dockerfile")
            n_files += 2
        mounts = bind_mounts(svc, base)
        for host, target in mounts:
            n_files += 1
            failures.check(os.path.exists(host), f"{name}: mounted {host} (at {target}) does not exist")
        # Paths a service names inside its container: in a mount, or (allot image) copied into it.
        words = command_words(svc) + list(env_of(svc).values())
        for w in words:
            for path in re.findall(r"(?:^|=)(/[\w./-]+\.(?:ya?ml|json|js))$", w):
                n_files += 1
                hp = host_path(path, mounts)
                if hp:
                    failures.check(os.path.isfile(hp), f"{name}: {path} is {hp} on the host, which does not exist")
                elif svc.get("build") or svc.get("image") == "allot:local":
                    failures.check(path in image_files, f"{name}: {path} is not copied into the allot image")
                else:
                    failures.add(f"{name}: {path} is neither mounted nor part of this repository's image")
    for src_stage, srcs, dest in runtime_stage["copies"]:
        if src_stage:
            continue
        for src in srcs:
            n_files += 1
            failures.check(os.path.exists(os.path.join(ROOT, src)), f"Dockerfile: COPY {src}: no such file")
            failures.check(not ignored(src, patterns), f"Dockerfile: COPY {src} is excluded by .dockerignore")

    # Grafana provisioning: datasource -> the prometheus service; the provider's path is mounted.
    graf = services.get("grafana", {})
    gmounts = bind_mounts(graf, base)
    prov = host_path("/etc/grafana/provisioning", gmounts)
    if failures.check(prov and os.path.isdir(prov), "grafana: /etc/grafana/provisioning is not mounted"):
        ds_files = glob.glob(os.path.join(prov, "datasources", "*.y*ml"))
        db_files = glob.glob(os.path.join(prov, "dashboards", "*.y*ml"))
        failures.check(ds_files and db_files, f"grafana: provisioning needs datasources/ and dashboards/ in {prov}")
        for path in ds_files:
            with open(path) as f:
                for ds in (yaml.safe_load(f) or {}).get("datasources", []):
                    url = ds.get("url", "")
                    m = re.match(r"https?://([\w-]+):(\d+)", url)
                    failures.check(m and m.group(1) in services and m.group(2) == "9090",
                                   f"grafana datasource {ds.get('name')}: url {url} is not the prometheus service")
        for path in db_files:
            with open(path) as f:
                for provider in (yaml.safe_load(f) or {}).get("providers", []):
                    cpath = (provider.get("options") or {}).get("path", "")
                    hp = host_path(cpath, gmounts)
                    dashboards = glob.glob(os.path.join(hp, "*.json")) if hp else []
                    failures.check(dashboards, f"grafana provider {provider.get('name')}: {cpath} is not a mounted "
                                               f"folder of dashboards")
                    n_files += len(dashboards)

    # 3. Commands are allot's binaries: CMake target, copied from where CMake builds it, built here.
    executables = cmake_executables()
    copied_binaries = {}
    for dest, (src_stage, src) in image_files.items():
        if src_stage and os.path.basename(src) in ALLOT_BINARIES:
            copied_binaries[os.path.basename(src)] = src
    used = set()
    for name, svc in built_services.items():
        words = command_words(svc)
        if not failures.check(words, f"{name}: no command"):
            continue
        binary = words[0]
        used.add(binary)
        if not failures.check(binary in executables, f"{name}: command {binary} is no add_executable() of the sources"):
            continue
        src = copied_binaries.get(binary)
        if not failures.check(src, f"{name}: {binary} is not copied into the runtime image"):
            continue
        m = re.match(r"/\S+?/build/(.+)$", src)
        rel = m.group(1) if m else None
        failures.check(rel == f"{executables[binary]}/{binary}",
                       f"{name}: the Dockerfile copies {src}, but CMake builds {executables[binary]}/{binary}")
        local = os.path.join(build_dir, executables[binary], binary)
        failures.check(os.access(local, os.X_OK), f"{name}: {binary} is not built here ({local})")
    unused = set(copied_binaries) - used
    failures.check(not unused, f"binaries copied into the image but run by no service: {sorted(unused)}")
    print(f"commands: {', '.join(sorted(used))}")

    # 4. Pinned images.
    with open(os.path.join(ROOT, "scripts", "kafka", "pom.xml")) as f:
        kafka_version = re.search(r"<kafka.version>([\d.]+)<", f.read())
    k6_version = None
    if os.path.exists(os.path.join(ROOT, "bench", "install-k6")):
        with open(os.path.join(ROOT, "bench", "install-k6")) as f:
            k6_version = re.search(r'K6_VERSION="\$\{ALLOT_K6_VERSION:-v([\d.]+)\}"', f.read())
    for name, svc in services.items():
        image = svc.get("image", "")
        if svc.get("build"):
            continue
        if image == "allot:local":
            failures.check(any(s.get("image") == "allot:local" for s in built_services.values()),
                           f"{name}: allot:local is built by no service")
            continue
        failures.check(image and image_pinned(image), f"{name}: image {image!r} is not pinned by version")
        if image.startswith("grafana/k6:") and k6_version:
            failures.check(image.split(":")[1] == k6_version.group(1),
                           f"{name}: {image}, but bench/install-k6 pins k6 v{k6_version.group(1)}")
        if image.startswith("apache/kafka:") and kafka_version:
            failures.check(image.split(":")[1] == kafka_version.group(1),
                           f"{name}: {image}, but the local stack runs Kafka {kafka_version.group(1)}")
    with open("/etc/os-release") as f:
        version_id = re.search(r'^VERSION_ID="?(\d+)', f.read(), re.MULTILINE)
    codenames = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
    for st in order:
        image = stages[st]["from"]
        failures.check(image_pinned(image), f"Dockerfile stage {st}: FROM {image} is not pinned by version")
        if version_id and image.startswith("debian:"):
            tag = image.split(":")[1]
            failures.check(tag.startswith((version_id.group(1) + ".", version_id.group(1) + "-",
                                           codenames.get(version_id.group(1), "?"))),
                           f"Dockerfile stage {st}: FROM {image}, but this machine is Debian {version_id.group(1)}")

    # 5. Package lists against scripts/setup.
    setup = setup_packages()
    stale = set(EXCLUDED_FROM_BUILD) - set(setup)
    if stale:  # harmless: an exclusion only matters once scripts/setup lists the package
        print(f"note: EXCLUDED_FROM_BUILD names packages scripts/setup does not list: {sorted(stale)}")
    want_build = [p for p in setup if p not in EXCLUDED_FROM_BUILD]
    have_build = build_stage["packages"]
    missing, extra = sorted(set(want_build) - set(have_build)), sorted(set(have_build) - set(want_build))
    failures.check(not missing and not extra,
                   f"Dockerfile build stage vs scripts/setup APT_PACKAGES: missing {missing}, not in setup {extra} "
                   f"(add a new setup package to the Dockerfile, or to EXCLUDED_FROM_BUILD here with the reason)")
    excluded = [p for p in setup if p in EXCLUDED_FROM_BUILD]
    print(f"build stage: {len(have_build)} packages = scripts/setup's {len(setup)} minus {len(excluded)} "
          f"excluded ({', '.join(excluded)})")

    needed, why = set(), {}
    for binary in sorted(copied_binaries):
        local = os.path.join(build_dir, executables.get(binary, "?"), binary)
        if not os.access(local, os.X_OK):
            continue
        for so, owners in needed_packages(local).items():
            failures.check(owners, f"{binary}: no Debian package owns {so}")
            for pkg in owners - BASE_IMAGE_PACKAGES:
                needed.add(pkg)
                why.setdefault(pkg, set()).add(so)
    dev_deps = set()
    for pkg in setup:
        if pkg.endswith("-dev"):
            dev_deps |= package_depends(pkg)
    for pkg in sorted(needed):
        failures.check(pkg in dev_deps, f"runtime library {pkg} is no dependency of a -dev package in scripts/setup")
    for pkg, reason in RUNTIME_EXTRAS.items():
        failures.check(pkg in setup, f"runtime extra {pkg} ({reason}) is not in scripts/setup")
    want_runtime = needed | set(RUNTIME_EXTRAS)
    have_runtime = set(runtime_stage["packages"])
    missing, extra = sorted(want_runtime - have_runtime), sorted(have_runtime - want_runtime)
    if copied_binaries and needed:
        failures.check(not missing and not extra,
                       f"Dockerfile runtime stage: missing {missing}, not needed {extra} (needed: " +
                       ", ".join(f"{p} for {'/'.join(sorted(why.get(p, ['extra'])))}" for p in sorted(needed)) + ")")
    else:
        failures.add("no built binary to read the runtime libraries from; build first")
    print(f"runtime stage: {sorted(have_runtime)}; linked libraries come from {sorted(needed)}")

    # 6. Configuration.
    read_by_code = code_reads(["ingress", "processors", "sinks", "topics", "common", "state"])
    for name, svc in built_services.items():
        env = env_of(svc)
        unknown = sorted(k for k in env if k.startswith("ALLOT_") and k not in read_by_code)
        failures.check(not unknown, f"{name}: sets {unknown}, which no allot program reads")
    image_env = runtime_stage["env"]

    def effective(svc, key):
        return env_of(svc).get(key, image_env.get(key))

    ingress = services.get("ingress", {})
    failures.check(effective(ingress, "ALLOT_HTTP_HOST") == "0.0.0.0", "ingress: ALLOT_HTTP_HOST is not 0.0.0.0")
    proc = services.get("processor", {})
    failures.check(proc and "container_name" not in proc and not proc.get("ports"),
                   "processor: a container_name or host port keeps `--scale processor=N` from working")
    for name, svc in built_services.items():
        words = command_words(svc)
        if not words or words[0] not in ("allot-processor", "allot-sink-mysql", "allot-sink-redis"):
            continue
        failures.check(effective(svc, "ALLOT_METRICS_HOST") == "0.0.0.0",
                       f"{name}: ALLOT_METRICS_HOST is not 0.0.0.0, so Prometheus cannot scrape it")
        srcs = BINARY_SOURCES[words[0]]
        failures.check("ALLOT_METRICS_HOST" in code_reads(srcs),
                       f"{name}: {words[0]}'s code ({'/, '.join(srcs)}/) does not read ALLOT_METRICS_HOST: its "
                       f"/metrics listens on 127.0.0.1 inside the container and Prometheus cannot scrape it")

    prom_svc = services.get("prometheus", {})
    cfg_arg = next((w.split("=", 1)[1] for w in command_words(prom_svc) if w.startswith("--config.file=")), None)
    cfg = host_path(cfg_arg, bind_mounts(prom_svc, base)) if cfg_arg else None
    if failures.check(cfg and os.path.isfile(cfg), "prometheus: --config.file is not a mounted file"):
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "config", cfg], check=False, capture_output=True, text=True, timeout=30)
            failures.check(p.returncode == 0, f"promtool check config {cfg}:\n{p.stdout}{p.stderr}")
        with open(cfg) as f:
            prom_cfg = yaml.safe_load(f)
        scraped = set()
        for job in prom_cfg.get("scrape_configs", []):
            hosts = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
            hosts += [f"{n}:{sd.get('port')}" for sd in job.get("dns_sd_configs", []) for n in sd.get("names", [])]
            for t in hosts:
                host, _, port = t.rpartition(":")
                if host == "localhost":
                    continue
                svc = services.get(host)
                if not failures.check(svc, f"prometheus job {job['job_name']}: {host} is not a compose service"):
                    continue
                scraped.add(host)
                env = env_of(svc)
                serves = env.get("ALLOT_METRICS_PORT") or env.get("ALLOT_HTTP_PORT")
                failures.check(serves == port, f"prometheus job {job['job_name']}: scrapes {host}:{port}, but {host} "
                                               f"serves /metrics on {serves}")
        for name, svc in built_services.items():
            if name != "topics" and command_words(svc)[:1] != ["allotctl"]:
                failures.check(name in scraped, f"prometheus does not scrape {name}")

    # 7. Kafka alone, and three brokers with the override file.
    kafka_nodes = []
    if dc:
        for files in ([COMPOSE], [COMPOSE, COMPOSE_3BROKERS]):
            label = " + ".join(os.path.basename(f) for f in files)
            cfg, err = merged_config(dc, files)
            if failures.check(cfg, f"{' '.join(dc)} config of {label} failed:\n{err}"):
                kafka_nodes.append(check_kafka_cluster(failures, cfg.get("services", {}), label))
        failures.check(kafka_nodes == [1, 3], f"Kafka nodes {kafka_nodes}: want 1 alone, 3 with the override")
        print(f"kafka: {' and '.join(map(str, kafka_nodes))} node(s), replication as topics.json asks")

    failures.finish(f"{len(services)} services, {n_files} referenced files, {len(used)} allot commands, "
                    f"{len(have_build)} build + {len(have_runtime)} runtime packages checked")


if __name__ == "__main__":
    main()
