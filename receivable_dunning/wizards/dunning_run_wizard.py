from odoo import api, fields, models


class DunningRunWizard(models.TransientModel):
    """Start a dunning run by hand: preview who gets what (review mode) or send at once."""

    _name = "dunning.run.wizard"
    _description = "Dunning Run Wizard"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    mode = fields.Selection(
        [("review", "Preview, then send"), ("send", "Send now")],
        required=True,
        default="review",
        help="Preview: the reminders are proposed in a run that you review, edit and send.",
    )
    policy_ids = fields.Many2many(
        "dunning.policy", string="Policies", domain="[('company_id', '=', company_id)]", help="All when empty."
    )
    partner_ids = fields.Many2many("res.partner", string="Debtors", help="All when empty.")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "res.partner" and self.env.context.get("active_ids"):
            values["partner_ids"] = [fields.Command.set(self.env.context["active_ids"])]
        return values

    def _prepare_run_values(self):
        self.ensure_one()
        return {
            "company_id": self.company_id.id,
            "mode": self.mode,
            "trigger": "manual",
            "policy_ids": [fields.Command.set(self.policy_ids.ids)],
            "partner_ids": [fields.Command.set(self.partner_ids.commercial_partner_id.ids)],
        }

    def action_run(self):
        self.ensure_one()
        run = self.env["dunning.run"].with_company(self.company_id).create(self._prepare_run_values())
        run.action_execute()
        return {
            "type": "ir.actions.act_window",
            "res_model": "dunning.run",
            "res_id": run.id,
            "view_mode": "form",
            "target": "current",
        }
