#!/usr/bin/env bash
# Runs `make test`'s groups of suites one after another, every group even when an earlier one
# failed, each group's output to the terminal and to build/test-logs/GROUP.log; then, when any
# failed, a summary of the failed tests and their recorded issues as the last lines printed (CI
# keeps only the tail of a long log, where a failure in the first group would otherwise be lost).
#
#   tools/test-groups.sh SWIFT "SWIFT_FLAGS" NAME=ARGS...
#   e.g. tools/test-groups.sh swift "-c release" "fast=--skip A|B" "timed=--filter A|B"
set -uo pipefail

swift=$1
flags=$2
shift 2
logs=build/test-logs
mkdir -p "$logs"
failed=()
for group in "$@"; do
    name=${group%%=*}
    selection=${group#*=}
    option=${selection%% *}
    pattern=${selection#* }
    echo "== test group $name ($option '$pattern')"
    start=$(date +%s)
    # shellcheck disable=SC2086  # the flags are words
    $swift test $flags --skip-build "$option" "$pattern" 2>&1 | tee "$logs/$name.log"
    status=${PIPESTATUS[0]}
    echo "== test group $name: exit $status after $(( $(date +%s) - start )) s"
    [[ $status -ne 0 ]] && failed+=("$name")
done
[[ ${#failed[@]} -eq 0 ]] && exit 0

echo
echo "== FAILED test groups: ${failed[*]}"
for name in "${failed[@]}"; do
    echo "-- $name ($logs/$name.log): failed tests and recorded issues"
    # Swift Testing's ✘ lines, without colour codes, each cut to 400 characters; a crash's last lines otherwise.
    if grep -q '✘' "$logs/$name.log"; then
        sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" | grep '✘' | cut -c1-400 | head -60
    else
        tail -n 15 "$logs/$name.log"
    fi
done
exit 1
