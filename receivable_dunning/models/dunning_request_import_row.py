import psycopg2

from odoo import api, fields, models
from odoo.tools import SQL

# The DEFAULT of an INSERT's row, as a parameter (what Odoo's own insert writes for a column not given).
SQL_DEFAULT = psycopg2.extensions.AsIs("DEFAULT")


def insert_records(model, vals_list):
    """``INSERT`` the records of ``vals_list`` (dicts of stored field values) into ``model``'s table in one
    statement, with the creator and the dates Odoo's create writes; a field a dict does not give takes its column's
    default, as in Odoo's insert.

    :return: the names of the fields written
    """
    names = sorted({name for vals in vals_list for name in vals})
    now = model.env.cr.now()
    audit = (model.env.uid, now, model.env.uid, now)
    model.env.execute_query(
        SQL(
            "INSERT INTO %s (%s, create_uid, create_date, write_uid, write_date) VALUES %s",
            SQL.identifier(model._table),
            SQL(", ").join(map(SQL.identifier, names)),
            # One parameter per record: a tuple, which the driver writes as (value, ...).
            SQL(", ").join(
                (
                    *(
                        model._fields[name].convert_to_column_insert(vals[name], model, vals)
                        if name in vals
                        else SQL_DEFAULT
                        for name in names
                    ),
                    *audit,
                )
                for vals in vals_list
            ),
        )
    )
    return names


class DunningRequestImportRow(models.Model):
    """One row of a payment request import: the cells as read, their errors by field, and what became of it."""

    _name = "dunning.request.import.row"
    _description = "Payment Request Import Row"
    _order = "import_id, row_number"
    _check_company_auto = True

    import_id = fields.Many2one("dunning.request.import", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="import_id.company_id", store=True, index=True)
    row_number = fields.Integer(help="The row's line in the file, 1 being the first row of data.")
    raw = fields.Json(help="The row's cells as read: {row field: text}.")
    errors = fields.Json(string="Errors by Field", help="What is wrong with the row: {row field: message}.")
    error_text = fields.Char(string="Errors", compute="_compute_error_text")
    external_ref = fields.Char(string="External Reference", readonly=True)
    state = fields.Selection(
        [("valid", "Valid"), ("error", "Error"), ("done", "Done"), ("failed", "Failed")],
        required=True,
        default="valid",
        index=True,
    )
    result = fields.Selection(
        [("created", "Created"), ("updated", "Updated"), ("unchanged", "Unchanged")],
        help="What the import does (before it runs) or did (after) with the row's request.",
    )
    partner_id = fields.Many2one("res.partner", string="Debtor", index="btree_not_null", check_company=True)
    move_id = fields.Many2one("account.move", string="Request", index="btree_not_null", check_company=True)
    partner_action = fields.Selection(
        [("new", "New Debtor"), ("matched", "Existing Debtor"), ("matched_updates", "Existing Debtor, Updated")],
        string="Debtor Action",
    )
    partner_changes = fields.Char(
        string="Debtor Changes", help="The existing debtor's data that the import changes: field, old and new value."
    )

    @api.model
    def _row_field_labels(self):
        """The row fields' names as the user reads them: {row field: label}."""
        return {
            "name": self.env._("Debtor"),
            "email": self.env._("Email"),
            "mobile": self.env._("Mobile"),
            "country_code": self.env._("Country"),
            "vat": self.env._("VAT"),
            "iban": self.env._("IBAN"),
            "lang": self.env._("Language"),
            "external_ref": self.env._("External Reference"),
            "partner_ref": self.env._("Debtor Reference"),
            "description": self.env._("Description"),
            "amount": self.env._("Amount"),
            "currency": self.env._("Currency"),
            "date_invoice": self.env._("Issue Date"),
            "date_due": self.env._("Due Date"),
        }

    @api.depends("errors")
    def _compute_error_text(self):
        for row in self:
            row.error_text = "; ".join((row.errors or {}).values()) or False

    @api.model
    def _bulk_create(self, vals_list):
        """Record the rows of ``vals_list`` (from the import's validation) in one statement.

        A file's rows are recorded by the thousand: the ORM's create, its defaults, company checks and cache
        bookkeeping, costs more than checking them. The values are complete and consistent by construction: one
        import, its company, the debtors and requests the validation found in that company.

        :param list vals_list: dicts of ``import_id``, ``row_number``, ``raw``, ``external_ref``, ``state``,
            ``errors`` and, for a valid row, ``partner_id``, ``partner_action``, ``partner_changes``, ``result``,
            ``move_id``
        """
        if not vals_list:
            return
        self.check_access("create")
        imports = self.env["dunning.request.import"].browse({vals["import_id"] for vals in vals_list})
        company_of = {record.id: record.company_id.id for record in imports}
        # The company is the import's (a related field, stored).
        vals_list = [{**vals, "company_id": company_of[vals["import_id"]]} for vals in vals_list]
        insert_records(self, vals_list)
        # What points to the new rows: the imports' list of rows.
        imports.invalidate_recordset(["row_ids"])
