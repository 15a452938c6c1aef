from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL, format_date

from .dunning_report_ageing import report_action
from .dunning_report_ageing import report_date as report_date_of

# The forecast's horizon, in weeks from the week of the report's date.
FORECAST_WEEKS = 13
# A row's id is its invoice's id times ROW_RANKS plus its rank among the invoice's rows: 0 for what goes to the
# expected or due date, 1 for the promise, 1 + n for the plan's n-th instalment (plans have far fewer than 998).
ROW_RANKS = 1000
ROW_RANK_FALLBACK = 0
ROW_RANK_PROMISE = 1


class DunningReportCashForecast(models.Model):
    """Expected collections in the 13 weeks from a date, one row per expected payment of an open invoice.

    Each open customer invoice counts once, by the first rule that applies to its open amount: the unpaid
    instalments of the approved plan it follows, else the unpaid part of the pending promise that names it, else
    its expected payment date where its debtor has a payer profile, else its due date. What a plan or a promise
    leaves uncovered falls to the next rules. Amounts and arrangements are today's: the date only sets the
    window, and what was expected before it (overdue) is counted in its first week.

    A row's id is the same at any date: read another date's rows in the same transaction after
    ``invalidate_model()``, or with ``_read_group``, which does not go through the record cache.
    """

    _name = "dunning.report.cash.forecast"
    _description = "Cash Forecast"
    _auto = False
    _rec_name = "move_id"
    _order = "date_expected, id"
    # The ORM flushes these fields before querying the report, so that it reflects writes of the same transaction.
    _depends = {
        "account.move": [
            "move_type",
            "state",
            "payment_state",
            "company_id",
            "commercial_partner_id",
            "invoice_date_due",
            "amount_residual",
            "amount_residual_signed",
            "dunning_hold_until",
            "dunning_plan_id",
        ],
        "dunning.plan": ["state", "amount_total", "move_ids"],
        "dunning.plan.line": ["plan_id", "date", "amount", "amount_cumulative"],
        "dunning.promise": ["state", "amount", "amount_residual_start", "date_promised", "move_ids"],
        "dunning.payer.profile": ["partner_id", "company_id", "expected_delay_days"],
        "dunning.handover": ["state", "move_ids"],
        "dunning.dispute": ["state", "move_id"],
        "res.partner": ["dunning_hold_until"],
        "res.company": ["currency_id"],
        "res.currency": ["rounding"],
    }

    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Company Currency", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Debtor", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    date_due = fields.Date(string="Due Date", readonly=True)
    source = fields.Selection(
        [
            ("plan", "Instalment Plan"),
            ("promise", "Promise to Pay"),
            ("expected", "Expected Payment"),
            ("due_date", "Due Date"),
        ],
        readonly=True,
        help="What the date comes from, the first that applies to the invoice's open amount: an unpaid instalment "
        "of the approved plan the invoice follows; else the unpaid part of the pending promise that names it; "
        "else, when the debtor has a payer profile, the due date plus the days late it pays on average (the "
        "company's average for a debtor without a history); else the due date. What a plan or a promise does "
        "not cover falls to the next rules.",
    )
    plan_id = fields.Many2one("dunning.plan", string="Instalment Plan", readonly=True)
    promise_id = fields.Many2one("dunning.promise", string="Promise to Pay", readonly=True)
    date_expected = fields.Date(string="Expected On", readonly=True)
    week = fields.Date(
        readonly=True,
        help="The Monday of the week the payment is expected in; the first week for what is overdue.",
    )
    is_overdue = fields.Boolean(
        string="Overdue",
        readonly=True,
        help="Expected before the report's date and not paid yet: counted in the first week. Filter it out to see "
        "only what falls due in the coming weeks.",
    )
    blocked_by = fields.Selection(
        [("handover", "Handed Over"), ("dispute", "In Dispute"), ("hold", "On Hold")],
        readonly=True,
        help="Why this money may come later or not at all: the invoice is handed over to an agency or to legal, "
        "or in an open dispute, or on hold (the invoice or its debtor) after the report's date. Empty when "
        "nothing stands in the way; filter on it to leave these amounts out.",
    )
    amount = fields.Monetary(
        string="Expected Amount",
        readonly=True,
        help="The part of the invoice's open amount expected on this date, in the company currency (at the "
        "invoice's rate).",
    )
    report_date = fields.Date(string="Forecast From", readonly=True, aggregator="max")

    # === SQL === #

    @property
    def _table_query(self):
        report_date = report_date_of(self)
        first_week = report_date - timedelta(days=report_date.weekday())
        return SQL(
            "WITH %s, %s, %s %s",
            self._with_open_invoices(report_date),
            self._with_plan_parts(),
            self._with_promise_parts(),
            self._select(report_date, first_week, first_week + timedelta(weeks=FORECAST_WEEKS)),
        )

    @api.model
    def _open_invoice_condition(self, alias):
        """Posted customer invoices with something left to pay: the predicate of account.move's partial index
        ``_dunning_open_by_debtor_idx``, so that the invoices are read by one index scan."""
        return SQL(
            """%(move)s.move_type = 'out_invoice'
               AND %(move)s.state = 'posted'
               AND %(move)s.payment_state IN ('not_paid', 'partial')
               AND %(move)s.invoice_date_due IS NOT NULL
               AND %(move)s.amount_residual > 0""",
            move=SQL.identifier(alias),
        )

    @api.model
    def _with_open_invoices(self, report_date):
        """The open invoices with what may hold their money back: handed over, in an open dispute, or on hold (the
        invoice or its debtor) after ``report_date``. Not materialized: the planner reads the few invoices of the
        plans and promises by their id, and all the others once."""
        return SQL(
            """
            open_invoices AS NOT MATERIALIZED (
                SELECT move.id AS move_id,
                       move.company_id,
                       company.currency_id,
                       currency.rounding,
                       move.commercial_partner_id AS partner_id,
                       move.invoice_date_due,
                       move.amount_residual,
                       move.amount_residual_signed,
                       CASE WHEN handed_over.move_id IS NOT NULL THEN 'handover'
                            WHEN disputed.move_id IS NOT NULL THEN 'dispute'
                            WHEN GREATEST(move.dunning_hold_until, debtor.dunning_hold_until) > %(report_date)s
                            THEN 'hold'
                        END AS blocked_by
                  FROM account_move move
                  JOIN res_partner debtor ON debtor.id = move.commercial_partner_id
                  JOIN res_company company ON company.id = move.company_id
                  JOIN res_currency currency ON currency.id = company.currency_id
             LEFT JOIN (
                        SELECT DISTINCT rel.move_id
                          FROM dunning_handover_move_rel rel
                          JOIN dunning_handover handover ON handover.id = rel.handover_id
                         WHERE handover.state = 'handed_over'
                   ) handed_over ON handed_over.move_id = move.id
             LEFT JOIN (
                        SELECT DISTINCT move_id FROM dunning_dispute WHERE state = 'open'
                   ) disputed ON disputed.move_id = move.id
                 WHERE %(open)s
            )
            """,
            report_date=report_date,
            open=self._open_invoice_condition("move"),
        )

    @api.model
    def _with_plan_parts(self):
        """The unpaid instalments of the approved plans, cut by invoice (document currency).

        What the plan's invoices paid since the plan (dunning.plan ``amount_paid``: what their residual went
        down by) pays the instalments in their order; the open invoices, oldest due first, then fill the rest of
        the schedule, each getting the part of each instalment its stretch overlaps. A partly paid instalment
        counts what it still lacks.
        """
        return SQL(
            """
            plans AS (
                SELECT plan.id AS plan_id,
                       GREATEST(plan.amount_total - SUM(move.amount_residual), 0) AS amount_paid
                  FROM dunning_plan plan
                  JOIN account_move_dunning_plan_rel rel ON rel.dunning_plan_id = plan.id
                  JOIN account_move move ON move.id = rel.account_move_id
                 WHERE plan.state = 'approved'
              GROUP BY plan.id
            ),
            plan_invoices AS (
                SELECT move.id AS move_id, plans.plan_id, move.amount_residual,
                       plans.amount_paid
                       + SUM(move.amount_residual) OVER (
                           PARTITION BY plans.plan_id ORDER BY move.invoice_date_due, move.id
                       ) - move.amount_residual AS stretch_start
                  FROM plans
                  JOIN account_move move ON move.dunning_plan_id = plans.plan_id
                 WHERE %(open)s
            ),
            instalments AS (
                SELECT line.plan_id, line.date, line.amount_cumulative - line.amount AS stretch_start,
                       line.amount_cumulative AS stretch_end,
                       ROW_NUMBER() OVER (PARTITION BY line.plan_id ORDER BY line.date, line.sequence, line.id)
                           AS rank
                  FROM dunning_plan_line line
                 WHERE line.plan_id IN (SELECT plan_id FROM plans)
            ),
            plan_parts AS (
                SELECT inv.move_id, line.date AS date_expected, 'plan' AS source,
                       inv.plan_id, NULL::integer AS promise_id,
                       LEAST(inv.stretch_start + inv.amount_residual, line.stretch_end)
                       - GREATEST(inv.stretch_start, line.stretch_start) AS part,
                       %(first_plan_rank)s + line.rank AS rank
                  FROM plan_invoices inv
                  JOIN instalments line ON line.plan_id = inv.plan_id
                 WHERE LEAST(inv.stretch_start + inv.amount_residual, line.stretch_end)
                       > GREATEST(inv.stretch_start, line.stretch_start)
            )
            """,
            open=self._open_invoice_condition("move"),
            first_plan_rank=ROW_RANK_PROMISE,
        )

    @api.model
    def _with_promise_parts(self):
        """The unpaid part of the pending promises, cut by invoice (document currency): the promised amount less
        what its invoices paid since (dunning.promise ``amount_paid``), to its open invoices outside an approved
        plan, oldest due first. An invoice named by several pending promises follows the latest."""
        return SQL(
            """
            promises AS (
                SELECT promise.id AS promise_id,
                       promise.date_promised,
                       GREATEST(
                           promise.amount
                           - GREATEST(promise.amount_residual_start - SUM(move.amount_residual), 0),
                           0
                       ) AS amount_left
                  FROM dunning_promise promise
                  JOIN account_move_dunning_promise_rel rel ON rel.dunning_promise_id = promise.id
                  JOIN account_move move ON move.id = rel.account_move_id
                 WHERE promise.state = 'pending'
              GROUP BY promise.id
            ),
            promise_invoices AS (
                SELECT DISTINCT ON (move.id)
                       move.id AS move_id, move.invoice_date_due, move.amount_residual, promises.promise_id,
                       promises.date_promised, promises.amount_left
                  FROM promises
                  JOIN account_move_dunning_promise_rel rel ON rel.dunning_promise_id = promises.promise_id
                  JOIN account_move move ON move.id = rel.account_move_id
             LEFT JOIN dunning_plan approved_plan
                    ON approved_plan.id = move.dunning_plan_id AND approved_plan.state = 'approved'
                 WHERE %(open)s AND approved_plan.id IS NULL
              ORDER BY move.id, promises.promise_id DESC
            ),
            promise_parts AS (
                SELECT move_id, date_promised AS date_expected, 'promise' AS source,
                       NULL::integer AS plan_id, promise_id,
                       LEAST(
                           amount_residual,
                           GREATEST(
                               amount_left
                               - SUM(amount_residual) OVER (
                                   PARTITION BY promise_id ORDER BY invoice_date_due, move_id
                               ) + amount_residual,
                               0
                           )
                       ) AS part,
                       %(promise_rank)s AS rank
                  FROM promise_invoices
            ),
            arranged_parts AS (
                SELECT * FROM plan_parts
                 UNION ALL
                SELECT * FROM promise_parts WHERE part > 0
            ),
            arranged AS (
                SELECT move_id, SUM(part) AS part FROM arranged_parts GROUP BY move_id
            )
            """,
            open=self._open_invoice_condition("move"),
            promise_rank=ROW_RANK_PROMISE,
        )

    @api.model
    def _expected_payment_date_sql(self, date_due, delay_days):
        """The SQL of account.move ``dunning_expected_payment_date``: the due date plus the profile's expected delay
        rounded half away from zero (as float_round), the due date itself without a profile."""
        return SQL("%s + COALESCE(ROUND(%s), 0)::integer", date_due, delay_days)

    @api.model
    def _select(self, report_date, first_week, horizon):
        """The expected payments within the horizon: those of the plans and promises, and what they leave of each
        open invoice at its expected payment date or its due date; amounts in the company currency at each
        invoice's own rate. ``report_date`` is a column too, so that the views show it.

        No window over all the rows: the ORM's conditions (companies, ids) reach each branch of the union."""
        return SQL(
            """
            SELECT parts.move_id::bigint * %(ranks)s + parts.rank AS id,
                   parts.company_id,
                   parts.currency_id,
                   parts.partner_id,
                   parts.move_id,
                   parts.invoice_date_due AS date_due,
                   parts.source,
                   parts.plan_id,
                   parts.promise_id,
                   parts.date_expected,
                   GREATEST(DATE_TRUNC('week', parts.date_expected)::date, %(first_week)s) AS week,
                   parts.date_expected < %(report_date)s AS is_overdue,
                   parts.blocked_by,
                   CASE WHEN parts.part = parts.amount_residual THEN parts.amount_residual_signed
                        ELSE ROUND(parts.part * parts.amount_residual_signed / parts.amount_residual / parts.rounding)
                             * parts.rounding
                    END AS amount,
                   %(report_date)s AS report_date
              FROM (
                    SELECT inv.*, arranged_parts.date_expected, arranged_parts.source, arranged_parts.plan_id,
                           arranged_parts.promise_id, arranged_parts.part, arranged_parts.rank
                      FROM arranged_parts
                      JOIN open_invoices inv ON inv.move_id = arranged_parts.move_id
                     UNION ALL
                    SELECT inv.*,
                           %(expected_date)s,
                           CASE WHEN profile.id IS NULL THEN 'due_date' ELSE 'expected' END,
                           NULL, NULL,
                           inv.amount_residual - COALESCE(arranged.part, 0),
                           %(fallback_rank)s
                      FROM open_invoices inv
                 LEFT JOIN arranged ON arranged.move_id = inv.move_id
                 LEFT JOIN dunning_payer_profile profile
                        ON profile.partner_id = inv.partner_id AND profile.company_id = inv.company_id
                     WHERE inv.amount_residual > COALESCE(arranged.part, 0)
                   ) parts
             WHERE parts.date_expected < %(horizon)s
            """,
            ranks=ROW_RANKS,
            fallback_rank=ROW_RANK_FALLBACK,
            expected_date=self._expected_payment_date_sql(
                SQL.identifier("inv", "invoice_date_due"), SQL.identifier("profile", "expected_delay_days")
            ),
            report_date=report_date,
            first_week=first_week,
            horizon=horizon,
        )

    # === ACTION METHODS === #

    @api.model
    def action_open_at_date(self, date=None):
        """The forecast from ``date`` (today when None), the date in the window's title.

        :return: the window action of the report, its graph first
        """
        date = date or fields.Date.context_today(self)
        title = self.env._("Cash Forecast from %(date)s", date=format_date(self.env, date))
        return report_action(self, "receivable_dunning.dunning_report_cash_forecast_action", title, date)

    def action_open_invoices(self):
        """The invoices of these rows, from the list's selection."""
        return self.move_id._get_records_action(name=self.env._("Invoices"))
