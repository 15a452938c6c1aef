"""`make bench`: measure receivable_dunning and its peers in one run, on the same data, on this machine.

1. A bench database per size (rd_bench_<size>), built once with our module and the OCA peers installed and filled
   by dataset.py; reused while its generator version, seed and sizes match.
2. Each figure in a fresh process (worker.py): our dunning run vs OCA account_credit_control, our matcher vs OCA
   account_reconcile_oca, our statement page vs Odoo's /my/invoices under load, the dunning cron in one and in two
   processes on copies of the database, the reminders dispatched (ours vs Odoo's mass-mail composer) and handed
   to an SMTP sink by Odoo's mail queue, in one and two processes (smtp_sink.py).
3. A table (figure, ours, peer, ratio, target, verdict) on stdout, benchmarks/results.json, and with
   --update-docs the section of docs/benchmarks.md for this size.

Every step is bounded in time; a peer that overruns its budget is reported as a lower bound (">=").
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import common  # noqa: E402
import load  # noqa: E402

# Seconds a peer measurement may take before it is stopped and reported as a lower bound.
PEER_BUDGET = {"tiny": 120, "small": 300, "full": 600}
MATCH_PEER_BUDGET = {"tiny": 60, "small": 120, "full": 180}
# Seconds of measured reconciliation, ours and the peer's alike, after which the rate is taken on the lines done.
RECONCILE_BUDGET = {"tiny": 60, "small": 240, "full": 300}
RECONCILE_TARGET = 20  # statement lines reconciled per second
SINGLE_CLIENT_REQUESTS = 40
# Reminder letters rendered by ours in the letters section (the peer renders a sample of 20, one per call).
LETTERS = {"tiny": 50, "small": 200, "full": 1000}
# Dispatch section: email reminders measured at most (0: all) and seconds of measured work, for ours and the peer;
# the end-to-end runs' budget (the target is 300 s: a run still going past the budget has failed it).
DISPATCH_CAP = {"tiny": 0, "small": 0, "full": 2000}
DISPATCH_BUDGET = {"tiny": 120, "small": 300, "full": 300}
E2E_BUDGET = {"tiny": 120, "small": 330, "full": 330}
# Risk section: every payer profile recomputed within this, in a number of queries that does not grow with them.
ANALYTICS_TARGET_SECONDS = 2  # each report's first page at full size
ANALYTICS_MAX_QUERIES = 25  # whatever the number of invoices: no query per invoice
# The analytics reports measured (worker.ANALYTICS_REPORTS) and how their rows are labelled.
ANALYTICS_LABELS = {
    "ageing": "Aged receivables at a date",
    "dso": "DSO per company and month (24 months)",
    "effectiveness": "Which reminder gets paid",
    "cash_forecast": "Cash forecast (13 weeks)",
}
RISK_TARGET_SECONDS = 10
# The import section: rows per second of a file validated and turned into posted requests queued for sending; the
# peer's invoices measured at each size (Odoo's create and post of 50,000 invoices takes hours on the bench box).
IMPORT_TARGET_ROWS_PER_SECOND = 500
IMPORT_PEER_SAMPLE = {"full": 2_000, "small": 1_000, "tiny": 200}
RISK_MAX_QUERIES = 10
BARRIER_TIMEOUT = 120  # seconds for the racing workers to load their registry
CLIENTS = 20
# Odoo pages measured under the portal load beside ours: the least any page costs on this machine.
FLOOR_PAGES = {
    "floor_portal_page": ("/payment/status", b"o_payment_portal_home"),  # the portal layout, nothing in it
    "floor_route": ("/web/manifest.webmanifest", b'"start_url"'),  # a database route, no template at all
}


class Bench:
    def __init__(self, args):
        self.args = args
        self.db = args.db or common.db_name(args.size)
        self.sizes = common.SIZES[args.size]
        self.results = {}
        self.log_dir = args.log_dir
        os.makedirs(self.log_dir, exist_ok=True)

    # === PROCESSES === #

    def log(self, message):
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    def connection_args(self):
        a = self.args
        return [
            f"--odoo-src={a.odoo_src}",
            f"--addons-path={a.addons_path}",
            f"--db-host={a.db_host}",
            f"--db-port={a.db_port}",
            f"--db-user={a.db_user}",
        ]

    def start_worker(self, task, db=None, extra=()):
        log_path = os.path.join(self.log_dir, f"{task}-{db or self.db}.log")
        cmd = [
            sys.executable,
            os.path.join(HERE, "worker.py"),
            task,
            f"--db={db or self.db}",
            f"--size={self.args.size}",
            f"--seed={self.args.seed}",
            *self.connection_args(),
            *extra,
        ]
        log_file = open(log_path, "w")  # noqa: SIM115 - closed in wait_worker
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, start_new_session=True)
        return proc, log_file, log_path

    def wait_worker(self, started, timeout):
        proc, log_file, log_path = started
        try:
            out, _err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            log_file.close()
            return {"timeout": timeout}
        log_file.close()
        for line in out.splitlines():
            if line.startswith("RD_BENCH_RESULT "):
                return json.loads(line[len("RD_BENCH_RESULT ") :])
        return {"error": f"exit {proc.returncode}, see {log_path}", "log_tail": tail(log_path)}

    def worker(self, task, timeout, db=None, extra=()):
        self.log(f"{task} on {db or self.db} (at most {timeout:.0f}s)")
        return self.wait_worker(self.start_worker(task, db, extra), timeout)

    def odoo_bin(self, *options):
        a = self.args
        return [
            sys.executable,
            os.path.join(a.odoo_src, "odoo-bin"),
            *options,
            *common.odoo_args(a),
            "--http-interface=127.0.0.1",
        ]

    def psql(self, sql, db="postgres"):
        import psycopg2

        conn = psycopg2.connect(
            host=self.args.db_host,
            port=self.args.db_port,
            user=self.args.db_user,
            dbname=db,
            password=os.environ.get("PGPASSWORD"),
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cr:
                cr.execute(sql)
                return cr.fetchall() if cr.description else None
        finally:
            conn.close()

    def db_exists(self, db):
        return bool(self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'"))

    def drop_db(self, db):
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def copy_db(self, target, template=None):
        self.drop_db(target)
        self.psql(f'CREATE DATABASE "{target}" TEMPLATE "{template or self.db}"')

    # === DATABASE === #

    def ensure_database(self):
        """Create the bench database (modules + data) unless a matching one exists."""
        if self.db_exists(self.db):
            # The data is reused, the code is not: bring the reused database to the module under test.
            log_path = os.path.join(self.log_dir, f"update-{self.db}.log")
            with open(log_path, "w") as log_file:
                subprocess.call(
                    self.odoo_bin("-d", self.db, "-u", common.OUR_MODULE, "--stop-after-init"),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    timeout=1800,
                )
            result = self.worker("generate", timeout=3600)
            if "error" not in result:
                self.results["dataset"] = result
                return
            self.log(f"{self.db} is unusable ({result['error']}): rebuilding it")
            self.drop_db(self.db)
        modules = ",".join([common.OUR_MODULE, *common.PEER_MODULES])
        self.log(f"creating {self.db} with {modules} (once per size; a few minutes)")
        log_path = os.path.join(self.log_dir, f"install-{self.db}.log")
        with open(log_path, "w") as log_file:
            rc = subprocess.call(
                self.odoo_bin("-d", self.db, "-i", modules, "--stop-after-init"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=1800,
            )
        if rc:
            self.drop_db(self.db)
            raise SystemExit(f"installing {modules} failed, see {log_path}:\n{tail(log_path)}")
        self.log("generating the dataset")
        result = self.worker("generate", timeout=3600)
        if "error" in result or "timeout" in result:
            self.drop_db(self.db)
            raise SystemExit(f"dataset generation failed: {result}")
        self.results["dataset"] = result

    # === SECTIONS === #

    def bench_dunning(self):
        ours = self.worker("dunning_ours", timeout=1800)
        peer = self.worker("dunning_peer", timeout=PEER_BUDGET[self.args.size])
        self.results["dunning"] = {"ours": ours, "peer": peer}

    def bench_matching(self):
        ours = self.worker("match_ours", timeout=1800)
        budget = MATCH_PEER_BUDGET[self.args.size]
        peer = self.worker("match_peer", timeout=budget * 3 + 120, extra=[f"--budget={budget}"])
        self.results["matching"] = {"ours": ours, "peer": peer}

    def bench_reconcile(self):
        budget = RECONCILE_BUDGET[self.args.size]
        # The set-up (a dunning run, the matching) is untimed but takes its time at full size: a minute or two.
        timeout = budget * 3 + 600
        ours = self.worker("reconcile_ours", timeout=timeout, extra=[f"--budget={budget}"])
        # Odoo's own part of the same work (entries rewritten, one reconciliation plan): what our rate can reach.
        floor = self.worker("reconcile_floor", timeout=timeout, extra=[f"--budget={budget}"])
        # The peer in smaller chunks: at seconds per line, a chunk of 500 would overrun the budget many times.
        peer = self.worker("reconcile_peer", timeout=timeout, extra=[f"--budget={budget}", "--chunk=50"])
        self.results["reconcile"] = {"ours": ours, "peer": peer, "floor": floor}

    def bench_portal(self):
        info = self.worker("portal_info", timeout=600)
        section = {"info": info}
        self.results["portal"] = section
        if "error" in info or "timeout" in info:
            return
        port = self.args.http_port
        log_path = os.path.join(self.log_dir, f"server-{self.db}.log")
        server_log = open(log_path, "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            self.odoo_bin(
                "-d",
                self.db,
                f"--http-port={port}",
                f"--gevent-port={port + 1}",
                "--workers=2",
                "--limit-time-real=300",
                "--limit-memory-soft=4294967296",
                "--limit-memory-hard=6442450944",
            ),
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if not load.wait_until_up(port):
                section["error"] = f"the server did not answer within 120 s, see {log_path}"
                return
            requests_total = self.sizes["requests"]
            try:
                cookie = load.login(port, self.db, common.PORTAL_LOGIN, common.PORTAL_PASSWORD)
                section["peer"] = load.run(
                    port, "/my/invoices", requests_total, CLIENTS, cookie=cookie, expect=b"o_portal_my_doc_table"
                )
                # One client at a time: the latency of the page itself, without queueing behind the two workers.
                section["peer_single"] = load.run(
                    port, "/my/invoices", SINGLE_CLIENT_REQUESTS, 1, cookie=cookie, expect=b"o_portal_my_doc_table"
                )
            except (RuntimeError, OSError) as error:
                section["peer"] = {"error": str(error)}
            url = info.get("statement_url")
            empty_page = FLOOR_PAGES["floor_portal_page"]
            if url:
                path = "/" + url.split("://", 1)[-1].split("/", 1)[-1]
                section["ours"] = load.run(port, path, requests_total, CLIENTS)
                # Our page and the empty portal page in turn, so that both see the same load from the rest of the
                # machine: their ratio is the statement's own cost.
                section["ours_single"], section["floor_portal_page_single"] = load.run_alternating(
                    port, [(path, b""), empty_page], SINGLE_CLIENT_REQUESTS
                )
            else:
                section["ours"] = {"available": False}
                section["floor_portal_page_single"] = load.run(
                    port, empty_page[0], SINGLE_CLIENT_REQUESTS, 1, expect=empty_page[1]
                )
            # What Odoo itself needs under the same load, whatever the page: the floor of the p95 target.
            for name, (floor_path, marker) in FLOOR_PAGES.items():
                section[name] = load.run(port, floor_path, requests_total, CLIENTS, expect=marker)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            server_log.close()

    def bench_cron(self):
        """The dunning cron in one process, then in two started together, each on its own copy of the data; each
        company's run split into partitions that the processes share.

        "steady": the sequences already have this year's range, as on every day but the first run of a year;
        "cold": the first run of the year, where both processes create that range.
        """
        section = {}
        self.results["cron"] = section
        copies = {name: f"{self.db}_cron_{name}" for name in ("single", "double", "cold")}
        try:
            for name, db in copies.items():
                self.copy_db(db)
                self.worker("cron_prepare", timeout=300, db=db, extra=["--first-run"] if name == "cold" else [])
            section["single"] = self.worker("cron", timeout=1800, db=copies["single"])
            section["single_check"] = self.worker("cron_check", timeout=300, db=copies["single"])
            for name in ("double", "cold"):
                section[name] = self.run_together("cron", copies[name], count=2)
                section[f"{name}_check"] = self.worker("cron_check", timeout=300, db=copies[name])
        finally:
            for db in copies.values():
                self.drop_db(db)

    def bench_letters(self):
        self.results["letters"] = self.worker(
            "letters", timeout=900, extra=[f"--http-port={self.args.http_port}", f"--letters={LETTERS[self.args.size]}"]
        )

    def bench_dispatch(self):
        """The reminders as the debtor gets them: rendered and queued (ours vs Odoo's mass-mail composer, rolled
        back), the mail queue emptied to an SMTP sink by one and two processes, and the whole way from the run to
        the sink, on scratch copies of the database (see docs/benchmarks.md)."""
        import smtp_sink

        size = self.args.size
        section = {}
        self.results["dispatch"] = section
        cap, budget = DISPATCH_CAP[size], DISPATCH_BUDGET[size]
        section["cap"], section["budget"] = cap, budget
        ours = section["ours"] = self.worker(
            "dispatch_ours", timeout=budget + 600, extra=[f"--limit={cap}", f"--budget={budget}"]
        )
        if available(ours) and ours["reminders"]:
            section["peer"] = self.worker(
                "dispatch_peer", timeout=budget + 600, extra=[f"--limit={ours['reminders']}", f"--budget={budget}"]
            )
            section["floor"] = self.worker(
                "dispatch_floor", timeout=budget + 900, extra=[f"--limit={ours['reminders']}"]
            )
        e2e_budget = E2E_BUDGET[size]
        section["e2e_budget"] = e2e_budget
        base, race, queue_single, queue_double = (f"{self.db}_dispatch_{n}" for n in ("base", "e2e2", "q1", "q2"))
        cron_dbs = [f"{self.db}_dispatch_cron{n}" for n in (0, 1, 2)]
        try:
            # The dispatch cron alone, in 1 and 2 processes sharing its queue, on copies of the first run's email
            # reminders (committed).
            self.copy_db(cron_dbs[0])
            section["cron_queue"] = self.worker("dispatch_prepare", timeout=1800, db=cron_dbs[0])
            # Both copies start from the state autovacuum keeps a database in: without it, the first copy carried
            # the dead rows of the rolled-back rows above and of the run, and autovacuum cleaned the template while
            # the one-process row ran, so that the two-process row, copied afterwards, ran on clean tables.
            self.psql("VACUUM ANALYZE", db=cron_dbs[0])
            for count in (1, 2):
                self.copy_db(cron_dbs[count], template=cron_dbs[0])
                section[f"cron_{count}"] = self.run_together(
                    "dispatch_cron", cron_dbs[count], count, extra=[f"--budget={budget}"]
                )
        finally:
            for db in cron_dbs:
                self.drop_db(db)
        with smtp_sink.SmtpSink() as sink:
            try:
                self.copy_db(base)
                self.worker("mail_server", timeout=300, db=base, extra=[f"--smtp-port={sink.port}"])
                self.copy_db(race, template=base)
                # One process: the run and the dispatch cron, then (below) the mail queue on a copy of what they left.
                section["e2e_single"] = self.worker(
                    "dispatch_e2e",
                    timeout=e2e_budget + 600,
                    db=base,
                    extra=["--until=dispatch", f"--budget={e2e_budget}"],
                )
                self.copy_db(queue_single, template=base)
                self.copy_db(queue_double, template=base)
                for name, db, count in (("queue_single", queue_single, 1), ("queue_double", queue_double, 2)):
                    sink.reset()
                    workers = self.run_together("mail_queue", db, count, extra=[f"--budget={e2e_budget}"])
                    section[name] = {"workers": workers, "sink": sink.stats()}
                sink.reset()
                workers = self.run_together("dispatch_e2e", race, 2, extra=[f"--budget={e2e_budget}"])
                section["e2e_double"] = {"workers": workers, "sink": sink.stats()}
            finally:
                for db in (base, race, queue_single, queue_double):
                    self.drop_db(db)

    def bench_risk(self):
        """Payer profiles of every debtor recomputed, from scratch and again (rolled back)."""
        self.results["risk"] = self.worker("risk", timeout=900)

    def bench_analytics(self):
        """Each receivables report's first page (pivot and list), next to Odoo's Invoice Analysis."""
        self.results["analytics"] = self.worker("analytics", timeout=900)

    def bench_import(self):
        """A file of payment requests validated and turned into posted requests queued for sending, next to Odoo's
        ORM create and post of the same invoices on a sample (each in its own process, for its peak memory)."""
        sample = IMPORT_PEER_SAMPLE[self.args.size]
        self.results["import"] = {
            "ours": self.worker("import_ours", timeout=3600),
            "peer": self.worker("import_peer", timeout=3600, extra=[f"--peer-sample={sample}"]),
        }

    def run_together(self, task, db, count, extra=()):
        """``count`` workers that load their registry, then start ``task`` together (see worker.task_cron)."""
        self.log(f"{task} x{count} on {db}")
        with tempfile.TemporaryDirectory(prefix="rd-bench-") as directory:
            barrier = os.path.join(directory, "race")
            started = [self.start_worker(task, db=db, extra=[f"--barrier={barrier}", *extra]) for _ in range(count)]
            deadline = time.monotonic() + BARRIER_TIMEOUT
            while time.monotonic() < deadline:
                ready = [name for name in os.listdir(directory) if name.startswith("race.ready.")]
                if len(ready) == count or any(proc.poll() is not None for proc, _log, _path in started):
                    break
                time.sleep(0.01)
            with open(f"{barrier}.go", "w"):
                pass
            return [self.wait_worker(proc, timeout=1800) for proc in started]

    # === REPORT === #

    def run(self):
        started = time.perf_counter()
        load_before = os.getloadavg()
        self.ensure_database()
        for name in (
            "dunning",
            "matching",
            "reconcile",
            "portal",
            "cron",
            "letters",
            "dispatch",
            "risk",
            "analytics",
            "import",
        ):
            if name in self.args.skip:
                continue
            getattr(self, f"bench_{name}")()
        self.results["bench_seconds"] = round(time.perf_counter() - started, 1)
        # The raw figures first: a run at full size takes over an hour, and a table that cannot be drawn from them
        # must not lose them.
        with open(self.args.output, "w") as handle:
            json.dump({"size": self.args.size, "results": self.results}, handle, indent=2, default=str)
        rows = table_rows(self.results)
        report = {
            "size": self.args.size,
            "sizes": self.sizes,
            "seed": self.args.seed,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(),
            # The same machine runs other jobs; the load says how far absolute figures can be compared.
            "load_average": {
                "start": [round(v, 1) for v in load_before],
                "end": [round(v, 1) for v in os.getloadavg()],
            },
            "command": f"make bench SIZE={self.args.size}",
            "git_revision": git_revision(),
            "table": rows,
            "results": self.results,
        }
        with open(self.args.output, "w") as handle:
            json.dump(report, handle, indent=2, default=str)
        text = render_table(rows)
        print(text)
        print(f"\nwritten: {os.path.relpath(self.args.output, REPO)} ({self.results['bench_seconds']} s)")
        if self.args.update_docs:
            update_docs(report, text)
        return 1 if self.args.strict and any(row[5] == "FAIL" for row in rows) else 0


# === TABLE === #


def num(value, digits=1):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(peer, ours, lower_bound=False):
    if peer is None or not ours:
        return "n/a"
    return f"{'>=' if lower_bound else ''}{peer / ours:,.1f}x"


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def available(result):
    return bool(result) and not any(key in result for key in ("error", "timeout")) and result.get("available", True)


def why_missing(result):
    if not result:
        return "not run"
    if "timeout" in result:
        return f">{result['timeout']} s"
    if "error" in result:
        return "error"
    return "not available"


def table_rows(results):
    """(figure, ours, peer, ratio, target, verdict) rows from the raw results."""
    rows = []
    for section, make_rows in (
        ("dunning", dunning_rows),
        ("matching", matching_rows),
        ("reconcile", reconcile_rows),
        ("portal", portal_rows),
    ):
        if results.get(section):
            rows += make_rows(results[section])
    if results.get("cron", {}).get("double"):
        rows += cron_rows(results["cron"])
    if results.get("letters"):
        rows += letters_rows(results["letters"])
    if results.get("dispatch"):
        rows += dispatch_rows(results["dispatch"])
    if results.get("risk"):
        rows += risk_rows(results["risk"])
    if results.get("analytics"):
        rows += analytics_rows(results["analytics"])
    if results.get("import"):
        rows += import_rows(results["import"])
    return rows


def dunning_rows(dunning):
    rows = []
    ours, peer = dunning["ours"], dunning["peer"]
    peer_ok = available(peer)
    if available(ours):
        per_k = ours["queries"] / (ours["invoices"] / 1000)
        if peer_ok:
            peer_s, bound = peer["seconds"], False
        elif "timeout" in peer:
            peer_s, bound = peer["timeout"], True
        else:
            peer_s, bound = None, False
        speedup = peer_s / ours["seconds"] if peer_s else None
        rows += [
            (
                f"Dunning run, {ours['invoices']:,} open invoices: wall time (s)",
                num(ours["seconds"], 2),
                num(peer["seconds"], 2) if peer_ok else why_missing(peer),
                ratio(peer_s, ours["seconds"], bound),
                "<= 60 s, >= 10x faster",
                verdict(ours["seconds"] <= 60 and (speedup or 0) >= 10),
            ),
            (
                "Dunning run: SQL queries per 1,000 invoices",
                num(per_k),
                num(peer["queries"] / (peer["invoices"] / 1000)) if peer_ok else why_missing(peer),
                ratio(peer["queries"], ours["queries"]) if peer_ok else "n/a",
                "<= 30",
                verdict(per_k <= 30),
            ),
            (
                "Dunning run: peak memory growth (MiB)",
                num(ours["peak_memory_mib"]),
                num(peer["peak_memory_mib"]) if peer_ok else why_missing(peer),
                ratio(peer["peak_memory_mib"], ours["peak_memory_mib"]) if peer_ok else "n/a",
                "-",
                "info",
            ),
            (
                "Dunning run: reminders queued (peer: credit lines)",
                f"{ours['reminders']:,}",
                f"{peer['credit_lines']:,}" if peer_ok else why_missing(peer),
                "",
                "-",
                "info",
            ),
        ]
    else:
        rows.append(("Dunning run", why_missing(ours), why_missing(peer), "", "", "FAIL"))
    return rows


def matching_rows(matching):
    rows = []
    ours, peer = matching["ours"], matching["peer"]
    peer_ok = available(peer)
    if available(ours):
        peer_s = peer.get("extrapolated_seconds") if peer_ok else None
        partial = peer_ok and peer["lines"] < peer["lines_total"]
        peer_text = why_missing(peer)
        if peer_ok:
            peer_text = num(peer_s, 2) + (f" (extrapolated from {peer['lines']:,} lines)" if partial else "")
        rows.append(
            (
                f"Matching {ours['lines']:,} lines vs {ours['open_items']:,} open items: wall time (s)",
                num(ours["seconds"], 2),
                peer_text,
                ratio(peer_s, ours["seconds"]),
                "<= 10 s",
                verdict(ours["seconds"] <= 10),
            )
        )
        exact = ("exact_rf", "exact_number")
        ours_exact = share(ours["categories"], exact, "correct")
        peer_exact = share(peer["categories"], exact, "correct") if peer_ok else None
        rows.append(
            (
                "Matching: correct on exact references (%)",
                num(ours_exact),
                num(peer_exact),
                "",
                ">= 99%",
                verdict(ours_exact is not None and ours_exact >= 99),
            )
        )
        ours_false = total(ours["categories"], "false_auto")
        peer_false = total(peer["categories"], "false_auto") if peer_ok else None
        rows.append(
            (
                "Matching: false auto-reconciliations (lines)",
                str(ours_false),
                "n/a" if peer_false is None else str(peer_false),
                "",
                "0",
                verdict(ours_false == 0),
            )
        )
        for category in sorted(ours["categories"]):
            rows.append(
                (
                    f"  correct / auto-reconciled: {category} (%)",
                    correct_auto(ours["categories"], category),
                    correct_auto(peer["categories"], category) if peer_ok else "n/a",
                    "",
                    "-",
                    "info",
                )
            )
    else:
        rows.append(("Matching", why_missing(ours), why_missing(peer), "", "", "FAIL"))
    return rows


def reconcile_rows(reconcile):
    ours, peer = reconcile["ours"], reconcile["peer"]
    if not available(ours):
        return [("Reconciliation", why_missing(ours), why_missing(peer), "", "", "FAIL")]
    peer_ok = available(peer)

    def done(result):
        partly = (
            f" (in {result['lines']:,} of {result['lines_total']:,} lines)"
            if result["lines"] < result["lines_total"]
            else ""
        )
        return f"{result['reconciled']:,} in {num(result['seconds'], 2)} s{partly}"

    ours_rate, peer_rate = ours["lines_per_second"], peer.get("lines_per_second") if peer_ok else None
    floor = reconcile.get("floor") or {}
    return [
        (
            f"Reconciliation of the {ours['lines_total']:,} lines our cron takes: lines reconciled per second",
            num(ours_rate),
            num(peer_rate) if peer_ok else why_missing(peer),
            ratio(ours_rate, peer_rate) if peer_ok and peer_rate else "n/a",
            f">= {RECONCILE_TARGET}/s",
            verdict(ours_rate is not None and ours_rate >= RECONCILE_TARGET),
        ),
        (
            "  Odoo floor, same lines and run (entries rewritten, one plan; no matching, no payment effects): lines/s",
            f"{num(floor['lines_per_second'])} ({done(floor)}, {num(floor['queries'] / floor['lines'])} queries/line)"
            if available(floor) and floor["lines"]
            else why_missing(floor),
            "",
            "",
            "-",
            "info",
        ),
        (
            "Reconciliation: lines reconciled, time (s)",
            done(ours),
            done(peer) if peer_ok else why_missing(peer),
            "",
            "-",
            "info",
        ),
        (
            "Reconciliation: SQL queries per line tried",
            num(ours["queries"] / ours["lines"]) if ours["lines"] else "n/a",
            num(peer["queries"] / peer["lines"]) if peer_ok and peer["lines"] else "n/a",
            "",
            "-",
            "info",
        ),
    ]


def portal_rows(portal):
    rows = []
    ours, peer = portal.get("ours") or {}, portal.get("peer") or {}
    info = portal.get("info", {})
    label = f"{info.get('debtor_open_invoices', '?')} open invoices, {CLIENTS} clients"
    ours_ok, peer_ok = available(ours) and ours.get("p95_ms"), available(peer) and peer.get("p95_ms")
    ours_single, empty_single = portal.get("ours_single") or {}, portal.get("floor_portal_page_single") or {}
    ours_single_ok = available(ours_single) and ours_single.get("p50_ms")
    empty_ok = available(empty_single) and empty_single.get("p50_ms")
    rows += [
        (
            f"Portal statement ({label}): p50 (ms)",
            num(ours.get("p50_ms")) if ours_ok else why_missing(ours),
            num(peer.get("p50_ms")) if peer_ok else why_missing(peer),
            "",
            "-",
            "info",
        ),
        (
            "Portal statement: p95 (ms), peer /my/invoices",
            num(ours.get("p95_ms")) if ours_ok else why_missing(ours),
            num(peer.get("p95_ms")) if peer_ok else why_missing(peer),
            ratio(ours.get("p95_ms"), peer.get("p95_ms")) if ours_ok and peer_ok else "n/a",
            "<= 150 ms, <= 1.2x peer",
            verdict(ours["p95_ms"] <= 150 and ours["p95_ms"] <= 1.2 * peer["p95_ms"]) if ours_ok and peer_ok else "n/a",
        ),
        (
            "Portal statement, 1 client at a time: p50 / p95 (ms)",
            *(
                f"{num(single.get('p50_ms'))} / {num(single.get('p95_ms'))}"
                if available(single) and single.get("p50_ms")
                else why_missing(single)
                for single in (ours_single, portal.get("peer_single") or {})
            ),
            "",
            "-",
            "info",
        ),
        *(
            (
                f"  Odoo floor, same load, {label_text}: p50 / p95 (ms)",
                f"{num(floor.get('p50_ms'))} / {num(floor.get('p95_ms'))}"
                if available(floor) and floor.get("p95_ms")
                else why_missing(floor),
                "",
                "",
                "-",
                "info",
            )
            for label_text, floor in (
                ("/payment/status (empty portal page)", portal.get("floor_portal_page") or {}),
                ("/web/manifest.webmanifest (no template)", portal.get("floor_route") or {}),
            )
            if floor
        ),
        (
            "Statement page, 1 client: p50 vs empty portal page, 1 client",
            num(ours_single.get("p50_ms")) if ours_single_ok else why_missing(ours_single),
            num(empty_single.get("p50_ms")) if empty_ok else why_missing(empty_single),
            ratio(ours_single.get("p50_ms"), empty_single.get("p50_ms")) if ours_single_ok and empty_ok else "n/a",
            "<= 2x",
            verdict(ours_single["p50_ms"] <= 2 * empty_single["p50_ms"]) if ours_single_ok and empty_ok else "n/a",
        ),
        (
            "Portal statement: errors / requests",
            f"{ours['errors']} / {ours['requests']}" if ours_ok else why_missing(ours),
            f"{peer['errors']} / {peer['requests']}" if peer_ok else why_missing(peer),
            "",
            "0",
            verdict(ours["errors"] == 0) if ours_ok else "n/a",
        ),
    ]
    return rows


def cron_rows(cron):
    single, single_check = cron.get("single", {}), cron.get("single_check", {})
    rows = []
    for name, label in (("double", "2 processes"), ("cold", "2 processes, first run of the year")):
        workers, check = cron.get(name) or [], cron.get(f"{name}_check", {})
        errors = [w.get("error") or "timeout" for w in workers if w.get("error") or "timeout" in w]
        claimed = (
            f"{check.get('duplicates', 'n/a')} twice; {check.get('escalations', 'n/a')} vs "
            f"{single_check.get('escalations', 'n/a')}"
        )
        rows.append(
            (
                f"Cron in {label}: escalations claimed twice; total vs 1 process",
                claimed,
                "",
                "",
                "0; equal, no worker error",
                verdict(
                    not errors
                    and check.get("duplicates") == 0
                    and check.get("escalations") == single_check.get("escalations")
                ),
            )
        )
        rows.append(partition_row(label, workers, check))
        if errors:
            rows.append((f"Cron in {label}: worker errors", f"{len(errors)}: {errors[0][:60]}", "", "", "0", "FAIL"))
        elif name == "double" and workers:
            wall = max(w["ended"] for w in workers) - min(w["started"] for w in workers)
            rows.append(
                (
                    "Cron: wall time 1 process / 2 processes (s)",
                    f"{num(single.get('seconds'), 2)} / {num(wall, 2)}",
                    "",
                    f"{single['seconds'] / wall:.2f}x speed-up" if wall and single.get("seconds") else "n/a",
                    "-",
                    "info",
                )
            )
            invoices = single_check.get("invoices")
            if invoices and single.get("seconds"):
                rows.append(
                    (
                        "Cron: ms per open invoice, 1 process / 2 processes (wall time)",
                        f"{1000 * single['seconds'] / invoices:.3f} / {1000 * wall / invoices:.3f}",
                        "",
                        "",
                        "-",
                        "info",
                    )
                )
    return rows


def partition_row(label, workers, check):
    """Every partition of the runs processed once: done, never retried, by one of the processes, and the reminders
    each counted add up to those of the runs."""
    per_worker = [len(worker.get("partitions") or []) for worker in workers]
    total = check.get("partitions")
    once = (
        bool(total)
        and check.get("partitions_done") == total
        and check.get("partitions_retried") == 0
        and sum(per_worker) == total
        and check.get("partition_reminders") == check.get("partitioned_reminders")
    )
    done = f"{check.get('partitions_done', 'n/a')} of {total} ({' + '.join(map(str, per_worker))})"
    counted = f"{check.get('partition_reminders', 'n/a')} vs {check.get('partitioned_reminders', 'n/a')}"
    return (
        f"Cron in {label}: partitions done once (per process); reminders counted by partitions vs queued",
        f"{done}; {counted}",
        "",
        "",
        "all, once; equal",
        verdict(once),
    )


def letters_rows(letters):
    if not available(letters):
        return [("Letters", why_missing(letters), "", "", "", "FAIL")]
    rows = []
    for kind, label, target in (("letters", "Reminder letters", 10), ("invoices", "Invoice PDFs", None)):
        ours, peer = letters[f"{kind}_ours"], letters[f"{kind}_peer"]
        if not (ours["documents"] and ours["seconds"] and peer["documents"] and peer["seconds"]):
            rows.append(
                (
                    f"{label}: nothing rendered (ours {ours['documents']}, peer {peer['documents']})",
                    "-",
                    "-",
                    "",
                    "-",
                    "FAIL" if target else "info",
                )
            )
            continue
        ours_rate, peer_rate = ours["documents"] / ours["seconds"], peer["documents"] / peer["seconds"]
        rows.append(
            (
                f"{label}, {ours['documents']} as PDF (peer: {peer['documents']}, one per call): documents/s",
                num(ours_rate),
                num(peer_rate),
                ratio(peer["seconds"] / peer["documents"], ours["seconds"] / ours["documents"]),
                f">= {target}/s" if target else "-",
                verdict(ours_rate >= target) if target else "info",
            )
        )
        rows.append(
            (
                f"{label}: CPU seconds per document, with wkhtmltopdf's",
                num(ours["cpu_seconds"] / ours["documents"], 3),
                num(peer["cpu_seconds"] / peer["documents"], 3),
                ratio(peer["cpu_seconds"] / peer["documents"], ours["cpu_seconds"] / ours["documents"]),
                "-",
                "info",
            )
        )
        rows.append(
            (
                f"{label}: documents/s of wkhtmltopdf alone (the wall time of its processes, the floor)",
                num(ours["documents"] / ours["wkhtmltopdf_seconds"]),
                num(peer["documents"] / peer["wkhtmltopdf_seconds"]),
                "",
                "-",
                "info",
            )
        )
        rows.append(
            (
                f"{label}: wkhtmltopdf processes",
                f"{ours['processes']} for {ours['documents']}",
                f"{peer['processes']} for {peer['documents']}",
                "",
                "< 1 per document",
                verdict(ours["processes"] < ours["documents"]),
            )
        )
    return rows


def analytics_rows(analytics):
    """Rows of the analytics section: each report's first page against Odoo's Invoice Analysis in the same run."""
    if not available(analytics):
        return [("Analytics reports' first page", why_missing(analytics), "", "", "", "FAIL")]
    peer = analytics["odoo_invoice_analysis"]
    rows = []
    for key, label in ANALYTICS_LABELS.items():
        measured = analytics.get(key)
        if not measured:
            rows.append((f"{label}: first page", "missing", "", "", "", "FAIL"))
            continue
        rows.append(
            (
                f"{label}, {analytics['invoices']:,} invoices: first page s (queries); peer Odoo's Invoice Analysis",
                f"{num(measured['seconds'])} ({measured['queries']})",
                f"{num(peer['seconds'])} ({peer['queries']})",
                ratio(peer["seconds"], measured["seconds"]),
                f"<= {ANALYTICS_TARGET_SECONDS} s, <= {ANALYTICS_MAX_QUERIES} queries",
                verdict(
                    measured["seconds"] <= ANALYTICS_TARGET_SECONDS and measured["queries"] <= ANALYTICS_MAX_QUERIES
                ),
            )
        )
    return rows


def import_rows(section):
    """Rows of the import section: rows per second validated and turned into posted requests queued for sending,
    against Odoo's ORM create and post of the same invoices (a sample, its rate extrapolated), and peak memory."""
    ours, peer = section["ours"], section["peer"]
    if not available(ours):
        return [("Payment request import", why_missing(ours), "", "", "", "FAIL")]
    rate = ours["rows"] / ours["seconds"]
    peer_rate = peer["rows"] / peer["seconds"] if available(peer) else None
    peer_label = f"Odoo ORM create + action_post, batches of {ours['batch_size']}"
    if available(peer) and peer["rows"] < ours["valid"]:
        peer_label += f", {peer['rows']:,} invoices measured, rate extrapolated"
    label = (
        f"Import of {ours['rows']:,} request rows ({ours['errors']:,} with errors): validated, "
        f"{ours['created']:,} posted requests, {ours['queued']:,} emails queued: rows/s; peer {peer_label}"
    )
    steps = (
        f"Import: validation {num(ours['validate']['seconds'])} s, creation {num(ours['create']['seconds'])} s "
        f"({ours['batches']} batches); peak memory MiB"
    )
    return [
        (
            label,
            num(rate, 0),
            num(peer_rate, 0) if peer_rate else why_missing(peer),
            ratio(rate, peer_rate) if peer_rate else "n/a",
            f">= {IMPORT_TARGET_ROWS_PER_SECOND} rows/s",
            verdict(rate >= IMPORT_TARGET_ROWS_PER_SECOND),
        ),
        (
            steps,
            num(ours["peak_memory_mib"]),
            num(peer["peak_memory_mib"]) if available(peer) else "n/a",
            "",
            "-",
            "info",
        ),
    ]


