"""One measurement per process: `python benchmarks/worker.py TASK --db DB [connection options]`.

A fresh process per measurement keeps the peak-memory figure (ru_maxrss growth) honest and the registry caches
cold in the same way for us and for the peers. Measured work is rolled back, so that every measurement sees the
same data; only the `cron` tasks and the dispatch section's `mail_*` and `dispatch_e2e` tasks commit, on copies of
the bench database. The result is printed as one line ``RD_BENCH_RESULT {json}`` (see common.emit).
"""

import argparse
import contextlib
import os
import resource
import socket
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import dataset


def task_generate(args):
    """Fill the bench database unless it already holds this version, seed and sizes."""
    sizes = common.SIZES[args.size]
    wanted = dataset.wanted_meta(common.GENERATOR_VERSION, args.seed, sizes)
    with common.environment(args, args.db) as (_odoo, env):
        meta = dataset.read_meta(env.cr)
        if dataset.is_current(meta, wanted):
            return {"reused": True, **meta}
        if meta:
            raise SystemExit(f"{args.db} holds another dataset ({meta.get('sizes')}); drop it first")
        started = time.perf_counter()
        meta = dataset.generate(
            env, args.seed, sizes, common.PORTAL_INVOICES, common.PORTAL_LOGIN, common.PORTAL_PASSWORD
        )
        dataset.write_meta(env.cr, {**wanted, "complete": True, "generated_in": time.perf_counter() - started})
        env.cr.commit()
        env.cr.execute("ANALYZE")
        return {"reused": False, **meta, "seconds": round(time.perf_counter() - started, 1)}


def _meta(env):
    meta = dataset.read_meta(env.cr)
    if not meta.get("complete"):
        raise SystemExit("the bench database has no complete dataset")
    return meta


def _unpartitioned(env):
    """This section measures one run in one transaction: the run is not split (the cron section splits it)."""
    env["ir.config_parameter"].set_param("receivable_dunning.run_partition_size", 0)


def _open_invoice_count(env, company_ids):
    env.cr.execute(
        """SELECT count(*) FROM account_move WHERE move_type = 'out_invoice' AND state = 'posted'
           AND payment_state IN ('not_paid', 'partial') AND company_id = ANY(%s)""",
        [company_ids],
    )
    return env.cr.fetchone()[0]


def task_dunning_ours(args):
    """Our dunning run over every company (select, level, queue), reminders queued, nothing sent."""
    with common.environment(args, args.db) as (_odoo, env):
        meta = _meta(env)
        asof = date.fromisoformat(meta["asof"])
        companies = env["res.company"].browse(int(c) for c in meta["companies"])
        invoices = _open_invoice_count(env, companies.ids)
        _unpartitioned(env)
        env["dunning.run"].search([], limit=1)  # the registry is loaded, as in a running server
        with common.Probe() as probe:
            for company in companies:
                run = (
                    env["dunning.run"]
                    .with_company(company)
                    .create({"company_id": company.id, "trigger": "scheduled", "mode": "send", "date": asof})
                )
                run._execute()
            env.flush_all()
        env.cr.execute("SELECT count(*) FROM dunning_reminder WHERE state = 'queued'")
        reminders = env.cr.fetchone()[0]
        env.cr.execute("SELECT count(*), count(*) FILTER (WHERE is_escalation) FROM dunning_reminder_line")
        lines, escalations = env.cr.fetchone()
        env.cr.rollback()
        return {
            **probe.as_dict(),
            "invoices": invoices,
            "reminders": reminders,
            "reminder_lines": lines,
            "escalations": escalations,
        }


def task_dunning_profile(args):
    """Where our dunning run's queries come from: the first frame in receivable_dunning (else the caller in odoo)
    and the query's first words, counted, top 15. For the module's developers; not part of `make bench`."""
    import traceback

    counts = Counter()

    def counting_execute(cursor, query, params=None, log_exceptions=True):
        frames = traceback.extract_stack(limit=40)[:-1]
        ours = [f for f in frames if "receivable_dunning" in f.filename]
        frame = ours[-1] if ours else frames[-1]
        text = " ".join(str(getattr(query, "code", query)).split())[:70]
        counts[f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name} | {text}"] += 1
        return original(cursor, query, params, log_exceptions)

    with common.environment(args, args.db) as (odoo, env):
        sql_db = odoo.sql_db
        original = sql_db.Cursor.execute
        meta = _meta(env)
        asof = date.fromisoformat(meta["asof"])
        _unpartitioned(env)
        env["dunning.run"].search([], limit=1)
        sql_db.Cursor.execute = counting_execute
        try:
            for company in env["res.company"].browse(int(c) for c in meta["companies"]):
                env["dunning.run"].with_company(company).create(
                    {"company_id": company.id, "trigger": "scheduled", "mode": "send", "date": asof}
                )._execute()
            env.flush_all()
        finally:
            sql_db.Cursor.execute = original
        env.cr.rollback()
        return {"total": sum(counts.values()), "top": counts.most_common(15)}


def task_dunning_peer(args):
    """OCA account_credit_control: credit control lines of the same invoices on the same date."""
    with common.environment(args, args.db) as (_odoo, env):
        meta = _meta(env)
        if "credit.control.run" not in env:
            return {"available": False}
        asof = date.fromisoformat(meta["asof"])
        companies = env["res.company"].browse(int(c) for c in meta["companies"])
        invoices = _open_invoice_count(env, companies.ids)
        env["credit.control.run"].search([], limit=1)
        with common.Probe() as probe:
            for company in companies:
                run = (
                    env["credit.control.run"]
                    .with_company(company)
                    .create(
                        {"date": asof, "company_id": company.id, "policy_ids": [(6, 0, company.credit_policy_id.ids)]}
                    )
                )
                run.generate_credit_lines()
            env.flush_all()
        env.cr.execute("SELECT count(*), count(DISTINCT partner_id) FROM credit_control_line")
        lines, partners = env.cr.fetchone()
        env.cr.rollback()
        return {**probe.as_dict(), "invoices": invoices, "credit_lines": lines, "debtors": partners}


def _expected(env):
    env.cr.execute(f"SELECT st_line_id, category, move_ids FROM {dataset.EXPECTED_TABLE} ORDER BY st_line_id")
    return {st_id: (category, frozenset(moves)) for st_id, category, moves in env.cr.fetchall()}


def _score(expected, found, auto):
    """Accuracy per noise category.

    :param dict expected: statement line id -> (category, frozenset of invoice ids)
    :param dict found: statement line id -> frozenset of the invoice ids proposed (empty: no proposal)
    :param set auto: statement line ids that would be reconciled automatically
    """
    per = defaultdict(Counter)
    for st_id, (category, moves) in expected.items():
        proposal = found.get(st_id, frozenset())
        stats = per[category]
        stats["lines"] += 1
        stats["correct"] += proposal == moves
        stats["wrong"] += bool(proposal) and proposal != moves
        stats["none"] += not proposal
        stats["auto"] += st_id in auto
        stats["auto_correct"] += st_id in auto and proposal == moves
        stats["false_auto"] += st_id in auto and proposal != moves
    return {category: dict(stats) for category, stats in sorted(per.items())}


def task_match_ours(args):
    """Our matcher: proposals for every bench statement line against all open items, as one batch."""
    with common.environment(args, args.db) as (_odoo, env):
        _meta(env)
        expected = _expected(env)
        lines = env["account.bank.statement.line"].browse(sorted(expected))
        lines.journal_id.dunning_auto_reconcile_threshold = common.AUTO_RECONCILE_THRESHOLD
        env.cr.execute(
            "SELECT count(*) FROM account_move_line aml JOIN account_account a ON a.id = aml.account_id "
            "WHERE a.account_type = 'asset_receivable' AND NOT aml.reconciled AND aml.parent_state = 'posted'"
        )
        open_items = env.cr.fetchone()[0]
        with common.Probe() as probe:
            proposals = lines._dunning_match_proposals()
        aml_move = {}
        item_ids = {item.line_id for proposal in proposals for item in proposal.items}
        if item_ids:
            env.cr.execute("SELECT id, move_id FROM account_move_line WHERE id = ANY(%s)", [list(item_ids)])
            aml_move = dict(env.cr.fetchall())
        found, auto, by_line = {}, set(), {}
        threshold = {line.id: line.journal_id.dunning_auto_reconcile_threshold for line in lines}
        for proposal in proposals:
            found[proposal.bank_line_id] = frozenset(aml_move[item.line_id] for item in proposal.items)
            by_line[proposal.bank_line_id] = proposal
            if proposal.items and not proposal.ambiguous and proposal.score >= threshold[proposal.bank_line_id] > 0:
                auto.add(proposal.bank_line_id)
        misses = _misses(env, expected, found, auto, by_line)
        env.cr.rollback()
        return {
            **probe.as_dict(),
            "lines": len(lines),
            "open_items": open_items,
            "categories": _score(expected, found, auto),
            "misses": misses,
        }


