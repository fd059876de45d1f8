#!/usr/bin/env bash
# images/web/build.sh: builds the local image `local/web` (no registry, no Dockerfile, no pull):
# a rootfs made of the static busybox (Debian busybox-static), a link per applet, /www/index.html
# and /bin/serve as PID 1, imported with `docker import`. Used by the stack e2e tests, the deploy
# benchmark and the demo stack of scripts/up.sh.
#
#   images/web/build.sh [-H DOCKER_HOST] [-t TAG] [--text TEXT]
#     -H       the engine to import into (default: $DOCKER_HOST, else the docker CLI's default)
#     -t       image name and tag (default local/web:latest)
#     --text   the content of /www/index.html (default "web TAG")
#
# The container: `/bin/serve [web|idle]` (CMD ["/bin/serve","web"]).
#   web   busybox httpd in the foreground on $PORT (8080), serving /www
#   idle  sleeps
# Either way it prints one line ("serve: web on port 8080") and exits 0 at once on SIGTERM or
# SIGINT (busybox httpd and sleep as PID 1 would ignore SIGTERM and wait for the stop timeout).
set -euo pipefail

HOST=${DOCKER_HOST:-} TAG=local/web:latest TEXT=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -H) HOST=$2; shift 2 ;;
    -t) TAG=$2; shift 2 ;;
    --text) TEXT=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "images/web/build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n $TEXT ]] || TEXT="web ${TAG##*:}"
BB=${BUSYBOX:-/usr/bin/busybox}
lddout=$(LC_ALL=C ldd "$BB" 2>&1 || true)
if [[ ! -x $BB || ( $lddout != *"not a dynamic executable"* && $lddout != *"statically linked"* ) ]]; then
  echo "images/web/build.sh: $BB is not a static busybox: apt-get install busybox-static" >&2
  exit 1
fi
docker=(docker)
[[ -z $HOST ]] || docker+=(-H "$HOST")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kontena-web-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
r=$tmp/rootfs
mkdir -p "$r"/{bin,etc,root,tmp,var/tmp,usr,proc,sys,dev,www}
chmod 1777 "$r/tmp" "$r/var/tmp"
cp "$BB" "$r/bin/busybox"
ln -s bin "$r/sbin"
ln -s ../bin "$r/usr/bin"
ln -s ../bin "$r/usr/sbin"
for a in $("$BB" --list); do
  [[ $a == busybox || $a == */* || -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
printf '%s\n' "$TEXT" >"$r/www/index.html"
cat >"$r/bin/serve" <<'SH'
#!/bin/sh
# PID 1 of local/web (images/web/build.sh): serve [web|idle]; exits 0 on SIGTERM/SIGINT.
trap 'exit 0' TERM INT
mode=${1:-web}
case "$mode" in
  web) echo "serve: web on port ${PORT:-8080}"; httpd -f -p "${PORT:-8080}" -h /www & ;;
  idle) echo "serve: idle"; sleep 2147483647 & ;;
  *) echo "serve: unknown mode '$mode' (web or idle)" >&2; exit 2 ;;
esac
wait
SH
chmod 755 "$r/bin/serve"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$r" -c . |
  timeout 120 "${docker[@]}" import -c 'CMD ["/bin/serve","web"]' -c 'EXPOSE 8080' - "$TAG" >/dev/null
echo "images/web/build.sh: built $TAG${HOST:+ on $HOST}"
