# receivable_dunning: every target does its own set-up (see scripts/lib.sh and README.md).
# Odoo 19.0 is found at $(ODOO_SRC), default /opt/odoo19.
export ODOO_SRC

.PHONY: test run lint bench setup wheel-check readme migration-check
setup:
	bash scripts/setup.sh
test:
	bash scripts/test.sh
run:
	bash scripts/run.sh
lint:
	bash scripts/lint.sh
# the add-on's wheel installed with Odoo and an OCA wheel in a fresh virtualenv (see scripts/wheel_check.sh)
wheel-check:
	bash scripts/wheel_check.sh
# README.rst and the Apps page (static/description/index.html) of the add-on, from its readme/ fragments
readme:
	bash scripts/readme.sh
# SIZE=small (default) | full | tiny; see docs/benchmarks.md
bench:
	SIZE="$(SIZE)" bash scripts/bench.sh
# a database of the previous release updated to this tree (FROM=<git revision>)
migration-check:
	FROM="$(FROM)" bash scripts/migration_check.sh
