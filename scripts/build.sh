#!/usr/bin/env bash
# Configures and builds Kontena/C++ with CMake + Ninja.
#
#   scripts/build.sh                      build/       (RelWithDebInfo): everything
#   scripts/build.sh --sanitize           build-asan/  (Debug + ASan + UBSan): everything
#   scripts/build.sh [--sanitize] TARGET...   only the given targets
#
# Parallelism: nproc (override with env JOBS).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-$(nproc)}

sanitize=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done

if [[ $sanitize -eq 1 ]]; then
  BUILD_DIR="$ROOT/build-asan"
  # Debug-level optimisation keeps sanitizer builds fast to compile and stack traces exact.
  CONFIG=(-DCMAKE_BUILD_TYPE=Debug -DKONTENA_SANITIZE=ON)
else
  BUILD_DIR="$ROOT/build"
  CONFIG=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKONTENA_SANITIZE=OFF)
fi

# (Re)configure when the tree has never been configured with Ninja, or the settings changed.
stamp="$BUILD_DIR/.kontena-config"
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build.sh: $BUILD_DIR was configured with another generator; starting it afresh" >&2
  rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
fi
want="${CONFIG[*]}"
if [[ ! -f "$BUILD_DIR/build.ninja" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja "${CONFIG[@]}"
  printf '%s' "$want" >"$stamp"
fi

cmake --build "$BUILD_DIR" --parallel "$JOBS" ${targets[@]+--target "${targets[@]}"}