def _misses(env, expected, found, auto, by_line, per_category=4):
    """A few statement lines per category that were matched wrongly or auto-reconciled wrongly: to read, not scored."""
    samples = defaultdict(list)
    for st_id, (category, moves) in sorted(expected.items()):
        proposal = found.get(st_id, frozenset())
        if proposal == moves or (not proposal and not moves) or len(samples[category]) >= per_category:
            continue
        line = env["account.bank.statement.line"].browse(st_id)
        details = by_line.get(st_id)
        samples[category].append(
            {
                "line": st_id,
                "company": line.company_id.id,
                "label": line.payment_ref,
                "iban": line.account_number,
                "amount": line.amount,
                "expected": sorted(env["account.move"].browse(moves).mapped(lambda m: f"{m.name}@{m.company_id.id}")),
                "found": sorted(env["account.move"].browse(proposal).mapped(lambda m: f"{m.name}@{m.company_id.id}")),
                "reason": getattr(details, "reason", None),
                "score": getattr(details, "score", None),
                "auto": st_id in auto,
            }
        )
    return dict(samples)


def task_match_peer(args):
    """OCA account_reconcile_oca `_do_auto_reconcile_invoices` on the same lines, in chunks, within a budget."""
    with common.environment(args, args.db, context={"_test_account_reconcile_oca": True}) as (_odoo, env):
        _meta(env)
        Line = env["account.bank.statement.line"]
        if not hasattr(Line, "_do_auto_reconcile_invoices"):
            return {"available": False}
        expected = _expected(env)
        ids = sorted(expected)
        found, auto, seconds, done_lines, queries = {}, set(), 0.0, 0, 0
        rss_before = common.max_rss_mib()
        deadline = time.perf_counter() + args.budget
        for start in range(0, len(ids), args.chunk):
            if time.perf_counter() > deadline:
                break
            chunk = Line.browse(ids[start : start + args.chunk])
            with common.Probe() as probe:
                _todo, done = chunk._do_auto_reconcile_invoices()
            seconds += probe.seconds
            queries += probe.queries
            done_lines += len(chunk)
            auto |= set(done.ids)
            # What the peer's query picked (untimed): its single journal item per statement line.
            env.cr.execute(
                chunk._do_auto_reconcile_invoices_query().select(
                    "account_bank_statement_line.id", "max(account_move_line.move_id)"
                )
            )
            for st_id, move_id in env.cr.fetchall():
                found[st_id] = frozenset([move_id])
            env.cr.rollback()
        measured = {st_id: expected[st_id] for st_id in ids[:done_lines]}
        return {
            "seconds": round(seconds, 3),
            "queries": queries,
            "peak_memory_mib": round(common.max_rss_mib() - rss_before, 1),
            "lines": done_lines,
            "lines_total": len(ids),
            "extrapolated_seconds": round(seconds * len(ids) / done_lines, 1) if done_lines else None,
            "categories": _score(measured, found, auto),
        }


def _dun_before_reconcile(env, meta):
    """Untimed set-up of the reconciliation tasks: a dunning run queues reminders, and the invoices they escalate
    carry that level as if they were sent, so that a payment withdraws pending reminders and queues thank-yous."""
    _first_run(env)
    asof = date.fromisoformat(meta["asof"])
    env.cr.execute(
        """UPDATE account_move move SET dunning_level_id = line.level_id, dunning_last_date = %s
             FROM dunning_reminder_line line
            WHERE line.move_id = move.id AND line.is_escalation""",
        [asof],
    )
    env.invalidate_all()


def _auto_lines(env, ids):
    """The statement lines among ``ids`` that our auto-reconcile cron would reconcile (its threshold, unambiguous)."""
    lines = env["account.bank.statement.line"].browse(ids)
    lines.journal_id.dunning_auto_reconcile_threshold = common.AUTO_RECONCILE_THRESHOLD
    return lines.browse(
        proposal.bank_line_id
        for proposal in lines._dunning_match_proposals()
        if proposal.items and not proposal.ambiguous and proposal.score >= common.AUTO_RECONCILE_THRESHOLD
    )


def _reconcile_in_chunks(env, lines, reconcile, args):
    """Reconcile ``lines`` chunk by chunk with ``reconcile(chunk)`` (which returns the lines it reconciled), timed,
    until done or ``args.budget`` seconds of measured work; the work is kept (rolled back by the caller)."""
    seconds, queries, reconciled, tried = 0.0, 0, 0, 0
    rss_before = common.max_rss_mib()
    for start in range(0, len(lines), args.chunk):
        if seconds > args.budget:
            break
        chunk = lines[start : start + args.chunk]
        with common.Probe() as probe:
            done = reconcile(chunk)
            env.flush_all()
        seconds += probe.seconds
        queries += probe.queries
        reconciled += len(done)
        tried += len(chunk)
    return {
        "seconds": round(seconds, 3),
        "queries": queries,
        "peak_memory_mib": round(common.max_rss_mib() - rss_before, 1),
        "lines": tried,
        "lines_total": len(lines),
        "reconciled": reconciled,
        "lines_per_second": round(reconciled / seconds, 2) if seconds else None,
    }


def task_reconcile_ours(args):
    """Our auto-reconcile cron's method (`_dunning_auto_reconcile`: matching, entries, reconciliation, what follows a
    payment) on the statement lines it would reconcile, in the cron's batches, within a budget."""
    with common.environment(args, args.db) as (_odoo, env):
        meta = _meta(env)
        _dun_before_reconcile(env, meta)
        lines = _auto_lines(env, sorted(_expected(env)))
        env.flush_all()
        result = _reconcile_in_chunks(env, lines, lambda chunk: chunk._dunning_auto_reconcile(), args)
        env.cr.execute("SELECT count(*) FROM dunning_reminder WHERE reminder_type = 'thanks'")
        result["thanks_queued"] = env.cr.fetchone()[0]
        env.cr.rollback()
        return result


@contextlib.contextmanager
def _without_payment_effects():
    """The module's reactions to a payment switched off (the paid hook: reminders withdrawn, thank-yous queued, plans
    checked; the promises kept): what is left of a reconciliation is Odoo's."""
    from odoo.addons.receivable_dunning.models import account_move, account_move_line

    def odoo_paid_hook(self):
        return super(account_move.AccountMove, self)._invoice_paid_hook()

    def odoo_post_hook(self, data):
        return super(account_move_line.AccountMoveLine, self)._reconcile_post_hook(data)

    with (
        mock.patch.object(account_move.AccountMove, "_invoice_paid_hook", odoo_paid_hook),
        mock.patch.object(account_move_line.AccountMoveLine, "_reconcile_post_hook", odoo_post_hook),
    ):
        yield


def task_reconcile_floor(args):
    """The floor of our rate: on the same statement lines, in the same batches, only what Odoo must do to reconcile
    them: each bank entry's suspense line replaced by its counterparts and all reconciled in one plan (our batch, the
    same ORM calls), without our matching (the items are known beforehand) and without the payment's effects."""
    with common.environment(args, args.db) as (_odoo, env):
        meta = _meta(env)
        _dun_before_reconcile(env, meta)
        lines = _auto_lines(env, sorted(_expected(env)))
        Item = env["account.move.line"]
        items = {
            proposal.bank_line_id: Item.browse(item.line_id for item in proposal.items)
            for proposal in lines._dunning_match_proposals()
        }
        env.flush_all()

        def reconcile(chunk):
            return chunk._dunning_reconcile_batch({line: items[line.id] for line in chunk})

        with _without_payment_effects():
            result = _reconcile_in_chunks(env, lines, reconcile, args)
        env.cr.execute("SELECT count(*) FROM dunning_reminder WHERE reminder_type = 'thanks'")
        result["thanks_queued"] = env.cr.fetchone()[0]
        env.cr.rollback()
        return result


