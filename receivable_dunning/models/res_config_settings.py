from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    dunning_policy_id = fields.Many2one(
        related="company_id.dunning_policy_id", readonly=False, domain="[('company_id', '=', company_id)]"
    )
    dunning_report_enabled = fields.Boolean(related="company_id.dunning_report_enabled", readonly=False)
    dunning_report_user_ids = fields.Many2many(related="company_id.dunning_report_user_ids", readonly=False)
    dunning_request_journal_id = fields.Many2one(
        related="company_id.dunning_request_journal_id",
        readonly=False,
        domain="[('type', '=', 'sale'), ('company_id', '=', company_id)]",
    )
    dunning_request_product_id = fields.Many2one(
        related="company_id.dunning_request_product_id",
        readonly=False,
        domain="[('company_id', 'in', [company_id, False])]",
    )
