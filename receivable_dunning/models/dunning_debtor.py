from odoo import api, fields, models
from odoo.tools import SQL

from .res_partner import HOLD_REASONS


class DunningDebtor(models.Model):
    """Who owes what, one row per debtor (commercial partner) and company: the collectors' work list.

    A read-only SQL view over the open, overdue receivable items of posted customer invoices, so that it can be
    grouped by level in a kanban and stays consistent with the accounting without any stored copy. Items handed
    over to an agency or to legal ('No Follow-Up' through a hand-over) are counted apart, in the amount handed
    over, so that a debtor handed over entirely stays in the list.
    """

    _name = "dunning.debtor"
    _description = "Dunning Debtor"
    _auto = False
    _order = "max_days_overdue desc, amount_overdue desc"
    _rec_name = "partner_id"
    # The ORM flushes these fields before querying the view, so that it reflects writes of the same transaction.
    _depends = {
        "account.move.line": [
            "partner_id",
            "company_id",
            "company_currency_id",
            "amount_residual",
            "move_id",
            "account_id",
            "parent_state",
            "reconciled",
            "no_followup",
            "date_maturity",
        ],
        "account.move": ["move_type", "dunning_level_id", "dunning_last_date"],
        "account.account": ["account_type"],
        "res.partner": ["dunning_collector_id", "dunning_hold_until", "dunning_hold_reason", "dunning_stop_supply"],
        "dunning.handover": ["state", "move_ids"],
        "dunning.level": ["delay_days", "sequence"],
    }

    partner_id = fields.Many2one("res.partner", string="Debtor", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    level_id = fields.Many2one("dunning.level", string="Highest Level", readonly=True, group_expand="_expand_levels")
    collector_id = fields.Many2one("res.users", readonly=True)
    hold_until = fields.Date(string="On Hold Until", readonly=True)
    hold_reason = fields.Selection(HOLD_REASONS, readonly=True)
    stop_supply = fields.Boolean(readonly=True)
    amount_overdue = fields.Monetary(
        string="Overdue Amount", readonly=True, help="What is overdue and still dunned: hand-overs left out."
    )
    invoice_count = fields.Integer(string="Overdue Invoices", readonly=True)
    amount_handed_over = fields.Monetary(
        string="Handed Over", readonly=True, help="Overdue invoices handed over to a collection agency or to legal."
    )
    max_days_overdue = fields.Integer(string="Days Overdue", readonly=True, aggregator="max")
    oldest_due_date = fields.Date(readonly=True, aggregator="min")
    last_reminder_date = fields.Date(string="Last Reminder", readonly=True, aggregator="max")

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT MIN(aml.id) AS id,
                   aml.partner_id,
                   aml.company_id,
                   MIN(aml.company_currency_id) AS currency_id,
                   -- The highest level in the level order of dunning.level._order_key: delay, then sequence.
                   (ARRAY_AGG(move.dunning_level_id ORDER BY level.delay_days DESC NULLS LAST, level.sequence DESC))[1]
                       AS level_id,
                   (MIN(partner.dunning_collector_id ->> aml.company_id::text))::integer AS collector_id,
                   MIN(partner.dunning_hold_until) AS hold_until,
                   MIN(partner.dunning_hold_reason) AS hold_reason,
                   BOOL_OR((partner.dunning_stop_supply ->> aml.company_id::text)::boolean) AS stop_supply,
                   COALESCE(SUM(aml.amount_residual) FILTER (WHERE handed.is_handed_over IS NULL), 0) AS amount_overdue,
                   COUNT(DISTINCT aml.move_id) FILTER (WHERE handed.is_handed_over IS NULL) AS invoice_count,
                   COALESCE(SUM(aml.amount_residual) FILTER (WHERE handed.is_handed_over), 0) AS amount_handed_over,
                   MAX(CURRENT_DATE - aml.date_maturity) AS max_days_overdue,
                   MIN(aml.date_maturity) AS oldest_due_date,
                   MAX(move.dunning_last_date) AS last_reminder_date
              FROM account_move_line aml
              JOIN account_move move ON move.id = aml.move_id
              JOIN account_account account ON account.id = aml.account_id
              JOIN res_partner partner ON partner.id = aml.partner_id
         LEFT JOIN dunning_level level ON level.id = move.dunning_level_id
         LEFT JOIN LATERAL (
                    -- Only items out of dunning may be handed over: the others skip the look-up.
                    SELECT TRUE AS is_handed_over
                      FROM dunning_handover_move_rel rel
                      JOIN dunning_handover handover ON handover.id = rel.handover_id
                     WHERE aml.no_followup
                       AND rel.move_id = move.id
                       AND handover.state = 'handed_over'
                     LIMIT 1
                   ) handed ON TRUE
             WHERE account.account_type = 'asset_receivable'
               AND aml.parent_state = 'posted'
               AND move.move_type = 'out_invoice'
               AND NOT aml.reconciled
               AND aml.amount_residual > 0
               AND (aml.no_followup IS NOT TRUE OR handed.is_handed_over)
               AND aml.date_maturity < CURRENT_DATE
          GROUP BY aml.partner_id, aml.company_id
            """
        )

    @api.model
    def _expand_levels(self, levels, domain):
        """Show every level of the allowed companies' policies as a kanban column, even an empty one."""
        return self.env["dunning.level"].search([("company_id", "in", self.env.companies.ids)])

    def action_open_partner(self):
        """The debtor's contact form, where its dunning tab is: what a collector opens from the work list."""
        self.ensure_one()
        return self.partner_id._get_records_action(name=self.partner_id.display_name)