def task_reconcile_peer(args):
    """OCA account_reconcile_oca's auto-reconciliation (`_auto_reconcile`: its rules, its invoice query, then
    `reconcile_bank_line`) on the same statement lines as ours, in chunks, within a budget."""
    with common.environment(args, args.db, context={"_test_account_reconcile_oca": True}) as (_odoo, env):
        meta = _meta(env)
        Line = env["account.bank.statement.line"]
        if not hasattr(Line, "_auto_reconcile"):
            return {"available": False}
        _dun_before_reconcile(env, meta)
        lines = _auto_lines(env, sorted(_expected(env)))
        env.flush_all()

        def reconcile(chunk):
            chunk._auto_reconcile()
            return chunk.filtered("is_reconciled")

        result = _reconcile_in_chunks(env, lines, reconcile, args)
        env.cr.rollback()
        return result


def task_reconcile_profile(args):
    """Where our auto-reconciliation spends its time: cProfile of the cron's method on the lines it would
    reconcile, top functions by cumulative time, and the queries (count, time) by the receivable_dunning line that
    caused them.
    For the module's developers; not part of `make bench`."""
    import cProfile
    import io
    import pstats
    import traceback

    counts, milliseconds, stacks = Counter(), Counter(), {}

    def counting_execute(cursor, query, params=None, log_exceptions=True):
        frames = traceback.extract_stack(limit=60)[:-1]
        ours = [f for f in frames if "receivable_dunning" in f.filename]
        frame = ours[-1] if ours else frames[-1]
        text = " ".join(str(getattr(query, "code", query)).split())[:60]
        key = f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name} | {text}"
        if key not in stacks:
            stacks[key] = [f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in frames[-25:]]
        started = time.perf_counter()
        try:
            return original(cursor, query, params, log_exceptions)
        finally:
            counts[key] += 1
            milliseconds[key] += (time.perf_counter() - started) * 1000

    with common.environment(args, args.db) as (odoo, env):
        meta = _meta(env)
        _dun_before_reconcile(env, meta)
        lines = _auto_lines(env, sorted(_expected(env)))[: args.chunk]
        env.flush_all()
        sql_db = odoo.sql_db
        original = sql_db.Cursor.execute
        profiler = cProfile.Profile()
        sql_db.Cursor.execute = counting_execute
        try:
            started = time.perf_counter()
            profiler.enable()
            done = lines._dunning_auto_reconcile()
            env.flush_all()
            profiler.disable()
            seconds = time.perf_counter() - started
        finally:
            sql_db.Cursor.execute = original
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        env.cr.rollback()
        return {
            "lines": len(lines),
            "reconciled": len(done),
            "seconds": round(seconds, 2),
            "queries": sum(counts.values()),
            "top_queries": counts.most_common(25),
            "slowest_queries_ms": [(key, round(ms), counts[key]) for key, ms in milliseconds.most_common(15)],
            "stacks": {key: stacks[key] for key, _count in counts.most_common(12)},
            "profile": out.getvalue(),
        }


def task_portal_info(args):
    """What the portal load needs: the debtor, its open invoices, our statement URL (absent from older versions)."""
    with common.environment(args, args.db) as (_odoo, env):
        meta = _meta(env)
        partner = env["res.partner"].browse(meta["portal_partner_id"])
        open_count = _open_invoice_count(env, [int(c) for c in meta["companies"]])
        env.cr.execute(
            "SELECT count(*) FROM account_move WHERE commercial_partner_id = %s AND state = 'posted' "
            "AND move_type = 'out_invoice' AND payment_state IN ('not_paid', 'partial')",
            [partner.id],
        )
        debtor_open = env.cr.fetchone()[0]
        env.cr.execute(
            "SELECT company_id FROM account_move WHERE commercial_partner_id = %s AND move_type = 'out_invoice' "
            "GROUP BY company_id ORDER BY count(*) DESC LIMIT 1",
            [partner.id],
        )
        company = env["res.company"].browse(env.cr.fetchone()[0])
        if "dunning.statement" in env:
            url = env["dunning.statement"]._url(partner, company)
        elif hasattr(partner, "_dunning_statement_url"):  # releases before the statement service
            url = partner._dunning_statement_url(company)
        else:
            url = None
        return {
            "partner_id": partner.id,
            "debtor_open_invoices": debtor_open,
            "open_invoices": open_count,
            "statement_url": url,
        }


def task_cron(args):
    """The daily dunning cron, then the partitions cron, as a cron worker runs them; with --barrier, once every
    worker of the race is ready.

    The daily cron creates each company's run and splits it into partitions (cron_prepare set their size); the
    partitions cron claims and processes partitions until none is left, as every worker of the race does.
    The worker creates ``<barrier>.ready.<pid>`` when its registry is loaded, then waits for ``<barrier>.go``,
    which the bench creates once all are ready: the workers start within a few milliseconds of each other.
    """
    with common.environment(args, args.db) as (_odoo, env):
        env["dunning.run"].search([], limit=1)
        env.cr.rollback()
        if args.barrier:
            wait_at_barrier(args.barrier)
        started = time.time()
        error = None
        try:
            env["dunning.run"]._cron_dunning_run()
            env.cr.commit()
            env["dunning.run.partition"]._cron_run_partitions()
            env.cr.commit()
        except Exception as exc:  # reported, not hidden: a second worker must not fail
            error = repr(exc)
            env.cr.rollback()
        ended = time.time()
        env.cr.execute(
            "SELECT array_agg(id ORDER BY id) FROM dunning_run_partition WHERE worker = %s",
            [f"{socket.gethostname()}:{os.getpid()}"],
        )
        partitions = env.cr.fetchone()[0] or []
        return {
            "started": started,
            "ended": ended,
            "seconds": round(ended - started, 3),
            "error": error,
            "partitions": partitions,
        }


def wait_at_barrier(barrier, timeout=120):
    with open(f"{barrier}.ready.{os.getpid()}", "w"):
        pass
    deadline = time.monotonic() + timeout
    while not os.path.exists(f"{barrier}.go") and time.monotonic() < deadline:
        time.sleep(0.002)


def task_cron_prepare(args):
    """The size of the run's partitions for this bench size; unless --first-run, as on any day but the first of a
    year: the run and reminder sequences already have this year's range."""
    with common.environment(args, args.db) as (_odoo, env):
        size = common.CRON_PARTITION_SIZE[args.size]
        env["ir.config_parameter"].set_param("receivable_dunning.run_partition_size", size)
        if not args.first_run:
            for code in ("dunning.run", "dunning.reminder"):
                env["ir.sequence"].next_by_code(code)
        env.cr.commit()
        return {"prepared": True, "partition_size": size}


def task_cron_check(args):
    """After the cron: reminders queued, and (invoice, level, channel) escalations claimed more than once."""
    with common.environment(args, args.db) as (_odoo, env):
        env.cr.execute(
            """SELECT count(*) FROM (
                   SELECT 1 FROM dunning_reminder_line
                    WHERE is_escalation AND state IS DISTINCT FROM 'cancelled'
                 GROUP BY move_id, level_id, channel HAVING count(*) > 1) AS dup"""
        )
        duplicates = env.cr.fetchone()[0]
        env.cr.execute("SELECT count(*) FROM dunning_reminder_line WHERE is_escalation")
        escalations = env.cr.fetchone()[0]
        env.cr.execute("SELECT count(*) FROM dunning_reminder")
        reminders = env.cr.fetchone()[0]
        env.cr.execute("SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM dunning_run")
        runs, runs_done = env.cr.fetchone()
        # Each partition done once: done, without a failed attempt, and its reminders those of the whole run.
        env.cr.execute(
            """SELECT count(*), count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE attempt_count > 0),
                      COALESCE(sum(reminder_count), 0), COALESCE(sum(duration), 0)
                 FROM dunning_run_partition"""
        )
        partitions, partitions_done, partitions_retried, partition_reminders, partition_seconds = env.cr.fetchone()
        env.cr.execute(
            """SELECT count(*) FROM dunning_reminder
                WHERE run_id IN (SELECT run_id FROM dunning_run_partition)"""
        )
        partitioned_reminders = env.cr.fetchone()[0]
        env.cr.execute("SELECT array_agg(id) FROM res_company")
        invoices = _open_invoice_count(env, env.cr.fetchone()[0])
        return {
            "invoices": invoices,
            "duplicates": duplicates,
            "escalations": escalations,
            "reminders": reminders,
            "runs": runs,
            "runs_done": runs_done,
            "partitions": partitions,
            "partitions_done": partitions_done,
            "partitions_retried": partitions_retried,
            "partition_reminders": partition_reminders,
            "partitioned_reminders": partitioned_reminders,
            "partition_seconds": round(float(partition_seconds), 3),
        }


