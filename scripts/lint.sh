#!/usr/bin/env bash
# `make lint`: ruff and pylint-odoo on the addon.
source "$(dirname "$0")/lib.sh"
ensure_odoo
ensure_venv
cd "$REPO_ROOT"
"$VENV/bin/ruff" check receivable_dunning scripts benchmarks
"$VENV/bin/ruff" format --check receivable_dunning scripts benchmarks
"$VENV/bin/pylint" --rcfile=.pylintrc receivable_dunning
