#!/usr/bin/env bash
# Builds the sandbox image (causeway-sandbox:latest) without any image registry:
#   1. debootstrap a minimal Debian with git and ca-certificates from the Debian mirror apt already uses,
#   2. `docker import` that root filesystem as causeway-sandbox-base:latest,
#   3. `docker build` Dockerfile.offline on top of it (the same user steps as Dockerfile).
# The root filesystem tarball is cached, so a rebuild only re-imports and re-runs step 3.
#
# Usage: build-offline.sh [--force] [--refresh-rootfs]
#   --force           rebuild the image even when it already exists
#   --refresh-rootfs  debootstrap again instead of using the cached tarball (implies --force)
# Environment:
#   CAUSEWAY_SANDBOX_IMAGE       image to produce          (default causeway-sandbox:latest)
#   CAUSEWAY_SANDBOX_BASE_IMAGE  intermediate base image   (default causeway-sandbox-base:latest)
#   CAUSEWAY_SANDBOX_CACHE_DIR   rootfs tarball cache      (default /var/cache/causeway-sandbox)
#   CAUSEWAY_SANDBOX_SUITE       Debian suite              (default bookworm)
#   CAUSEWAY_SANDBOX_MIRROR      Debian mirror URL         (default: read from apt's sources)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="${CAUSEWAY_SANDBOX_IMAGE:-causeway-sandbox:latest}"
base_image="${CAUSEWAY_SANDBOX_BASE_IMAGE:-causeway-sandbox-base:latest}"
cache_dir="${CAUSEWAY_SANDBOX_CACHE_DIR:-/var/cache/causeway-sandbox}"
suite="${CAUSEWAY_SANDBOX_SUITE:-bookworm}"
packages="git,ca-certificates"

force=0
refresh_rootfs=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --refresh-rootfs) force=1; refresh_rootfs=1 ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-offline.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[build-offline] %s\n' "$*" >&2; }
die() { printf '[build-offline] ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker CLI is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image already exists; nothing to do (use --force to rebuild)"
  exit 0
fi

# Prints the first enabled Debian mirror URI that serves "$suite", from apt's one-line (.list) and
# deb822 (.sources) files. Files apt ignores (*.disabled, *.save, ...) are ignored here too.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      /^[[:space:]]*deb[[:space:]]/ {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (!done && uris != "" && enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
          split(uris, u, " "); print u[1]; done = 1
        }
        types = ""; uris = ""; suites = ""; enabled = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      {
        key = tolower($1); value = $0; sub(/^[^:]*:[[:space:]]*/, "", value)
        if (key == "types:") types = value
        else if (key == "uris:") uris = value
        else if (key == "suites:") suites = value
        else if (key == "enabled:") enabled = tolower(value)
      }
      END { flush() }' "$f"
  done
}

arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
tarball="$cache_dir/rootfs-$suite-minbase-${packages//,/-}-$arch.tar"
mkdir -p "$cache_dir"

if [ "$refresh_rootfs" = 1 ] || [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
  mirror="${CAUSEWAY_SANDBOX_MIRROR:-$(apt_mirror | head -n1)}"
  [ -n "$mirror" ] || die "no Debian mirror for '$suite' found in apt's sources; set CAUSEWAY_SANDBOX_MIRROR"
  keyring_args=()
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
    keyring_args=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)

  work="$(mktemp -d "$cache_dir/work.XXXXXX")"
  cleanup() {
    local m
    # debootstrap mounts these inside the target; a failed run can leave them behind.
    for m in dev/pts dev proc sys; do umount -l "$work/rootfs/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
  }
  trap cleanup EXIT

  log "debootstrap $suite (minbase + $packages) from $mirror"
  debootstrap --variant=minbase --include="$packages" "${keyring_args[@]}" \
    "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 40 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

  # Nothing host-specific or only useful to apt goes into the image.
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/info/* \
    "$work/rootfs"/var/log/* "$work/rootfs"/tmp/* "$work/rootfs"/var/tmp/*
  : >"$work/rootfs/etc/resolv.conf"
  : >"$work/rootfs/etc/machine-id"
  printf 'sandbox\n' >"$work/rootfs/etc/hostname"

  tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
  mv -f "$work/rootfs.tar" "$tarball"
  log "cached root filesystem at $tarball ($(du -h "$tarball" | cut -f1))"
else
  log "using the cached root filesystem $tarball"
fi

# Ids of what a --force rebuild replaces, removed at the end so rebuilds do not pile up dangling images.
old_ids="$(docker image inspect -f '{{.Id}}' "$image" "$base_image" 2>/dev/null || true)"

log "docker import -> $base_image"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --message "debootstrap $suite minbase + $packages" \
  "$tarball" "$base_image" >/dev/null

# The legacy builder needs no registry and no buildx plugin; BuildKit is used when buildx is there.
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi

log "docker build -> $image"
docker build --quiet --pull=false \
  --build-arg "BASE_IMAGE=$base_image" \
  --label "causeway.sandbox-image=offline" \
  -f "$here/Dockerfile.offline" -t "$image" "$here" >/dev/null

# Fail here rather than in the first sandbox: git must run as uid 10001 with no network.
uid="$(docker run --rm --network none "$image" id -u)"
[ "$uid" = 10001 ] || die "$image runs as uid $uid, expected 10001"
docker run --rm --network none "$image" git --version >/dev/null || die "git does not run in $image"
new_ids=" $(docker image inspect -f '{{.Id}}' "$image" "$base_image" | tr '\n' ' ') "
for id in $old_ids; do
  # An image still used by a running sandbox stays; the reaper's removal frees it later.
  case "$new_ids" in *" $id "*) ;; *) docker image rm "$id" >/dev/null 2>&1 || true ;; esac
done
log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