def _serve_http(odoo, env, port):
    """Odoo's HTTP server in this process, on ``port``: wkhtmltopdf loads the reports' styles from it, as from a
    running server."""
    from odoo.service.server import ThreadedServer
    from odoo.tools import config

    config["http_interface"], config["http_port"] = "127.0.0.1", port
    ThreadedServer(odoo.http.root).http_spawn()
    env["ir.config_parameter"].set_param("report.url", f"http://127.0.0.1:{port}")


@contextlib.contextmanager
def _counting_wkhtmltopdf():
    """Count the wkhtmltopdf processes started in the block (they still run) and add up their wall time in
    ``run_wkhtmltopdf.seconds``."""
    from odoo.addons.base.models import ir_actions_report

    run = ir_actions_report._run_wkhtmltopdf

    def timed_run(args):
        started = time.perf_counter()
        try:
            return run(args)
        finally:
            run_wkhtmltopdf.seconds += time.perf_counter() - started

    with mock.patch.object(ir_actions_report, "_run_wkhtmltopdf", wraps=timed_run) as run_wkhtmltopdf:
        run_wkhtmltopdf.seconds = 0.0
        yield run_wkhtmltopdf


def _cpu_seconds():
    """CPU time of this process and of its finished children (wkhtmltopdf): on a shared machine, wall time also
    counts the time others took."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def _timed(render, count):
    """Seconds, CPU seconds, wkhtmltopdf processes and queries of ``render()``, which renders ``count`` documents."""
    cpu = _cpu_seconds()
    with _counting_wkhtmltopdf() as run_wkhtmltopdf, common.Probe() as probe:
        render()
    return {
        **probe.as_dict(),
        "cpu_seconds": round(_cpu_seconds() - cpu, 3),
        "documents": count,
        "processes": run_wkhtmltopdf.call_count,
        "wkhtmltopdf_seconds": round(run_wkhtmltopdf.seconds, 3),
    }


def task_letters(args):
    """Reminder letters and invoice PDFs as PDF: ours in batches (``_render_letters``, ``_invoice_documents``, a
    dispatch batch of 100 at a time) vs Odoo's ``_render_qweb_pdf`` one document per call, on the reminders and
    invoices of a dunning run of the bench database. The peer renders a sample (``--peer-sample``): each of its
    calls costs the same."""
    with common.environment(args, args.db) as (odoo, env):
        meta = _meta(env)
        _serve_http(odoo, env, args.http_port)
        _unpartitioned(env)  # a partitioned run (full size) queues its reminders in the partition cron, not here
        asof = date.fromisoformat(meta["asof"])
        for company in env["res.company"].browse(int(c) for c in meta["companies"]):
            env["dunning.run"].with_company(company).create(
                {"company_id": company.id, "trigger": "scheduled", "mode": "send", "date": asof}
            )._execute()
        reminders = env["dunning.reminder"].search(
            [("state", "=", "queued"), ("reminder_type", "=", "reminder")], limit=args.letters, order="id"
        )
        moves = reminders.line_ids.move_id.filtered(lambda move: not move.invoice_pdf_report_id)[: args.invoices]
        Report = env["ir.actions.report"]
        letter_report = "receivable_dunning.action_report_dunning_letter"
        Report._render_qweb_pdf(letter_report, reminders[:1].ids)  # the styles' bundle built and served once
        batches = [reminders[start : start + 100] for start in range(0, len(reminders), 100)]
        result = {
            "letters_ours": _timed(lambda: [batch._render_letters() for batch in batches], len(reminders)),
            "invoices_ours": _timed(lambda: env["dunning.reminder"]._invoice_documents(moves), len(moves)),
        }
        sample = reminders[: args.peer_sample]
        result["letters_peer"] = _timed(
            lambda: [Report._render_qweb_pdf(letter_report, reminder.ids) for reminder in sample], len(sample)
        )
        sample = moves[: args.peer_sample]
        result["invoices_peer"] = _timed(
            lambda: [Report._render_qweb_pdf("account.account_invoices", move.ids) for move in sample], len(sample)
        )
        env.cr.rollback()
        return result


# === DISPATCH: the reminders rendered, queued in Odoo's mail queue and handed to a mail server === #


def _first_run(env):
    """The first dunning run of every company on the dataset's date, as task_dunning_ours runs it (not measured)."""
    _unpartitioned(env)
    meta = _meta(env)
    asof = date.fromisoformat(meta["asof"])
    for company in env["res.company"].browse(int(c) for c in meta["companies"]):
        env["dunning.run"].with_company(company).create(
            {"company_id": company.id, "trigger": "scheduled", "mode": "send", "date": asof}
        )._execute()
    env.flush_all()


def _email_dispatch_domain(env):
    """The dispatch cron's domain (``_cron_dunning_dispatch``), restricted to the email reminders."""
    from odoo import fields

    today = fields.Date.context_today(env["dunning.reminder"])
    return [("state", "=", "queued"), ("date_scheduled", "<=", today), ("channel", "=", "email")]


def _dispatch_batch_size(env):
    return int(env["ir.config_parameter"].sudo().get_param("receivable_dunning.dispatch_batch_size", 100))


def _max_id(env, table):
    env.cr.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    return env.cr.fetchone()[0]


def task_dispatch_ours(args):
    """The first run's queued email reminders dispatched as the cron does: batches of the cron's size, in its order,
    locked with try_lock_for_update, then ``_dispatch()`` (the cron without its commit). --limit caps the reminders
    measured, --budget the seconds; the work is rolled back. A failed reminder (invalid address) counts as
    measured: it leaves the queue as a sent one does."""
    with common.environment(args, args.db) as (_odoo, env):
        _first_run(env)
        Reminder = env["dunning.reminder"]
        domain = _email_dispatch_domain(env)
        batch_size = _dispatch_batch_size(env)
        queued = Reminder.search_count(domain)
        limit = min(args.limit or queued, queued)
        mail_before = _max_id(env, "mail_mail")
        env.invalidate_all()  # the cron starts in a new transaction: nothing of the run in the caches
        done, seen = [], set()
        deadline = time.perf_counter() + args.budget
        with common.Probe() as probe:
            while len(done) < limit and time.perf_counter() < deadline:
                batch = Reminder.search(
                    domain, limit=min(batch_size, limit - len(done)), order="attempt_count, id"
                ).try_lock_for_update()
                if not batch or seen & set(batch.ids):
                    break
                batch._dispatch()
                env.flush_all()
                seen |= set(batch.ids)
                done += batch.ids
        env.cr.execute("SELECT count(*) FROM mail_mail WHERE id > %s", [mail_before])
        mails = env.cr.fetchone()[0]
        env.cr.execute(
            """SELECT state, count(*), count(mail_id) FROM dunning_reminder WHERE id = ANY(%s) GROUP BY state""",
            [done],
        )
        states = {state: count for state, count, _mails in env.cr.fetchall()}
        env.cr.execute(
            """SELECT p.lang, count(*) FROM dunning_reminder r
                 JOIN res_partner p ON p.id = coalesce(r.recipient_id, r.partner_id)
                WHERE r.id = ANY(%s) AND r.mail_id IS NOT NULL GROUP BY p.lang ORDER BY p.lang""",
            [done],
        )
        languages = dict(env.cr.fetchall())
        # Rendered in the recipient's language: one subject per language among the mails (the reference left out).
        env.cr.execute(
            """SELECT p.lang, count(DISTINCT regexp_replace(m.subject, '[(].*[)]|^[^:]*:', '', 'g'))
                 FROM dunning_reminder r JOIN mail_mail mm ON mm.id = r.mail_id
                 JOIN mail_message m ON m.id = mm.mail_message_id
                 JOIN res_partner p ON p.id = coalesce(r.recipient_id, r.partner_id)
                WHERE r.id = ANY(%s) GROUP BY p.lang""",
            [done],
        )
        subjects_per_lang = dict(env.cr.fetchall())
        env.cr.execute(
            """SELECT count(DISTINCT regexp_replace(m.subject, '[(].*[)]|^[^:]*:', '', 'g'))
                 FROM dunning_reminder r JOIN mail_mail mm ON mm.id = r.mail_id
                 JOIN mail_message m ON m.id = mm.mail_message_id WHERE r.id = ANY(%s)""",
            [done],
        )
        distinct_subjects = env.cr.fetchone()[0]
        env.cr.rollback()
        return {
            **probe.as_dict(),
            "email_queued": queued,
            "limit": limit,
            "reminders": len(done),
            "mails": mails,
            "states": states,
            "languages": languages,
            "subjects_per_language": subjects_per_lang,
            "distinct_subjects": distinct_subjects,
            "batch_size": batch_size,
            "budget": args.budget,
            "budget_hit": len(done) < limit,
        }


