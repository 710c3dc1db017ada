#!/bin/bash
# bench/image: wall time of `ltsp-ts image` (overlay mounts, cleanup, mksquashfs, renames,
# kernel extraction) against the bare mksquashfs command LTSP runs, on the same tree, in
# the same run, alternating, ROUNDS times each, warm page cache; prints the median wall
# time and CPU time (user+sys, children included) of each and the ratios.
#   sudo bench/image.sh [TREE_SOURCE_DIR] [ROUNDS]
# The tree is a chroot-like copy of TREE_SOURCE_DIR (default /usr/share/locale, ~190 MiB
# of real files) plus proc/, a kernel and a few files for cleanup. Needs root (mounts).
# On a shared 2-core machine the wall times swing with other load; CPU time does not.
set -euo pipefail
SRC=${1:-/usr/share/locale}
ROUNDS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "bench/image: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
[ -f dist/src/cli/main.js ] || npx tsc -p .
WORK=$(mktemp -d /tmp/im-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
BASE=$WORK/base; TREE=$BASE/chr
mkdir -p "$TREE"/{proc,sys,dev,tmp,etc,boot,var/log,usr}
cp -a "$SRC" "$TREE/usr/"
printf 'root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n' > "$TREE/etc/passwd"
printf 'root:x:0:\nu:x:1000:\n' > "$TREE/etc/group"
echo log > "$TREE/var/log/syslog"
head -c 8M /dev/urandom > "$TREE/boot/vmlinuz-6.1.0-10-amd64"
head -c 30M /dev/urandom > "$TREE/boot/initrd.img-6.1.0-10-amd64"
EXCL=$PWD/src/image/image.excludes
PARAMS=(-comp gzip)
echo "tree: $(du -sh "$TREE" | cut -f1) from $SRC, $(find "$TREE" | wc -l) entries; mksquashfs $(mksquashfs -version | head -1 | cut -d' ' -f3); $(nproc) cores"
# Warm the page cache once so that neither side pays for the first read.
mksquashfs "$TREE" "$WORK/warm.img" -noappend -quiet >/dev/null; rm -f "$WORK/warm.img"
bare=(); ours=(); bcpu=(); ocpu=()
for i in $(seq "$ROUNDS"); do
  /usr/bin/time -o "$WORK/t" -f '%e %U %S' nice ionice -c3 mksquashfs "$TREE" "$WORK/bare.img" -noappend -wildcards -ef "$EXCL" "${PARAMS[@]}" >/dev/null
  read -r w c < <(awk '{print $1, $2 + $3}' "$WORK/t")
  bare+=("$w"); bcpu+=("$c")
  /usr/bin/time -o "$WORK/t" -f '%e %U %S' node bin/ltsp-ts.js image --base-dir "$BASE" --tftp-dir "$WORK/tftp" --log-level warn -m "${PARAMS[*]}" chr >/dev/null
  read -r w c < <(awk '{print $1, $2 + $3}' "$WORK/t")
  ours+=("$w"); ocpu+=("$c")
  echo "round $i: mksquashfs ${bare[-1]} s wall ${bcpu[-1]} s cpu | ltsp-ts image ${ours[-1]} s wall ${ocpu[-1]} s cpu"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mb=$(median "${bare[@]}"); mo=$(median "${ours[@]}"); cb=$(median "${bcpu[@]}"); co=$(median "${ocpu[@]}")
echo "median wall: mksquashfs $mb s, ltsp-ts image $mo s, ratio $(echo "scale=3; $mo / $mb" | bc)x (target <= 1.03x)"
echo "median cpu:  mksquashfs $cb s, ltsp-ts image $co s, ratio $(echo "scale=3; $co / $cb" | bc)x"
echo "image sizes: bare $(stat -c %s "$WORK/bare.img"), ltsp-ts $(stat -c %s "$BASE/images/chr.img") bytes"