def risk_rows(risk):
    """Rows of the risk section: every payer profile recomputed, from scratch and again."""
    if not available(risk):
        return [("Payer profiles recomputed", why_missing(risk), "", "", "", "FAIL")]
    rows = []
    for key, label in (("first", "from scratch"), ("again", "again, as the nightly cron")):
        measured = risk[key]
        rows.append(
            (
                f"Payer profiles of {risk['debtors']:,} debtors, {risk['invoices']:,} invoices, {label}: s (queries)",
                f"{num(measured['seconds'])} ({measured['queries']})",
                "-",
                "",
                f"<= {RISK_TARGET_SECONDS} s, <= {RISK_MAX_QUERIES} queries",
                verdict(measured["seconds"] <= RISK_TARGET_SECONDS and measured["queries"] <= RISK_MAX_QUERIES),
            )
        )
    one = risk["one_debtor"]
    rows.append(
        (
            "Payer profile of one debtor (the one with most invoices), as after a payment: ms (queries)",
            f"{num(one['seconds'] * 1000)} ({one['queries']})",
            "-",
            "",
            "-",
            "info",
        )
    )
    return rows


def dispatch_rows(dispatch):
    """Rows of the dispatch section: rendering and queueing, the mail queue to the sink, end to end."""
    rows = []
    ours, peer = dispatch.get("ours") or {}, dispatch.get("peer") or {}
    if available(ours) and ours.get("mails"):
        peer_ok = available(peer) and peer.get("mails")
        rate = ours["mails"] / ours["seconds"]
        peer_rate = peer["mails"] / peer["seconds"] if peer_ok else None
        scope = f"{ours['reminders']:,} of {ours['email_queued']:,} email reminders"
        if (dispatch.get("cap") and ours["email_queued"] > dispatch["cap"]) or ours.get("budget_hit"):
            scope += f", capped at {dispatch['cap'] or ours['email_queued']:,} / {dispatch['budget']} s"
        peer_text = why_missing(peer)
        if peer_ok:
            peer_text = num(peer_rate) + (" (budget hit)" if peer.get("budget_hit") else "")
        per_mail = ours["queries"] / ours["mails"]
        rows += [
            (
                f"Dispatch ({scope}): reminders rendered and queued per second (peer: mass-mail composer)",
                num(rate),
                peer_text,
                f"{rate / peer_rate:,.2f}x" if peer_rate else "n/a",
                ">= 200/s",
                verdict(rate >= 200),
            ),
            floor_row(dispatch.get("floor"), rate),
            (
                "Dispatch: SQL queries per reminder queued (peer: per composer email)",
                num(per_mail),
                num(peer["queries"] / peer["mails"]) if peer_ok else why_missing(peer),
                ratio(peer["queries"] / peer["mails"], per_mail) if peer_ok else "n/a",
                "<= 5",
                verdict(per_mail <= 5),
            ),
            (
                "Dispatch: mails queued / reminders failed (invalid address); recipients' languages",
                f"{ours['mails']:,} / {ours['states'].get('failed', 0):,}; {len(ours.get('languages') or {})}",
                f"{peer['mails']:,}; {peer.get('languages')}" if peer_ok else "",
                "",
                "-",
                "info",
            ),
        ]
    elif dispatch.get("ours"):
        rows.append(("Dispatch", why_missing(ours), why_missing(peer), "", "", "FAIL"))
    rows += dispatch_cron_rows(dispatch)
    rows += queue_rows(dispatch)
    rows += e2e_rows(dispatch)
    return rows


