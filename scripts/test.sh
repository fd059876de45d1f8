#!/usr/bin/env bash
# THE test command of Kontena/C++ (.ci/run calls exactly this):
#   1. scripts/setup.sh                          Debian packages (no-op when all are there)
#   2. scripts/build.sh e2e_deps                 build/      RelWithDebInfo: the binaries
#   3. scripts/build.sh --sanitize unit_tests    build-asan/ ASan + UBSan: the unit test programs
#   4. ctest in build/       the end-to-end tests (label `e2e`) against the real binaries
#   5. ctest in build-asan/  the unit tests (label `unit`) under ASan + UBSan (+ LeakSanitizer)
# and prints a closing line `N passed, M failed` (over both ctest runs). Exit 0 only if all passed.
# Each unit test is compiled and run once, in the sanitizer tree (compile time dominates).
#
# For development:  scripts/test.sh [--no-sanitize] [-- EXTRA CTEST ARGS]   e.g.  -- -R Grid
#   --no-sanitize: no build-asan/; unit and e2e tests both built and run in build/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
JOBS=${JOBS:-$(nproc)}

sanitize=1
ctest_extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-sanitize) sanitize=0; shift ;;
    --) shift; ctest_extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

t0=$SECONDS
phase() { printf '\n==> [%4ds] %s\n' "$((SECONDS - t0))" "$*"; }

passed=0
failed=0
# Where each failed test failed, and the end of its output, repeated at the very end: CI keeps only the
# head and tail of a long run, and the reason a test failed is otherwise lost in the middle.
failure_excerpts=()
# note_failures LOG DIR: for each test LOG (ctest's output) lists as failed, the tail of its output
# in DIR's LastTest.log.
note_failures() {
  local log=$1 dir=$2 last="$2/Testing/Temporary/LastTest.log" name
  [[ -f "$last" ]] || return 0
  for name in $(awk '/^The following tests FAILED:/ { on = 1; next }
                     on && /^[[:space:]]+[0-9]+ - / { print $3; next }
                     on { exit }' "$log"); do
    local out
    out=$(awk -v t="$name" '
      $0 ~ "^\"" t "\" start time:" { want = 1; next }
      want && /^<end of output>/ { exit }
      want && started { print }
      want && /^--------------------+$/ { started = 1 }
    ' "$last")
    failure_excerpts+=("$(
      # The assertion that failed (e2e: "FAIL file:line: what", gtest: "Failure") with what follows
      # it, then the end (an e2e test ends with the tails of its master and agent logs).
      printf -- '--- %s (%s): where it failed\n' "$name" "$dir"
      grep -n -E -A 25 '^FAIL |Failure$|^\[  FAILED  \]|ERROR: AddressSanitizer|runtime error:' <<<"$out" | head -n 80
      printf -- '--- %s: the last 40 lines of its output\n' "$name"
      tail -n 40 <<<"$out"
    )")
  done
}
finish() {
  if [[ ${#failure_excerpts[@]} -gt 0 ]]; then
    phase "failed tests: the end of their output"
    printf '%s\n' "${failure_excerpts[@]}"
  fi
  phase "done"
  printf '%d passed, %d failed\n' "$passed" "$failed"
  [[ $failed -eq 0 && $passed -gt 0 ]] && exit 0
  exit 1
}
# A step that fails before any test ran counts as one failure.
die() {
  echo "test.sh: $*" >&2
  failed=$((failed + 1))
  finish
}

phase "setup (Debian packages)"
bash scripts/setup.sh || die "scripts/setup.sh failed"

if [[ $sanitize -eq 1 ]]; then
  phase "build: build/ (RelWithDebInfo), the binaries the e2e tests run"
  bash scripts/build.sh e2e_deps || die "build of build/ failed"
  phase "build: build-asan/ (ASan + UBSan), the unit tests"
  bash scripts/build.sh --sanitize unit_tests || die "build of build-asan/ failed"
else
  phase "build: build/ (RelWithDebInfo), the binaries and the unit tests"
  bash scripts/build.sh e2e_deps unit_tests || die "build of build/ failed"
fi

# run_ctest DIR ARGS...: runs ctest in the build tree DIR (its output also in DIR/Testing/test-sh.log),
# adds its counts to passed/failed and notes where its failed tests failed.
run_ctest() {
  local dir=$1
  shift
  local log="$ROOT/$dir/Testing/test-sh.log" rc=0
  mkdir -p "$ROOT/$dir/Testing"
  ctest --output-on-failure --no-tests=error -j "$JOBS" --test-dir "$dir" "$@" ${ctest_extra[@]+"${ctest_extra[@]}"} 2>&1 |
    tee "$log" || rc=$?
  # ctest's summary: "95% tests passed, 1 tests failed out of 20"
  local summary
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [[ -n "$summary" ]]; then
    local f total
    f=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
    total=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")
    passed=$((passed + total - f))
    failed=$((failed + f))
    if [[ $rc -ne 0 && $f -eq 0 ]]; then failed=$((failed + 1)); fi
  else
    echo "test.sh: ctest --test-dir $dir $* ran no test or did not finish (exit $rc)" >&2
    failed=$((failed + 1))
  fi
  note_failures "$log" "$dir"
}

if [[ $sanitize -eq 1 ]]; then
  phase "tests: build/ (e2e)"
  run_ctest build -L e2e
else
  phase "tests: build/ (unit + e2e)"
  run_ctest build
fi

if [[ $sanitize -eq 1 ]]; then
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if [[ -z "${ASAN_OPTIONS:-}" ]]; then
    ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1
    # LeakSanitizer cannot run everywhere (e.g. under ptrace): probe with one unit test binary.
    probe=$(find build-asan/tests/unit -type f -perm -u+x -name 'unit_*' 2>/dev/null | head -n 1)
    if [[ -n "$probe" ]] &&
       ASAN_OPTIONS=$ASAN_OPTIONS "$probe" --gtest_list_tests 2>&1 >/dev/null |
         grep -q -E 'LeakSanitizer (has encountered a fatal error|does not work under ptrace)'; then
      echo "test.sh: LeakSanitizer does not work on this machine: running without leak detection" >&2
      ASAN_OPTIONS=detect_leaks=0:check_initialization_order=1:strict_init_order=1
    fi
  fi
  export ASAN_OPTIONS
  phase "tests: build-asan/ (unit, ASAN_OPTIONS=$ASAN_OPTIONS)"
  run_ctest build-asan -L unit
fi

finish
