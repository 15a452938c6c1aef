#!/usr/bin/env bash
# `make setup`: Debian packages, Odoo tree, virtualenv and PostgreSQL, nothing else.
source "$(dirname "$0")/lib.sh"
setup_all
log "ready: Odoo at $ODOO_SRC, virtualenv $VENV, PostgreSQL $DB_HOST:$DB_PORT"
