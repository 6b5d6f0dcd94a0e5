#!/bin/sh
# The allot image's entrypoint: runs the given command (an allot binary) in place of this shell.
# A processor needs a unique, stable ALLOT_INSTANCE_ID (its transactional id is allot-<id>); replicas
# of `docker compose up --scale processor=N` share one configuration, so unless the id is set, it is
# processor-<hostname>: Docker gives every container its own hostname (its id), kept across restarts,
# so a restarted processor fences its own earlier incarnation.
set -eu
if [ "${1:-}" = allot-processor ]; then
  if [ -z "${ALLOT_INSTANCE_ID:-}" ]; then
    ALLOT_INSTANCE_ID="processor-$(cat /proc/sys/kernel/hostname)"
    export ALLOT_INSTANCE_ID
  fi
  # The RocksDB state lives in the container: a new container restores it from allot.changelog.
  if [ -z "${ALLOT_STATE_DIR:-}" ]; then
    ALLOT_STATE_DIR="/var/lib/allot/$ALLOT_INSTANCE_ID/state"
    export ALLOT_STATE_DIR
  fi
  mkdir -p "$ALLOT_STATE_DIR" # RocksDB creates the last folder only
fi
exec "$@"