def dispatch_cron_rows(dispatch):
    """The dispatch cron alone on the first run's email reminders, committed, in 1 and 2 processes
    (task_dispatch_cron): reminders dispatched per second of wall time, from the start to the last process's end."""
    queued = (dispatch.get("cron_queue") or {}).get("email_queued")
    rows, rates = [], {}
    for count in (1, 2):
        workers = dispatch.get(f"cron_{count}") or []
        if not workers:
            continue
        errors = _worker_errors(workers)
        ok = [w for w in workers if "started" in w]
        if errors or not ok:
            rows.append(
                (f"Dispatch cron, {count} process(es)", errors[0][:60] if errors else "n/a", "", "", "", "FAIL")
            )
            continue
        seconds = max(w["ended"] for w in ok) - min(w["started"] for w in ok)
        states = ok[-1].get("states") or {}
        done = sum(n for state, n in states.items() if state in ("sent", "failed"))
        left = max(w.get("left") or 0 for w in ok)
        rates[count] = done / seconds if seconds else 0
        label = (
            f"Dispatch cron, {count} process{'es' if count > 1 else ''} sharing the queue: email reminders per second"
            f" ({done:,} of {queued:,} in {seconds:,.1f} s{', budget hit' if left else ''})"
        )
        twice = max(w.get("mails", 0) - w.get("reminders_mailed", 0) for w in ok)
        if twice:
            label += f"; {twice:,} reminders mailed twice"
        speedup = f"{rates[count] / rates[1]:.2f}x speed-up" if count > 1 and rates.get(1) else ""
        ok_verdict = not left and not twice and rates[count] >= 200
        rows.append((label, num(rates[count]), "", speedup, ">= 200/s, none twice", verdict(ok_verdict)))
    return rows


