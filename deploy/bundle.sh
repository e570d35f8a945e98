#!/usr/bin/env bash
# Offline bundle for air-gapped hosts.
#   bundle.sh save VERSION [DIR]  (online machine) build mybox:VERSION (+ mybox:latest), pull every
#                                 other image compose.yaml names, `docker save` them all into
#                                 DIR/mybox-VERSION-images.tar.gz and write its .sha256 beside it
#   bundle.sh load [FILE]         (air-gapped host) verify FILE against FILE.sha256, then
#                                 `docker load` it; FILE defaults to the newest bundle in dist/
#   bundle.sh images              print the third-party images compose.yaml uses
# PLATFORM=linux/arm64 (for example) bundles for another CPU than this machine's.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-docker}
PLATFORM=${PLATFORM:-}

die() { echo "bundle: $*" >&2; exit 1; }

# Every pinned `image:` in compose.yaml (the ones without a ${variable}: mybox's own is built here).
third_party_images() {
  awk '$1 == "image:" && $2 !~ /\$/ { print $2 }' "$ROOT/compose.yaml" | sort -u
}

save() {
  local version=${1:?usage: bundle.sh save VERSION [DIR]} dir=${2:-$ROOT/dist}
  local platform_args=() images=() out name
  [ -n "$PLATFORM" ] && platform_args=(--platform "$PLATFORM")
  mapfile -t images < <(third_party_images)
  [ "${#images[@]}" -gt 0 ] || die "no pinned images found in compose.yaml"
  mkdir -p "$dir"
  name="mybox-$version-images.tar.gz"
  out="$dir/$name"

  echo "bundle: building mybox:$version"
  "$DOCKER" build "${platform_args[@]}" -f "$ROOT/deploy/Dockerfile" -t "mybox:$version" -t mybox:latest "$ROOT"
  for image in "${images[@]}"; do
    echo "bundle: pulling $image"
    "$DOCKER" pull "${platform_args[@]}" "$image"
  done
  echo "bundle: saving ${#images[@]} images + mybox:$version into $out"
  "$DOCKER" save "mybox:$version" mybox:latest "${images[@]}" | gzip -1 >"$out.partial"
  mv "$out.partial" "$out"
  (cd "$dir" && sha256sum "$name" >"$name.sha256")
  echo "bundle: done: $out ($(du -h "$out" | cut -f1)) and $name.sha256"
  echo "bundle: copy both, with this repository (compose.yaml, .env.example, deploy/), to the host"
}

load() {
  local file=${1:-}
  if [ -z "$file" ]; then # the newest bundle in dist/
    for candidate in "$ROOT"/dist/mybox-*-images.tar.gz; do
      [ -e "$candidate" ] || continue
      if [ -z "$file" ] || [ "$candidate" -nt "$file" ]; then file=$candidate; fi
    done
    [ -n "$file" ] || die "no bundle given and none in $ROOT/dist (usage: bundle.sh load FILE)"
  fi
  [ -f "$file" ] || die "$file: no such file"
  [ -f "$file.sha256" ] || die "$file.sha256 is missing: copy it with the bundle"
  echo "bundle: checking $file"
  (cd "$(dirname "$file")" && sha256sum --check --strict "$(basename "$file").sha256") \
    || die "checksum mismatch: $file is damaged or incomplete; copy it again"
  "$DOCKER" load -i "$file"
  echo "bundle: loaded; next: docker compose up -d --wait"
}

case "${1:-}" in
  save) shift; save "$@" ;;
  load) shift; load "$@" ;;
  images) third_party_images ;;
  *) echo "usage: $0 save VERSION [DIR] | load [FILE] | images" >&2; exit 2 ;;
esac
