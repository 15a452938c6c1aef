#!/usr/bin/env bash
# `make lint`: pre-commit run --all-files (.pre-commit-config.yaml: ruff, pylint-odoo, OCA's module and .po
# checks, prettier, README generation and the usual file checks), with what its local hooks run set up first.
source "$(dirname "$0")/lib.sh"
ensure_odoo
ensure_venv
ensure_prettier
cd "$REPO_ROOT"
"$VENV/bin/pre-commit" run --all-files --show-diff-on-failure --color="${PRE_COMMIT_COLOR:-auto}"