def _worker_errors(workers):
    return [w.get("error") or f"timeout {w['timeout']} s" for w in workers if w.get("error") or "timeout" in w]


def floor_row(floor, rate):
    """Odoo's floor under the dispatch: the same emails, already rendered, stored as mail.mail (task_dispatch_floor);
    the ratio is ours against it, the target the dispatch's."""
    label = "  Odoo floor: the same mails and messages already rendered, stored by mail.mail.create (per second)"
    if not (available(floor) and floor.get("mails")):
        return (label, "", why_missing(floor), "", "-", "info")
    floor_rate = floor["mails"] / floor["seconds"]
    return (label, "", num(floor_rate), f"{rate / floor_rate:,.2f}x", "-", "info")


def queue_rows(dispatch):
    single, double = dispatch.get("queue_single") or {}, dispatch.get("queue_double") or {}
    if not single.get("workers"):
        return []
    rows = []
    errors = _worker_errors(single["workers"] + double.get("workers", []))
    sink1, sink2 = single.get("sink") or {}, double.get("sink") or {}
    outgoing = (dispatch.get("e2e_single") or {}).get("mails", {}).get("outgoing")
    wall1 = wall2 = None
    if sink1.get("last"):
        wall1 = sink1["last"] - min(w["started"] for w in single["workers"] if "started" in w)
        rows.append(
            (
                f"Mail queue to the SMTP sink, 1 process: messages per second ({sink1['messages']:,} of {outgoing:,})",
                num(sink1["messages"] / wall1),
                "",
                "",
                "-",
                "info",
            )
        )
    # A queue left outgoing at the end: the budget stopped it, and the two counts no longer compare.
    cut = any((w.get("states") or {}).get("outgoing") for w in single["workers"] + double.get("workers", []))
    if sink2.get("last"):
        wall2 = sink2["last"] - min(w["started"] for w in double["workers"] if "started" in w)
        rows.append(
            (
                "Mail queue in 2 processes: messages claimed twice; distinct accepted vs 1 process; calls aborted"
                + (" (stopped by the budget)" if cut else ""),
                (
                    f"{sink2['twice']:,} twice; {sink2['distinct']:,} vs {sink1.get('distinct', 0):,}; "
                    f"{sum(w.get('aborted') or 0 for w in double['workers'])}"
                ),
                "",
                "",
                "0; equal (when both finish), no worker error",
                verdict(not errors and sink2["twice"] == 0 and (cut or sink2["distinct"] == sink1.get("distinct"))),
            )
        )
    if wall1 and wall2:
        rate1, rate2 = sink1["messages"] / wall1, sink2["distinct"] / wall2
        rows.append(
            (
                "Mail queue: messages per second, 1 process / 2 processes (wall time s)",
                f"{num(rate1)} / {num(rate2)} ({num(wall1, 2)} / {num(wall2, 2)})",
                "",
                f"{rate2 / rate1:.2f}x speed-up",
                "-",
                "info",
            )
        )
    if errors:
        rows.append(("Mail queue: worker errors", f"{len(errors)}: {errors[0][:60]}", "", "", "0", "FAIL"))
    return rows


