from odoo import api, fields, models
from odoo.fields import Domain


class ResPartner(models.Model):
    _inherit = "res.partner"

    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        company_dependent=True,
        help="Overrides the company's default dunning policy for this customer.",
    )
    dunning_collector_id = fields.Many2one(
        "res.users",
        string="Collector",
        company_dependent=True,
        help="Who follows up this customer's unpaid invoices and makes the calls.",
    )
    dunning_contact = fields.Boolean(
        help="Reminders of the company go to this contact first, before its invoice address.",
    )
    dunning_promise_ids = fields.One2many("dunning.promise", "partner_id", string="Promises to Pay", readonly=True)
    dunning_hold_until = fields.Date(
        string="Dunning on Hold Until", help="No reminder is sent to this customer before this date."
    )
    dunning_overdue_amount = fields.Monetary(
        string="Overdue Amount",
        compute="_compute_dunning_overdue",
        currency_field="dunning_currency_id",
        help="Overdue receivables of posted customer invoices in the current company, excluding the "
        "invoices marked 'No Follow-Up'.",
    )
    dunning_overdue_count = fields.Integer(string="Overdue Invoices", compute="_compute_dunning_overdue")
    dunning_currency_id = fields.Many2one("res.currency", compute="_compute_dunning_overdue")
    dunning_level_id = fields.Many2one(
        "dunning.level",
        string="Highest Dunning Level",
        compute="_compute_dunning_level_id",
        help="The highest level reached by the customer's open invoices in the current company.",
    )
    dunning_event_ids = fields.One2many("dunning.event", "partner_id", string="Reminders", readonly=True)
    dunning_event_count = fields.Integer(compute="_compute_dunning_event_count")

    # === COMPUTE METHODS === #

    @api.model
    def _dunning_overdue_line_domain(self):
        """Open receivable items of posted customer invoices that are past due and may be dunned."""
        return Domain(
            [
                ("company_id", "=", self.env.company.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("move_id.move_type", "=", "out_invoice"),
                ("reconciled", "=", False),
                ("amount_residual", ">", 0),
                ("no_followup", "=", False),
                ("date_maturity", "<", fields.Date.context_today(self)),
            ]
        )

    @api.depends_context("company", "date")
    def _compute_dunning_overdue(self):
        commercial = self.commercial_partner_id
        groups = self.env["account.move.line"]._read_group(
            self._dunning_overdue_line_domain() & Domain("partner_id", "in", commercial.ids),
            groupby=["partner_id"],
            aggregates=["amount_residual:sum", "move_id:count_distinct"],
        )
        totals = {partner: (amount, count) for partner, amount, count in groups}
        for partner in self:
            amount, count = totals.get(partner.commercial_partner_id, (0.0, 0))
            partner.dunning_overdue_amount = amount
            partner.dunning_overdue_count = count
            partner.dunning_currency_id = self.env.company.currency_id

    @api.depends_context("company")
    def _compute_dunning_level_id(self):
        commercial = self.commercial_partner_id
        groups = self.env["account.move"]._read_group(
            [
                ("company_id", "=", self.env.company.id),
                ("commercial_partner_id", "in", commercial.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
                ("dunning_level_id", "!=", False),
            ],
            groupby=["commercial_partner_id", "dunning_level_id"],
        )
        highest = {}
        for partner, level in groups:
            current = highest.get(partner)
            if not current or (level.delay_days, level.sequence) > (current.delay_days, current.sequence):
                highest[partner] = level
        for partner in self:
            partner.dunning_level_id = highest.get(partner.commercial_partner_id, False)

    def _compute_dunning_event_count(self):
        counts = dict(
            self.env["dunning.event"]._read_group(
                [("partner_id", "in", self.ids)], groupby=["partner_id"], aggregates=["__count"]
            )
        )
        for partner in self:
            partner.dunning_event_count = counts.get(partner, 0)

    # === ACTION METHODS === #

    def action_view_dunning_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_event_action")
        action["domain"] = [("partner_id", "=", self.commercial_partner_id.id)]
        action["context"] = {"create": False}
        return action

    # === BUSINESS METHODS === #

    def _dunning_get_policy(self):
        """Return the dunning policy of this customer in the current company: its own, else the company's.

        :return: a ``dunning.policy`` record, possibly empty
        """
        self.ensure_one()
        partner = self.commercial_partner_id
        return partner.dunning_policy_id or self.env.company.dunning_policy_id
