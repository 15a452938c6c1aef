from odoo import api, models
from odoo.fields import Domain


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    @api.model
    def _dunning_open_credit_domain(self, partners, company):
        """The open receivable items of the debtors ``partners`` (commercial partners) in ``company`` that are no
        customer invoice: credit notes and payments in their favour, and what stands against them besides
        invoices (a refund paid out and not yet matched, a receivable booked by hand).

        The one rule of a debtor's credits: the run sets them against the invoices (``dunning.run``
        ``_open_credits``, which reads this domain as SQL), the statement page lists them and an online payment
        deducts them. An item belongs to the debtor its partner's commercial partner is, as an invoice does; its
        amount is what is left of it in its own currency, the amount every one of them uses.
        """
        return Domain(
            [
                ("company_id", "=", company.id),
                ("partner_id.commercial_partner_id", "in", partners.ids),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("reconciled", "=", False),
                ("amount_residual_currency", "!=", 0),
                ("move_id.move_type", "!=", "out_invoice"),
            ]
        )

    def _reconcile_post_hook(self, data):
        """A payment reconciled with dunned invoices may keep a promise to pay: check it right away. The debtors'
        payer profiles follow the payment, in one recomputation for the batch."""
        res = super()._reconcile_post_hook(data)
        invoices = self.move_id.filtered(lambda move: move.move_type == "out_invoice")
        if invoices:
            # sudo: whoever reconciles (a bank import, a portal payment) settles the promises on these invoices.
            promises = (
                self.env["dunning.promise"].sudo().search([("move_ids", "in", invoices.ids), ("state", "=", "pending")])
            )
            promises._settle_pending()
            invoices._dunning_recompute_profiles()
        return res
