# shellcheck shell=bash
# Sourced by bench/run-experiment and bench/soak: the Python venv their reports draw charts with
# (matplotlib at a pinned version, installed once under ~/.cache/allot/bench-venv).
MATPLOTLIB_VERSION=3.10.9
venv="${ALLOT_BENCH_VENV:-$HOME/.cache/allot/bench-venv}"

ensure_venv() {
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import matplotlib, sys; sys.exit(matplotlib.__version__ != '$MATPLOTLIB_VERSION')" 2>/dev/null; then
    echo "bench: installing matplotlib==$MATPLOTLIB_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "matplotlib==$MATPLOTLIB_VERSION"
  fi
}