def task_dispatch_peer(args):
    """Odoo's mass-mail composer with account's invoice email template, on one open invoice of each debtor that
    got an email reminder in task_dispatch_ours: the same run, the first --limit email reminders in the cron's order
    (those ours measured), by chunks of the cron's batch size; queued, not sent; rolled back."""
    with common.environment(args, args.db) as (_odoo, env):
        from odoo.tools import email_normalize, split_every

        _first_run(env)
        domain = _email_dispatch_domain(env)
        reminder_ids = env["dunning.reminder"].search(domain, limit=args.limit or None, order="attempt_count, id").ids
        # The debtors whose reminder got an email (a valid address: ours fails the others), each with the oldest
        # invoice its reminder lists.
        env.cr.execute(
            """SELECT r.id, p.email, min(l.move_id) FROM dunning_reminder r
                 JOIN dunning_reminder_line l ON l.reminder_id = r.id
                 JOIN res_partner p ON p.id = coalesce(r.recipient_id, r.partner_id)
                WHERE r.id = ANY(%s) GROUP BY r.id, p.email""",
            [reminder_ids],
        )
        move_of = {rid: move_id for rid, email, move_id in env.cr.fetchall() if email_normalize(email or "")}
        move_ids = [move_of[rid] for rid in reminder_ids if rid in move_of]
        template = env.ref("account.email_template_edi_invoice")
        batch_size = _dispatch_batch_size(env)
        mail_before = _max_id(env, "mail_mail")
        env.invalidate_all()
        done = 0
        deadline = time.perf_counter() + args.budget
        with common.Probe() as probe:
            for chunk in split_every(batch_size, move_ids, list):
                if time.perf_counter() > deadline:
                    break
                composer = (
                    env["mail.compose.message"]
                    .with_context(active_model="account.move", active_ids=chunk)
                    .create(
                        {
                            "composition_mode": "mass_mail",
                            "model": "account.move",
                            "res_ids": repr(chunk),
                            "template_id": template.id,
                            "force_send": False,
                        }
                    )
                )
                composer._action_send_mail()
                env.flush_all()
                done += len(chunk)
        env.cr.execute("SELECT count(*) FROM mail_mail WHERE id > %s", [mail_before])
        mails = env.cr.fetchone()[0]
        env.cr.execute(
            "SELECT count(DISTINCT p.lang) FROM account_move m JOIN res_partner p ON p.id = m.partner_id "
            "WHERE m.id = ANY(%s)",
            [move_ids[:done]],
        )
        languages = env.cr.fetchone()[0]
        env.cr.rollback()
        return {
            **probe.as_dict(),
            "invoices": done,
            "invoices_wanted": len(move_ids),
            "mails": mails,
            "languages": languages,
            "budget_hit": done < len(move_ids),
        }


def task_dispatch_floor(args):
    """Odoo's own floor under the dispatch: the emails of the first --limit reminders (in the cron's order), already
    rendered, stored as the dispatch stores them (``mail.mail.create``: the mail with the email's HTML, and its
    message with the one line the dispatch gives it, which Odoo sanitizes), by chunks of the cron's batch size. No
    rendering and no effects: what no dispatch built on Odoo's mail queue can go under. The emails are rendered
    first by ``_dispatch()`` (not measured) and that work is rolled back before the measure; the measured work is
    rolled back too."""
    with common.environment(args, args.db) as (_odoo, env):
        from odoo.tools import split_every

        _first_run(env)
        domain = _email_dispatch_domain(env)
        Reminder = env["dunning.reminder"]
        reminders = Reminder.search(domain, limit=args.limit or None, order="attempt_count, id")
        fields = ("subject", "body_html", "email_from", "email_to", "email_cc", "reply_to", "recipient_ids")
        fields += ("model", "res_id", "mail_server_id", "auto_delete", "message_type")
        with env.cr.savepoint() as savepoint:
            for batch in split_every(_dispatch_batch_size(env), reminders.ids, Reminder.browse):
                batch._dispatch()
            env.flush_all()
            mails = reminders.mail_id
            vals_list = [
                {
                    **{name: mail[name] for name in fields if not mail._fields[name].relational},
                    "mail_server_id": mail.mail_server_id.id,
                    "recipient_ids": [(6, 0, mail.recipient_ids.ids)],
                    "body": mail.mail_message_id.body,
                }
                for mail in mails
            ]
            savepoint.rollback()
        env.invalidate_all()
        MailSudo = env["mail.mail"].sudo()
        with common.Probe() as probe:
            for chunk in split_every(_dispatch_batch_size(env), vals_list, list):
                MailSudo.create(chunk)
                env.flush_all()
        env.cr.rollback()
        return {**probe.as_dict(), "mails": len(vals_list)}


def _point_mail_server(env, port):
    """Odoo's outgoing mail to the bench's SMTP sink on 127.0.0.1:port: one ir.mail_server, first in priority."""
    env["ir.mail_server"].search([]).active = False
    env["ir.mail_server"].create(
        {
            "name": "bench sink",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_encryption": "none",
            "smtp_authentication": "login",
            "sequence": 1,
        }
    )


def task_mail_server(args):
    """On a scratch copy (committed): the outgoing mail server pointed at the sink, before the end-to-end race."""
    with common.environment(args, args.db) as (_odoo, env):
        _point_mail_server(env, args.smtp_port)
        env.cr.commit()
        return {"smtp_port": args.smtp_port}


def _empty_mail_queue(env, deadline):
    """``mail.mail.process_email_queue()`` until no message is outgoing, each call in its own transaction as the
    mail cron's. The queue commits after each message and logs its own errors; a call whose transaction it left
    aborted (a serialization failure when another process sent the same message) is rolled back and counted.

    :return: (calls, calls aborted)
    """
    Mail = env["mail.mail"]
    calls = aborted = 0
    outgoing = [("state", "=", "outgoing")]
    while time.time() < deadline and Mail.search_count(outgoing):
        Mail.process_email_queue()
        calls += 1
        try:
            env.cr.commit()
        except Exception:
            env.cr.rollback()
            aborted += 1
        env.invalidate_all()
    return calls, aborted


def _mail_states(env):
    env.cr.execute("SELECT state, count(*) FROM mail_mail GROUP BY state")
    return dict(env.cr.fetchall())


def task_mail_queue(args):
    """Empty the mail queue to the sink, alone or racing another process (--barrier, as task_cron). --odoo-queue:
    Odoo's own ``mail.mail._send`` without the module's override (its claim and effects), the floor of one
    process (racing, it sends messages twice)."""
    with common.environment(args, args.db) as (_odoo, env):
        from odoo import sql_db
        from odoo.tools import SQL

        from odoo.addons.receivable_dunning.models.mail_mail import MailMail

        env["mail.mail"].search([], limit=1)
        env.cr.rollback()
        overrides = (
            mock.patch.multiple(
                MailMail,
                _send=lambda mails, *a, **kw: super(MailMail, mails)._send(*a, **kw),
                _postprocess_sent_message=lambda mails, *a, **kw: super(MailMail, mails)._postprocess_sent_message(
                    *a, **kw
                ),
            )
            if args.odoo_queue
            else contextlib.nullcontext()
        )
        if args.barrier:
            wait_at_barrier(args.barrier)
        backend = env.execute_query(SQL("SELECT pg_backend_pid()"))[0][0]
        started, cpu_started, backend_cpu_started = time.time(), _cpu_seconds(), _cpu_seconds(backend)
        queries_started = sql_db.sql_counter
        result = {"started": started}
        try:
            with overrides:
                result["calls"], result["aborted"] = _empty_mail_queue(env, started + args.budget)
        except Exception as exc:  # reported, not hidden: a second worker must not fail
            result["error"] = repr(exc)
            env.cr.rollback()
        return {
            **result,
            "ended": time.time(),
            "cpu": round(_cpu_seconds() - cpu_started, 2),
            "backend_cpu": round(_cpu_seconds(backend) - backend_cpu_started, 2),
            "queries": sql_db.sql_counter - queries_started,
            "states": _mail_states(env),
        }


