#!/usr/bin/env bash
# `make test`: set everything up, install receivable_dunning in a fresh database without demo data,
# run its at_install and post_install tests and Odoo's own suites of the modules it extends (with it installed),
# and close with the line "N passed, N failed".
# Any failure, error, or skipped test of ours makes the exit code non-zero.
source "$(dirname "$0")/lib.sh"
setup_all

DB=${RD_TEST_DB:-rd_test_$(date +%s)}
HTTP_PORT=${RD_TEST_HTTP_PORT:-8169}
# Odoo's own suites of the modules we extend, run with ours installed: our computes, onchanges and overrides
# must keep them green. Their at_install tests run before our module is loaded; tests/test_odoo_suites.py runs
# them again afterwards. The account classes are those that create moves through the form.
ODOO_SUITES=/account_payment,/portal,/payment,/sms
for account_class in TestAccountMoveOutInvoiceOnchanges TestAccountMoveOutRefundOnchanges \
        TestAccountMoveInInvoiceOnchanges TestAccountMoveInRefundOnchanges TestAccountMove; do
    ODOO_SUITES+=,/account:$account_class
done
TEST_TAGS=${TEST_TAGS:-/receivable_dunning,$ODOO_SUITES}
LOG=$STATE_DIR/test-$DB.log

dropdb_quiet() { psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -q -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null 2>&1 || true; }
dropdb_quiet "$DB"
[ -n "${RD_KEEP_DB:-}" ] || trap 'dropdb_quiet "$DB"' EXIT

log "installing receivable_dunning in database $DB and running tests tagged $TEST_TAGS (log: $LOG)"
set +e
odoo_bin -d "$DB" -i receivable_dunning,payment_demo --test-enable --test-tags "$TEST_TAGS" \
    --stop-after-init --http-port="$HTTP_PORT" --gevent-port=$((HTTP_PORT + 1)) \
    --log-level=test --max-cron-threads=0 2>&1 | tee "$LOG" \
    | grep --line-buffered -E " (WARNING|ERROR|CRITICAL) |receivable_dunning|odoo\.tests|^(Traceback|  |[A-Za-z.]+(Error|Exception))"
rc=${PIPESTATUS[0]}
set -e

"$PY" "$REPO_ROOT/scripts/test_summary.py" "$LOG" "$rc"
