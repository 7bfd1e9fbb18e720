#!/usr/bin/env bash
# Builds the weir-broker image (default tag weir-broker:dev) from the release
# binary with no container registry: stages a small root filesystem (the binary,
# the libraries and loader `ldd` lists, glibc's NSS files) in
# target/docker-context and runs `docker build` on that directory only, so
# target/ is never sent to the daemon.
#
#   bash docker/build-image.sh [TAG]      # WEIR_BROKER_BIN overrides the binary
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-${WEIR_IMAGE:-weir-broker:dev}}"
bin="${WEIR_BROKER_BIN:-target/release/weir-broker}"
context=target/docker-context

[[ -x "$bin" ]] || { echo "no $bin: run cargo build --release -p weir-broker" >&2; exit 1; }
command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 1; }

rm -rf "$context"
mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc" "$context/data"
cp docker/Dockerfile "$context/Dockerfile"
printf '*\n!Dockerfile\n!rootfs\n!data\n' > "$context/.dockerignore"

# The binary without its debug info (symbols stay, so backtraces name functions).
strip --strip-debug -o "$context/rootfs/usr/local/bin/weir-broker" "$bin"

# Copies a file to the same path under rootfs, following symlinks.
stage() {
  mkdir -p "$context/rootfs$(dirname "$1")"
  cp -L "$1" "$context/rootfs$1"
}

# Every library and the loader the binary needs, at the paths ldd resolves.
libs_of() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; }
mapfile -t libs < <(libs_of "$bin")
(( ${#libs[@]} > 0 )) || { echo "ldd lists no libraries for $bin (a static binary?)" >&2; exit 1; }
for lib in "${libs[@]}"; do stage "$lib"; done

# Host name lookup (getaddrinfo): glibc reads nsswitch.conf and loads the files
# and dns modules (built into libc since 2.34; the stubs are tiny and keep
# older glibc working), which read the /etc/hosts and /etc/resolv.conf that
# docker mounts into every container.
libc_dir="$(dirname "$(printf '%s\n' "${libs[@]}" | grep '/libc\.so\.' | head -n1)")"
for module in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
  if [[ -e "$libc_dir/$module" ]]; then
    stage "$libc_dir/$module"
    while read -r dep; do stage "$dep"; done < <(libs_of "$libc_dir/$module")
  fi
done
printf 'hosts: files dns\nnetworks: files\n' > "$context/rootfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/sbin/nologin\nweir:x:65532:65532:weir:/var/lib/weir:/sbin/nologin\n' \
  > "$context/rootfs/etc/passwd"
printf 'root:x:0:\nweir:x:65532:\n' > "$context/rootfs/etc/group"

echo "context: $(du -sh "$context" | cut -f1) ($(find "$context/rootfs" -type f | wc -l) files)"
docker build --quiet -t "$tag" "$context" >/dev/null
echo "image $tag: $(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }')"
