from odoo import fields, models


class DunningChargeRateTable(models.Model):
    """A reference interest rate over time, e.g. the ECB main refinancing rate or the German base rate."""

    _name = "dunning.charge.rate.table"
    _description = "Reference Interest Rate"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    line_ids = fields.One2many("dunning.charge.rate", "table_id", string="Rates", copy=True)
