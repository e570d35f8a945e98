#!/bin/sh
# Copies mybox's buckets to or from /backup/objects/<bucket> with `mc mirror`. Run by
# deploy/backup.sh inside the minio-init service's container (mc image, root credentials in env).
# Usage: mc-mirror.sh backup|restore
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
direction=${1:?usage: mc-mirror.sh backup|restore}
buckets=${MYBOX_S3_BUCKET:-mybox}
if [ -z "${MYBOX_S3_COLD_ENDPOINT:-}" ]; then
  buckets="$buckets ${MYBOX_S3_COLD_BUCKET:-mybox-cold}"
else
  echo "mc-mirror: the cold tier is on $MYBOX_S3_COLD_ENDPOINT: back it up there" >&2
fi

mc alias set src "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
for bucket in $buckets; do
  case "$direction" in
    # never --remove: objects deleted since an earlier run stay in the backup
    backup) mc mirror --overwrite "src/$bucket" "/backup/objects/$bucket" ;;
    restore) mc mb --ignore-existing "src/$bucket" && mc mirror --overwrite "/backup/objects/$bucket" "src/$bucket" ;;
    *) echo "mc-mirror: unknown direction $direction" >&2; exit 2 ;;
  esac
done
