from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain


class DunningHandoverWizard(models.TransientModel):
    """Hand a debtor's open invoices over to a collection agency or to legal, with a PDF dossier."""

    _name = "dunning.handover.wizard"
    _inherit = "dunning.debtor.wizard.mixin"
    _description = "Hand Over a Debtor"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        compute="_compute_move_ids",
        store=True,
        readonly=False,
        required=True,
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted'), ('company_id', '=', company_id), "
        "('commercial_partner_id', 'in', partner_ids), ('payment_state', 'in', ('not_paid', 'partial'))]",
    )
    amount = fields.Monetary(string="Amount Handed Over", compute="_compute_amount")
    handed_to = fields.Selection([("agency", "Collection Agency"), ("legal", "Legal")], required=True, default="agency")
    agency_id = fields.Many2one("res.partner", string="Agency or Lawyer")
    note = fields.Text()
    warning = fields.Char(compute="_compute_warning")

    @api.depends("partner_ids", "company_id")
    def _compute_move_ids(self):
        Move = self.env["account.move"]
        for wizard in self:
            wizard.move_ids = Move.search(
                Move._dunning_open_invoice_domain(wizard.partner_ids, wizard.company_id)
                # Not handed over already, nor marked 'No Follow-Up' by hand.
                & Domain("line_ids", "any", [("account_type", "=", "asset_receivable"), ("no_followup", "=", False)])
            )

    @api.depends("move_ids")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = sum(wizard.move_ids.mapped("amount_residual_signed"))

    @api.depends("partner_ids", "company_id")
    def _compute_warning(self):
        for wizard in self:
            debtor = wizard.partner_ids[:1].with_company(wizard.company_id)
            level = debtor.dunning_level_id
            wizard.warning = (
                self.env._(
                    "%(debtor)s has not passed the last automatic level of its policy (now: %(level)s). "
                    "You may hand it over all the same.",
                    debtor=debtor.display_name,
                    level=level.name or self.env._("no level"),
                )
                if debtor and not level.is_last_auto_step
                else False
            )

    def action_hand_over(self):
        self.ensure_one()
        if not self.env["res.partner"]._dunning_is_manager():
            raise AccessError(self.env._("Only dunning managers may hand a debtor over."))
        if len(self.partner_ids) != 1:
            raise UserError(self.env._("Hand over one debtor at a time (field Debtors)."))
        if not self.move_ids:
            raise UserError(
                self.env._(
                    "%(debtor)s has no open invoice to hand over (field Invoices).", debtor=self.partner_ids.name
                )
            )
        handover = (
            self.env["dunning.handover"]
            .with_company(self.company_id)
            ._hand_over(
                self.partner_ids,
                self.move_ids,
                {"handed_to": self.handed_to, "agency_id": self.agency_id.id, "note": self.note},
            )
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "dunning.handover",
            "res_id": handover.id,
            "view_mode": "form",
            "target": "current",
        }
