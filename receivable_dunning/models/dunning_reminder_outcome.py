from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.tools import SQL

# The time zones whose rows are kept up to date, and those whose rows are complete (the report reads only these):
# a time zone added by the nightly rebuild is kept up to date at once but read only once every company is done.
TIMEZONES_PARAM = "receivable_dunning.outcome_timezones"
READY_TIMEZONES_PARAM = "receivable_dunning.outcome_ready_timezones"
# The columns of the report's facts (``dunning.report.effectiveness._facts_query``) the store keeps, in its order.
FACT_COLUMNS = (
    "line_id",
    "company_id",
    "currency_id",
    "policy_id",
    "level_id",
    "channel",
    "reminder_id",
    "move_id",
    "partner_id",
    "date_sent",
    "day_sent",
    "weekday",
    "hour",
    "date_next_reminder",
    "amount_reminded",
    "paid_7",
    "paid_14",
    "paid_30",
    "paid_7_count",
    "paid_14_count",
    "paid_30_count",
    "amount_recovered",
    "date_last_payment",
)


class DunningReminderOutcome(models.Model):
    """What became of each sent reminder line, as *Which reminder gets paid* reports it: the rows of the report's
    own statement (``dunning.report.effectiveness._facts_query``) stored per line and time zone, so that the report's
    pages read them instead of joining, sorting and windowing every reminder line with its payments each time.

    A table of its own rather than columns on the reminder line: the days and hours a reminder's payments are
    counted in are those of the reader's time zone, so a line has a row per time zone the report is read in (those
    of the internal users). Only what does not depend on the report's day is stored; the report computes the rest
    (the rates whose window is not over) when it reads the rows.

    Written in SQL only, by one statement per time zone for a set of invoices (``_refresh``): when reminders are
    sent or fail after being sent (``dunning.reminder.write``), when reconciliations of the invoices' receivable
    lines are created or removed (``account.partial.reconcile``), and for every invoice by the nightly rebuild
    (``_cron_rebuild``), the safety net for what changes otherwise (an invoice reset and changed after a reminder).
    """

    _name = "dunning.reminder.outcome"
    _description = "Reminder Outcome"
    _order = "date_sent desc, id desc"
    _rec_name = "move_id"
    _log_access = False

    line_id = fields.Many2one("dunning.reminder.line", required=True, readonly=True, ondelete="cascade")
    tz = fields.Char(string="Time Zone", required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", string="Company Currency", readonly=True)
    policy_id = fields.Many2one("dunning.policy", readonly=True)
    level_id = fields.Many2one("dunning.level", readonly=True)
    channel = fields.Char(readonly=True, help="The code of the reminder's channel.")
    reminder_id = fields.Many2one("dunning.reminder", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True, index=True)
    partner_id = fields.Many2one("res.partner", string="Debtor", readonly=True)
    date_sent = fields.Datetime(string="Sent On", readonly=True, index=True)
    day_sent = fields.Date(readonly=True, help="The day the reminder was sent, in the row's time zone.")
    weekday = fields.Char(readonly=True, help="0 for Monday to 6 for Sunday, in the row's time zone.")
    hour = fields.Char(readonly=True, help="00 to 23, in the row's time zone.")
    date_next_reminder = fields.Datetime(string="Next Reminder", readonly=True)
    amount_reminded = fields.Monetary(readonly=True)
    paid_7 = fields.Monetary(string="Paid in 7 Days", readonly=True)
    paid_14 = fields.Monetary(string="Paid in 14 Days", readonly=True)
    paid_30 = fields.Monetary(string="Paid in 30 Days", readonly=True)
    paid_7_count = fields.Integer(string="Fully Paid in 7 Days", readonly=True)
    paid_14_count = fields.Integer(string="Fully Paid in 14 Days", readonly=True)
    paid_30_count = fields.Integer(string="Fully Paid in 30 Days", readonly=True)
    amount_recovered = fields.Monetary(string="Recovered", readonly=True)
    date_last_payment = fields.Date(
        string="Last Payment",
        readonly=True,
        index=True,
        help="The latest reconciliation of the invoice counted in the row: a report dated before it cannot read "
        "the row.",
    )

    _line_tz_uniq = models.Constraint("UNIQUE (line_id, tz)", "A reminder line has one outcome per time zone.")

    # === BUSINESS METHODS - READING === #

    @api.model
    def _stored_facts(self, tz, report_date, sent_since=None):
        """The stored rows as the report's facts (see ``dunning.report.effectiveness._facts_query``), or None when
        the store cannot answer: a time zone not kept, or a report date before a reminder or a payment the rows
        count (the rows know no cut-off).

        :param str tz: the report's time zone
        :param date report_date: the report's day
        :param datetime sent_since: rows of reminders sent before it (UTC) are left out; None for all
        :rtype: SQL or None
        """
        if tz not in self._timezones(READY_TIMEZONES_PARAM):
            return None
        # Two index lookups (date_sent, date_last_payment), whatever the number of rows.
        self.env.cr.execute(SQL("SELECT MAX(date_sent), MAX(date_last_payment) FROM dunning_reminder_outcome"))
        last_sent, last_payment = self.env.cr.fetchone()
        end_of_day = self.env["dunning.report.effectiveness"]._utc_start_of_day(tz, report_date + timedelta(days=1))
        if (last_sent and last_sent >= end_of_day) or (last_payment and last_payment > report_date):
            return None
        return SQL(
            "(SELECT %s FROM dunning_reminder_outcome WHERE tz = %s %s)",
            SQL(", ").join(SQL.identifier(column) for column in FACT_COLUMNS),
            tz,
            SQL("AND date_sent >= %s", sent_since) if sent_since else SQL(),
        )

    @api.model
    def _timezones(self, param):
        """The time zones listed in the configuration parameter ``param``."""
        # sudo: a technical parameter of the store, read for whoever opens the report, pays or sends reminders.
        value = self.env["ir.config_parameter"].sudo().get_param(param) or ""
        return [tz for tz in value.split(",") if tz]

    # === BUSINESS METHODS - WRITING === #

    @api.model
    def _refresh(self, moves):
        """Recompute the stored rows of the invoices ``moves`` (any ``account.move``: those without a sent
        reminder have none), in every time zone kept: a delete and an insert per time zone, whatever the number
        of invoices."""
        timezones = self._timezones(TIMEZONES_PARAM)
        if not (moves and timezones):
            return
        # Every reconciliation in the books comes here: those of invoices no reminder lists (bills, payments
        # between themselves) cost this one query instead of the flushes, the delete and the inserts. In SQL,
        # as the rows are written: no record rule hides another company's lines.
        self.env["dunning.reminder.line"].flush_model(["move_id"])
        self.env.cr.execute(
            SQL("SELECT DISTINCT move_id FROM dunning_reminder_line WHERE move_id = ANY(%s)", moves.ids)
        )
        reminded_ids = [move_id for (move_id,) in self.env.cr.fetchall()]
        if reminded_ids:
            self._write_rows(
                SQL("line.move_id = ANY(%s)", reminded_ids), SQL("move_id = ANY(%s)", reminded_ids), timezones
            )

    @api.model
    def _rebuild(self, commit_progress=False):
        """Recompute every stored row, a company at a time, in the time zones of the internal users (each user's
        preference, UTC for those without one); the rows of other time zones are deleted.

        :param bool commit_progress: commit after each company through ``ir.cron._commit_progress`` and stop when
            the cron's time is over (the next run starts over; the report reads the time zones already complete)
        """
        timezones = self._users_timezones()
        # sudo: technical parameters of the store, whoever installs, updates or runs the cron.
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(TIMEZONES_PARAM, ",".join(timezones))
        ready = [tz for tz in self._timezones(READY_TIMEZONES_PARAM) if tz in timezones]
        params.set_param(READY_TIMEZONES_PARAM, ",".join(ready))
        self.env.cr.execute(SQL("DELETE FROM dunning_reminder_outcome WHERE tz != ALL(%s)", timezones))
        companies = self.env["res.company"].with_context(active_test=False).search([])
        for index, company in enumerate(companies, start=1):
            self._write_rows(SQL("line.company_id = %s", company.id), SQL("company_id = %s", company.id), timezones)
            if commit_progress and not self.env["ir.cron"]._commit_progress(1, remaining=len(companies) - index):
                return
        params.set_param(READY_TIMEZONES_PARAM, ",".join(timezones))

    @api.model
    def _cron_rebuild(self):
        """Nightly: recompute every stored row, the safety net for changes no hook follows."""
        self._rebuild(commit_progress=True)

    @api.model
    def _users_timezones(self):
        """The time zones the report is read in: those of the active internal users, UTC for a user without one."""
        # sudo: every internal user's preference, whoever rebuilds the store.
        users = self.env["res.users"].sudo().search_fetch([("share", "=", False)], ["tz"])
        return sorted({tz if tz in pytz.all_timezones_set else "UTC" for tz in users.mapped("tz")} or {"UTC"})

    @api.model
    def _write_rows(self, lines, stored, timezones):
        """Replace the stored rows matching ``stored`` by the report's facts of the reminder lines matching
        ``lines``, in each of ``timezones``.

        :param SQL lines: a condition on ``dunning_reminder_line`` (as ``line``)
        :param SQL stored: the same rows' condition on the store
        :param list timezones: time zone names
        """
        Report = self.env["dunning.report.effectiveness"]
        # The facts are read in SQL: what the ORM still holds of their sources goes to the database first.
        for model, fnames in Report._depends.items():
            self.env[model].flush_model(fnames)
        columns = SQL(", ").join(SQL.identifier(column) for column in FACT_COLUMNS)
        self.env.cr.execute(SQL("DELETE FROM dunning_reminder_outcome WHERE %s", stored))
        for tz in timezones:
            self.env.cr.execute(
                SQL(
                    """INSERT INTO dunning_reminder_outcome (tz, %(columns)s)
                       SELECT %(tz)s, %(columns)s FROM %(facts)s AS facts""",
                    columns=columns,
                    tz=tz,
                    facts=Report._facts_query(tz, lines=lines),
                )
            )
        self.invalidate_model()
