#!/usr/bin/env bash
# kontena stack validate: the real CLI on stack files in the temp dir, no master. Interpolated
# output, -v overrides, --values-to, --json, and errors with file:line that write nothing.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$E2E_TMP"
cat >kontena.yml <<'YAML'
stack: user/demo
version: 1.0.0
variables:
  tag:
    type: string
    default: latest
  replicas:
    type: integer
    default: 2
services:
  web:
    image: nginx:${tag}
    instances: ${replicas}
    ports:
      - 80:80
YAML

# Default file name, interpolated output.
assert_ok kontena stack validate
assert_contains "$STDOUT" "stack: user/demo"
assert_contains "$STDOUT" "image: nginx:latest"
assert_contains "$STDOUT" "instances: 2"

# -v overrides the default; --values-to writes the resolved values.
assert_ok kontena stack validate kontena.yml -v tag=1.19 --var replicas=5 --values-to values.yml
assert_contains "$STDOUT" "image: nginx:1.19"
assert_contains "$STDOUT" "instances: 5"
[[ -f values.yml ]] || fail "values.yml was not written"
assert_contains "$(cat values.yml)" "1.19"

# --values-from reads them back.
assert_ok kontena stack validate kontena.yml --values-from values.yml --json
assert_eq demo "$(json .name "$STDOUT")"
assert_contains "$STDOUT" "nginx:1.19"

# An unknown service key: the file and line, exit 1, nothing on stdout, no --values-to file.
cat >bad.yml <<'YAML'
stack: user/bad
services:
  web:
    image: nginx
    no_such_key: 1
YAML
assert_fails kontena stack validate bad.yml --values-to bad-values.yml
assert_eq 1 "$STATUS" "exit status"
assert_contains "$STDERR" "bad.yml:5:"
assert_contains "$STDERR" "no_such_key"
assert_eq "" "$STDOUT" "stdout on error"
[[ ! -e bad-values.yml ]] || fail "--values-to was written although the file is invalid"

# A prompt without a terminal (stdin is /dev/null): names the variable and says to use -v.
cat >prompt.yml <<'YAML'
stack: user/prompt
variables:
  answer:
    from:
      prompt: The answer?
services:
  web:
    image: nginx:${answer}
YAML
assert_fails kontena stack validate prompt.yml
assert_contains "$STDERR" "answer"
assert_contains "$STDERR" "-v answer="
assert_ok kontena stack validate prompt.yml -v answer=42
assert_contains "$STDOUT" "image: nginx:42"

# A missing file.
assert_fails kontena stack validate nosuch.yml
assert_contains "$STDERR" "nosuch.yml"
