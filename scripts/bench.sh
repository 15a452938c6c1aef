#!/usr/bin/env bash
# `make bench`: receivable_dunning measured next to its peers (OCA account_credit_control and
# account_reconcile_oca, Odoo's /my/invoices) in one run on the same data; see docs/benchmarks.md.
#   SIZE=small (default, under 2 minutes once its database exists) | full (the issue's sizes) | tiny
#   BENCH_DB=<name> (a copy of the bench database, e.g. for two benches at once)
#   SEED=<int>  UPDATE_DOCS=1 (rewrite this size's table in docs/benchmarks.md)  BENCH_SKIP=portal,cron
#   BENCH_STRICT=1 (exit 1 when a target is missed)  BENCH_HTTP_PORT=8269
# The peers live only in a separate virtualenv, $RD_STATE_DIR/venv-bench; nothing of theirs enters the repo.
source "$(dirname "$0")/lib.sh"
setup_all

BENCH_VENV=${RD_BENCH_VENV:-$STATE_DIR/venv-bench}
BPY=$BENCH_VENV/bin/python

# Same requirements as the development virtualenv (minus the dev tools), plus the peers' wheels --no-deps:
# each of them requires a full `odoo` distribution, which the source tree provides instead.
ensure_bench_venv() {
    local stamp="$BENCH_VENV/.rd-requirements" want
    want=$(cat "$ODOO_SRC/requirements.txt" "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-bench.txt" \
           | sha256sum | cut -d' ' -f1)
    if [ -x "$BPY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    [ -x "$BPY" ] || { log "creating bench virtualenv $BENCH_VENV"; python3 -m venv "$BENCH_VENV"; }
    log "installing the bench requirements (Odoo's, the module's, the OCA peers' wheels)"
    PY=$BPY pip_quiet install --upgrade pip 'setuptools<82' wheel
    PY=$BPY pip_quiet install -r "$ODOO_SRC/requirements.txt" -r "$REPO_ROOT/requirements.txt"
    PY=$BPY pip_quiet install --no-deps -r "$REPO_ROOT/requirements-bench.txt"
    echo "$want" > "$stamp"
}
ensure_bench_venv

PEER_ADDONS=$("$BPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/odoo/addons
[ -d "$PEER_ADDONS/account_credit_control" ] || die "OCA peers missing from $PEER_ADDONS"

args=(--size "${SIZE:-small}" --log-dir "$STATE_DIR/bench-logs" --http-port "${BENCH_HTTP_PORT:-8269}"
      --odoo-src "$ODOO_SRC" --addons-path "$(addons_path),$PEER_ADDONS"
      --db-host "$DB_HOST" --db-port "$DB_PORT" --db-user "$DB_USER")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
[ -n "${BENCH_DB:-}" ] && args+=(--db "$BENCH_DB")
[ -n "${BENCH_SKIP:-}" ] && args+=(--skip "$BENCH_SKIP")
[ -n "${UPDATE_DOCS:-}" ] && args+=(--update-docs)
[ -n "${BENCH_STRICT:-}" ] && args+=(--strict)
log "bench SIZE=${SIZE:-small} (logs: $STATE_DIR/bench-logs)"
exec "$BPY" "$REPO_ROOT/benchmarks/bench.py" "${args[@]}"
