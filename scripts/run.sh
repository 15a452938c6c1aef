#!/usr/bin/env bash
# `make run`: set everything up, create (or reuse) a database with demo data and serve Odoo
# with receivable_dunning at http://localhost:8069.
source "$(dirname "$0")/lib.sh"
setup_all

DB=${RD_RUN_DB:-receivable_dunning}
HTTP_PORT=${RD_HTTP_PORT:-8069}
exists=$(psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -tAq \
         -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
if [ "$exists" != 1 ]; then
    log "creating database $DB with demo data (first run takes a few minutes)"
    odoo_bin -d "$DB" -i receivable_dunning,payment_demo --with-demo --stop-after-init --max-cron-threads=0 --log-level=warn
else
    log "updating receivable_dunning in existing database $DB"
    odoo_bin -d "$DB" -u receivable_dunning --stop-after-init --max-cron-threads=0 --log-level=warn
fi
log "Odoo with receivable_dunning: http://localhost:$HTTP_PORT  (login: admin / password: admin)"
exec_args=(-d "$DB" --db-filter="^$DB\$" --http-port="$HTTP_PORT" --gevent-port=$((HTTP_PORT + 3)))
odoo_bin "${exec_args[@]}"
