"""Shared settings of the benchmark scripts: dataset sizes, Odoo bootstrap, small helpers.

Every script of this folder runs with the bench virtualenv's python (see scripts/bench.sh), which holds Odoo's
requirements plus the OCA peers' wheels; Odoo itself is imported from the source tree given by ``--odoo-src``.
"""

import contextlib
import json
import os
import resource
import sys
import time

# Bumped whenever the generator changes what it writes: a bench database of another version is rebuilt.
GENERATOR_VERSION = 5
DEFAULT_SEED = 20261124

# Sizes of the dataset. `full` is the one the issue asks for; `small` finishes `make bench` in under 2 minutes
# once its database exists; `tiny` is for developing the scripts themselves.
SIZES = {
    "full": {"companies": 3, "debtors": 20_000, "invoices": 100_000, "statement_lines": 10_000, "requests": 600},
    "small": {"companies": 3, "debtors": 1_000, "invoices": 5_000, "statement_lines": 500, "requests": 160},
    "tiny": {"companies": 2, "debtors": 100, "invoices": 400, "statement_lines": 60, "requests": 60},
}

# Open invoices per partition of the dunning run in the cron section: the module's default at full size (70k,
# 20k and 10k invoices: 7, 2 and 1 partitions), smaller below so that the small and tiny runs are split too.
CRON_PARTITION_SIZE = {"full": 10_000, "small": 500, "tiny": 100}

# The addons measured: ours and the peers (OCA wheels of the bench virtualenv).
OUR_MODULE = "receivable_dunning"
PEER_MODULES = ["account_credit_control", "account_reconcile_oca"]

# The debtor whose statement page and /my/invoices are loaded: exactly this many open invoices.
PORTAL_INVOICES = 50
PORTAL_LOGIN = "bench.portal@example.com"
PORTAL_PASSWORD = "bench-portal-password"  # a throw-away account of the local bench database
# Score from which our auto-reconciliation reconciles a proposal on the bench bank journals (as the module's
# own test of automatic reconciliation: exact references only, no partial payment).
AUTO_RECONCILE_THRESHOLD = 95


def db_name(size):
    return f"rd_bench_{size}"


def odoo_args(args, db=None):
    """The odoo command-line options shared by the workers and the server, from the bench's arguments."""
    opts = [
        f"--addons-path={args.addons_path}",
        f"--db_host={args.db_host}",
        f"--db_port={args.db_port}",
        f"--db_user={args.db_user}",
        "--log-level=warn",
        "--max-cron-threads=0",
    ]
    if os.environ.get("PGPASSWORD"):
        opts.append(f"--db_password={os.environ['PGPASSWORD']}")
    if db:
        opts += ["-d", db, f"--db-filter=^{db}$"]
    return opts


def add_connection_arguments(parser):
    parser.add_argument("--odoo-src", required=True)
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--db-host", required=True)
    parser.add_argument("--db-port", required=True)
    parser.add_argument("--db-user", required=True)


def bootstrap_odoo(args, db):
    """Import Odoo from the source tree and configure it for ``db``; returns the ``odoo`` package."""
    if args.odoo_src not in sys.path:
        sys.path.insert(0, args.odoo_src)
    import odoo
    from odoo.tools import config

    config.parse_config(odoo_args(args, db), setup_logging=True)
    odoo.modules.initialize_sys_path()
    return odoo


@contextlib.contextmanager
def environment(args, db, context=None):
    """An environment as the superuser on ``db``; the cursor commits only if the caller commits."""
    odoo = bootstrap_odoo(args, db)
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True, **(context or {})})
        yield odoo, env


def max_rss_mib():
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sql_count():
    from odoo import sql_db

    return sql_db.sql_counter


class Probe:
    """Wall time, SQL queries and peak-memory growth of one measured block, in a fresh process."""

    def __enter__(self):
        self.rss_before = max_rss_mib()
        self.queries_before = sql_count()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        self.queries = sql_count() - self.queries_before
        self.peak_mib = max_rss_mib() - self.rss_before
        return False

    def as_dict(self):
        return {
            "seconds": round(self.seconds, 3),
            "queries": self.queries,
            "peak_memory_mib": round(self.peak_mib, 1),
        }


def emit(result):
    """Workers print their result as one JSON line prefixed so that log noise cannot be mistaken for it."""
    print("RD_BENCH_RESULT " + json.dumps(result, default=str), flush=True)
