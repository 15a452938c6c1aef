from odoo import fields, models


class DunningStopSupplyWizard(models.TransientModel):
    """Stop or resume supplying debtors: their new customer invoices cannot be posted while stopped."""

    _name = "dunning.stop.supply.wizard"
    _inherit = "dunning.debtor.wizard.mixin"
    _description = "Stop Supply"

    reason = fields.Char()

    def action_stop(self):
        self.ensure_one()
        self._write_debtors({"dunning_stop_supply": True, "dunning_stop_supply_reason": self.reason})

    def action_resume(self):
        self.ensure_one()
        self._write_debtors({"dunning_stop_supply": False, "dunning_stop_supply_reason": False})

    def _write_debtors(self, values):
        partners = self.partner_ids
        if not partners._dunning_is_manager():
            partners._dunning_raise_not_manager(", ".join(partners.mapped("display_name")), set(values))
        # sudo: a dunning manager decides whether to keep supplying a customer without the right to edit contacts
        # (checked just above); the values are written for the current company.
        partners.sudo().write(values)
