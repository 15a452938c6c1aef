#!/usr/bin/env bash
# `make readme`: receivable_dunning/README.rst and static/description/index.html from readme/ and the manifest
# (scripts/gen_readme.py, in the layout of OCA's oca-gen-addon-readme).
source "$(dirname "$0")/lib.sh"
ensure_odoo
ensure_venv
"$PY" "$REPO_ROOT/scripts/gen_readme.py" --addon-dir "$REPO_ROOT/receivable_dunning" "$@"
git -C "$REPO_ROOT" status --short -- receivable_dunning/README.rst receivable_dunning/static/description/index.html
