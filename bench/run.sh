#!/usr/bin/env bash
# Builds build/ (scripts/build.sh) and runs every benchmark. Arguments go to bench_api
# (see bench/README.md or build/bench/bench_api --help). Not part of the test suite.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh" kontena-server bench_api
echo
echo "==== bench_api: master memory, GET /v1/grids latency and throughput, grid create ===="
"$ROOT/build/bench/bench_api" --server "$ROOT/build/src/master/kontena-server" "$@"
