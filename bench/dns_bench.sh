#!/usr/bin/env bash
# dns_bench.sh: the agent's DNS server (src/agent/dns, run as `bench_dns --serve`, one thread as
# in the agent) against dnsmasq serving the same names from a hosts file, over UDP on loopback.
# The same load (bench_dns --load: A queries for the known names, a fixed window of outstanding
# queries, every answer's id, rcode and addresses checked) runs against each for --duration
# seconds, alternated --rounds times; prints each run, the means, and the ratios kontena/dnsmasq
# for queries/s and p99 latency. Target: at least equal to dnsmasq. With 2 or more CPUs the
# servers run on CPU 0 and the load generator on CPU 1 (taskset). Everything it starts is
# stopped on exit, by PID. Needs /usr/sbin/dnsmasq (package dnsmasq-base).
#
#   bench/dns_bench.sh [--build DIR] [--instances N] [--duration S] [--window W] [--rounds R]
#                      [--no-pin]   (no taskset: the kernel places the processes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
N=1000
DURATION=5
WINDOW=64
ROUNDS=2

PIN=1

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --instances) N=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "dns_bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ && $WINDOW =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] ||
  { echo "dns_bench.sh: --instances, --window and --rounds take a positive integer" >&2; exit 2; }

BIN=$BUILD/bench/bench_dns
[[ -x $BIN ]] || { echo "dns_bench.sh: $BIN is missing; build it: scripts/build.sh bench_dns" >&2; exit 1; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[[ -x $DNSMASQ ]] || { echo "dns_bench.sh: dnsmasq is not installed (apt-get install dnsmasq-base)" >&2; exit 1; }

SERVER_CPU=() LOAD_CPU=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
  SERVER_CPU=(taskset -c 0)
  LOAD_CPU=(taskset -c 1)
fi

TMP=$(mktemp -d)
chmod 755 "$TMP"  # dnsmasq reads the hosts file after dropping to user nobody
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_answering() {  # PORT NAME
  for _ in $(seq 1 100); do
    "$BIN" --check "$1" --instances "$N" && return 0
    sleep 0.1
  done
  echo "dns_bench.sh: $2 does not answer on 127.0.0.1:$1" >&2
  exit 1
}

"$BIN" --write-hosts "$TMP/hosts" --instances "$N"
chmod 644 "$TMP/hosts"
KONTENA_PORT=$(free_port)
DNSMASQ_PORT=$(free_port)
while [[ $DNSMASQ_PORT == "$KONTENA_PORT" ]]; do DNSMASQ_PORT=$(free_port); done

"${SERVER_CPU[@]}" "$BIN" --serve "$KONTENA_PORT" --instances "$N" 2>"$TMP/kontena.log" &
PIDS+=($!)
# dnsmasq as fast as it goes for this: no upstream, no logging, a cache larger than the names,
# every name answered from the hosts file (kontena.local is local: never forwarded).
"${SERVER_CPU[@]}" "$DNSMASQ" --no-daemon --no-resolv --no-hosts --addn-hosts="$TMP/hosts" \
  --listen-address=127.0.0.1 --bind-interfaces --port="$DNSMASQ_PORT" --pid-file= \
  --cache-size=10000 --local=/kontena.local/ --local-ttl=5 --dns-forward-max=1000 \
  2>"$TMP/dnsmasq.log" &
PIDS+=($!)
wait_answering "$KONTENA_PORT" "bench_dns --serve"
wait_answering "$DNSMASQ_PORT" "dnsmasq"

echo "dns_bench: $N instances ($(( N + N / 2 )) names), window $WINDOW, ${DURATION}s per run, $ROUNDS round(s); taskset: ${SERVER_CPU[*]:-no}"
RESULTS=$TMP/results
for round in $(seq 1 "$ROUNDS"); do
  for which in kontena dnsmasq; do
    port=$KONTENA_PORT
    [[ $which == dnsmasq ]] && port=$DNSMASQ_PORT
    "${LOAD_CPU[@]}" "$BIN" --load "$port" --instances "$N" --duration "$DURATION" --window "$WINDOW" \
      --label "$which" | tee -a "$RESULTS"
  done
done

awk '
  { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] += kv[2] } runs[$1]++ }
  END {
    printf "\n%-8s %12s %10s %10s %8s %9s\n", "server", "queries/s", "p50 us", "p99 us", "errors", "timeouts"
    for (s = 1; s <= 2; s++) {
      name = (s == 1) ? "kontena" : "dnsmasq"
      n = runs[name]
      printf "%-8s %12.0f %10.0f %10.0f %8d %9d\n", name, v[name, "qps"] / n, v[name, "p50_us"] / n,
             v[name, "p99_us"] / n, v[name, "errors"], v[name, "timeouts"]
    }
    qk = v["kontena", "qps"] / runs["kontena"]; qd = v["dnsmasq", "qps"] / runs["dnsmasq"]
    pk = v["kontena", "p99_us"] / runs["kontena"]; pd = v["dnsmasq", "p99_us"] / runs["dnsmasq"]
    printf "\nkontena/dnsmasq: queries/s %.2fx (target >= 1), p99 latency %.2fx (target <= 1)\n",
           (qd > 0 ? qk / qd : 0), (pd > 0 ? pk / pd : 0)
  }' "$RESULTS"
