import logging
import time
from collections import defaultdict
from datetime import timedelta

from psycopg2.errors import UniqueViolation

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..tools.credits import Credit, Invoice, allocate_credits

_logger = logging.getLogger(__name__)

# Set when a failed reminder stops being retried by the daily run; it stays in the "Failed reminders" list.
MAX_ATTEMPTS = 5
# Open invoices per partition of a run when ``receivable_dunning.run_partition_size`` is not set: a few seconds of
# work per partition, so that several workers share a large company evenly (0 or less: never split).
DEFAULT_PARTITION_SIZE = 10_000


class DunningRun(models.Model):
    """One pass of the dunning engine over a company's open invoices: select, level, queue.

    Created by the daily scheduled action or by the "Dunning run" wizard. In ``send`` mode the reminders are
    queued for the dispatcher at once; in ``review`` mode they wait as proposals until the accountant sends them.
    A company with many open invoices is split into ``dunning.run.partition`` records of debtors that any number
    of workers process; the run is "In Progress" until its last partition is.
    """

    _name = "dunning.run"
    _description = "Dunning Run"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(required=True, readonly=True, copy=False, default=lambda self: self.env._("New"))
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    date = fields.Date(required=True, default=fields.Date.context_today, readonly=True)
    mode = fields.Selection(
        [("send", "Send"), ("review", "Review first")],
        required=True,
        default="send",
        help="Review first: the reminders are proposed, to be edited, excluded or sent by the accountant.",
    )
    trigger = fields.Selection(
        [("scheduled", "Scheduled Action"), ("manual", "Manual")], required=True, default="manual", readonly=True
    )
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("running", "In Progress"),
            ("review", "To Review"),
            ("done", "Queued"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="draft",
        readonly=True,
        tracking=True,
    )
    failure_reason = fields.Text(
        readonly=True,
        copy=False,
        help="Why the run failed. A run failed as a whole queued nothing; a run split into partitions keeps what "
        "its other partitions queued. The next scheduled run tries again.",
    )
    policy_ids = fields.Many2many(
        "dunning.policy", string="Policies", check_company=True, help="Only these policies; all when empty."
    )
    partner_ids = fields.Many2many(
        "res.partner", string="Debtors", help="Only these debtors (commercial partners); all when empty."
    )
    reminder_ids = fields.One2many("dunning.reminder", "run_id", string="Reminders", readonly=True)
    exception_ids = fields.One2many("dunning.run.exception", "run_id", string="Exceptions", readonly=True)
    partition_ids = fields.One2many("dunning.run.partition", "run_id", string="Partitions", readonly=True)
    partition_progress = fields.Float(
        string="Partitions Processed (%)", compute="_compute_partition_progress", digits=(16, 0)
    )
    duration = fields.Float(string="Duration (s)", readonly=True, digits=(16, 2))
    debtor_count = fields.Integer(string="Debtors Reminded", compute="_compute_counts")
    invoice_count = fields.Integer(string="Invoices Reminded", compute="_compute_counts")
    reminder_count = fields.Integer(string="Number of Reminders", compute="_compute_counts")
    exception_count = fields.Integer(string="Number of Exceptions", compute="_compute_counts")
    count_summary = fields.Char(string="By Channel and Status", compute="_compute_counts")

    # One scheduled run per company and day: a cron restarted after a crash, or called again, never doubles it.
    _scheduled_daily_uniq = models.UniqueIndex(
        "(company_id, date) WHERE trigger = 'scheduled'",
        "A company has at most one scheduled dunning run a day.",
    )

    # === COMPUTE METHODS === #

    @api.depends("reminder_ids.state", "exception_ids")
    def _compute_counts(self):
        Reminder = self.env["dunning.reminder"]
        by_channel = defaultdict(list)
        for run, channel, state, count in Reminder._read_group(
            [("run_id", "in", self.ids)], groupby=["run_id", "channel", "state"], aggregates=["__count"]
        ):
            by_channel[run].append((channel, state, count))
        totals = {
            run: (debtors, count)
            for run, debtors, count in Reminder._read_group(
                [("run_id", "in", self.ids)], groupby=["run_id"], aggregates=["partner_id:count_distinct", "__count"]
            )
        }
        invoices = dict(
            self.env["dunning.reminder.line"]._read_group(
                [("reminder_id.run_id", "in", self.ids)],
                groupby=["reminder_id.run_id"],
                aggregates=["move_id:count_distinct"],
            )
        )
        exceptions = dict(
            self.env["dunning.run.exception"]._read_group(
                [("run_id", "in", self.ids)], groupby=["run_id"], aggregates=["__count"]
            )
        )
        channel_labels = dict(Reminder._fields["channel"]._description_selection(self.env))
        state_labels = dict(Reminder._fields["state"]._description_selection(self.env))
        for run in self:
            run.debtor_count, run.reminder_count = totals.get(run, (0, 0))
            run.invoice_count = invoices.get(run, 0)
            run.exception_count = exceptions.get(run, 0)
            run.count_summary = ", ".join(
                f"{channel_labels[channel]} {state_labels[state].lower()}: {count}"
                for channel, state, count in sorted(by_channel.get(run, []))
            )

    @api.depends("partition_ids.state")
    def _compute_partition_progress(self):
        for run in self:
            partitions = run.partition_ids
            processed = partitions.filtered(lambda partition: partition.state != "todo")
            run.partition_progress = 100.0 * len(processed) / len(partitions) if partitions else 0.0

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", self.env._("New")) == self.env._("New"):
                vals["name"] = self.env["ir.sequence"].next_by_code("dunning.run") or "/"
        return super().create(vals_list)

    # === ACTION METHODS === #

    def action_execute(self):
        """Select the invoices, compute their levels and queue (or propose) the reminders."""
        for run in self:
            if run.state != "draft":
                raise UserError(self.env._("Run %(run)s has already been executed.", run=run.name))
            run._execute()
        return True

    def action_send(self):
        """Send the reminders proposed by a run in review mode, or by a scheduled run that its policies held for
        review: only a dunning manager sends the latter."""
        to_send = self.filtered(lambda r: r.state == "review")
        held = to_send.filtered(lambda r: r.trigger == "scheduled")
        if held and not self.env.user.has_group("receivable_dunning.group_dunning_manager"):
            raise AccessError(
                self.env._(
                    "Only a dunning manager sends the reminders of the scheduled run %(run)s (field %(field)s of its "
                    "policies).",
                    run=held[0].name,
                    field=self.env["dunning.policy"]._fields["review_before_sending"]._description_string(self.env),
                )
            )
        for run in to_send:
            run.reminder_ids.filtered(lambda r: r.state == "draft")._update_state(("draft",), "queued")
            run.state = "done"
        to_send.activity_feedback(["mail.mail_activity_data_todo"], feedback=self.env._("Reminders sent."))
        self.env["dunning.reminder"]._trigger_dispatch()
        return True

    def action_cancel(self):
        """Cancel the run's reminders that have not been delivered yet."""
        self.reminder_ids.action_cancel()
        to_cancel = self.filtered(lambda r: r.state in ("draft", "review"))
        to_cancel.state = "cancelled"
        to_cancel.activity_unlink(["mail.mail_activity_data_todo"])
        return True

    def action_view_reminders(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_reminder_action")
        action["domain"] = [("run_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    # === CRON === #

    @api.model
    def _cron_dunning_run(self):
        """Daily: one scheduled run per company that has a dunning policy, then wake the dispatcher.

        A company already run today is left alone, so that a restarted or re-called cron never doubles a run (the
        unique index on scheduled runs enforces it). Each company runs in its own savepoint: one that fails keeps
        a failed run with the reason, its dunning managers are told, and the next company goes on. Every company
        looked at counts as processed, so that the cron is re-called only when it ran out of time.
        """
        today = fields.Date.context_today(self)
        companies = self.env["dunning.policy"].search([]).company_id
        run_today = self.search(
            [("trigger", "=", "scheduled"), ("date", "=", today), ("company_id", "in", companies.ids)]
        ).company_id
        todo = companies - run_today
        for index, company in enumerate(todo, start=1):
            if self._try_lock_company(company):
                self.with_company(company)._run_scheduled(company, today)
            else:
                _logger.info("dunning run of %s skipped: another worker is running it", company.name)
            if not self.env["ir.cron"]._commit_progress(1, remaining=len(todo) - index):
                break  # out of time: the cron calls again for the companies left

    @api.model
    def _run_scheduled(self, company, date):
        """Create and execute the scheduled run of ``company`` for ``date``; a failure leaves a failed run.

        :return: the run, or an empty recordset when another worker created it first
        """
        try:
            with self.env.cr.savepoint():
                run = self.create({"company_id": company.id, "trigger": "scheduled", "mode": "send", "date": date})
        except UniqueViolation:
            _logger.info("dunning run of %s skipped: another worker has run it today", company.name)
            return self.browse()
        try:
            with self.env.cr.savepoint():
                run._execute()
        except Exception as error:  # any failure of one company must spare the others
            _logger.exception("dunning run %s of %s failed", run.name, company.name)
            run._mark_failed(error)
        return run

    def _managers(self):
        """The internal users of the dunning manager group who work in the run's company."""
        self.ensure_one()
        return self.env.ref("receivable_dunning.group_dunning_manager").all_user_ids.filtered(
            lambda user: self.company_id in user.company_ids and not user.share
        )

    def _ask_review(self):
        """A scheduled run stopped in review: each dunning manager of the company gets an activity to send it."""
        self.ensure_one()
        for manager in self._managers():
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Review dunning run %(run)s", run=self.name),
                note=self.env._(
                    "The policy asks for a review before sending: check the proposed reminders of %(company)s, "
                    "then use Send Reminders.",
                    company=self.company_id.name,
                ),
                user_id=manager.id,
            )

    def _mark_failed(self, error):
        """Mark this run failed with the reason of ``error`` and tell the company's dunning managers."""
        self.ensure_one()
        reason = error.args[0] if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        self.write({"state": "failed", "failure_reason": reason})
        managers = self._managers()
        try:
            with self.env.cr.savepoint():
                self.message_post(
                    body=self.env._(
                        "The dunning run of %(company)s failed and queued nothing: %(reason)s",
                        company=self.company_id.name,
                        reason=reason,
                    ),
                    partner_ids=managers.partner_id.ids,
                    message_type="comment",
                    subtype_xmlid="mail.mt_comment",
                )
        except Exception:  # the failed run stays visible in the list even if no one could be told
            _logger.exception("dunning run %s: the managers could not be told of its failure", self.name)

    # === BUSINESS METHODS - THE RUN === #

    def _execute(self):
        """Run the four steps for this run: retry, select, level, queue.

        Serialised per company with a transaction-level advisory lock, so that two workers never queue the same
        company at once; the unique claim on the reminder lines stays the last line of defence. A company with
        more open invoices than a partition holds is only split here: the run goes "In Progress" and the workers
        of :meth:`~.dunning_run_partition.DunningRunPartition._cron_run_partitions` select, level and queue it.
        """
        self.ensure_one()
        started = time.monotonic()
        if not self._try_lock_company(self.company_id):
            raise UserError(
                self.env._(
                    "Another dunning run of %(company)s is in progress; try again in a moment.",
                    company=self.company_id.name,
                )
            )
        self._requeue_failed()
        broken_promises = self._check_promises()
        bounds = self._partition_bounds()
        if len(bounds) > 1:
            self._start_partitions(bounds)
            return
        selected, exceptions = self._run_steps()
        broken_promises.escalated = True
        self._close(time.monotonic() - started)
        _logger.info(
            "dunning run %s (%s): %d invoices selected, %d reminders, %d exceptions in %.2fs",
            self.name,
            self.company_id.name,
            selected,
            len(self.reminder_ids),
            exceptions,
            self.duration,
        )

    def _run_steps(self, partition=None):
        """Steps 2 to 4 (select, level, queue) for the debtors of ``partition``, or all the run's debtors.

        :return: (invoices selected, exceptions recorded)
        """
        rows = self._select_invoices(partition)
        proposals, exceptions = self._level_invoices(rows)
        self._queue_reminders(proposals, exceptions)
        return len(rows), len(exceptions)

    def _close(self, duration):
        """The run has queued (or proposed) all its reminders: wake the dispatcher for the queued ones, and ask the
        dunning managers to review a scheduled run that proposed reminders (policies that review before sending)."""
        states = {state for (state,) in self.env["dunning.reminder"]._read_group([("run_id", "=", self.id)], ["state"])}
        to_review = self.mode == "review" or "draft" in states
        self.write({"state": "review" if to_review else "done", "duration": duration})
        if "queued" in states:
            self.env["dunning.reminder"]._trigger_dispatch()
        if to_review and self.trigger == "scheduled":
            self._ask_review()

    def _close_partitioned(self):
        """Close a run whose partitions are all processed: done (or to review), or failed with the reason."""
        self.ensure_one()
        partitions = self.partition_ids
        # The database's clock, which dated the partitions: the workers' clocks may differ.
        duration = (self.env.cr.now() - min(partitions.mapped("create_date"))).total_seconds()
        failed = partitions.filtered(lambda partition: partition.state == "failed")
        if failed:
            self.duration = duration
            self._mark_failed(
                UserError(
                    self.env._(
                        "%(failed)s of %(total)s partitions failed, their debtors were not reminded: %(reason)s",
                        failed=len(failed),
                        total=len(partitions),
                        reason=failed[0].failure_reason,
                    )
                )
            )
            return
        self._close(duration)
        _logger.info(
            "dunning run %s (%s): %d partitions, %d invoices selected, %d reminders in %.2fs",
            self.name,
            self.company_id.name,
            len(partitions),
            sum(partitions.mapped("selected_count")),
            sum(partitions.mapped("reminder_count")),
            duration,
        )

    def _partition_bounds(self):
        """Split the run's debtors into ranges of ids holding about ``receivable_dunning.run_partition_size`` open
        invoices each, in one query; a debtor is never split, however many invoices it has.

        :return: list of (after id, up to id, open invoices): the first starts at 0, the last has no upper bound
            (0), so that every debtor, even one invoiced since, is in exactly one; empty when one partition holds
            them all
        """
        # sudo: the partition size is a technical setting, read whoever starts the run.
        size = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("receivable_dunning.run_partition_size", DEFAULT_PARTITION_SIZE)
        )
        if size <= 0:
            return []
        Move = self.env["account.move"]
        Move.flush_model(["commercial_partner_id", "company_id", "move_type", "state", "payment_state"])
        scope = (
            SQL("AND commercial_partner_id IN %s", tuple(self.partner_ids.commercial_partner_id.ids))
            if self.partner_ids
            else SQL()
        )
        # The predicate of the partial index _dunning_open_by_debtor_idx: an index-only count per debtor.
        rows = self.env.execute_query(
            SQL(
                """
                SELECT MAX(partner_id), SUM(invoices)
                  FROM (SELECT partner_id, invoices,
                               -- the invoices of the debtors before this one, in whole partitions
                               (SUM(invoices) OVER (ORDER BY partner_id) - invoices)::bigint / %(size)s AS bucket
                          FROM (SELECT commercial_partner_id AS partner_id, COUNT(*) AS invoices
                                  FROM account_move
                                 WHERE company_id = %(company_id)s AND move_type = 'out_invoice'
                                   AND state = 'posted' AND payment_state IN ('not_paid', 'partial') %(scope)s
                              GROUP BY commercial_partner_id) AS debtor) AS cumulated
              GROUP BY bucket
              ORDER BY bucket
                """,
                size=size,
                company_id=self.company_id.id,
                scope=scope,
            )
        )
        if len(rows) <= 1:
            return []
        uptos = [*(upto for upto, _count in rows[:-1]), 0]
        afters = [0, *uptos[:-1]]
        return [(after, upto, count) for after, upto, (_max, count) in zip(afters, uptos, rows, strict=True)]

    def _start_partitions(self, bounds):
        """Record the run's partitions and wake the workers that process them."""
        # sudo: partitions are the run's machinery, written by the run and its workers only; users read them.
        self.env["dunning.run.partition"].sudo().create(
            [
                {
                    "run_id": self.id,
                    "sequence": sequence,
                    "partner_id_after": after,
                    "partner_id_upto": upto,
                    "invoice_count": count,
                }
                for sequence, (after, upto, count) in enumerate(bounds, start=1)
            ]
        )
        self.state = "running"
        self.env["dunning.run.partition"]._trigger_workers()
        _logger.info("dunning run %s (%s) split into %d partitions", self.name, self.company_id.name, len(bounds))

    @api.model
    def _try_lock_company(self, company):
        """Take the company's run lock until the end of the transaction; False when another worker holds it."""
        lock_key = SQL("hashtext(%s)", f"receivable_dunning.run.{company.id}")
        return self.env.execute_query(SQL("SELECT pg_try_advisory_xact_lock(%s)", lock_key))[0][0]

    def _lock_company_shared(self):
        """Share the company's run lock with the other partitions' workers until the end of the transaction; a run
        of the whole company (which takes it alone) waits for them, and they for it."""
        lock_key = SQL("hashtext(%s)", f"receivable_dunning.run.{self.company_id.id}")
        self.env.execute_query(SQL("SELECT pg_advisory_xact_lock_shared(%s)", lock_key))

    def _check_promises(self):
        """Settle the company's pending promises as of the run date; broken ones escalate in this run.

        :return: the broken promises not yet escalated
        """
        Promise = self.env["dunning.promise"]
        Promise.search([("company_id", "=", self.company_id.id), ("state", "=", "pending")])._settle_pending(self.date)
        return self._broken_promises()

    def _broken_promises(self, partition=None):
        """The company's broken promises not yet escalated, of the debtors of ``partition`` or of all."""
        promises = self.env["dunning.promise"].search(
            [("company_id", "=", self.company_id.id), ("state", "=", "broken"), ("escalated", "=", False)]
        )
        if partition:
            promises = promises.filtered(lambda promise: partition._holds(promise.partner_id.commercial_partner_id))
        return promises

    def _requeue_failed(self):
        """Failed reminders of the company are retried by the next run, up to MAX_ATTEMPTS attempts, but those a
        fallback reminder replaced."""
        failed = self.env["dunning.reminder"].search(
            [
                ("company_id", "=", self.company_id.id),
                ("state", "=", "failed"),
                ("attempt_count", "<", MAX_ATTEMPTS),
                # A fallback on another channel took its place: retrying it too would remind the debtor twice.
                ("fallback_reminder_id", "=", False),
            ]
        )
        failed._update_state(("failed",), "queued")

    def _select_invoices(self, partition=None):
        """Step 2: the company's open customer invoices that a reminder may list, in one query.

        :param partition: a ``dunning.run.partition`` of this run: only its debtors' invoices

        :return: one dict per invoice: move_id, partner_id, currency_id, policy_id, date_due, days_overdue,
            amount_residual, level_id, last_date, debtor_on_hold, pause (why the invoice is paused, or None)
        """
        self.ensure_one()
        policies = self.env["dunning.policy"].search([("company_id", "=", self.company_id.id)])
        if not policies:
            return []
        # A courtesy level (negative delay) reaches invoices not yet due; no level is reached before its delay
        # (dunning.level._is_reached), so that no invoice due later can reach one.
        earliest_delay = min([0, *policies.level_ids.mapped("delay_days")])
        self.env["account.move"].flush_model()
        self.env["account.move.line"].flush_model(["move_id", "account_id", "no_followup"])
        self.env["res.partner"].flush_model(["dunning_policy_id", "dunning_hold_until", "commercial_partner_id"])
        self.env["res.company"].flush_model(["dunning_policy_id"])
        self.env["dunning.promise"].flush_model()
        self.env["dunning.plan"].flush_model()
        self.env["dunning.plan.line"].flush_model()
        self.env["dunning.dispute"].flush_model()
        self.env["dunning.payment.claim"].flush_model()
        self.env["dunning.reminder.line"].flush_model(["charge_move_id"])
        pauses = self._invoice_pauses()
        pause_sql = (
            SQL("CASE %s END", SQL(" ").join(SQL("WHEN %s THEN %s", condition, reason) for reason, condition in pauses))
            if pauses
            else SQL("NULL")
        )
        filters = [SQL("TRUE")]
        if self.partner_ids:
            filters.append(SQL("move.commercial_partner_id IN %s", tuple(self.partner_ids.commercial_partner_id.ids)))
        if partition:
            filters.append(partition._debtor_sql(SQL("move.commercial_partner_id")))
        query = SQL(
            """
            SELECT move.id AS move_id,
                   move.name AS move_name,
                   move.commercial_partner_id AS partner_id,
                   move.currency_id,
                   COALESCE((partner.dunning_policy_id ->> move.company_id::text)::integer,
                            company.dunning_policy_id) AS policy_id,
                   %(due_date)s AS date_due,
                   %(date)s - %(due_date)s AS days_overdue,
                   %(amount_residual)s AS amount_residual,
                   move.dunning_level_id AS level_id,
                   move.dunning_last_date AS last_date,
                   COALESCE(partner.dunning_hold_until > %(date)s, FALSE) AS debtor_on_hold,
                   %(pause_sql)s AS pause,
                   %(promise_broken)s AS promise_broken,
                   -- Fees and interest are never charged on fees and interest (unlawful in FR and DE).
                   EXISTS (SELECT 1 FROM dunning_reminder_line charged WHERE charged.charge_move_id = move.id)
                       AS is_charges,
                   partner.is_company AS is_business
              FROM account_move move
              JOIN res_partner partner ON partner.id = move.commercial_partner_id
              JOIN res_company company ON company.id = move.company_id
             WHERE move.company_id = %(company_id)s
               AND move.move_type = 'out_invoice'
               AND move.state = 'posted'
               AND move.payment_state IN ('not_paid', 'partial')
               AND move.amount_residual > 0
               AND %(due_date)s <= %(date)s - %(earliest_delay)s
               AND NOT EXISTS (
                    SELECT 1
                      FROM account_move_line aml
                      JOIN account_account account ON account.id = aml.account_id
                     WHERE aml.move_id = move.id
                       AND account.account_type = 'asset_receivable'
                       AND aml.no_followup
               )
               AND %(filters)s
          ORDER BY move.commercial_partner_id, move.invoice_date_due, move.id
            """,
            date=SQL("%s::date", self.date),
            company_id=self.company_id.id,
            earliest_delay=earliest_delay,
            filters=SQL(" AND ").join(filters),
            pause_sql=pause_sql,
            due_date=self._due_date(),
            amount_residual=self._amount_dunned(),
            promise_broken=self._promise_exists(SQL("promise.state = 'broken' AND promise.escalated IS NOT TRUE")),
        )
        rows = self.env.execute_query_dict(query)
        if self.policy_ids:
            rows = [row for row in rows if row["policy_id"] in self.policy_ids.ids]
        return rows

    def _invoice_pauses(self):
        """Why an invoice may be left out of reminders for now: (reason, SQL condition on ``move``) pairs.

        The reason is a ``dunning.run.exception`` reason; add-ons and later features (disputes, promises to pay,
        instalment plans) append their own.
        """
        return [
            (
                "disputed",
                SQL(
                    "EXISTS (SELECT 1 FROM dunning_dispute dispute WHERE dispute.move_id = move.id "
                    "AND dispute.state = 'open')"
                ),
            ),
            # An approved plan pauses its invoices until an instalment is missed.
            (
                "plan",
                SQL(
                    "move.dunning_plan_id IS NOT NULL AND %s IS NULL AND %s = 0",
                    self._plan_missed_date(),
                    self._plan_failed_amount(),
                ),
            ),
            ("on_hold", SQL("move.dunning_hold_until > %s", self.date)),
            (
                "promise",
                self._promise_exists(SQL("promise.state = 'pending' AND promise.date_promised >= %s", self.date)),
            ),
            # The debtor says it paid: paused while the money is looked for, and until an accountant confirms it.
            (
                "payment_claim",
                SQL(
                    """EXISTS (
                        SELECT 1
                          FROM dunning_payment_claim claim
                          JOIN account_move_dunning_payment_claim_rel rel ON rel.dunning_payment_claim_id = claim.id
                         WHERE rel.account_move_id = move.id
                           AND (claim.state = 'proposed' OR (claim.state = 'searching' AND claim.pause_until > %s))
                    )""",
                    self.date,
                ),
            ),
        ]

    def _plan_missed_date(self):
        """SQL: the first instalment date of the approved plan of ``move`` that passed without enough paid."""
        return SQL(
            """(
                SELECT MIN(instalment.date)
                  FROM dunning_plan plan
                  JOIN dunning_plan_line instalment ON instalment.plan_id = plan.id
                  JOIN res_currency currency ON currency.id = plan.currency_id
                 WHERE plan.id = move.dunning_plan_id
                   AND plan.state = 'approved'
                   AND instalment.date < %(date)s
                   -- A refused charge is dunned alone (see _plan_failed_amount), not as a missed instalment.
                   AND instalment.charge_state != 'failed'
                   -- Short of the instalment by more than half the currency's smallest unit (0.005 in EUR, 0.5
                   -- in JPY, 0.0005 in KWD), as compare_amounts says.
                   AND instalment.amount_cumulative - currency.rounding / 2 - COALESCE((
                        SELECT SUM(failed.amount)
                          FROM dunning_plan_line failed
                         WHERE failed.plan_id = plan.id
                           AND failed.charge_state = 'failed'
                           AND failed.date <= instalment.date
                   ), 0) > plan.amount_total - (
                        SELECT COALESCE(SUM(planned.amount_residual), 0)
                          FROM account_move planned
                         WHERE planned.dunning_plan_id = plan.id
                   )
            )""",
            date=self.date,
        )

    def _plan_failed_amount(self):
        """SQL: what the refused charges of the approved plan of ``move`` leave due on ``move``: their amount,
        set against the plan's invoices oldest due first; 0 for an invoice without a plan or a refused charge."""
        return SQL(
            """(
                SELECT LEAST(move.amount_residual, GREATEST(COALESCE(SUM(failed.amount), 0) - COALESCE((
                           SELECT SUM(earlier.amount_residual)
                             FROM account_move earlier
                            WHERE earlier.dunning_plan_id = move.dunning_plan_id
                              AND (earlier.invoice_date_due, earlier.id) < (move.invoice_date_due, move.id)
                       ), 0), 0))
                %s
            )""",
            self._plan_failed_instalments(),
        )

    def _plan_failed_date(self):
        """SQL: the date of the first refused charge of the approved plan of ``move``."""
        return SQL(
            """(
                SELECT MIN(failed.date)
                %s
            )""",
            self._plan_failed_instalments(),
        )

    def _plan_failed_instalments(self):
        """SQL: the refused charges ``failed`` of the approved plan of ``move`` (a FROM and WHERE clause)."""
        return SQL(
            """FROM dunning_plan_line failed
                  JOIN dunning_plan plan ON plan.id = failed.plan_id
                 WHERE failed.plan_id = move.dunning_plan_id
                   AND plan.state = 'approved'
                   AND failed.charge_state = 'failed'"""
        )

    def _due_date(self):
        """SQL: the date an invoice ``move`` is dunned from: its due date, the instalment its plan missed, or the
        refused charge it is dunned for."""
        return SQL(
            "CASE WHEN move.dunning_plan_id IS NULL THEN move.invoice_date_due "
            "ELSE COALESCE(%s, CASE WHEN %s > 0 THEN %s END, move.invoice_date_due) END",
            self._plan_missed_date(),
            self._plan_failed_amount(),
            self._plan_failed_date(),
        )

    def _amount_dunned(self):
        """SQL: what is dunned of an invoice ``move``: its residual, or only what the refused charges of its plan
        leave due on it while the plan is otherwise kept."""
        return SQL(
            "CASE WHEN move.dunning_plan_id IS NOT NULL AND %s IS NULL AND %s > 0 THEN %s "
            "ELSE move.amount_residual END",
            self._plan_missed_date(),
            self._plan_failed_amount(),
            self._plan_failed_amount(),
        )

    @api.model
    def _promise_exists(self, condition):
        """SQL: the invoice ``move`` has a promise to pay that meets ``condition`` (on ``promise``)."""
        return SQL(
            """EXISTS (
                SELECT 1
                  FROM dunning_promise promise
                  JOIN account_move_dunning_promise_rel rel ON rel.dunning_promise_id = promise.id
                 WHERE rel.account_move_id = move.id AND %s
            )""",
            condition,
        )

    def _level_invoices(self, rows):
        """Step 3: the level each invoice reaches, then per debtor the reminder to send, if any.

        Per debtor and currency: invoices that are paused are left out, the debtor's hold and the policy's
        minimum interval are honoured (a broken promise overrides the interval), and the minimum amount and share
        of each level keep the debtor at the previous level when it owes too little.

        :param list rows: the output of :meth:`_select_invoices`
        :return: (proposals, exceptions): proposals are dicts with partner_id, currency_id, level (record),
            lines (dicts); exceptions are dicts with partner_id, reason, detail
        """
        self.ensure_one()
        levels_by_policy = {
            policy.id: policy.level_ids.sorted(lambda level: level._order_key())
            for policy in self.env["dunning.policy"].browse({row["policy_id"] for row in rows if row["policy_id"]})
        }
        current_levels = self.env["dunning.level"].browse({row["level_id"] for row in rows if row["level_id"]})
        level_by_id = {level.id: level for level in current_levels}
        by_debtor = defaultdict(list)
        for row in rows:
            by_debtor[row["partner_id"], row["currency_id"]].append(row)
        debtor_ids = {partner_id for partner_id, _currency in by_debtor}
        open_balances = self._open_balances(debtor_ids)
        open_credits = self._open_credits(debtor_ids)
        currencies = self.env["res.currency"].browse({currency_id for _partner, currency_id in by_debtor})
        currency_of = {currency.id: currency for currency in currencies}

        proposals, exceptions = [], []
        for (partner_id, currency_id), debtor_rows in by_debtor.items():
            levels = levels_by_policy.get(debtor_rows[0]["policy_id"])
            if not levels:
                continue
            policy = levels.policy_id
            currency = currency_of[currency_id]
            credits = open_credits.get((partner_id, currency_id), [])
            self._net_position(debtor_rows, credits, currency)
            escalations, left_out = self._escalations(partner_id, policy, levels, level_by_id, debtor_rows)
            exceptions += left_out
            if not escalations:
                continue
            if debtor_rows[0]["debtor_on_hold"]:
                exceptions.append(self._exception_vals(partner_id, "on_hold"))
                continue
            interval_problem = self._interval_problem(policy, debtor_rows)
            if interval_problem:
                exceptions.append(self._exception_vals(partner_id, "interval", interval_problem))
                continue
            listed = [
                row
                for row in debtor_rows
                if row["move_id"] in escalations or (row["days_overdue"] > 0 and not row["pause"])
            ]
            # The thresholds apply to what is really overdue: the debtor's credits are set against it first.
            overdue = currency.round(
                sum(row["amount_residual"] - row["amount_credit"] for row in listed if row["days_overdue"] > 0)
            )
            open_balance = open_balances.get((partner_id, currency_id), overdue) - sum(
                credit.amount for credit in credits
            )
            allowed = self._allowed_levels(levels, currency_id, overdue, max(open_balance, overdue))
            current_of = {row["move_id"]: level_by_id.get(row["level_id"]) for row in debtor_rows}
            escalations = {
                move_id: capped
                for move_id, target in escalations.items()
                if (capped := self._cap_level(levels, allowed, current_of[move_id], target))
            }
            if not escalations:
                exceptions.append(
                    self._exception_vals(
                        partner_id,
                        "under_minimum",
                        self.env._(
                            "%(amount)s overdue is under the minimum amount or share of the next level.",
                            amount=self.env["res.currency"].browse(currency_id).format(overdue),
                        ),
                    )
                )
                continue
            level = max(escalations.values(), key=lambda level: level._order_key())
            lines = [
                {
                    "row": row,
                    "level": escalations.get(row["move_id"]) or level_by_id.get(row["level_id"]),
                    "is_escalation": row["move_id"] in escalations,
                }
                # The statement lists the escalated invoices and every other overdue one that is not paused.
                for row in listed
            ]
            proposals.append(
                {
                    "partner_id": partner_id,
                    "currency_id": currency_id,
                    "level": level,
                    "lines": lines,
                    # Every item set against the invoices, refunds paid out included: the reminder's figures add up.
                    "credit_line_ids": [credit.line_id for credit in credits],
                }
            )
        return proposals, exceptions

    def _escalations(self, partner_id, policy, levels, level_by_id, debtor_rows):
        """The level each invoice of one debtor moves to; paused invoices and those its credits cover stay.

        :return: (escalations, exceptions): invoice id -> target level, and why invoices were left out
        """
        escalations, left_out = {}, defaultdict(list)
        for row in debtor_rows:
            target = self._target_level(policy, levels, level_by_id.get(row["level_id"]), row)
            if not target:
                continue
            reason = row["pause"] or ("credits" if row["covered"] else None)
            if reason:
                left_out[reason].append(row["move_name"])
            else:
                escalations[row["move_id"]] = target
        if escalations:
            # Credits covering some invoices of a debtor who is reminded anyway show on the reminder itself.
            left_out.pop("credits", None)
        exceptions = [
            self._exception_vals(partner_id, reason, self.env._("Left out: %(invoices)s", invoices=", ".join(names)))
            for reason, names in left_out.items()
        ]
        return escalations, exceptions

    def _interval_problem(self, policy, debtor_rows):
        """Why the debtor is reminded too soon after its last reminder, or False; a broken promise cannot wait."""
        if any(row["promise_broken"] for row in debtor_rows):
            return False
        last_date = max((row["last_date"] for row in debtor_rows if row["last_date"]), default=None)
        if last_date and self.date < last_date + timedelta(days=policy.min_interval_days):
            return self.env._(
                "Last reminder on %(date)s, the policy waits %(days)s days between two reminders.",
                date=last_date,
                days=policy.min_interval_days,
            )
        return False

    def _allowed_levels(self, levels, currency_id, overdue, open_balance):
        """The levels whose minimum amount and share the debtor's overdue amount reaches.

        :param float overdue: the debtor's overdue amount in ``currency_id``
        :param float open_balance: all the debtor owes in ``currency_id``, due or not
        """
        company = self.company_id
        currency = self.env["res.currency"].browse(currency_id)
        overdue_company = currency._convert(overdue, company.currency_id, company, self.date)
        share = 100.0 * overdue / open_balance if open_balance else 100.0
        return {
            level
            for level in levels
            if company.currency_id.compare_amounts(overdue_company, level.min_amount) >= 0 and share >= level.min_share
        }

    def _cap_level(self, levels, allowed, current, target):
        """The highest allowed level above ``current`` and up to ``target``: the debtor never exceeds its thresholds."""
        candidates = [
            level
            for level in levels
            if level in allowed
            and not level._is_after(target)
            and level._is_after(current)
            and (not level._is_courtesy() or target._is_courtesy())
        ]
        return candidates[-1] if candidates else None

    def _open_balances(self, partner_ids):
        """All that each debtor owes on posted customer invoices, due or not, per currency, in one query."""
        if not partner_ids:
            return {}
        Move = self.env["account.move"]
        groups = Move._read_group(
            Move._dunning_open_invoice_domain(self.env["res.partner"].browse(list(partner_ids)), self.company_id),
            groupby=["commercial_partner_id", "currency_id"],
            aggregates=["amount_residual:sum"],
        )
        return {(partner.id, currency.id): amount for partner, currency, amount in groups}

    def _open_credits(self, partner_ids):
        """Every open receivable item of these debtors in the company that is no customer invoice, in one query:
        credit notes, payments not yet matched (in the debtor's favour) and outbound refunds not yet matched
        (against it), oldest first. The rule is ``account.move.line._dunning_open_credit_domain``, which the
        statement page and online payments use too.

        :return: dict (debtor id, currency id) -> list of :class:`~..tools.credits.Credit`
        """
        if not partner_ids:
            return {}
        # sudo: the run reads every open item of its company, as its selection of invoices does, whoever started it.
        Line, Move, Partner = (self.env[name].sudo() for name in ("account.move.line", "account.move", "res.partner"))
        query = Line._search(
            Line._dunning_open_credit_domain(Partner.browse(partner_ids), self.company_id), order="date, id"
        )
        partner = query.left_join(query.table, "partner_id", Partner._table, "id", "partner_id")
        move = query.left_join(query.table, "move_id", Move._table, "id", "move_id")
        rows = self.env.execute_query(
            query.select(
                Partner._field_to_sql(partner, "commercial_partner_id"),
                Line._field_to_sql(query.table, "currency_id"),
                Line._field_to_sql(query.table, "id"),
                SQL("-%s", Line._field_to_sql(query.table, "amount_residual_currency")),
                Move._field_to_sql(move, "reversed_entry_id"),
            )
        )
        credits = defaultdict(list)
        for partner_id, currency_id, line_id, amount, reversed_move_id in rows:
            credits[partner_id, currency_id].append(Credit(line_id, amount, reversed_move_id))
        return credits

    def _net_position(self, debtor_rows, credits, currency):
        """Set the debtor's credits against its selected invoices (paused ones aside, they are not dunned):
        each row gets ``amount_credit`` (the part its credits cover) and ``covered`` (nothing left to claim).

        :return: the credits' :class:`~..tools.credits.Allocation`
        """
        digits = currency.decimal_places
        invoices = {
            row["move_id"]: Invoice(row["move_id"], row["date_due"], row["amount_residual"])
            for row in debtor_rows
            if not row["pause"]
        }
        allocation = allocate_credits(invoices.values(), credits, digits)
        for row in debtor_rows:
            invoice = invoices.get(row["move_id"])
            row["amount_credit"] = allocation.covered.get(row["move_id"], 0.0)
            row["covered"] = bool(invoice and allocation.is_covered(invoice, digits))
        return allocation

    def _target_level(self, policy, levels, current, row):
        """The level an invoice moves to in this run, or None when it stays where it is.

        :param policy: the debtor's ``dunning.policy``
        :param levels: the policy's levels in the level order
        :param current: the invoice's current ``dunning.level`` (possibly of another policy), or None
        :param dict row: the selected invoice
        """
        if current and current.is_last_auto_step:
            return None  # handed over to a person
        days = row["days_overdue"]
        following = [level for level in levels if level._is_after(current)]
        if row["promise_broken"]:
            # A broken promise moves the debtor to the next level at once, whatever the delays say.
            following = [level for level in following if not level._is_courtesy()]
            return following[0] if following else None
        reached = [level for level in following if level._is_reached(days)]
        if not reached:
            return None
        if policy.escalation_mode == "step":
            # Never skip a level: only the one right after the current one, when it is reached.
            if days > 0:
                following = [level for level in following if not level._is_courtesy()]
            return following[0] if following and following[0] == reached[0] else None
        return reached[-1]

    def _exception_vals(self, partner_id, reason, detail=False):
        return {"partner_id": partner_id, "reason": reason, "detail": detail}

    def _queue_reminders(self, proposals, exceptions):
        """Step 4: queue the reminders (one per debtor and channel) and their lines, inserted in bulk by
        ``dunning.reminder._bulk_create``.

        Invoice levels already claimed for a channel (a previous run, another worker) are left out; charges
        are computed here and stored on the lines, never at sending time.
        """
        self.ensure_one()
        claimed = self._existing_claims(proposals)
        charged = self._charge_history(proposals)
        recipients = self._recipients({proposal["partner_id"] for proposal in proposals})
        refused = self.env["res.partner"]._dunning_refused_channels(recipients)
        company = self.company_id
        reminder_vals = []
        for proposal in proposals:
            level = proposal["level"]
            currency = self.env["res.currency"].browse(proposal["currency_id"])
            recipient = recipients[proposal["partner_id"]]
            channels = level._enabled_channels(refused[proposal["partner_id"]])
            if problem := self._no_channel_problem(level, channels, recipient.commercial_partner_id):
                exceptions.append(self._exception_vals(proposal["partner_id"], "no_channel", problem))
            state = "draft" if self._to_review(level) else "queued"
            for channel in channels:
                lines = [self._line_vals(line, channel, currency, claimed, charged) for line in proposal["lines"]]
                if not any(vals["is_escalation"] for vals in lines):
                    continue  # every escalation of this debtor was already claimed for this channel
                reminder_vals.append(
                    {
                        "run_id": self.id,
                        "company_id": company.id,
                        "currency_id": currency.id,
                        "partner_id": proposal["partner_id"],
                        "recipient_id": recipient.id,
                        "level_id": level.id,
                        "channel": channel,
                        "state": state,
                        "trigger": self.trigger,
                        "date_scheduled": self.date,
                        "line_ids": lines,
                        "credit_line_ids": proposal["credit_line_ids"],
                    }
                )
                problem = self.env["dunning.reminder"]._contact_problem(channel, recipient)
                if problem:
                    exceptions.append(self._exception_vals(proposal["partner_id"], "no_contact", problem))
        self.env["dunning.reminder"]._bulk_create(reminder_vals)
        self.env["dunning.run.exception"].create(
            [{**vals, "run_id": self.id, "company_id": company.id} for vals in exceptions]
        )

    def _no_channel_problem(self, level, channels, debtor):
        """Why the debtor gets no reminder message at ``level``: its preferences refuse every channel of the level
        that writes to it (a call to make is not a message), or False.

        :param list channels: the level's channels the debtor accepts
        """
        internal = self.env["dunning.reminder"]._internal_channels()
        if any(channel not in internal for channel in channels):
            return False
        level_channels = [channel for channel in level._enabled_channels() if channel not in internal]
        if not level_channels:
            return False
        labels = dict(self.env["dunning.reminder"]._fields["channel"]._description_selection(self.env))
        return self.env._(
            "Level %(level)s reminds by %(channels)s; %(debtor)s accepts none of them (field %(field)s: "
            "%(preference)s, or a number on the SMS blacklist).",
            level=level.name,
            channels=", ".join(labels[channel] for channel in level_channels),
            debtor=debtor.display_name,
            field=debtor._fields["dunning_channel_preference"]._description_string(self.env),
            preference=dict(debtor._fields["dunning_channel_preference"]._description_selection(self.env)).get(
                debtor.dunning_channel_preference, self.env._("any")
            ),
        )

    def _to_review(self, level):
        """Whether the reminders of ``level`` wait for a person: in a run in review mode, or in the scheduled run
        when the level's policy asks for a review before sending."""
        return self.mode == "review" or (self.trigger == "scheduled" and level.policy_id.review_before_sending)

    def _line_vals(self, line, channel, currency, claimed, charged):
        """Values of one invoice's line in a reminder; only an escalation carries charges.

        :param dict charged: the output of :meth:`_charge_history`
        """
        row, level = line["row"], line["level"]
        is_escalation = line["is_escalation"] and (row["move_id"], level.id, channel) not in claimed
        vals = {
            "move_id": row["move_id"],
            "level_id": level.id if level else False,
            "is_escalation": is_escalation,
            "date_due": row["date_due"],
            "days_overdue": row["days_overdue"],
            "amount_residual": row["amount_residual"],
            "amount_credit": row["amount_credit"],
        }
        if is_escalation:
            vals.update(self._line_charges(row, level, currency, charged))
        return vals

    def _line_charges(self, row, level, currency, charged):
        """Fee, statutory compensation and late interest for an invoice reaching ``level``, never twice.

        The compensation is charged once per invoice; interest covers only the days after the last day already
        charged, at the rates in force over those days.
        """
        if row["is_charges"]:
            return {"amount_fee": 0.0}
        fee = level._fee_in(currency, self.date)
        vals = {"amount_fee": fee}
        if not (level.apply_interest and row["days_overdue"] > 0):
            return vals
        policy = level.policy_id
        rule = policy.charge_rule_id
        is_business = bool(row["is_business"])
        if row["move_id"] not in charged["compensated"]:
            compensation = rule._compensation(is_business, currency, self.company_id, self.date)
            if compensation:
                vals.update(amount_fee=fee + compensation, includes_compensation=True)
        date_from = max(row["date_due"], charged["interest_until"].get(row["move_id"], row["date_due"]))
        # Interest runs on what is really unpaid: the part the debtor's credits cover is not late.
        unpaid = row["amount_residual"] - row["amount_credit"]
        interest = rule._late_interest(
            unpaid, date_from, self.date, currency, is_business, charged["rates"], policy.interest_rate
        )
        if interest is not None:
            vals.update(amount_interest=interest, interest_date_from=date_from, interest_date_to=self.date)
        return vals

    def _charge_history(self, proposals):
        """What the listed invoices were already charged, and the rate tables of the policies, in two queries.

        :return: dict with ``interest_until`` (invoice id -> last day charged with interest), ``compensated``
            (ids of invoices already charged the statutory compensation) and ``rates`` ((rule id, is business)
            -> dated annual rates)
        """
        move_ids = tuple({line["row"]["move_id"] for proposal in proposals for line in proposal["lines"]})
        rules = self.env["dunning.charge.rule"].browse(
            {proposal["level"].policy_id.charge_rule_id.id for proposal in proposals} - {False}
        )
        history = {"interest_until": {}, "compensated": set(), "rates": rules._rate_changes()}
        if not move_ids:
            return history
        self.env["dunning.reminder.line"].flush_model()
        for move_id, interest_until, compensated in self.env.execute_query(
            SQL(
                """
                SELECT move_id, MAX(interest_date_to), BOOL_OR(includes_compensation)
                  FROM dunning_reminder_line
                 WHERE move_id IN %s AND is_escalation AND state IS DISTINCT FROM 'cancelled'
              GROUP BY move_id
                """,
                move_ids,
            )
        ):
            if interest_until:
                history["interest_until"][move_id] = interest_until
            if compensated:
                history["compensated"].add(move_id)
        return history

    def _existing_claims(self, proposals):
        """(invoice, level, channel) already claimed by a live escalation line, in one query."""
        move_ids = [line["row"]["move_id"] for proposal in proposals for line in proposal["lines"]]
        if not move_ids:
            return set()
        self.env["dunning.reminder.line"].flush_model()
        rows = self.env.execute_query(
            SQL(
                """
                SELECT move_id, level_id, channel
                  FROM dunning_reminder_line
                 WHERE move_id IN %s AND is_escalation AND state IS DISTINCT FROM 'cancelled'
                """,
                tuple(move_ids),
            )
        )
        return {tuple(row) for row in rows}

    def _recipients(self, partner_ids):
        """The contact each debtor's reminders go to: its dunning contact, else its invoice address, else itself.

        :param set partner_ids: commercial partner ids
        :return: dict commercial partner id -> ``res.partner``
        """
        if not partner_ids:
            return {}
        Partner = self.env["res.partner"]
        contacts = Partner.search_fetch(
            [
                ("commercial_partner_id", "in", list(partner_ids)),
                ("id", "not in", list(partner_ids)),
                "|",
                ("dunning_contact", "=", True),
                ("type", "=", "invoice"),
            ],
            ["commercial_partner_id", "dunning_contact", "type"],
            order="id",
        )
        debtors = Partner.browse(list(partner_ids))  # one recordset, so that reading their contacts is prefetched
        recipients = {partner.id: partner for partner in debtors}
        rank = dict.fromkeys(partner_ids, 0)  # 2: dunning contact, 1: invoice address, 0: the debtor itself
        for contact in contacts:
            commercial_id = contact.commercial_partner_id.id
            contact_rank = 2 if contact.dunning_contact else 1
            if contact_rank > rank[commercial_id]:
                recipients[commercial_id], rank[commercial_id] = contact, contact_rank
        return recipients
