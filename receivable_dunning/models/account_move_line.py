from odoo import models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    def _reconcile_post_hook(self, data):
        """A payment reconciled with dunned invoices may keep a promise to pay: check it right away."""
        res = super()._reconcile_post_hook(data)
        invoices = self.move_id.filtered(lambda move: move.move_type == "out_invoice")
        if invoices:
            # sudo: whoever reconciles (a bank import, a portal payment) settles the promises on these invoices.
            promises = (
                self.env["dunning.promise"].sudo().search([("move_ids", "in", invoices.ids), ("state", "=", "pending")])
            )
            promises._settle_pending()
        return res