def _cpu_seconds(pid=None):
    """CPU seconds of this process, or of another one of this machine (PostgreSQL's backend of a cursor)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def task_dispatch_prepare(args):
    """The first run committed, its reminders of other channels than email cancelled: the queue the dispatch cron
    rows (task_dispatch_cron) empty, on copies of this database."""
    with common.environment(args, args.db) as (_odoo, env):
        _first_run(env)
        env.cr.execute("UPDATE dunning_reminder SET state = 'cancelled' WHERE state = 'queued' AND channel != 'email'")
        env.cr.execute("SELECT count(*) FROM dunning_reminder WHERE state = 'queued'")
        queued = env.cr.fetchone()[0]
        env.cr.commit()
        return {"email_queued": queued}


def task_dispatch_cron(args):
    """The dispatch cron called until the email reminders queued by task_dispatch_prepare are all dispatched, each
    call a transaction of its own as the cron runner gives it, alone or racing other processes (--barrier): the
    cron's claim (``FOR UPDATE SKIP LOCKED``) shares the queue between them. Commits."""
    with common.environment(args, args.db) as (_odoo, env):
        from psycopg2 import OperationalError

        Reminder = env["dunning.reminder"]
        domain = _email_dispatch_domain(env)
        Reminder.search([], limit=1)
        env.cr.rollback()
        if args.barrier:
            wait_at_barrier(args.barrier)
        started = time.time()
        deadline = started + args.budget
        calls = idle = aborted = 0
        left = Reminder.search_count(domain)
        env.cr.commit()
        with common.Probe() as probe:
            while left and time.time() < deadline:
                try:
                    Reminder._cron_dunning_dispatch()
                    env.cr.commit()
                except OperationalError:  # as the cron runner: rolled back, retried by the next call
                    env.cr.rollback()
                    aborted += 1
                env.invalidate_all()
                calls += 1
                now_left = Reminder.search_count(domain)
                env.cr.commit()
                if now_left == left:  # every batch left is held by another process
                    idle += 1
                    time.sleep(0.05)
                left = now_left
        ended = time.time()
        env.cr.execute(
            "SELECT state, count(*) FROM dunning_reminder WHERE channel = 'email' AND state != 'cancelled'"
            " GROUP BY state"
        )
        states = dict(env.cr.fetchall())
        env.cr.execute(
            "SELECT count(*), count(DISTINCT m.res_id) FROM mail_mail mm"
            " JOIN mail_message m ON m.id = mm.mail_message_id WHERE m.model = 'dunning.reminder'"
        )
        mails, reminders_mailed = env.cr.fetchone()
        env.cr.commit()
        return {
            **probe.as_dict(),
            "mails": mails,
            "reminders_mailed": reminders_mailed,
            "started": started,
            "ended": ended,
            "calls": calls,
            "idle": idle,
            "aborted": aborted,
            "left": left,
            "states": states,
        }


def task_dispatch_e2e(args):
    """End to end as the crons would: the dunning cron, the dispatch cron (all channels) until nothing is left to
    dispatch, then the mail queue until empty; alone or racing another process (--barrier). Commits; --until
    dispatch stops before the mail queue (the bench then empties it with task_mail_queue). --budget bounds it."""
    with common.environment(args, args.db) as (_odoo, env):
        from psycopg2 import OperationalError

        from odoo import fields

        Reminder = env["dunning.reminder"]
        Reminder.search([], limit=1)
        env.cr.rollback()
        if args.barrier:
            wait_at_barrier(args.barrier)
        started = time.time()
        deadline = started + args.budget
        phases = {}
        try:
            env["dunning.run"]._cron_dunning_run()
            env.cr.commit()
            # A company over the partition size is split: its partitions are run by every process that is there.
            env["dunning.run.partition"]._cron_run_partitions()
            env.cr.commit()
            phases["run_done"] = time.time()
            today = fields.Date.context_today(Reminder)
            domain = [("state", "=", "queued"), ("date_scheduled", "<=", today)]
            calls = idle = aborted = 0
            left = Reminder.search_count(domain)
            env.cr.commit()
            while left and time.time() < deadline:
                try:
                    Reminder._cron_dunning_dispatch()  # a transaction of its own; commits the batch it could lock
                    env.cr.commit()
                except OperationalError:  # as the cron runner: a serialization failure is rolled back, retried
                    env.cr.rollback()
                    aborted += 1
                env.invalidate_all()
                calls += 1
                now_left = Reminder.search_count(domain)
                env.cr.commit()  # the next call starts a transaction that sees the other process's work
                if now_left == left:  # the batch it found is locked by the other process
                    idle += 1
                    time.sleep(0.2)
                left = now_left
            phases["dispatch_aborted"] = aborted
            phases["dispatch_calls"], phases["dispatch_idle"] = calls, idle
            phases["dispatch_done"] = time.time()
            phases["dispatch_left"] = Reminder.search_count(domain)
            if args.until == "queue":
                phases["queue_calls"], phases["queue_aborted"] = _empty_mail_queue(env, deadline)
                phases["queue_done"] = time.time()
        except Exception as exc:  # reported, not hidden
            phases["error"] = repr(exc)
            env.cr.rollback()
        env.cr.execute("SELECT channel, state, count(*) FROM dunning_reminder GROUP BY channel, state")
        reminders = [list(row) for row in env.cr.fetchall()]
        return {
            "started": started,
            "ended": time.time(),
            **phases,
            "run_date": str(fields.Date.context_today(Reminder)),
            "asof": _meta(env)["asof"],
            "reminders": reminders,
            "mails": _mail_states(env),
        }


def task_risk(args):
    """Payer profiles of every debtor of every company recomputed in one call of
    ``dunning.payer.profile._recompute()``: first from an empty table (every profile inserted), then again (every
    profile updated, as the nightly cron does). Rolled back."""
    with common.environment(args, args.db) as (_odoo, env):
        _meta(env)
        Profile = env["dunning.payer.profile"]
        Profile.search([], limit=1)  # the registry is loaded, as in a running server
        env.cr.execute("DELETE FROM dunning_payer_profile")
        env.cr.execute("SELECT count(*) FROM account_move WHERE move_type = 'out_invoice' AND state = 'posted'")
        invoices = env.cr.fetchone()[0]
        with common.Probe() as first:
            Profile._recompute()
        with common.Probe() as again:
            Profile._recompute()
        # What a payment costs: the profile of the debtor with the most invoices, alone.
        env.cr.execute(
            """SELECT commercial_partner_id FROM account_move WHERE move_type = 'out_invoice' AND state = 'posted'
             GROUP BY commercial_partner_id ORDER BY count(*) DESC LIMIT 1"""
        )
        busiest = env["res.partner"].browse(env.cr.fetchone()[0])
        with common.Probe() as one_debtor:
            Profile._recompute(partners=busiest)
        env.cr.execute("SELECT count(*), count(DISTINCT partner_id) FROM dunning_payer_profile")
        profiles, debtors = env.cr.fetchone()
        env.cr.execute(
            """SELECT rc.code, count(*) FROM dunning_payer_profile p
                 JOIN dunning_risk_class rc ON rc.id = p.risk_class_id GROUP BY rc.code ORDER BY rc.code"""
        )
        by_class = dict(env.cr.fetchall())
        env.cr.rollback()
        return {
            "first": first.as_dict(),
            "again": again.as_dict(),
            "one_debtor": one_debtor.as_dict(),
            "invoices": invoices,
            "profiles": profiles,
            "debtors": debtors,
            "by_class": by_class,
        }


