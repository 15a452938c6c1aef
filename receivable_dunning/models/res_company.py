from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        string="Default Dunning Policy",
        domain="[('company_id', '=', id)]",
        help="Applied to every customer of the company that has no policy of its own.",
    )
    dunning_report_enabled = fields.Boolean(
        string="Monthly Receivables Report",
        default=True,
        help="On the first days of each month, email the previous month's receivables report (PDF and XLSX).",
    )
    dunning_report_user_ids = fields.Many2many(
        "res.users",
        "res_company_dunning_report_user_rel",
        "company_id",
        "user_id",
        string="Monthly Report Recipients",
        domain="[('share', '=', False), ('company_ids', 'in', id)]",
        help="Who receives the monthly receivables report; empty: the company's accounting managers.",
    )
    dunning_report_sent_month = fields.Date(
        string="Last Monthly Report",
        readonly=True,
        copy=False,
        help="The first day of the last month whose report was emailed: the monthly cron sends each month once.",
    )
    dunning_request_journal_id = fields.Many2one(
        "account.journal",
        string="Payment Request Journal",
        domain="[('type', '=', 'sale'), ('company_id', 'in', [id, False])]",
        help="The sales journal of the payment requests imported from a file or over RPC; empty: the first sales "
        "journal.",
    )
    dunning_request_product_id = fields.Many2one(
        "product.product",
        string="Payment Request Product",
        domain="[('company_id', 'in', [id, False])]",
        help="The product on the line of each imported payment request (its income account); empty: no product, "
        "the journal's income account.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies.filtered(lambda company: not company.dunning_policy_id)._dunning_create_default_policy()
        self.env["dunning.risk.class"]._create_for_companies(companies)
        return companies

    def _dunning_create_default_policy(self):
        """Give each company a copy of the module's default policy, so that dunning works out of the box."""
        # sudo: the template belongs to the main company, which whoever creates a company may not be allowed to see.
        template_sudo = self.env.ref("receivable_dunning.dunning_policy_default", raise_if_not_found=False).sudo()
        if not template_sudo:
            return
        for company in self:
            company.dunning_policy_id = template_sudo.with_company(company).copy(
                {"company_id": company.id, "name": template_sudo.name}
            )
