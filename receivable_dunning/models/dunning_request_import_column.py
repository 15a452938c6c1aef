from odoo import fields, models

from ..tools.request_columns import ROW_FIELDS


class DunningRequestImportColumn(models.Model):
    """A column of an import's file: its header, a sample value and the row field it feeds (empty: ignored)."""

    _name = "dunning.request.import.column"
    _description = "Payment request import column"
    _order = "import_id, column_index"

    import_id = fields.Many2one("dunning.request.import", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="import_id.company_id", store=True)
    column_index = fields.Integer(string="Position", required=True, help="0 for the file's first column.")
    header = fields.Char(readonly=True)
    sample = fields.Char(readonly=True, help="The first values of the column in the file.")
    field_name = fields.Selection(ROW_FIELDS, string="Field", help="Empty: the column is ignored.")
