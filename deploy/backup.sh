#!/usr/bin/env bash
# Backup and restore of a compose deployment: the database with pg_dump, the buckets with
# `mc mirror` (run in the stack's own mc image, so it works air-gapped).
#   backup.sh backup [DIR]   DIR/mybox-<UTC time>.pgdump, and DIR/objects/<bucket>/ mirrored
#                            incrementally (reuse one DIR: later runs copy only what is new)
#   backup.sh restore DIR [DUMP]   stop api/worker/proxy, restore DUMP (default: the newest in DIR)
#                            and the objects, start everything again
# Run from the repository root with the stack up (`docker compose up -d --wait`).
# STOP=1 with backup stops api/worker/proxy during it, for a snapshot with no upload in between.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-docker}
STOP=${STOP:-0}
APP=(api worker proxy)

die() { echo "backup: $*" >&2; exit 1; }
compose() { "$DOCKER" compose --project-directory "$ROOT" "$@"; }

mirror() { # backup|restore DIR
  compose run --rm --no-deps -T -v "$2:/backup" -v "$ROOT/deploy/mc-mirror.sh:/mc-mirror.sh:ro" \
    --entrypoint /bin/sh minio-init /mc-mirror.sh "$1"
}

backup() {
  local dir=${1:-$ROOT/backups} dump
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  dump="$dir/mybox-$(date -u +%Y%m%dT%H%M%SZ).pgdump"
  if [ "$STOP" = 1 ]; then compose stop "${APP[@]}"; fi
  # the database first: objects uploaded meanwhile are only extra, never missing
  echo "backup: database -> $dump"
  compose exec -T postgres pg_dump -U mybox -d mybox --format=custom >"$dump.partial"
  mv "$dump.partial" "$dump"
  echo "backup: buckets -> $dir/objects/"
  mirror backup "$dir"
  if [ "$STOP" = 1 ]; then compose up -d --wait; fi
  echo "backup: done: $dump and $dir/objects/"
}

restore() {
  local dir=${1:?usage: backup.sh restore DIR [DUMP]} dump=${2:-} candidate
  dir=$(cd "$dir" && pwd) || die "no such directory"
  if [ -z "$dump" ]; then
    for candidate in "$dir"/mybox-*.pgdump; do
      [ -e "$candidate" ] || continue
      if [ -z "$dump" ] || [ "$candidate" -nt "$dump" ]; then dump=$candidate; fi
    done
  fi
  [ -n "$dump" ] && [ -f "$dump" ] || die "no database dump (mybox-*.pgdump) in $dir"
  echo "backup: stopping ${APP[*]}"
  compose stop "${APP[@]}"
  echo "backup: restoring the database from $dump"
  compose exec -T postgres pg_restore -U mybox -d mybox --clean --if-exists --no-owner --single-transaction <"$dump"
  echo "backup: restoring the buckets from $dir/objects/"
  mirror restore "$dir"
  compose up -d --wait
  echo "backup: restored"
}

case "${1:-}" in
  backup) shift; backup "$@" ;;
  restore) shift; restore "$@" ;;
  *) echo "usage: $0 backup [DIR] | restore DIR [DUMP]" >&2; exit 2 ;;
esac
