from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        # A payment reconciled with a reminded invoice changes what its reminders brought in.
        self.env["dunning.reminder.outcome"]._refresh(partials.debit_move_id.move_id)
        return partials

    def unlink(self):
        # The invoices are read before the partials are gone; their reminders' outcomes are recomputed after.
        invoices = self.debit_move_id.move_id
        res = super().unlink()
        self.env["dunning.reminder.outcome"]._refresh(invoices)
        return res
