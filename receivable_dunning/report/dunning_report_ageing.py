from odoo import api, fields, models
from odoo.tools import SQL

# Days overdue at the report date -> bucket. The last bucket has no upper bound.
AGEING_BUCKETS = [
    ("not_due", "Not Due", None, 0),
    ("1_30", "1-30 Days", 1, 30),
    ("31_60", "31-60 Days", 31, 60),
    ("61_90", "61-90 Days", 61, 90),
    ("91_120", "91-120 Days", 91, 120),
    ("over_120", "Over 120 Days", 121, None),
]


def report_date(records):
    """The date a report is computed at: the context's ``dunning_report_date`` (a date or an ISO string), else
    today in the user's time zone."""
    return fields.Date.to_date(records.env.context.get("dunning_report_date")) or fields.Date.context_today(records)


def report_action(records, xmlid, title, date):
    """The window action ``xmlid`` of a report at ``date``: the date in its context, ``title`` in the window's title
    (the web client shows the display name)."""
    action = records.env["ir.actions.act_window"]._for_xml_id(xmlid)
    action["name"] = action["display_name"] = title
    action["context"] = {"dunning_report_date": fields.Date.to_string(date)}
    return action


class DunningReportAgeing(models.Model):
    """Aged receivables at a date: one row per receivable journal item open at that date.

    "Open at the date" is rebuilt from the reconciliations: an item's open amount today plus what was reconciled
    with it after the date (``account.partial.reconcile.max_date``, the later date of the two items matched), so
    that the ageing of a past date shows what was open then, whatever was paid since. Items dated after the date
    do not exist yet. Credit notes and unapplied payments are open items too, with negative amounts: the report
    shows the debtor's net position, as the dunning does. The date is the context's ``dunning_report_date``; the
    items are those of the environment's companies (``env.companies``, as the record rule allows).
    """

    _name = "dunning.report.ageing"
    _description = "Dunning: Aged Receivables"
    _auto = False
    _order = "days_overdue desc, id"
    _rec_name = "move_id"
    # The ORM flushes these fields before querying the report, so that it reflects writes of the same transaction.
    _depends = {
        "account.move.line": [
            "move_id",
            "company_id",
            "company_currency_id",
            "currency_id",
            "account_id",
            "partner_id",
            "parent_state",
            "date",
            "date_maturity",
            "balance",
            "amount_residual",
            "amount_residual_currency",
            "reconciled",
        ],
        "account.partial.reconcile": [
            "debit_move_id",
            "credit_move_id",
            "amount",
            "debit_amount_currency",
            "credit_amount_currency",
            "max_date",
        ],
        "account.move": ["move_type", "invoice_user_id"],
        "account.account": ["account_type"],
        "res.partner": ["commercial_partner_id", "dunning_collector_id"],
        "dunning.payer.profile": ["partner_id", "company_id", "risk_class_id"],
    }

    report_date = fields.Date(readonly=True, help="The date the receivables are aged at.")
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Company Currency", readonly=True)
    move_id = fields.Many2one("account.move", string="Journal Entry", readonly=True)
    move_type = fields.Selection(
        [
            ("entry", "Journal Entry"),
            ("out_invoice", "Customer Invoice"),
            ("out_refund", "Customer Credit Note"),
            ("out_receipt", "Sales Receipt"),
            ("in_invoice", "Vendor Bill"),
            ("in_refund", "Vendor Credit Note"),
            ("in_receipt", "Purchase Receipt"),
        ],
        string="Type",
        readonly=True,
    )
    partner_id = fields.Many2one("res.partner", string="Debtor", readonly=True)
    collector_id = fields.Many2one(
        "res.users",
        readonly=True,
        help="The debtor's collector in the company, else the invoice's salesperson.",
    )
    risk_class_id = fields.Many2one(
        "dunning.risk.class",
        readonly=True,
        help="The debtor's class today in its payer profile of the company: the history of classes is not kept, so "
        "an ageing at a past date shows the debtors' current classes.",
    )
    document_currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Date(string="Accounting Date", readonly=True)
    date_due = fields.Date(string="Due Date", readonly=True)
    days_overdue = fields.Integer(
        readonly=True, aggregator="max", help="Days between the due date and the report date; 0 or less: not due."
    )
    bucket = fields.Selection([(key, label) for key, label, _low, _high in AGEING_BUCKETS], string="Age", readonly=True)
    amount_residual = fields.Monetary(
        string="Open Amount", readonly=True, help="Open at the report date, in the company's currency."
    )
    amount_residual_currency = fields.Monetary(
        string="Open Amount in Currency",
        currency_field="document_currency_id",
        readonly=True,
        help="Open at the report date, in the document's currency.",
    )
    amount_not_due = fields.Monetary(string="Not Due", readonly=True)
    amount_1_30 = fields.Monetary(string="1-30", readonly=True)
    amount_31_60 = fields.Monetary(string="31-60", readonly=True)
    amount_61_90 = fields.Monetary(string="61-90", readonly=True)
    amount_91_120 = fields.Monetary(string="91-120", readonly=True)
    amount_over_120 = fields.Monetary(string="Over 120", readonly=True)
    amount_overdue = fields.Monetary(string="Overdue", readonly=True, help="The five overdue buckets together.")

    @property
    def _table_query(self):
        date = SQL("%s::date", report_date(self))
        return SQL(
            """
            WITH reconciled_later AS (
                -- What was reconciled with each item after the date: given back to its open amount of today.
                SELECT line_id, SUM(amount) AS amount, SUM(amount_currency) AS amount_currency
                  FROM (
                        SELECT debit_move_id AS line_id, amount, debit_amount_currency AS amount_currency
                          FROM account_partial_reconcile
                         WHERE max_date > %(date)s
                         UNION ALL
                        SELECT credit_move_id, -amount, -credit_amount_currency
                          FROM account_partial_reconcile
                         WHERE max_date > %(date)s
                       ) partial
              GROUP BY line_id
            ),
            open_item AS (
                -- Open today (the partial index on unreconciled items), with what was reconciled after the date...
                SELECT %(open_item_columns)s
                  FROM account_move_line aml
             LEFT JOIN reconciled_later later ON later.line_id = aml.id
                 WHERE aml.reconciled IS NOT TRUE
                   AND %(receivable_line)s
                 UNION ALL
                -- ... or reconciled since.
                SELECT %(open_item_columns)s
                  FROM reconciled_later later
                  JOIN account_move_line aml ON aml.id = later.line_id
                 WHERE aml.reconciled
                   AND %(receivable_line)s
            ),
            aged AS (
                SELECT open_item.*, %(date)s - open_item.date_due AS days_overdue
                  FROM open_item
                 WHERE open_item.amount_residual != 0 OR open_item.amount_residual_currency != 0
            )
            SELECT aged.id,
                   %(date)s AS report_date,
                   aged.company_id,
                   aged.company_currency_id AS currency_id,
                   aged.move_id,
                   move.move_type,
                   COALESCE(partner.commercial_partner_id, aged.partner_id) AS partner_id,
                   COALESCE(
                       (commercial.dunning_collector_id ->> aged.company_id::text)::integer, move.invoice_user_id
                   ) AS collector_id,
                   profile.risk_class_id,
                   aged.currency_id AS document_currency_id,
                   aged.date,
                   aged.date_due,
                   aged.days_overdue,
                   CASE %(bucket_cases)s END AS bucket,
                   aged.amount_residual,
                   aged.amount_residual_currency,
                   %(bucket_amounts)s,
                   CASE WHEN aged.days_overdue > 0 THEN aged.amount_residual ELSE 0 END AS amount_overdue
              FROM aged
              JOIN account_move move ON move.id = aged.move_id
         LEFT JOIN res_partner partner ON partner.id = aged.partner_id
         LEFT JOIN res_partner commercial ON commercial.id = COALESCE(partner.commercial_partner_id, aged.partner_id)
         LEFT JOIN dunning_payer_profile profile
                ON profile.partner_id = commercial.id AND profile.company_id = aged.company_id
            """,
            date=date,
            open_item_columns=SQL(
                """aml.id, aml.move_id, aml.company_id, aml.company_currency_id, aml.currency_id, aml.partner_id,
                   aml.date,
                   COALESCE(aml.date_maturity, aml.date) AS date_due,
                   aml.amount_residual + COALESCE(later.amount, 0) AS amount_residual,
                   aml.amount_residual_currency + COALESCE(later.amount_currency, 0) AS amount_residual_currency"""
            ),
            receivable_line=SQL(
                """aml.account_id IN (SELECT id FROM account_account WHERE account_type = 'asset_receivable')
                   AND aml.company_id IN %s
                   AND aml.parent_state = 'posted'
                   AND aml.date <= %s""",
                tuple(self.env.companies.ids),
                date,
            ),
            bucket_cases=SQL(" ").join(
                SQL("WHEN %s THEN %s", self._bucket_condition(low, high), key)
                for key, _label, low, high in AGEING_BUCKETS
            ),
            bucket_amounts=SQL(", ").join(
                SQL(
                    "CASE WHEN %s THEN aged.amount_residual ELSE 0 END AS %s",
                    self._bucket_condition(low, high),
                    SQL.identifier(f"amount_{key}"),
                )
                for key, _label, low, high in AGEING_BUCKETS
            ),
        )

    @api.model
    def _bucket_condition(self, low, high):
        """The SQL condition on ``aged.days_overdue`` of the bucket from ``low`` to ``high`` days (bounds
        included, None for none)."""
        conditions = [SQL("TRUE")]
        if low is not None:
            conditions.append(SQL("aged.days_overdue >= %s", low))
        if high is not None:
            conditions.append(SQL("aged.days_overdue <= %s", high))
        return SQL(" AND ").join(conditions)

    # === ACTION METHODS === #

    @api.model
    def action_open_at_date(self, date=None):
        """The report's views at ``date`` (today when None), the date in the title.

        :param date: a date or an ISO string, or None for today
        :return: the window action of the report, its context carrying the date
        """
        date = fields.Date.to_date(date) or fields.Date.context_today(self)
        title = self.env._("Aged Receivables at %(date)s", date=fields.Date.to_string(date))
        return report_action(self, "receivable_dunning.dunning_report_ageing_action", title, date)

    def action_open_moves(self):
        """The journal entries of the selected rows: the invoices, credit notes and payments behind the figures."""
        return self.move_id._get_records_action(name=self.env._("Open Items"), context={"create": False})