def _effectiveness_history(env, meta):
    """A year of dunning history for the reminder effectiveness report, made up in SQL in the analytics task's
    transaction (rolled back): the bench datasets have no sent reminder and no payment.

    Every posted customer invoice not paid nor reminded yet gets, up to the dataset's today, one sent reminder line
    per level of its company's policy whose delay has passed and per channel of that level, sent at the level's day
    between 08:00 and 17:00 (UTC); one reminder per debtor, level, channel and day. Six invoices in ten are paid, on
    a day 0 to 44 after their due date (one in ten of them by half), and are reminded no more from that day: an
    ``account.partial.reconcile`` per payment, whose counterpart is the invoice's first revenue line (the report
    reads only its move's type).
    Then the tables are analysed, as autovacuum would have done on a live database, and the reminders' outcomes
    the report reads (``dunning.reminder.outcome``) are stored for them, in the users' time zone.
    """
    asof = date.fromisoformat(meta["asof"])
    env.cr.execute(
        """
        CREATE TEMPORARY TABLE bench_history ON COMMIT DROP AS
        SELECT move.id AS move_id, move.company_id, move.commercial_partner_id AS partner_id,
               move.currency_id, move.invoice_date_due AS due, move.amount_total_signed AS amount,
               CASE WHEN move.id * 7919 %% 100 < 60 THEN move.invoice_date_due + move.id * 31 %% 45 END AS pay_day,
               move.id * 7919 %% 100 AS draw
          FROM account_move move
         WHERE move.move_type = 'out_invoice' AND move.state = 'posted' AND move.payment_state = 'not_paid'
           AND move.invoice_date_due + 3 < %(asof)s
           AND NOT EXISTS (SELECT FROM dunning_reminder_line line WHERE line.move_id = move.id);

        CREATE TEMPORARY TABLE bench_steps ON COMMIT DROP AS
        SELECT history.*, level.id AS level_id, channel.code AS channel,
               (history.due + level.delay_days) + make_interval(hours => 8 + history.draw %% 10) AS date_done
          FROM bench_history history
          JOIN res_company company ON company.id = history.company_id
          JOIN dunning_level level ON level.policy_id = company.dunning_policy_id
          CROSS JOIN LATERAL (VALUES ('email', level.send_email), ('sms', level.send_sms),
                                     ('letter', level.send_letter), ('call', level.create_call)) channel (code, enabled)
         WHERE channel.enabled
           AND history.due + level.delay_days < LEAST(%(asof)s, COALESCE(history.pay_day, %(asof)s));

        WITH reminder AS (
            INSERT INTO dunning_reminder (name, company_id, currency_id, partner_id, reminder_type, level_id,
                                          policy_id, channel, state, trigger, date_scheduled, date_done)
            SELECT 'BENCH', steps.company_id, MIN(steps.currency_id), steps.partner_id, 'reminder', steps.level_id,
                   MIN(level.policy_id), steps.channel, 'sent', 'scheduled', steps.date_done::date, steps.date_done
              FROM bench_steps steps
              JOIN dunning_level level ON level.id = steps.level_id
          GROUP BY steps.company_id, steps.partner_id, steps.level_id, steps.channel, steps.date_done
         RETURNING id, partner_id, level_id, channel, date_done
        )
        INSERT INTO dunning_reminder_line (reminder_id, company_id, partner_id, state, channel, date_scheduled, move_id,
                                           level_id, is_escalation, amount_residual)
        SELECT reminder.id, steps.company_id, steps.partner_id, 'sent', steps.channel, steps.date_done::date,
               steps.move_id, steps.level_id, TRUE, steps.amount
          FROM bench_steps steps
          JOIN reminder ON (reminder.partner_id, reminder.level_id, reminder.channel, reminder.date_done)
                         = (steps.partner_id, steps.level_id, steps.channel, steps.date_done);

        INSERT INTO account_partial_reconcile (debit_move_id, credit_move_id, amount, debit_amount_currency,
                                               credit_amount_currency, debit_currency_id, credit_currency_id,
                                               company_id, max_date)
        SELECT receivable.id, revenue.id, paid.amount, paid.amount, paid.amount, receivable.currency_id,
               receivable.currency_id, receivable.company_id, paid.pay_day
          FROM (SELECT move_id, pay_day, CASE WHEN draw %% 10 = 5 THEN ROUND(amount / 2, 2) ELSE amount END AS amount
                  FROM bench_history WHERE pay_day <= %(asof)s) paid
          JOIN LATERAL (SELECT id, currency_id, company_id FROM account_move_line
                         WHERE move_id = paid.move_id AND display_type = 'payment_term' ORDER BY id LIMIT 1) receivable
               ON TRUE
          JOIN LATERAL (SELECT id FROM account_move_line
                         WHERE move_id = paid.move_id AND display_type = 'product' ORDER BY id LIMIT 1) revenue
               ON TRUE;

        ANALYZE dunning_reminder, dunning_reminder_line, account_partial_reconcile;
        """,
        {"asof": asof},
    )
    # The collectors read the report in Brussels time: their preference, the time zone the reminders' outcomes are
    # stored in. The rows inserted above get theirs as a send or a reconciliation would give them.
    env["res.users"].search([("share", "=", False)]).tz = "Europe/Brussels"
    env["dunning.reminder.outcome"]._rebuild()
    env.cr.execute("ANALYZE dunning_reminder_outcome")
    return {"dunning_report_date": meta["asof"], "tz": "Europe/Brussels"}


# The analytics reports' first page, as the web client asks for it when the menu opens: the pivot's grouping sets
# (total, rows, columns, rows x columns; total and rows without a column groupby) in one call, then the list's first
# 80 rows. Each report adds its entry:
# key -> (model, context(env, meta) -> dict, row groupby, column groupby or None, aggregates, list fields).
ANALYTICS_REPORTS = {
    # Odoo's own SQL report over the same invoices (Accounting > Reporting > Invoice Analysis), the same-run peer.
    "odoo_invoice_analysis": (
        "account.invoice.report",
        lambda env, meta: {},
        "partner_id",
        "invoice_date:month",
        ["price_subtotal:sum"],
        ["move_id", "partner_id", "invoice_date", "price_subtotal"],
    ),
    # Aged receivables at the dataset's date, as the menu opens it: collectors in rows, the ages as measures (the
    # debtors one click away); no column groupby.
    "ageing": (
        "dunning.report.ageing",
        lambda env, meta: {"dunning_report_date": meta["asof"]},
        "collector_id",
        None,
        [f"amount_{bucket}:sum" for bucket in ("not_due", "1_30", "31_60", "61_90", "91_120", "over_120")]
        + ["amount_residual:sum"],
        ["move_id", "partner_id", "date_due", "days_overdue", "amount_not_due", "amount_overdue", "amount_residual"],
    ),
    # DSO per company and month over the 24 months up to the dataset's date.
    "dso": (
        "dunning.report.dso",
        lambda env, meta: {"dunning_report_date": meta["asof"]},
        "month:month",
        "company_id",
        ["sales:sum", "receivables:sum", "dso_standard:avg", "dso_countback:avg", "adbt:avg", "cei:avg"],
        ["month", "company_id", "sales", "receivables", "dso_standard", "dso_countback", "adbt", "cei"],
    ),
    # Which reminder gets paid, over a made-up history (see _effectiveness_history), as the menu opens it: levels in
    # rows, no column groupby (the periods are columns only when the comparison wizard asks for two).
    "effectiveness": (
        "dunning.report.effectiveness",
        _effectiveness_history,
        "level_id",
        None,
        [
            "reminded_count:sum",
            "paid_7_count:sum",
            "paid_14_count:sum",
            "paid_30_count:sum",
            "paid_30_rate:avg",
            "paid_30:sum",
            "amount_recovered:sum",
        ],
        ["date_sent", "move_id", "partner_id", "level_id", "channel", "amount_reminded", "paid_30", "amount_recovered"],
    ),
    # Expected collections by debtor and week, 13 weeks from the dataset's today (dunning_report_cash_forecast.py).
    # The menu opens the graph: weeks, stacked by source.
    "cash_forecast": (
        "dunning.report.cash.forecast",
        lambda env, meta: {"dunning_report_date": meta["asof"]},
        "week:day",
        "source",
        ["amount:sum"],
        ["week", "date_expected", "partner_id", "move_id", "source", "is_overdue", "blocked_by", "amount"],
    ),
}
# The reports whose menu opens the pivot: their first page is the pivot's call alone (the web client asks for the
# list only when the user switches to it); the list's first 80 rows are measured apart (``list``).
ANALYTICS_PIVOT_FIRST = {"ageing", "effectiveness"}


def task_analytics(args):
    """Each analytics report's first page, in one process; nothing is written. A report that depends on a date
    gets it from its context callable, which receives the dataset's meta (``meta["asof"]``, its today)."""
    with common.environment(args, args.db) as (_odoo, env):
        meta = _meta(env)
        env.cr.execute("SELECT count(*) FROM account_move WHERE move_type = 'out_invoice' AND state = 'posted'")
        results = {"invoices": env.cr.fetchone()[0]}
        for key, (model, context, rows, columns, aggregates, list_fields) in ANALYTICS_REPORTS.items():
            # What a report's context callable makes up for it (see _effectiveness_history) is undone after it.
            with contextlib.closing(env.cr.savepoint(flush=False)):
                Report = env[model].with_context(**context(env, meta))
                Report.browse().fields_get(list_fields)  # the registry is loaded, as in a running server
                env.invalidate_all()
                grouping_sets = [[], [rows], [columns], [rows, columns]] if columns else [[], [rows]]
                with common.Probe() as probe:
                    groups = Report.formatted_read_grouping_sets([], grouping_sets, aggregates)
                    if key not in ANALYTICS_PIVOT_FIRST:
                        page = Report.web_search_read([], {name: {} for name in list_fields}, limit=80)
                results[key] = {**probe.as_dict(), "groups": sum(len(g) for g in groups)}
                if key in ANALYTICS_PIVOT_FIRST:
                    with common.Probe() as list_probe:
                        page = Report.web_search_read([], {name: {} for name in list_fields}, limit=80)
                    results[key]["list"] = list_probe.as_dict()
                results[key]["rows"] = page["length"]
        results["asof"] = meta["asof"]
        return results


