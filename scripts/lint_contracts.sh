#!/usr/bin/env bash
# Lint the Solidity sources: solhint (.solhint.json, no warnings allowed) and Slither (no High or
# Medium finding unless explained by a slither-disable comment at the flagged line).
# Works from a fresh clone: installs node deps (npm ci) and .venv-slither (requirements-slither.txt)
# when missing. Offline-friendly: Slither compiles through compilers/solc-v0.8.28 (solcjs).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/solhint ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -x .venv-slither/bin/python ] || ! .venv-slither/bin/python -c "import slither" 2>/dev/null; then
  python3 -m venv .venv-slither
  .venv-slither/bin/pip install --quiet -r requirements-slither.txt
fi

echo "== solhint"
node_modules/.bin/solhint --max-warnings 0 'contracts/**/*.sol' 'interfaces/**/*.sol'
echo "solhint: ok"

echo "== slither"
.venv-slither/bin/python scripts/slither_contracts.py
