from odoo import api, fields, models
from odoo.tools import SQL

from .dunning_report_ageing import report_action, report_date

REPORT_MONTHS = 24  # the months shown, up to the report date's month
STANDARD_MONTHS = 3  # the sales period of the standard and best possible DSO
COUNTBACK_MONTHS = 12  # how far the count-back goes back before giving up


class DunningReportDso(models.Model):
    """Days sales outstanding per company and month, over the 24 months up to the report date.

    One query: the months come from ``generate_series``, the receivables at each month's end from the cumulated
    receivable balances, the part not yet due from the journal items open and not due at that end (their
    reconciliations up to that day deducted). Sales are credit sales including tax, as the receivables include it.
    The current month is measured at the report date (the context's ``dunning_report_date``, today by default).
    The companies are the environment's (``env.companies``, as the record rule allows).
    """

    _name = "dunning.report.dso"
    _description = "Dunning: Days Sales Outstanding"
    _auto = False
    _order = "month desc, company_id"
    _rec_name = "month"
    # The ORM flushes these fields before querying the report, so that it reflects writes of the same transaction.
    _depends = {
        "account.move.line": [
            "move_id",
            "company_id",
            "account_id",
            "parent_state",
            "date",
            "date_maturity",
            "balance",
        ],
        "account.partial.reconcile": ["debit_move_id", "credit_move_id", "amount", "max_date"],
        "account.move": ["move_type"],
        "account.account": ["account_type"],
        "res.company": ["currency_id"],
    }

    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Company Currency", readonly=True)
    month = fields.Date(readonly=True, help="The first day of the month.")
    date_measured = fields.Date(
        string="Measured On", readonly=True, help="The month's last day, or the report date for its month."
    )
    days = fields.Integer(readonly=True, aggregator="max", help="The days of the month up to the day measured.")
    sales = fields.Monetary(
        readonly=True,
        help="Credit sales of the month: posted customer invoices minus credit notes, taxes included, because the "
        "receivables they are compared with include the taxes.",
    )
    opening_receivables = fields.Monetary(readonly=True, help="Receivables at the end of the month before.")
    receivables = fields.Monetary(
        readonly=True, help="Receivables at the month's end: every open customer item, credits deducted."
    )
    current_receivables = fields.Monetary(readonly=True, help="The part of the receivables not yet due.")
    overdue_receivables = fields.Monetary(readonly=True, help="The part of the receivables past due.")
    dso_standard = fields.Float(
        string="DSO",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Standard DSO: receivables at the month's end / sales of the last 3 months (this one included) "
        "x the days of those 3 months.",
    )
    dso_countback = fields.Float(
        string="DSO (Count-Back)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Count-back DSO: going back month by month from this one, each month's sales are deducted from the "
        "receivables and its days counted, until the receivables are used up; the rest counts as a share of the "
        "days of the last month reached. At most 12 months back.",
    )
    best_possible_dso = fields.Float(
        string="Best Possible DSO",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Current receivables / sales of the last 3 months x the days of those 3 months: the DSO if every "
        "customer paid on its due date.",
    )
    adbt = fields.Float(
        string="Average Days Beyond Terms",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="DSO - best possible DSO.",
    )
    cei = fields.Float(
        string="CEI (%)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Collection effectiveness index: (opening receivables + sales - closing receivables) / (opening "
        "receivables + sales - closing current receivables) x 100. 100 when everything due was collected.",
    )

    @property
    def _table_query(self):
        date = report_date(self)
        return SQL(
            """
            WITH month AS (
                -- The months shown and the months their DSO looks back on, after a row holding all that is older.
                SELECT company.id AS company_id,
                       company.currency_id,
                       series.month::date AS month,
                       LEAST((series.month + INTERVAL '1 month - 1 day')::date, %(date)s) AS date_measured
                  FROM res_company company
            CROSS JOIN generate_series(%(older)s, %(last_month)s, INTERVAL '1 month')
                       AS series(month)
                 WHERE company.id IN %(company_ids)s
            ),
            receivable_line AS (
                SELECT aml.id, aml.company_id, aml.move_id, aml.date, aml.date_maturity, aml.balance
                  FROM account_move_line aml
                 WHERE aml.account_id IN (SELECT id FROM account_account WHERE account_type = 'asset_receivable')
                   AND aml.company_id IN %(company_ids)s
                   AND aml.parent_state = 'posted'
                   AND aml.date <= %(date)s
            ),
            movement AS (
                SELECT line.company_id,
                       GREATEST(date_trunc('month', line.date::timestamp), %(older)s)::date AS month,
                       SUM(line.balance) AS balance,
                       SUM(line.balance) FILTER (
                           WHERE move.move_type IN ('out_invoice', 'out_refund') AND line.date >= %(history_start)s
                       ) AS sales
                  FROM receivable_line line
                  JOIN account_move move ON move.id = line.move_id
              GROUP BY 1, 2
            ),
            not_due_line AS (
                -- Each item in the months at whose end it was posted and not yet due.
                SELECT line.company_id, month.month, month.date_measured, line.id AS line_id, line.balance
                  FROM receivable_line line
            CROSS JOIN generate_series(
                           GREATEST(date_trunc('month', line.date::timestamp), %(history_start)s),
                           LEAST(date_trunc('month', (line.date_maturity - 1)::timestamp), %(last_month)s),
                           INTERVAL '1 month'
                       ) AS series(month)
            CROSS JOIN LATERAL (
                        SELECT series.month::date AS month,
                               LEAST((series.month + INTERVAL '1 month - 1 day')::date, %(date)s) AS date_measured
                       ) month
                 WHERE line.date_maturity > line.date
                   AND line.date_maturity > %(history_start)s
                   AND month.date_measured < line.date_maturity
            ),
            settled_before AS (
                -- What was reconciled with those items up to each month's end.
                SELECT not_due_line.company_id, not_due_line.month, SUM(partial.amount) AS amount
                  FROM not_due_line
                  JOIN (
                        SELECT debit_move_id AS line_id, amount, max_date FROM account_partial_reconcile
                         UNION ALL
                        SELECT credit_move_id, -amount, max_date FROM account_partial_reconcile
                       ) partial
                    ON partial.line_id = not_due_line.line_id AND partial.max_date <= not_due_line.date_measured
              GROUP BY 1, 2
            ),
            not_due AS (
                SELECT company_id, month, SUM(balance) AS amount FROM not_due_line GROUP BY 1, 2
            ),
            monthly AS (
                SELECT month.company_id,
                       month.currency_id,
                       month.month,
                       month.date_measured,
                       month.date_measured - month.month + 1 AS days,
                       COALESCE(movement.sales, 0) AS sales,
                       SUM(COALESCE(movement.balance, 0)) OVER company_months AS receivables,
                       COALESCE(not_due.amount, 0) - COALESCE(settled_before.amount, 0) AS current_receivables
                  FROM month
             LEFT JOIN movement USING (company_id, month)
             LEFT JOIN not_due USING (company_id, month)
             LEFT JOIN settled_before USING (company_id, month)
                WINDOW company_months AS (PARTITION BY month.company_id ORDER BY month.month)
            ),
            standard AS (
                SELECT monthly.*,
                       LAG(receivables) OVER company_months AS opening_receivables,
                       SUM(sales) OVER last_months AS period_sales,
                       SUM(days) OVER last_months AS period_days
                  FROM monthly
                WINDOW company_months AS (PARTITION BY company_id ORDER BY month),
                       last_months AS (PARTITION BY company_id ORDER BY month ROWS %(standard_preceding)s PRECEDING)
            ),
            countback AS (
                -- From each month back, the sales cumulated until they cover the month's receivables.
                SELECT company_id, month,
                       SUM(CASE
                           -- Used up by the later months' sales: this month counts no more.
                           WHEN receivables <= 0 OR cumulated_sales - sales >= receivables THEN 0
                           WHEN cumulated_sales <= receivables THEN days
                           ELSE (receivables - (cumulated_sales - sales)) / sales * days
                       END) AS dso
                  FROM (
                        SELECT shown.company_id, shown.month, shown.receivables, back.sales, back.days,
                               SUM(back.sales) OVER (
                                   PARTITION BY shown.company_id, shown.month ORDER BY back.month DESC
                               ) AS cumulated_sales
                          FROM monthly shown
                          JOIN monthly back
                            ON back.company_id = shown.company_id
                           AND back.month <= shown.month
                           AND back.month > shown.month - %(countback_months)s
                         WHERE shown.month >= %(first_month)s
                       ) months_back
              GROUP BY company_id, month
            )
            SELECT ROW_NUMBER() OVER (ORDER BY standard.company_id, standard.month) AS id,
                   standard.company_id,
                   standard.currency_id,
                   standard.month,
                   standard.date_measured,
                   standard.days,
                   standard.sales,
                   standard.opening_receivables,
                   standard.receivables,
                   standard.current_receivables,
                   standard.receivables - standard.current_receivables AS overdue_receivables,
                   standard.receivables / NULLIF(standard.period_sales, 0) * standard.period_days AS dso_standard,
                   countback.dso AS dso_countback,
                   standard.current_receivables / NULLIF(standard.period_sales, 0) * standard.period_days
                       AS best_possible_dso,
                   (standard.receivables - standard.current_receivables)
                       / NULLIF(standard.period_sales, 0) * standard.period_days AS adbt,
                   (standard.opening_receivables + standard.sales - standard.receivables)
                       / NULLIF(standard.opening_receivables + standard.sales - standard.current_receivables, 0)
                       * 100 AS cei
              FROM standard
              JOIN countback USING (company_id, month)
            """,
            date=SQL("%s::date", date),
            company_ids=tuple(self.env.companies.ids),
            last_month=SQL("date_trunc('month', %s::timestamp)", date),
            first_month=SQL("date_trunc('month', %s::timestamp) - %s * INTERVAL '1 month'", date, REPORT_MONTHS - 1),
            history_start=SQL(
                "date_trunc('month', %s::timestamp) - %s * INTERVAL '1 month'",
                date,
                REPORT_MONTHS - 1 + COUNTBACK_MONTHS - 1,
            ),
            # The month before the history, whose row holds everything older.
            older=SQL(
                "date_trunc('month', %s::timestamp) - %s * INTERVAL '1 month'",
                date,
                REPORT_MONTHS + COUNTBACK_MONTHS - 1,
            ),
            standard_preceding=STANDARD_MONTHS - 1,
            countback_months=SQL("%s * INTERVAL '1 month'", COUNTBACK_MONTHS),
        )

    # === ACTION METHODS === #

    @api.model
    def action_open_at_date(self, date=None):
        """The report's views over the 24 months up to ``date`` (today when None), the date in the title.

        :param date: a date or an ISO string, or None for today
        :return: the window action of the report, its context carrying the date
        """
        date = fields.Date.to_date(date) or fields.Date.context_today(self)
        title = self.env._("Days Sales Outstanding at %(date)s", date=fields.Date.to_string(date))
        return report_action(self, "receivable_dunning.dunning_report_dso_action", title, date)
