#!/usr/bin/env bash
# dns_bench.sh: the agent's DNS server (src/agent/dns, run as `bench_dns --serve`, one thread as
# in the agent) against dnsmasq serving the same names from a hosts file, over UDP on loopback.
# Each round runs, for each server (kontena first in odd rounds, dnsmasq first in even ones), two
# loads of --duration seconds after a --warmup (bench_dns --load; every answer's id, rcode and
# addresses checked):
#   throughput  closed loop, --window queries outstanding: queries/s (and the latency of a queue)
#   latency     open loop, --rate queries/s paced, below what either server does: p50/p99 of one
#               query (send call to the kernel's receive timestamp of the answer)
# Prints every run, the load average, then per round and as the median of the rounds: queries/s,
# p50/p99, the server's CPU time per answer, and the ratios kontena/dnsmasq (queries/s target
# >= 1, p99 target <= 1; the median of the per-round ratios decides). With 2 or more CPUs both
# servers run on CPU 0 and the load generator on CPU 1 (taskset), the same for both. Everything it
# starts is stopped on exit, by PID. Needs /usr/sbin/dnsmasq (package dnsmasq-base) and python3.
#
#   bench/dns_bench.sh [--build DIR] [--instances N] [--duration S] [--warmup S] [--window W]
#                      [--rate QPS] [--rounds R]
#                      [--no-pin]   (no taskset: the kernel places the processes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
N=1000
DURATION=3
WARMUP=0.5
WINDOW=64
RATE=20000
ROUNDS=5

PIN=1

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --instances) N=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "dns_bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ && $WINDOW =~ ^[1-9][0-9]*$ && $RATE =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] ||
  { echo "dns_bench.sh: --instances, --window, --rate and --rounds take a positive integer" >&2; exit 2; }

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
KONTENA_PID=$!
PIDS+=($KONTENA_PID)
# dnsmasq as fast as it goes for this: no upstream, no logging, a cache larger than the names,
# every name answered from the hosts file (kontena.local is local: never forwarded).
"${SERVER_CPU[@]}" "$DNSMASQ" --no-daemon --no-resolv --no-hosts --addn-hosts="$TMP/hosts" \
  --listen-address=127.0.0.1 --bind-interfaces --port="$DNSMASQ_PORT" --pid-file= \
  --cache-size=10000 --local=/kontena.local/ --local-ttl=5 --dns-forward-max=1000 \
  2>"$TMP/dnsmasq.log" &
DNSMASQ_PID=$!
PIDS+=($DNSMASQ_PID)
wait_answering "$KONTENA_PORT" "bench_dns --serve"
wait_answering "$DNSMASQ_PORT" "dnsmasq"

echo "dns_bench: $N instances ($(( N + N / 2 )) names), ${DURATION}s per run after ${WARMUP}s warm-up," \
  "throughput window $WINDOW, latency rate $RATE/s, $ROUNDS round(s); taskset: ${SERVER_CPU[*]:-no} (servers)," \
  "${LOAD_CPU[*]:-no} (load)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS=$TMP/results
run_load() {  # ROUND SERVER MODE-ARGS...
  local round=$1 which=$2 port=$KONTENA_PORT pid=$KONTENA_PID
  shift 2
  if [[ $which == dnsmasq ]]; then port=$DNSMASQ_PORT pid=$DNSMASQ_PID; fi
  "${LOAD_CPU[@]}" "$BIN" --load "$port" --instances "$N" --duration "$DURATION" --warmup "$WARMUP" \
    --server-pid "$pid" --label "$which" "$@" | sed "s/^/round=$round /" | tee -a "$RESULTS"
}
for round in $(seq 1 "$ROUNDS"); do
  order=(kontena dnsmasq)
  (( round % 2 == 0 )) && order=(dnsmasq kontena)
  for which in "${order[@]}"; do
    run_load "$round" "$which" --window "$WINDOW"
    run_load "$round" "$which" --rate "$RATE"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" <<'PY'
import statistics, sys
runs = {}  # (round, server, mode) -> fields
for line in open(sys.argv[1]):
    words = line.split()
    round_, server = int(words[0].split("=")[1]), words[1]
    f = dict(w.split("=", 1) for w in words[2:])
    runs[(round_, server, f["mode"])] = f
rounds = sorted({r for r, _, _ in runs})
def val(r, s, m, k):
    return float(runs[(r, s, m)][k])
def ratio(r, m, k):
    d = val(r, "dnsmasq", m, k)
    return val(r, "kontena", m, k) / d if d > 0 else float("inf")
med = statistics.median
print("\nper round: throughput = closed loop (window), latency = open loop (rate); us = microseconds")
print(f"{'round':>5} {'k qps':>8} {'d qps':>8} {'ratio':>6} | {'k p50/p99 us':>14} {'d p50/p99 us':>14} {'p99 ratio':>9}"
      f" | {'sat. p99 k/d us':>16} | {'cpu us/q k/d':>12}")
for r in rounds:
    print(f"{r:>5} {val(r,'kontena','window','qps'):>8.0f} {val(r,'dnsmasq','window','qps'):>8.0f}"
          f" {ratio(r,'window','qps'):>6.2f} | {val(r,'kontena','rate','p50_us'):>6.0f}/{val(r,'kontena','rate','p99_us'):<7.0f}"
          f" {val(r,'dnsmasq','rate','p50_us'):>6.0f}/{val(r,'dnsmasq','rate','p99_us'):<7.0f} {ratio(r,'rate','p99_us'):>9.2f}"
          f" | {val(r,'kontena','window','p99_us'):>7.0f}/{val(r,'dnsmasq','window','p99_us'):<8.0f}"
          f" | {val(r,'kontena','rate','server_cpu_us'):>5.1f}/{val(r,'dnsmasq','rate','server_cpu_us'):<5.1f}")
print(f"\nmedian of {len(rounds)} round(s)      kontena    dnsmasq")
for label, m, k in [("throughput queries/s", "window", "qps"), ("throughput p50 us", "window", "p50_us"),
                    ("throughput p99 us", "window", "p99_us"), ("throughput cpu us/query", "window", "server_cpu_us"),
                    ("latency queries/s", "rate", "qps"), ("latency p50 us", "rate", "p50_us"),
                    ("latency p90 us", "rate", "p90_us"), ("latency p99 us", "rate", "p99_us"),
                    ("latency p99.9 us", "rate", "p999_us"), ("latency cpu us/query", "rate", "server_cpu_us")]:
    print(f"{label:<25} {med(val(r,'kontena',m,k) for r in rounds):>10.1f} {med(val(r,'dnsmasq',m,k) for r in rounds):>10.1f}")
bad = sum(int(f[k]) for f in runs.values() for k in ("errors", "timeouts"))
skipped = sum(int(f["skipped"]) for f in runs.values())
q = med(ratio(r, "window", "qps") for r in rounds)
p = med(ratio(r, "rate", "p99_us") for r in rounds)
ps = med(ratio(r, "window", "p99_us") for r in rounds)
print(f"\nerrors+timeouts {bad}; paced sends skipped (the load generator was descheduled) {skipped}")
print(f"kontena/dnsmasq (median of the per-round ratios): queries/s {q:.2f}x (target >= 1: {'PASS' if q >= 1 else 'FAIL'}),"
      f" p99 at the paced rate {p:.2f}x (target <= 1: {'PASS' if p <= 1 else 'FAIL'});"
      f" p99 at saturation {ps:.2f}x")
PY
