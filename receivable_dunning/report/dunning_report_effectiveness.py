from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.misc import format_date

from .dunning_report_ageing import report_date as report_date_of

# The windows after a reminder in which a payment counts as "paid within N days" (day N included).
PAYMENT_WINDOWS = (7, 14, 30)
WEEKDAYS = [
    ("0", "Monday"),
    ("1", "Tuesday"),
    ("2", "Wednesday"),
    ("3", "Thursday"),
    ("4", "Friday"),
    ("5", "Saturday"),
    ("6", "Sunday"),
]
# Zero-padded so that groups sort in the order of the day.
HOURS = [(f"{hour:02d}", f"{hour:02d}:00") for hour in range(24)]


class DunningReportEffectiveness(models.Model):
    """Which reminder gets paid: one row per invoice listed in a sent reminder (thank-yous left out), with what was
    paid on that invoice after the reminder.

    Payments are read from the reconciliation: each ``account.partial.reconcile`` on the invoice's receivable lines
    (its payment-term lines), dated by its ``max_date`` and counted in company currency (``amount``). Credit notes
    settle an invoice without bringing money in: they lower the amount reminded when applied before the reminder, and
    never count as paid.

    - ``paid_7``, ``paid_14``, ``paid_30``: money paid from the day of the reminder to the 7th, 14th or 30th day after
      it, both included, whatever other reminders followed; ``paid_<N>_count`` is 1 when that money covers the whole
      ``amount_reminded`` (the invoice was fully paid within N days).
    - ``amount_recovered``: money paid from the day of the reminder up to the day before the next reminder of the same
      invoice (any level or channel), so that each payment is counted once, for the last reminder before it. A
      payment made on the day of the next reminder goes to the next one; of reminders sent the same day (several
      channels), the last one sent gets the payments.
    - ``paid_<N>_rate``: 100 when fully paid within N days, 0 when not, empty while the N days are not over yet;
      averaged by the pivot, it is the share of reminded invoices fully paid within N days among the reminders whose
      window is over (a rate of money, recovered over reminded, cannot be averaged row by row and is left out).

    Days and hours are those of the time zone of the context (``tz``, the user's preference; UTC when unset), the one
    in which the Sent On column is displayed.

    The rows come from one statement, ``_facts_query``: read from its stored rows (``dunning.reminder.outcome``,
    kept per time zone) when they can answer, that is in a time zone the store keeps and at a report date after
    every reminder and payment they count (the menu's case, today); run live otherwise (an earlier date, another
    time zone). Only the rates, which depend on the report's day, are computed on reading.

    Context keys (the menu sets none; other reports, such as a monthly email, read this model with ``_read_group``
    under them):

    - ``dunning_report_date`` (date or ISO string, today by default): the report as known on that day: reminders
      sent and payments dated after it are left out.
    - ``dunning_effectiveness_periods``: a list of one or two ``[date_from, date_to]`` pairs (dates or ISO strings,
      both days included), period A then period B. Only reminders sent in a period are reported, each row with the
      period's label in ``period`` (a reminder in two overlapping periods gives a row in each). Without it, every
      reminder is reported with ``period`` "All".
    """

    _name = "dunning.report.effectiveness"
    _description = "Reminder Effectiveness Report"
    _auto = False
    _order = "date_sent desc, id desc"
    _rec_name = "move_id"
    # The ORM flushes these fields before querying the view, so that it reflects writes of the same transaction.
    _depends = {
        "dunning.reminder": ["state", "reminder_type", "date_done", "policy_id", "level_id", "channel"],
        "dunning.reminder.line": ["reminder_id", "move_id", "level_id", "company_id", "partner_id", "state"],
        "account.move": ["move_type", "amount_total_signed"],
        "account.move.line": ["move_id", "display_type"],
        "account.partial.reconcile": ["debit_move_id", "credit_move_id", "amount", "max_date"],
        "res.company": ["currency_id"],
    }

    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Company Currency", readonly=True)
    period = fields.Char(
        readonly=True,
        help="The period the reminder was sent in, with its dates, when two periods are compared; All otherwise.",
    )
    policy_id = fields.Many2one("dunning.policy", readonly=True)
    level_id = fields.Many2one("dunning.level", readonly=True)
    channel = fields.Selection(
        [("email", "Email"), ("sms", "SMS"), ("letter", "Letter"), ("call", "Phone Call")], readonly=True
    )
    reminder_id = fields.Many2one("dunning.reminder", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Debtor", readonly=True)
    date_sent = fields.Datetime(string="Sent On", readonly=True)
    weekday = fields.Selection(WEEKDAYS, string="Weekday Sent", readonly=True, help="In your time zone.")
    hour = fields.Selection(HOURS, string="Hour Sent", readonly=True, help="In your time zone.")
    date_next_reminder = fields.Datetime(
        string="Next Reminder",
        readonly=True,
        help="When the invoice was reminded again: payments from that day on count for that reminder.",
    )
    reminded_count = fields.Integer(string="Reminded Invoices", readonly=True)
    amount_reminded = fields.Monetary(
        readonly=True, help="What was left to pay on the invoice the day before the reminder, in company currency."
    )
    paid_7 = fields.Monetary(string="Paid in 7 Days", readonly=True)
    paid_14 = fields.Monetary(string="Paid in 14 Days", readonly=True)
    paid_30 = fields.Monetary(string="Paid in 30 Days", readonly=True)
    paid_7_count = fields.Integer(string="Fully Paid in 7 Days", readonly=True)
    paid_14_count = fields.Integer(string="Fully Paid in 14 Days", readonly=True)
    paid_30_count = fields.Integer(string="Fully Paid in 30 Days", readonly=True)
    paid_7_rate = fields.Float(
        string="Fully Paid in 7 Days (%)",
        readonly=True,
        aggregator="avg",
        help="Share of the reminded invoices fully paid within 7 days, among reminders sent at least 7 days ago.",
    )
    paid_14_rate = fields.Float(
        string="Fully Paid in 14 Days (%)",
        readonly=True,
        aggregator="avg",
        help="Share of the reminded invoices fully paid within 14 days, among reminders sent at least 14 days ago.",
    )
    paid_30_rate = fields.Float(
        string="Fully Paid in 30 Days (%)",
        readonly=True,
        aggregator="avg",
        help="Share of the reminded invoices fully paid within 30 days, among reminders sent at least 30 days ago.",
    )
    amount_recovered = fields.Monetary(
        string="Recovered",
        readonly=True,
        help="Money paid after this reminder and before the next reminder of the same invoice: each payment counts "
        "for the last reminder before it.",
    )

    @property
    def _table_query(self):
        report_date = report_date_of(self)
        tz = self.env.context.get("tz") or self.env.user.tz
        tz = tz if tz in pytz.all_timezones_set else "UTC"
        periods = self._periods()
        sent_since = None
        if periods:
            # The next reminder only looks forward: reminders sent before the earliest period change no other row,
            # and are left out before the window rather than after it.
            sent_since = self._utc_start_of_day(tz, min(date_from for _label, date_from, _date_to in periods))
        facts = self.env["dunning.reminder.outcome"]._stored_facts(tz, report_date, sent_since)
        if facts is None:
            facts = self._facts_query(tz, report_date, sent_since=sent_since)
        rates = [
            SQL(
                "CASE WHEN facts.day_sent + %(days)s <= %(report_date)s THEN 100.0 * facts.%(count)s END AS %(rate)s",
                days=days,
                report_date=report_date,
                count=SQL.identifier(f"paid_{days}_count"),
                rate=SQL.identifier(f"paid_{days}_rate"),
            )
            for days in PAYMENT_WINDOWS
        ]
        return SQL(
            """
            SELECT
                   -- A reminder sent in both of two overlapping periods has a row in each.
                   facts.line_id * 2 + period.position AS id,
                   period.label AS period,
                   facts.company_id,
                   facts.currency_id,
                   facts.policy_id,
                   facts.level_id,
                   facts.channel,
                   facts.reminder_id,
                   facts.move_id,
                   facts.partner_id,
                   facts.date_sent,
                   facts.weekday,
                   facts.hour,
                   facts.date_next_reminder,
                   1 AS reminded_count,
                   facts.amount_reminded,
                   facts.paid_7,
                   facts.paid_14,
                   facts.paid_30,
                   facts.paid_7_count,
                   facts.paid_14_count,
                   facts.paid_30_count,
                   %(rates)s,
                   facts.amount_recovered
              FROM %(facts)s AS facts
              JOIN %(periods)s ON %(in_period)s
            """,
            facts=facts,
            rates=SQL(", ").join(rates),
            periods=self._periods_sql(periods),
            in_period=SQL("period.date_from IS NULL OR facts.day_sent BETWEEN period.date_from AND period.date_to"),
        )

    @api.model
    def _facts_query(self, tz, report_date=None, sent_since=None, lines=None):
        """The facts of each sent reminder line that do not depend on the report's day, in the time zone ``tz``:
        the one statement that computes them, read by the report (live) and by ``dunning.reminder.outcome``, which
        stores its rows so that the report need not run it on every page.

        One row per sent reminder line (``line_id``) with the report's columns but ``period``, ``reminded_count``
        and the rates, plus ``day_sent`` (the local day of the reminder, which the windows count from) and
        ``date_last_payment`` (the latest reconciliation of the invoice the row counts, so that the store knows
        which report dates it can answer).

        :param str tz: a time zone name; days and hours are local to it
        :param date report_date: the report as known on that day (reminders and payments after it left out); None
            for everything known
        :param datetime sent_since: reminders sent before it (UTC) are left out; None for all
        :param SQL lines: a condition on the reminder lines (``line``), to compute the rows of some invoices only
        :rtype: SQL
        """
        paid_until = SQL("AND partial.max_date <= %s", report_date) if report_date else SQL()
        sent_before = (
            # The end of the report's day in that time zone.
            SQL("AND reminder.date_done < %s", self._utc_start_of_day(tz, report_date + timedelta(days=1)))
            if report_date
            else SQL()
        )
        paid = [
            SQL(
                """COALESCE(SUM(partial.amount) FILTER (
                       WHERE counterpart_move.move_type != 'out_refund'
                         AND partial.max_date BETWEEN sent.day_sent AND sent.day_sent + %(days)s
                   ), 0) AS %(alias)s""",
                days=days,
                alias=SQL.identifier(f"paid_{days}"),
            )
            for days in PAYMENT_WINDOWS
        ]
        # What was left to pay the day before the reminder: the invoice's total less what was reconciled with it.
        amount_reminded = SQL("sent.invoice_total - COALESCE(paid.before, 0)")
        counts = [
            SQL(
                "(COALESCE(paid.%(paid)s, 0) > 0 AND COALESCE(paid.%(paid)s, 0) >= %(reminded)s)::integer AS %(count)s",
                paid=SQL.identifier(f"paid_{days}"),
                reminded=amount_reminded,
                count=SQL.identifier(f"paid_{days}_count"),
            )
            for days in PAYMENT_WINDOWS
        ]
        return SQL(
            """(
            WITH sent AS (
                SELECT line.id AS line_id,
                       line.reminder_id,
                       line.move_id,
                       line.company_id,
                       line.partner_id,
                       -- A line without a level of its own (an overdue invoice listed before reaching a level) was
                       -- sent with its reminder's step.
                       COALESCE(line.level_id, reminder.level_id) AS level_id,
                       reminder.policy_id,
                       reminder.channel,
                       reminder.date_done,
                       invoice.amount_total_signed AS invoice_total,
                       local.sent AS local_sent,
                       local.sent::date AS day_sent,
                       LEAD(reminder.date_done) OVER invoice_reminders AS date_next,
                       LEAD(local.sent::date) OVER invoice_reminders AS day_next
                  FROM dunning_reminder_line line
                  JOIN dunning_reminder reminder ON reminder.id = line.reminder_id
                  -- Joined here, where the planner knows the number of lines (it hash-joins the invoices; below
                  -- the window it expects a few rows and probes the invoices' index once per line).
                  JOIN account_move invoice ON invoice.id = line.move_id
                 CROSS JOIN LATERAL (SELECT reminder.date_done AT TIME ZONE 'UTC' AT TIME ZONE %(tz)s AS sent) local
                 WHERE line.state = 'sent'
                   AND reminder.reminder_type = 'reminder'
                   %(sent_before)s
                   %(sent_since)s
                   %(lines)s
                WINDOW invoice_reminders AS (PARTITION BY line.move_id ORDER BY reminder.date_done, line.id)
            ),
            paid AS (
                -- The payments of the invoice: reconciliations of its receivable lines, in company currency.
                SELECT sent.line_id,
                       SUM(partial.amount) FILTER (WHERE partial.max_date < sent.day_sent) AS before,
                       %(paid)s,
                       SUM(partial.amount) FILTER (
                           WHERE counterpart_move.move_type != 'out_refund'
                             AND partial.max_date >= sent.day_sent
                             AND (sent.day_next IS NULL OR partial.max_date < sent.day_next)
                       ) AS recovered,
                       MAX(partial.max_date) AS date_last_payment
                  FROM sent
                  JOIN account_move_line receivable
                    ON receivable.move_id = sent.move_id AND receivable.display_type = 'payment_term'
                  JOIN account_partial_reconcile partial
                    ON partial.debit_move_id = receivable.id %(paid_until)s
                  JOIN account_move_line counterpart ON counterpart.id = partial.credit_move_id
                  JOIN account_move counterpart_move ON counterpart_move.id = counterpart.move_id
              GROUP BY sent.line_id
            )
            SELECT sent.line_id,
                   sent.company_id,
                   company.currency_id,
                   sent.policy_id,
                   sent.level_id,
                   sent.channel,
                   sent.reminder_id,
                   sent.move_id,
                   sent.partner_id,
                   sent.date_done AS date_sent,
                   sent.day_sent,
                   (EXTRACT(ISODOW FROM sent.local_sent)::integer - 1)::text AS weekday,
                   TO_CHAR(sent.local_sent, 'HH24') AS hour,
                   sent.date_next AS date_next_reminder,
                   %(amount_reminded)s AS amount_reminded,
                   COALESCE(paid.paid_7, 0) AS paid_7,
                   COALESCE(paid.paid_14, 0) AS paid_14,
                   COALESCE(paid.paid_30, 0) AS paid_30,
                   %(counts)s,
                   COALESCE(paid.recovered, 0) AS amount_recovered,
                   paid.date_last_payment
              FROM sent
              JOIN res_company company ON company.id = sent.company_id
         LEFT JOIN paid ON paid.line_id = sent.line_id
            )""",
            tz=tz,
            sent_before=sent_before,
            sent_since=SQL("AND reminder.date_done >= %s", sent_since) if sent_since else SQL(),
            lines=SQL("AND %s", lines) if lines else SQL(),
            paid_until=paid_until,
            paid=SQL(", ").join(paid),
            counts=SQL(", ").join(counts),
            amount_reminded=amount_reminded,
        )

    @api.model
    def _utc_start_of_day(self, tz, day):
        """The start of ``day`` in the time zone ``tz``, as the UTC time reminders are stored in."""
        return pytz.timezone(tz).localize(datetime.combine(day, time.min)).astimezone(pytz.utc).replace(tzinfo=None)

    @api.model
    def _periods(self):
        """The periods of the context as (label, date_from, date_to), period A first; empty for the whole history."""
        periods = []
        for name, dates in zip(("A", "B"), self.env.context.get("dunning_effectiveness_periods") or (), strict=False):
            date_from, date_to = map(fields.Date.to_date, dates)
            label = self.env._(
                "%(period)s: %(date_from)s to %(date_to)s",
                period=name,
                date_from=format_date(self.env, date_from),
                date_to=format_date(self.env, date_to),
            )
            periods.append((label, date_from, date_to))
        return periods

    @api.model
    def _periods_sql(self, periods):
        """The periods (see ``_periods``) as an SQL table ``period`` (position, label, date_from, date_to); "All"
        without dates when there are none."""
        rows = [
            SQL("(%s, %s, %s::date, %s::date)", position, label, date_from, date_to)
            for position, (label, date_from, date_to) in enumerate(periods)
        ] or [SQL("(0, %s, NULL::date, NULL::date)", self.env._("All"))]
        return SQL("(VALUES %s) AS period (position, label, date_from, date_to)", SQL(", ").join(rows))

    def action_open_invoices(self):
        """The invoices of these rows, in the customer invoices' list and form."""
        action = self.env["ir.actions.act_window"]._for_xml_id("account.action_move_out_invoice_type")
        invoices = self.move_id
        action.update(
            {
                "domain": [("id", "in", invoices.ids)],
                "context": {"create": False},
                "name": self.env._("Reminded Invoices"),
            }
        )
        if len(invoices) == 1:
            action.update({"views": [(False, "form")], "view_mode": "form", "res_id": invoices.id})
        return action
