from odoo import api, fields, models


class DunningDebtorWizardMixin(models.AbstractModel):
    """What the wizards on debtors share: the debtors (commercial partners) they were opened on, from the partner
    form or from the debtors' list (whose rows are ``dunning.debtor``)."""

    _name = "dunning.debtor.wizard.mixin"
    _description = "Dunning: Wizard on Debtors"

    partner_ids = fields.Many2many("res.partner", string="Debtors", required=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "partner_ids" in fields_list and not values.get("partner_ids"):
            values["partner_ids"] = [fields.Command.set(self._active_debtors().ids)]
        return values

    @api.model
    def _active_debtors(self):
        context = self.env.context
        records = self.env[context.get("active_model") or "res.partner"].browse(context.get("active_ids") or [])
        if records._name == "dunning.debtor":
            return records.partner_id.commercial_partner_id
        if records._name == "res.partner":
            return records.commercial_partner_id
        return self.env["res.partner"]

    @api.model
    def _action_open(self, partners):
        """The wizard's window on ``partners``."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            f"receivable_dunning.{self._name.replace('.', '_')}_action"
        )
        action["context"] = {"active_model": "res.partner", "active_ids": partners.ids}
        return action