def e2e_rows(dispatch):
    """End to end, 1 process: the run and dispatch cron (e2e_single), then the mail queue of what they left
    (queue_single), one after the other as one process would; 2 processes: both together (e2e_double)."""
    single, queue = dispatch.get("e2e_single") or {}, dispatch.get("queue_single") or {}
    double = dispatch.get("e2e_double") or {}
    budget = dispatch.get("e2e_budget")
    rows = []
    if "dispatch_done" in single and not single.get("error") and queue.get("sink", {}).get("last"):
        queue_started = min(w["started"] for w in queue["workers"] if "started" in w)
        run_s = single["run_done"] - single["started"]
        dispatch_s = single["dispatch_done"] - single["started"]
        queue_s = queue["sink"]["last"] - queue_started
        seconds = dispatch_s + queue_s
        unfinished = single.get("dispatch_left") or any(w.get("states", {}).get("outgoing") for w in queue["workers"])
        rows.append(
            (
                "End to end, 1 process: run start to last message accepted by the sink (s)",
                (
                    f"{'>= ' if unfinished else ''}{num(seconds, 1)} (run {num(run_s, 1)}, "
                    f"dispatch {num(dispatch_s - run_s, 1)}, queue {num(queue_s, 1)})"
                ),
                "",
                "",
                "<= 300 s",
                verdict(not unfinished and seconds <= 300),
            )
        )
    elif single:
        problem = single.get("error", "")[:60] or why_missing(single)
        rows.append(("End to end, 1 process", problem, "", "", "<= 300 s", "FAIL"))
    workers, sink = double.get("workers") or [], double.get("sink") or {}
    if workers:
        errors = _worker_errors(workers)
        ok = [w for w in workers if "started" in w]
        if ok:
            last = max(ok, key=lambda w: w["ended"])
            seconds = (sink.get("last") or last["ended"]) - min(w["started"] for w in ok)
            sent = last.get("mails", {}).get("sent", 0)
            unfinished = any(w.get("dispatch_left") for w in ok) or last.get("mails", {}).get("outgoing", 0) > 0
            rows.append(
                (
                    "End to end, 2 processes (s); messages claimed twice",
                    (
                        f"{'>= ' if unfinished else ''}{num(seconds, 1)}; {sink['twice']:,} twice "
                        f"({sink['distinct']:,} distinct, {sent:,} sent)"
                    ),
                    "",
                    "",
                    "<= 300 s; 0",
                    verdict(not errors and not unfinished and seconds <= 300 and sink["twice"] == 0),
                )
            )
        calls = [
            f"{w['dispatch_idle']} / {w.get('dispatch_aborted', 0)} of {w['dispatch_calls']}"
            for w in ok
            if "dispatch_calls" in w
        ]
        if calls:
            rows.append(
                (
                    "  End to end, 2 processes: dispatch-cron calls that found their batch locked / rolled back",
                    ", ".join(calls),
                    "",
                    "",
                    "-",
                    "info",
                )
            )
        if errors:
            rows.append(
                ("End to end, 2 processes: worker errors", f"{len(errors)}: {errors[0][:60]}", "", "", "0", "FAIL")
            )
    if budget and rows:
        rows.append(
            (
                f"  (end-to-end runs stopped after {budget} s: '>=' marks one that did not finish)",
                "",
                "",
                "",
                "-",
                "info",
            )
        )
    return rows


