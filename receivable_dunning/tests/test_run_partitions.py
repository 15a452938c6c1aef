"""A large company's run split into partitions of debtors that several workers process: each debtor in exactly one
partition, each partition claimed by one worker, retried after a failure, and the same reminders as one run."""

from collections import Counter
from contextlib import closing
from datetime import date
from itertools import pairwise
from unittest.mock import patch

from freezegun import freeze_time

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import committed_connections, on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 15)
TODAY = on(11, DUE)
PARTITION_LOGGER = "odoo.addons.receivable_dunning.models.dunning_run_partition"


@tagged("post_install", "-at_install")
class TestRunPartitions(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.debtors = cls.env["res.partner"].create(
            [{"name": f"Partitioned {index:02d}", "email": f"part{index}@example.com"} for index in range(9)]
        )
        # One to three invoices a debtor; the last one owes five, more than a partition holds, and is never split.
        for index, debtor in enumerate(cls.debtors[:-1]):
            for number in range(index % 3 + 1):
                cls._create_invoice_due(debtor, 100.0 + number, DUE)
        for number in range(5):
            cls._create_invoice_due(cls.debtors[-1], 50.0 + number, DUE)
        cls.debtors[2].dunning_hold_until = on(30, TODAY)  # an exception, in whatever partition it falls
        promised = cls.debtors[4]
        cls.promise = cls.env["dunning.promise"].create(
            {
                "partner_id": promised.id,
                "date_promised": on(-2, TODAY),
                "amount": 100.0,
                "move_ids": [(6, 0, cls._open_invoices(promised).ids)],
            }
        )
        cls._set_partition_size(4)

    @classmethod
    def _open_invoices(cls, debtor):
        return cls.env["account.move"].search(
            [("commercial_partner_id", "=", debtor.id), ("move_type", "=", "out_invoice"), ("state", "=", "posted")]
        )

    @classmethod
    def _set_partition_size(cls, size):
        cls.env["ir.config_parameter"].set_param("receivable_dunning.run_partition_size", size)

    def _cron_partitions(self):
        """One call of the partitions cron; its commit points are recorded instead of committing the test."""
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0) as progress:
            self.env["dunning.run.partition"]._cron_run_partitions()
        return progress

    def _queued(self, run):
        """What a run queued, independent of ids and order: reminders with their lines, and exceptions."""
        reminders = Counter(
            (
                reminder.partner_id.id,
                reminder.level_id.id,
                reminder.channel,
                reminder.state,
                reminder.amount_total,
                frozenset((line.move_id.id, line.level_id.id, line.is_escalation) for line in reminder.line_ids),
            )
            for reminder in run.reminder_ids
        )
        exceptions = Counter((exception.partner_id.id, exception.reason) for exception in run.exception_ids)
        return reminders, exceptions

    def _assert_no_escalation_claimed_twice(self):
        self.env.flush_all()
        self.env.cr.execute(
            """SELECT move_id, level_id, channel FROM dunning_reminder_line
                WHERE is_escalation AND state IS DISTINCT FROM 'cancelled'
             GROUP BY move_id, level_id, channel HAVING count(*) > 1"""
        )
        self.assertEqual(self.env.cr.fetchall(), [], "no invoice, level and channel claimed twice")

    # === SPLIT === #

    def test_partitions_cover_every_debtor_exactly_once(self):
        with freeze_time(TODAY):
            run = self._run()
        partitions = run.partition_ids.sorted("sequence")
        self.assertEqual(run.state, "running")
        self.assertFalse(run.reminder_ids, "the run itself only splits")
        self.assertGreater(len(partitions), 2)
        self.assertEqual(partitions[0].partner_id_after, 0)
        self.assertEqual(partitions[-1].partner_id_upto, 0, "the last partition has no upper bound")
        for previous, partition in pairwise(partitions):
            self.assertEqual(partition.partner_id_after, previous.partner_id_upto, "contiguous ranges")
        # Each partition selects its own debtors' invoices: together, exactly the invoices of one whole selection.
        whole = Counter(row["move_id"] for row in run._select_invoices())
        parts = Counter(row["move_id"] for partition in partitions for row in run._select_invoices(partition))
        self.assertEqual(parts, whole)
        debtor_sets = [{row["partner_id"] for row in run._select_invoices(partition)} for partition in partitions]
        self.assertEqual(sum(map(len, debtor_sets)), len(set().union(*debtor_sets)), "no debtor in two partitions")
        self.assertEqual(set().union(*debtor_sets), set(self.debtors.ids))
        open_invoices = sum(len(self._open_invoices(debtor)) for debtor in self.debtors)
        self.assertEqual(sum(partitions.mapped("invoice_count")), open_invoices)

    def test_split_wakes_every_copy_of_the_partitions_scheduled_action(self):
        # sudo: scheduled actions are the administrator's; the run is started by the accountant.
        cron = self.env.ref("receivable_dunning.ir_cron_dunning_run_partition").sudo()
        copy = cron.copy()  # one more cron worker, as CONFIGURE tells
        with freeze_time(TODAY):
            self._run()
        woken = cron.env["ir.cron.trigger"].search([("cron_id", "in", (cron | copy).ids)]).cron_id
        self.assertEqual(woken, cron | copy)

    def test_company_that_fits_one_partition_runs_as_before(self):
        self._set_partition_size(100)
        with freeze_time(TODAY):
            run = self._run()
        self.assertEqual(run.state, "done")
        self.assertFalse(run.partition_ids)
        self.assertEqual(len(run.reminder_ids), len(self.debtors) - 1, "all but the debtor on hold")

    # === PROCESSING === #

    def test_partitioned_run_queues_what_one_run_queues(self):
        with freeze_time(TODAY):
            self._set_partition_size(0)
            with closing(self.env.cr.savepoint()):
                single = self._run()
                self.assertFalse(single.partition_ids)
                expected = self._queued(single)
                self.env.flush_all()
            self.env.invalidate_all()
            self._set_partition_size(4)
            run = self._run()
            self.assertEqual(run.state, "running")
            with patch.object(type(self.env["dunning.reminder"]), "_trigger_dispatch") as dispatch:
                self._cron_partitions()
        self.assertEqual(self._queued(run), expected)
        self.assertTrue(expected[0], "the scenario queues reminders")
        self.assertIn((self.debtors[2].id, "on_hold"), expected[1])
        self.assertEqual(run.state, "done")
        self.assertEqual(run.partition_progress, 100.0)
        partitions = run.partition_ids
        self.assertEqual(set(partitions.mapped("state")), {"done"})
        self.assertTrue(all(partitions.mapped("worker")))
        self.assertEqual(sum(partitions.mapped("reminder_count")), len(run.reminder_ids))
        self.assertEqual(sum(partitions.mapped("exception_count")), len(run.exception_ids))
        self.assertTrue(self.promise.escalated, "the broken promise escalated in its debtor's partition")
        self.assertGreaterEqual(dispatch.call_count, len(partitions), "each partition's reminders may go out")
        self._assert_no_escalation_claimed_twice()

    def test_run_in_review_mode_waits_for_review_after_its_partitions(self):
        with freeze_time(TODAY):
            run = self._run(mode="review")
            self._cron_partitions()
        self.assertEqual(run.state, "review")
        self.assertEqual(set(run.reminder_ids.mapped("state")), {"draft"})

    def test_failed_partition_is_retried_and_leaves_no_duplicates(self):
        Run = type(self.env["dunning.run"])
        queue = Run._queue_reminders
        failures = []

        def failing_once(run, proposals, exceptions):
            queue(run, proposals, exceptions)  # queued, then the partition fails: all of it must roll back
            if not failures:
                failures.append(proposals[0]["partner_id"])
                raise ValueError("connection to the print service lost")

        with freeze_time(TODAY):
            run = self._run()
            with patch.object(Run, "_queue_reminders", failing_once), mute_logger(PARTITION_LOGGER):
                self._cron_partitions()
        retried = run.partition_ids.filtered("attempt_count")
        self.assertEqual(len(retried), 1)
        self.assertEqual((retried.state, retried.failure_reason), ("done", False))
        self.assertEqual(run.state, "done")
        self.assertEqual(len(run.reminder_ids), len(self.debtors) - 1)
        self.assertEqual(len(run.reminder_ids.filtered(lambda r: r.partner_id.id == failures[0])), 1)
        self._assert_no_escalation_claimed_twice()

    def test_partition_failing_every_time_fails_the_run_and_spares_the_others(self):
        Run = type(self.env["dunning.run"])
        select = Run._select_invoices
        heavy = self.debtors[-1]

        def broken_select(run, partition=None):
            rows = select(run, partition)
            if any(row["partner_id"] == heavy.id for row in rows):
                raise ValueError("unusable policy")
            return rows

        with freeze_time(TODAY):
            run = self._run()
            with patch.object(Run, "_select_invoices", broken_select), mute_logger(PARTITION_LOGGER, "odoo.sql_db"):
                self._cron_partitions()
        failed = run.partition_ids.filtered(lambda partition: partition.state == "failed")
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed.attempt_count, 3)
        self.assertIn("unusable policy", failed.failure_reason)
        self.assertEqual(run.state, "failed")
        self.assertIn("1 of", run.failure_reason)
        self.assertTrue(failed._holds(heavy))
        spared = self.debtors.filtered(lambda debtor: not failed._holds(debtor)) - self.debtors[2]  # on hold
        self.assertTrue(spared)
        self.assertEqual(run.reminder_ids.partner_id, spared, "the other partitions' reminders stay")
        self.assertEqual(set(run.reminder_ids.mapped("state")), {"queued"})

    def test_worker_killed_midway_then_restarted_queues_each_reminder_once(self):
        Run = type(self.env["dunning.run"])
        steps = Run._run_steps

        def dying(run, partition=None):
            if partition.sequence == 2:
                raise SystemExit("worker killed")
            return steps(run, partition)

        with freeze_time(TODAY):
            run = self._run()
            # The worker dies in its second partition: that transaction is lost, the partition lock with it.
            with (
                patch.object(Run, "_run_steps", dying),
                self.assertRaises(SystemExit),
                self.env.cr.savepoint(),
            ):
                self._cron_partitions()
            self.env.invalidate_all()
            self.assertEqual(set(run.partition_ids.mapped("state")), {"todo"})
            self._cron_partitions()  # another worker, or the same restarted
        self.assertEqual(run.state, "done")
        self.assertFalse(run.partition_ids.filtered("attempt_count"), "a lost transaction counts no attempt")
        self.assertEqual(len(run.reminder_ids), len(self.debtors) - 1)
        self._assert_no_escalation_claimed_twice()

    # === CLAIMS === #

    def test_two_workers_never_claim_the_same_partition(self):
        """Three real connections on committed partitions: what one worker holds, the others skip."""
        with committed_connections(
            self.env, 3, "DELETE FROM dunning_run WHERE name = 'RUN/TEST/PARTITIONS'"
        ) as cursors:
            setup = cursors[2]
            setup.execute(
                """INSERT INTO dunning_run (name, company_id, date, mode, trigger, state)
                   VALUES ('RUN/TEST/PARTITIONS', %s, %s, 'send', 'manual', 'running') RETURNING id""",
                [self.env.ref("base.main_company").id, TODAY],
            )
            run_id = setup.fetchone()[0]
            setup.execute(
                """INSERT INTO dunning_run_partition (run_id, company_id, sequence, state, attempt_count)
                   SELECT %s, %s, sequence, 'todo', 0 FROM generate_series(1, 3) AS sequence""",
                [run_id, self.env.ref("base.main_company").id],
            )
            setup.commit()
            first, second = (api.Environment(cr, SUPERUSER_ID, {})["dunning.run.partition"] for cr in cursors[:2])
            claimed_first = first._claim()
            claimed_second = second._claim()
            self.assertTrue(claimed_first and claimed_second)
            self.assertNotEqual(claimed_first, claimed_second)
            self.assertEqual(claimed_first.sequence, 1)
            # The first worker dies: its transaction and its lock are gone; the partition is claimed again.
            cursors[0].rollback()
            third = api.Environment(setup, SUPERUSER_ID, {})["dunning.run.partition"]
            self.assertEqual(third._claim(), claimed_first.with_env(third.env))
            setup.rollback()
