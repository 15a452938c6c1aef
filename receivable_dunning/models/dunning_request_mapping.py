from odoo import api, fields, models

from ..tools.request_columns import ROW_FIELDS, normalize_header


class DunningRequestMapping(models.Model):
    """The row field a company's files put under a column header, remembered from the last import that used the
    header (an ignored column is remembered as ignored) and proposed again for the next file of the company."""

    _name = "dunning.request.mapping"
    _description = "Payment request column mapping"
    _order = "company_id, column_name"

    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    column_name = fields.Char(string="Column", required=True, help="The header, normalised (lowercase, no accents).")
    field_name = fields.Selection(ROW_FIELDS, string="Field", help="Empty: the column is ignored.")

    _company_column_uniq = models.Constraint(
        "unique(company_id, column_name)",
        "A column is mapped once per company.",
    )

    @api.model
    def _saved_fields(self, company, headers):
        """The fields saved for ``company`` under ``headers``.

        :param company: a res.company record
        :param headers: the headers of a file, as written in it
        :return: {normalised header: field name or False} for the headers the company has a mapping for
        """
        names = {normalize_header(header) for header in headers} - {""}
        if not names:
            return {}
        mappings = self.search_fetch(
            [("company_id", "=", company.id), ("column_name", "in", list(names))], ["column_name", "field_name"]
        )
        return {mapping.column_name: mapping.field_name for mapping in mappings}

    @api.model
    def _save(self, company, fields_by_header):
        """Remember the field of each header for ``company``, replacing what was saved for the same headers.

        :param company: a res.company record
        :param dict fields_by_header: {header as written in the file: field name or False}
        """
        wanted = {normalize_header(header): field for header, field in fields_by_header.items()}
        wanted.pop("", None)
        saved = self.search([("company_id", "=", company.id), ("column_name", "in", list(wanted))])
        for mapping in saved:
            field = wanted.pop(mapping.column_name) or False
            if mapping.field_name != field:
                mapping.field_name = field
        self.create(
            [
                {"company_id": company.id, "column_name": name, "field_name": field or False}
                for name, field in wanted.items()
            ]
        )
