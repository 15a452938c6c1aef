import logging
import os
import socket
import time

from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# A partition that failed this many times is left failed; its debtors wait for the next day's run.
MAX_PARTITION_ATTEMPTS = 3


class DunningRunPartition(models.Model):
    """The debtors of one slice of a run: a range of commercial partner ids that one worker selects, levels and
    queues in one transaction.

    A run of a company with more open invoices than ``receivable_dunning.run_partition_size`` is split into
    partitions of about that many invoices (see ``dunning.run._partition_bounds``); any worker calling
    :meth:`_cron_run_partitions` claims them one at a time. The claim is a row lock held until the partition's
    transaction commits: two workers never hold the same partition, and a worker that dies mid-way loses its
    transaction and its lock, so that the partition is claimed again as if never started. The unique escalation
    index of ``dunning.reminder.line`` stays the last line of defence.
    """

    _name = "dunning.run.partition"
    _description = "Dunning Run Partition"
    _order = "run_id desc, sequence"
    _check_company_auto = True

    run_id = fields.Many2one("dunning.run", required=True, index=True, ondelete="cascade", readonly=True)
    company_id = fields.Many2one(related="run_id.company_id", store=True, index=True)
    sequence = fields.Integer(readonly=True)
    partner_id_after = fields.Integer(
        string="Debtors After Id", readonly=True, help="The partition holds the debtors whose id is above this one."
    )
    partner_id_upto = fields.Integer(
        string="Debtors Up To Id",
        readonly=True,
        help="... and up to this one included; 0 for the last partition, which has no upper bound.",
    )
    invoice_count = fields.Integer(string="Open Invoices", readonly=True, help="Counted when the run was split.")
    state = fields.Selection(
        [("todo", "To Do"), ("done", "Done"), ("failed", "Failed")], required=True, default="todo", readonly=True
    )
    attempt_count = fields.Integer(string="Failed Attempts", readonly=True)
    failure_reason = fields.Text(readonly=True)
    worker = fields.Char(readonly=True, help="Host and process id of the worker that processed it last.")
    date_done = fields.Datetime(readonly=True)
    duration = fields.Float(string="Duration (s)", readonly=True, digits=(16, 2))
    selected_count = fields.Integer(string="Invoices Selected", readonly=True)
    reminder_count = fields.Integer(string="Reminders Queued", readonly=True)
    exception_count = fields.Integer(string="Exceptions", readonly=True)

    # === CRON === #

    @api.model
    def _cron_run_partitions(self):
        """Process partitions of running runs, one per transaction, until none is left to claim or the cron is out
        of time; then close the runs whose partitions are all processed.

        Any number of workers may call it at once (copies of the scheduled action, several servers): each
        partition is claimed by one of them.
        """
        while partition := self._claim():
            partition._process()
            remaining = self.search_count([("state", "=", "todo"), ("run_id.state", "=", "running")])
            if not self.env["ir.cron"]._commit_progress(1, remaining=remaining):
                return  # out of time: Odoo calls the cron again at once for the partitions left
        self._close_runs()
        # Partitions still held by other workers are theirs to finish: nothing is left for this worker.
        self.env["ir.cron"]._commit_progress(0, remaining=0)

    @api.model
    def _trigger_workers(self):
        """Wake every scheduled action that processes partitions: the module's own and its copies."""
        # sudo: a dunning user starting a large manual run wakes the workers; the crons themselves stay unreadable.
        crons = (
            self.env["ir.cron"]
            .sudo()
            .search([("model_id.model", "=", self._name), ("code", "like", "_cron_run_partitions")])
        )
        for cron in crons:
            cron._trigger()

    # === BUSINESS METHODS === #

    @api.model
    def _claim(self):
        """Lock the next partition to process, skipping those other workers hold; fewest failed attempts first.

        :return: the partition, locked until the transaction ends, or an empty recordset
        """
        self.flush_model(["state", "attempt_count"])
        self.env["dunning.run"].flush_model(["state"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT part.id
                  FROM dunning_run_partition part
                  JOIN dunning_run run ON run.id = part.run_id
                 WHERE part.state = 'todo' AND run.state = 'running'
              ORDER BY part.attempt_count, part.run_id, part.sequence
                 LIMIT 1
                   FOR UPDATE OF part SKIP LOCKED
                """
            )
        )
        return self.browse(rows[0][0] if rows else ())

    def _process(self):
        """Select, level and queue the debtors of this claimed partition in a savepoint.

        A failure rolls back what the partition did and counts an attempt: the partition is claimed again later,
        and left failed after :data:`MAX_PARTITION_ATTEMPTS` attempts.
        """
        self.ensure_one()
        run = self.run_id.with_company(self.run_id.company_id)
        # sudo: partitions are the run's machinery, written by its workers only; users read them.
        partition_sudo = self.sudo()
        started = time.monotonic()
        worker = f"{socket.gethostname()}:{os.getpid()}"
        try:
            with self.env.cr.savepoint():
                run._lock_company_shared()
                selected, exceptions = run._run_steps(self)
                run._broken_promises(self).escalated = True
                self.env["dunning.reminder"].flush_model(["run_id", "partner_id"])
                [(reminders,)] = self.env.execute_query(
                    SQL(
                        "SELECT count(*) FROM dunning_reminder WHERE run_id = %s AND %s",
                        run.id,
                        self._debtor_sql(SQL.identifier("partner_id")),
                    )
                )
                partition_sudo.write(
                    {
                        "state": "done",
                        "worker": worker,
                        "date_done": fields.Datetime.now(),
                        "duration": time.monotonic() - started,
                        "selected_count": selected,
                        "reminder_count": reminders,
                        "exception_count": exceptions,
                        "failure_reason": False,
                    }
                )
        except Exception as error:  # one partition's failure must spare the others
            _logger.exception("dunning run %s: partition %s failed", run.name, self.sequence)
            attempts = self.attempt_count + 1
            partition_sudo.write(
                {
                    "state": "failed" if attempts >= MAX_PARTITION_ATTEMPTS else "todo",
                    "attempt_count": attempts,
                    "worker": worker,
                    "failure_reason": f"{type(error).__name__}: {error}",
                }
            )
            return
        if run.mode == "send":
            self.env["dunning.reminder"]._trigger_dispatch()  # its reminders may go out while the rest runs
        _logger.info(
            "dunning run %s: partition %s, %d invoices selected, %d reminders, %d exceptions in %.2fs",
            run.name,
            self.sequence,
            selected,
            reminders,
            exceptions,
            self.duration,
        )

    @api.model
    def _close_runs(self):
        """Close the running runs that have no partition left to do, each by one worker."""
        runs = self.env["dunning.run"].search([("state", "=", "running")])
        if not runs:
            return
        busy = self.search([("run_id", "in", runs.ids), ("state", "=", "todo")]).run_id
        for run in runs - busy:
            try:
                with self.env.cr.savepoint():
                    # Another worker closing it holds it (skipped) or has committed since this transaction began
                    # (a serialization failure): either way it is closed once.
                    if run.try_lock_for_update():
                        run._close_partitioned()
            except SerializationFailure:
                _logger.info("dunning run %s was closed by another worker", run.name)

    def _holds(self, partner):
        """Whether the commercial partner ``partner`` is one of this partition's debtors."""
        self.ensure_one()
        return partner.id > self.partner_id_after and (not self.partner_id_upto or partner.id <= self.partner_id_upto)

    def _debtor_sql(self, column):
        """SQL: ``column`` (a commercial partner id) is one of this partition's debtors."""
        self.ensure_one()
        if self.partner_id_upto:
            return SQL("%s > %s AND %s <= %s", column, self.partner_id_after, column, self.partner_id_upto)
        return SQL("%s > %s", column, self.partner_id_after)
