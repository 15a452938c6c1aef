from odoo import fields, models


class DunningChargeRate(models.Model):
    """The value of a reference rate from a date on, until the next line of its table."""

    _name = "dunning.charge.rate"
    _description = "Reference Interest Rate Value"
    _order = "table_id, date_from desc"

    table_id = fields.Many2one("dunning.charge.rate.table", required=True, index=True, ondelete="cascade")
    date_from = fields.Date(string="In Force From", required=True)
    rate = fields.Float(string="Rate (%)", digits=(6, 3), required=True)

    _table_date_uniq = models.Constraint("UNIQUE(table_id, date_from)", "A reference rate has one value per date.")