# Rows of the payment request file of the import section, per bench size; half of them name a debtor of the
# dataset (found by email), half a new one; a row in 50 has an error (bad email, amount or date).
IMPORT_ROWS = {"full": 50_000, "small": 5_000, "tiny": 500}


def _import_rows(env, count):
    """The raw rows of the import section's file, as a spreadsheet gives them (text cells, ISO dates)."""
    env.cr.execute(
        """SELECT p.name, p.email FROM res_partner p
            WHERE p.customer_rank > 0 AND p.parent_id IS NULL AND p.email LIKE '%%@example.%%' ORDER BY p.id"""
    )
    known = env.cr.fetchall()
    rows = []
    for number in range(count):
        if number % 2 and known:
            name, email = known[number % len(known)]
        else:
            name, email = f"New debtor {number}", f"new.debtor.{number}@example.org"
        row = {
            "name": name,
            "email": email,
            "external_ref": f"BENCH-{number:06d}",
            "description": f"Subscription {number}",
            "amount": f"{10 + number % 990}.{number % 100:02d}",
            "date_invoice": "2026-03-01",
            "date_due": "2026-03-31",
        }
        if number % 50 == 7:
            row.update(
                [("email", "broken-address"), ("amount", "12,3,4"), ("date_due", "31/31/2026")][
                    number % 3 : number % 3 + 1
                ]
            )
        rows.append(row)
    return rows


def _import_company(env):
    """The bench company with the most debtors' invoices, as the import's company."""
    env.cr.execute(
        "SELECT company_id FROM account_move WHERE move_type = 'out_invoice' GROUP BY company_id ORDER BY count(*) DESC"
    )
    return env["res.company"].browse(env.cr.fetchone()[0])


def task_import_ours(args):
    """--rows payment request rows (IMPORT_ROWS at the bench's size) validated (``_set_rows``: rows recorded, each
    error on its cell, debtors matched) then turned into posted requests queued for sending by email, batch after
    batch as the cron does (``_process_batch``, the module's batch size), in one transaction, rolled back."""
    with common.environment(args, args.db) as (_odoo, superuser_env):
        _meta(superuser_env)
        company = _import_company(superuser_env)
        env = superuser_env(context=dict(superuser_env.context, allowed_company_ids=company.ids))
        rows = _import_rows(env, args.rows or IMPORT_ROWS[args.size])
        Import = env["dunning.request.import"].with_company(company)
        Import.search([], limit=1)  # the registry is loaded, as in a running server
        with common.Probe() as validate:
            record = Import.create({"name": "Bench import", "company_id": company.id, "send_email": True})
            record._set_rows(enumerate(rows, 1))
        valid = record.valid_count
        with common.Probe() as create:
            record.action_import()
            batches = 0
            while record._process_batch() is not None:
                batches += 1
        # The planner knows nothing yet of the rows this transaction inserted: a nested loop over them would take
        # minutes to count what a hash join counts at once.
        env.cr.execute("SET LOCAL enable_nestloop = off")
        env.cr.execute(
            """SELECT count(*) FROM dunning_reminder r JOIN dunning_reminder_line l ON l.reminder_id = r.id
                JOIN dunning_request_import_row w ON w.move_id = l.move_id
               WHERE w.import_id = %s AND r.state = 'queued' AND r.reminder_type = 'request'""",
            [record.id],
        )
        queued = env.cr.fetchone()[0]
        result = {
            "rows": len(rows),
            "valid": valid,
            "errors": record.error_count,
            "created": record.created_count,
            "new_debtors": len(record.row_ids.filtered(lambda row: row.partner_action == "new").partner_id),
            "queued": queued,
            "batches": batches,
            "batch_size": record._batch_size(),
            "validate": validate.as_dict(),
            "create": create.as_dict(),
            "seconds": round(validate.seconds + create.seconds, 3),
            "peak_memory_mib": round(max(validate.peak_mib, 0) + max(create.peak_mib, 0), 1),
        }
        env.cr.rollback()
        return result


def task_import_peer(args):
    """Odoo's ORM on the same invoices: ``create`` of a batch (the import's batch size) of customer invoices with one
    line each, then ``action_post`` of the batch; for the valid rows of the first --peer-sample rows (their debtors
    created first, untimed), rolled back. Nothing validated, nothing queued for sending."""
    with common.environment(args, args.db) as (_odoo, superuser_env):
        from odoo import Command

        _meta(superuser_env)
        company = _import_company(superuser_env)
        env = superuser_env(context=dict(superuser_env.context, allowed_company_ids=company.ids))
        rows = _import_rows(env, args.rows or IMPORT_ROWS[args.size])[: args.peer_sample]
        rows = [row for row in rows if "@" in row["email"] and "," not in row["amount"] and "/" not in row["date_due"]]
        Move = env["account.move"].with_company(company)
        journal = company.dunning_request_journal_id or env["account.journal"].search(
            [("company_id", "=", company.id), ("type", "=", "sale")], limit=1
        )
        partners = env["res.partner"].create([{"name": row["name"], "email": row["email"]} for row in rows])
        batch_size = env["dunning.request.import"]._batch_size()
        Move.search([], limit=1)
        with common.Probe() as probe:
            for start in range(0, len(rows), batch_size):
                batch = list(zip(rows[start : start + batch_size], partners[start : start + batch_size], strict=True))
                moves = Move.create(
                    [
                        {
                            "move_type": "out_invoice",
                            "journal_id": journal.id,
                            "partner_id": partner.id,
                            "invoice_date": row["date_invoice"],
                            "invoice_date_due": row["date_due"],
                            "ref": row["external_ref"],
                            "invoice_line_ids": [
                                Command.create(
                                    {
                                        "name": row["description"],
                                        "quantity": 1,
                                        "price_unit": float(row["amount"]),
                                        "tax_ids": [],
                                    }
                                )
                            ],
                        }
                        for row, partner in batch
                    ]
                )
                moves.action_post()
        env.cr.rollback()
        return {"rows": len(rows), "batch_size": batch_size, **probe.as_dict()}


TASKS = {name[len("task_") :]: func for name, func in globals().items() if name.startswith("task_")}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--db", required=True)
    parser.add_argument("--size", default="small", choices=sorted(common.SIZES))
    parser.add_argument("--seed", type=int, default=common.DEFAULT_SEED)
    parser.add_argument(
        "--budget", type=float, default=120.0, help="match_peer, reconcile_*: seconds of measured work at most"
    )
    parser.add_argument(
        "--chunk", type=int, default=500, help="match_peer, reconcile_*: statement lines per call (profile: lines)"
    )
    parser.add_argument("--http-port", type=int, default=8411, help="letters: Odoo's HTTP server for wkhtmltopdf")
    parser.add_argument("--letters", type=int, default=200, help="letters: reminder letters rendered by ours")
    parser.add_argument("--invoices", type=int, default=50, help="letters: invoice PDFs rendered by ours")
    parser.add_argument("--peer-sample", type=int, default=20, help="letters: documents the peer renders, each")
    parser.add_argument("--barrier", default="", help="path prefix of the files that start a race (see task_cron)")
    parser.add_argument("--first-run", action="store_true", help="cron_prepare: leave the sequences without range")
    parser.add_argument("--limit", type=int, default=0, help="dispatch_ours: reminders measured at most (0: all)")
    parser.add_argument("--smtp-port", type=int, default=0, help="mail_*: port of the bench's SMTP sink")
    parser.add_argument("--odoo-queue", action="store_true", help="mail_queue: without the module's _send override")
    parser.add_argument("--until", default="queue", choices=("dispatch", "queue"), help="dispatch_e2e: last phase")
    parser.add_argument("--rows", type=int, default=0, help="import_*: rows of the file (0: IMPORT_ROWS of the size)")
    common.add_connection_arguments(parser)
    args = parser.parse_args()
    common.emit(TASKS[args.task](args))


if __name__ == "__main__":
    main()
