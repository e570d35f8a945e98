#!/bin/sh
# Write a .env for compose from .env.example with fresh random secrets (32 hex characters each,
# inside MinIO's 8-40 limit). Refuses to overwrite an existing file.
# Usage: [PUBLIC_HOST=files.example.lan] deploy/make-env.sh [OUTPUT [TEMPLATE]]
#   (defaults: .env and .env.example at the repo root). PUBLIC_HOST, when given, is the name
#   browsers use for this server: the web UI origin and MinIO's public endpoint are set from it.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/.env}
template=${2:-$root/.env.example}
SECRETS="POSTGRES_PASSWORD MINIO_ROOT_PASSWORD MYBOX_S3_SECRET_KEY"
PUBLIC_HOST=${PUBLIC_HOST:-}

if [ -e "$out" ]; then
  echo "make-env: $out already exists; not touching it (delete it first to start over)" >&2
  exit 1
fi

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
umask 077
while IFS= read -r line || [ -n "$line" ]; do
  key=${line%%=*}
  value=${line#*=}
  case " $SECRETS " in
    *" $key "*) [ -n "$value" ] || line="$key=$(random_hex)" ;;
  esac
  if [ -n "$PUBLIC_HOST" ]; then
    case "$key" in
      MYBOX_CORS_ORIGINS) line="$key=http://$PUBLIC_HOST:8000" ;;
      MYBOX_S3_PUBLIC_ENDPOINT) line="$key=http://$PUBLIC_HOST:9000" ;;
    esac
  fi
  printf '%s\n' "$line"
done <"$template" >"$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "make-env: wrote $out with new secrets for: $SECRETS"
if [ -z "$PUBLIC_HOST" ]; then
  echo "make-env: browsers on other machines need this server's name in MYBOX_CORS_ORIGINS and"
  echo "make-env: MYBOX_S3_PUBLIC_ENDPOINT (edit $out, or rerun with PUBLIC_HOST=<name>)"
fi
