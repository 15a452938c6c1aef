from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        string="Default Dunning Policy",
        domain="[('company_id', '=', id)]",
        help="Applied to every customer of the company that has no policy of its own.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies.filtered(lambda company: not company.dunning_policy_id)._dunning_create_default_policy()
        return companies

    def _dunning_create_default_policy(self):
        """Give each company a copy of the module's default policy, so that dunning works out of the box."""
        template = self.env.ref("receivable_dunning.dunning_policy_default", raise_if_not_found=False)
        if not template:
            return
        for company in self:
            company.dunning_policy_id = (
                template.sudo()
                .copy(  # sudo: the template belongs to another company
                    {"company_id": company.id, "name": template.name}
                )
                .sudo(False)
            )
