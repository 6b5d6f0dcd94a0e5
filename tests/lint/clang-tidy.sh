#!/usr/bin/env bash
# Runs clang-tidy with the repo's .clang-tidy over every project .cc file in the build's
# compile_commands.json (generated files under the build folder left out) and fails on any finding.
#   tests/lint/clang-tidy.sh [build-dir] [source-dir]     (ctest runs it as Lint.ClangTidy)
# A missing clang-tidy fails: the check never skips quietly (scripts/setup installs it).
set -euo pipefail
src="$(cd "${2:-$(dirname "$0")/../..}" && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
jobs="${ALLOT_LINT_JOBS:-2}"

runner="$(command -v run-clang-tidy || command -v run-clang-tidy-14 || true)"
tidy="$(command -v clang-tidy || command -v clang-tidy-14 || true)"
if [ -z "$runner" ] || [ -z "$tidy" ]; then
  echo "clang-tidy / run-clang-tidy not found: run scripts/setup (Debian package clang-tidy)" >&2
  exit 1
fi
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: configure with cmake first" >&2; exit 1; }

# Files are a regex on the absolute paths of compile_commands.json: our sources, not the build folder.
files="^$(printf '%s' "$src" | sed 's/[][\.*^$+?(){}|]/\\&/g')/(?!build)[^/]+/.*\.cc$"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
"$runner" -clang-tidy-binary "$tidy" -p "$build" -j "$jobs" -quiet "$files" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$out" ||
  status=$?
# Only the findings (and their notes), not the command lines or the "N warnings generated" chatter;
# a header's finding comes once per file that includes it, so each line is printed once.
grep -E '(warning|error): |note: ' "$out" | awk '!seen[$0]++' || true
findings="$(grep -E '(warning|error): ' "$out" | sort -u | grep -c . || true)"
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  echo "clang-tidy: $findings findings (exit $status); see .clang-tidy for the checks" >&2
  [ "$findings" -ne 0 ] || tail -20 "$out" >&2
  exit 1
fi
echo "clang-tidy: clean"
