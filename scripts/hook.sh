#!/usr/bin/env bash
# Entry of the local hooks of .pre-commit-config.yaml: runs TOOL from the development virtualenv ($VENV/bin), or the
# pinned prettier with its XML plugin ($NODE_DIR), whatever the caller's PATH. `make lint` installs both.
source "$(dirname "$0")/lib.sh"
tool=${1:?usage: scripts/hook.sh TOOL [ARGS...]}
shift
if [ "$tool" = prettier ]; then
    bin=$NODE_DIR/node_modules/.bin/prettier
    [ -x "$bin" ] || die "prettier is not installed in $NODE_DIR: run make lint once"
    exec "$bin" --plugin="$NODE_DIR/node_modules/@prettier/plugin-xml/src/plugin.js" "$@"
fi
bin=$VENV/bin/$tool
[ -x "$bin" ] || die "$tool is not in $VENV: run make lint once (it installs requirements-dev.txt)"
exec "$bin" "$@"
