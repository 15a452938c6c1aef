#!/usr/bin/env bash
# `make migration-check`: a database made by an earlier release (demo data, a completed run with reminders,
# chatter, call activities, credits) is updated to this tree; nothing may be lost on the way.
# FROM is the git revision of that release (default: 19.0.1.3.0, the last one before the reminder's rename).
source "$(dirname "$0")/lib.sh"
setup_all
FROM=${FROM:-fb65ca9}
DB=rd_migration_check
OLD_TREE=$STATE_DIR/migration-from
psql_db() { psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB" -tAq -c "$1"; }

cd "$REPO_ROOT"
git rev-parse --verify -q "$FROM^{commit}" >/dev/null || die "revision $FROM not in this clone (fetch its history)"
rm -rf "$OLD_TREE"; mkdir -p "$OLD_TREE"
git archive "$FROM" receivable_dunning | tar -x -C "$OLD_TREE"
dropdb -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" --if-exists "$DB"
log "installing receivable_dunning as of $FROM with demo data in $DB"
"$PY" "$ODOO_SRC/odoo-bin" -d "$DB" -i receivable_dunning,payment_demo --with-demo --stop-after-init \
    --max-cron-threads=0 --log-level=warn --http-port=8095 \
    --addons-path="$ODOO_SRC/addons,$ODOO_SRC/odoo/addons,$OLD_TREE" \
    --db_host="$DB_HOST" --db_port="$DB_PORT" --db_user="$DB_USER" ${PGPASSWORD:+--db_password="$PGPASSWORD"}

# What a database holds of its reminders: rows of the model's three tables, then its chatter, activities, followers.
counts() {
    local table=$1 model=$2
    psql_db "SELECT (SELECT count(*) FROM ${table}), (SELECT count(*) FROM ${table}_line),
                    (SELECT count(*) FROM ${table}_credit_line_rel),
                    (SELECT count(*) FROM mail_message WHERE model = '${model}'),
                    (SELECT count(*) FROM mail_activity WHERE res_model = '${model}'),
                    (SELECT count(*) FROM mail_followers WHERE res_model = '${model}')" | tr '|' ' '
}
before=$(counts dunning_event dunning.event)
[ "${before%% *}" -gt 0 ] || die "the $FROM demo database has no reminder to migrate"

log "updating $DB to this tree"
odoo_bin -d "$DB" -u receivable_dunning --stop-after-init --max-cron-threads=0 --log-level=warn --http-port=8095
after=$(counts dunning_reminder dunning.reminder)
leftovers=$(psql_db "SELECT count(*) FROM ir_model WHERE model LIKE 'dunning.event%'")
dropdb -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" --if-exists "$DB"
rm -rf "$OLD_TREE"
log "reminders, lines, credits, messages, activities, followers: before $before, after $after"
[ "$before" = "$after" ] || die "the update lost or added records"
[ "$leftovers" = 0 ] || die "the old model names are still registered"
log "migration check passed"
