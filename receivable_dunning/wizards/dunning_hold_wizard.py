from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.res_partner import HOLD_REASONS


class DunningHoldWizard(models.TransientModel):
    """Put debtors on hold until a date, with a reason and a note, or release them."""

    _name = "dunning.hold.wizard"
    _inherit = "dunning.debtor.wizard.mixin"
    _description = "Put Debtors on Hold"

    # Required to put on hold, not to release: checked by action_apply.
    hold_until = fields.Date(string="On Hold Until")
    reason = fields.Selection(HOLD_REASONS)
    note = fields.Text()

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        debtor = self._active_debtors()
        if len(debtor) == 1 and debtor.dunning_hold_until:
            # Editing the hold of one debtor starts from the hold it has.
            values.setdefault("hold_until", debtor.dunning_hold_until)
            values.setdefault("reason", debtor.dunning_hold_reason)
            values.setdefault("note", debtor.dunning_hold_note)
        return values

    def action_apply(self):
        self.ensure_one()
        if not (self.hold_until and self.reason):
            raise UserError(self.env._("Give the hold an end date and a reason (fields On Hold Until and Reason)."))
        self._write_debtors(
            {"dunning_hold_until": self.hold_until, "dunning_hold_reason": self.reason, "dunning_hold_note": self.note}
        )

    def action_release(self):
        """Dunning resumes: the hold, its reason and its note are cleared."""
        self.ensure_one()
        self._write_debtors({"dunning_hold_until": False})

    def _write_debtors(self, values):
        partners = self.partner_ids
        if not partners._dunning_is_collector():
            partners._dunning_raise_not_collector(", ".join(partners.mapped("display_name")), set(values))
        # sudo: collectors hold dunning without the right to edit contacts (checked just above).
        partners.sudo().write(values)
