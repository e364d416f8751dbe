#!/usr/bin/env bash
# The whole test suite: contract tests on anvil and on Ganache (Brownie), the Python tests
# (unit and integration against real anvil, Ganache, SQLite, PostgreSQL and Chromium), and the
# static checks. Every stage runs even if an earlier one failed; the exit code is non-zero if any
# failed, and the last line adds up pytest's counts.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH" SOLCX_BINARY_PATH="$PWD/compilers"
export PYTHONDONTWRITEBYTECODE=1

logdir=$(mktemp -d)
failed=()
stage() {  # stage NAME COMMAND...
  local name=$1; shift
  echo; echo "=== $name: $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  local start=$SECONDS
  "$@" 2>&1 | tee "$logdir/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc in $((SECONDS - start))s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  [ "$rc" -eq 0 ] || failed+=("$name")
}

# Brownie gives its node ~10 s to answer; on a busy machine Ganache needs longer (33 s seen at a
# load average of ~20). tools/brownie_node_wait.py launches it the same way and waits.
with_tools=(env "PYTHONPATH=$PWD/tools${PYTHONPATH:+:$PYTHONPATH}")
stage contracts-anvil "${with_tools[@]}" brownie test tests/contracts -p brownie_node_wait
stage contracts-ganache "${with_tools[@]}" brownie test tests/contracts --network ganache-cli -p brownie_node_wait
stage python pytest -p no:pytest-brownie tests/python
stage lint-contracts bash scripts/lint_contracts.sh
stage lint-python bash -c "ruff check xborder tests/python && mypy"

passed=0; fail=0; skipped=0
for log in "$logdir"/*.log; do
  line=$(grep -E "^=+ .*(passed|failed|error).* in [0-9.]+s" "$log" | tail -n 1)
  p=$(grep -oE "[0-9]+ passed" <<<"$line" | grep -oE "[0-9]+"); passed=$((passed + ${p:-0}))
  f=$(grep -oE "[0-9]+ (failed|errors?)" <<<"$line" | awk '{n += $1} END {print n + 0}'); fail=$((fail + f))
  s=$(grep -oE "[0-9]+ skipped" <<<"$line" | grep -oE "[0-9]+"); skipped=$((skipped + ${s:-0}))
done
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed stages: ${failed[*]}"
  [ "$fail" -gt 0 ] || fail=${#failed[@]}
fi
echo "total: $passed passed, $fail failed, $skipped skipped"
[ ${#failed[@]} -eq 0 ]
