#!/bin/sh
# One-shot MinIO setup for compose.yaml, run in the minio/mc image (which has no grep or sed:
# shell built-ins and mc only). Idempotent: safe on every `docker compose up`.
#  - the hot bucket and, unless the cold tier lives on another endpoint, the cold bucket;
#  - mybox's own S3 user with the built-in readwrite policy, so the app never holds the root key.
# CORS: community MinIO rejects per-bucket CORS (NotImplemented); compose.yaml allows the web
# UI's origins server-wide with MINIO_API_CORS_ALLOW_ORIGIN instead.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${MYBOX_S3_ACCESS_KEY:?}" "${MYBOX_S3_SECRET_KEY:?}"
MINIO_URL=${MINIO_URL:-http://minio:9000}
HOT_BUCKET=${MYBOX_S3_BUCKET:-mybox}
COLD_BUCKET=${MYBOX_S3_COLD_BUCKET:-mybox-cold}

log() { echo "minio-init: $*"; }

tries=0
until mc alias set mybox "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    log "MinIO at $MINIO_URL did not accept the root credentials" >&2
    exit 1
  fi
  sleep 2
done

mc mb --ignore-existing "mybox/$HOT_BUCKET"
if [ -z "${MYBOX_S3_COLD_ENDPOINT:-}" ]; then
  mc mb --ignore-existing "mybox/$COLD_BUCKET"
else
  log "cold tier is on $MYBOX_S3_COLD_ENDPOINT: not creating $COLD_BUCKET here"
fi

if [ "$MYBOX_S3_ACCESS_KEY" = "$MINIO_ROOT_USER" ]; then
  log "MYBOX_S3_ACCESS_KEY is the root user: no separate user made"
else
  # adding an existing user updates its secret key, so a changed .env takes effect
  mc admin user add mybox "$MYBOX_S3_ACCESS_KEY" "$MYBOX_S3_SECRET_KEY"
  # attaching a policy twice is an error ("already in effect"): look first
  info=$(mc admin user info mybox "$MYBOX_S3_ACCESS_KEY")
  case "$info" in
    *readwrite*) log "user $MYBOX_S3_ACCESS_KEY already has the readwrite policy" ;;
    *) mc admin policy attach mybox readwrite --user "$MYBOX_S3_ACCESS_KEY" ;;
  esac
fi
log "ready: buckets $HOT_BUCKET, $COLD_BUCKET; user $MYBOX_S3_ACCESS_KEY"
