from odoo import api, fields, models
from odoo.exceptions import ValidationError


class DunningDebtorInvoicesMixin(models.AbstractModel):
    """What an arrangement with a debtor about some of its invoices has: company, currency, debtor, invoices.

    Shared by promises to pay and instalment plans. ``move_ids`` is declared here once; each model gets its own
    relation table from Odoo's default naming (``account_move_dunning_plan_rel``, ``account_move_dunning_promise_rel``
    with columns ``dunning_<model>_id`` and ``account_move_id``).
    """

    _name = "dunning.debtor.invoices.mixin"
    _description = "Dunning: Arrangement on a Debtor's Invoices"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one("res.currency", required=True, default=lambda self: self.env.company.currency_id)
    partner_id = fields.Many2one("res.partner", string="Debtor", required=True, index=True, check_company=True)
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        required=True,
        check_company=True,
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted'), "
        "('commercial_partner_id', '=', partner_id), ('payment_state', 'in', ('not_paid', 'partial'))]",
    )

    @api.constrains("move_ids", "partner_id")
    def _check_invoices_of_debtor(self):
        for record in self:
            strangers = record.move_ids.filtered(
                lambda move, record=record: move.commercial_partner_id != record.partner_id.commercial_partner_id
            )
            if strangers:
                raise ValidationError(
                    self.env._(
                        "%(record)s: invoice %(invoice)s belongs to another customer (field Invoices).",
                        record=record.display_name,
                        invoice=strangers[0].name,
                    )
                )