def correct_auto(categories, category):
    return f"{num(share(categories, (category,), 'correct'))} / {num(share(categories, (category,), 'auto'))}"


def share(categories, names, key):
    lines = sum(categories.get(n, {}).get("lines", 0) for n in names)
    if not lines:
        return None
    return 100.0 * sum(categories.get(n, {}).get(key, 0) for n in names) / lines


def total(categories, key):
    return sum(stats.get(key, 0) for stats in categories.values())


HEADERS = ("Figure", "Ours", "Peer", "Ratio", "Target", "Verdict")


def render_table(rows):
    """A Markdown table, readable as is on a terminal."""
    widths = [max(len(str(row[i])) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]

    def line(cells):
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(HEADERS), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


# === MACHINE, DOCS === #


def machine():
    info = {"nproc": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as handle:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
        with open("/proc/meminfo") as handle:
            kib = int(next(line.split()[1] for line in handle if line.startswith("MemTotal")))
            info["memory_gib"] = round(kib / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    with contextlib.suppress(OSError):
        info["postgresql"] = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    return info


def git_revision():
    try:
        return subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return None


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def update_docs(report, table):
    """Replace this size's section of docs/benchmarks.md (between its markers) with the table just printed."""
    path = os.path.join(REPO, "docs", "benchmarks.md")
    size = report["size"]
    start, end = f"<!-- bench:{size}:start -->", f"<!-- bench:{size}:end -->"
    m, sizes = report["machine"], report["sizes"]
    body = (
        f"{start}\n"
        f"`{report['command']}` on {report['date']} (revision {report['git_revision']}): "
        f"{sizes['companies']} companies, {sizes['debtors']:,} debtors, {sizes['invoices']:,} invoices, "
        f"{sizes['statement_lines']:,} statement lines; seed {report['seed']}. "
        f"Machine: {m.get('nproc')} cores ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB, "
        f"{m.get('postgresql', '?')}, Python {m.get('python')}; load average (1, 5, 15 min) "
        f"{report['load_average']['start']} at the start, {report['load_average']['end']} at the end. "
        f"Bench time {report['results']['bench_seconds']} s "
        f"(database reused: {report['results'].get('dataset', {}).get('reused')}).\n\n"
        f"{table}\n"
        f"{end}"
    )
    with open(path) as handle:
        text = handle.read()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no {start} ... {end} markers")
    with open(path, "w") as handle:
        handle.write(pattern.sub(lambda _m: body, text))
    print(f"updated: docs/benchmarks.md ({size})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=sorted(common.SIZES))
    parser.add_argument("--seed", type=int, default=common.DEFAULT_SEED)
    parser.add_argument("--db", help="bench database name (default rd_bench_<size>)")
    parser.add_argument("--output", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--log-dir", default=os.path.join(os.environ.get("RD_STATE_DIR", "/var/tmp"), "bench-logs"))
    parser.add_argument("--http-port", type=int, default=8269)
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections: dunning, matching, reconcile, portal, cron, letters, dispatch, risk",
    )
    parser.add_argument("--update-docs", action="store_true", help="rewrite this size's table in docs/benchmarks.md")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    common.add_connection_arguments(parser)
    args = parser.parse_args()
    args.skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    sys.exit(Bench(args).run())


if __name__ == "__main__":
    main()
