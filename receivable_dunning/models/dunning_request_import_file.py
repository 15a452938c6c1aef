import base64
import csv
import datetime
import io
import os
from contextlib import contextmanager

import xlsxwriter

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import DEFAULT_SERVER_DATE_FORMAT, DEFAULT_SERVER_DATETIME_FORMAT

from odoo.addons.base_import.models.base_import import ImportValidationError

from ..tools.request_columns import CONTACT_FIELDS, REQUIRED_FIELDS, header_candidates, normalize_header

# The bytes of a CSV file read to detect its encoding and separators and to propose the mapping; the rows
# themselves are streamed from the stored file, whatever its size.
CSV_HEAD_BYTES = 64 * 1024
# Rows of the file read to propose the mapping and detect the date and number formats.
SAMPLE_ROWS = 20
# Rows shown in the validation preview; the error file has them all.
PREVIEW_ROWS = 100
CSV_EXTENSIONS = ("csv", "txt")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The characters that group digits or mark decimals in an amount.
NO_BREAK_SPACES = "\u00a0\u202f"
MARKS = ".,' " + NO_BREAK_SPACES
# The separators the option fields offer, by their selection key.
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "bar": "|", "dot": ".", "space": " ", "apostrophe": "'"}
SEPARATOR_KEYS = {
    "column": {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"},
    "number": {",": "comma", ".": "dot", " ": "space", "'": "apostrophe"},
}


class DunningRequestImport(models.Model):
    """The file side of a payment-request import: reading the uploaded CSV, XLSX or ODS file through base_import,
    its columns and their mapping (saved per company), the validation preview and the error file."""

    _inherit = "dunning.request.import"

    column_ids = fields.One2many("dunning.request.import.column", "import_id", string="Columns", copy=True)
    file_kind = fields.Char(compute="_compute_file_kind", help="The file's extension: csv, xlsx, xls or ods.")
    file_encoding = fields.Char(string="Encoding", help="Detected from the file; the encoding of a CSV file.")
    file_separator = fields.Selection(
        [("comma", "Comma"), ("semicolon", "Semicolon"), ("tab", "Tab"), ("bar", "Vertical bar")],
        string="Separator",
        help="Detected from the file; the column separator of a CSV file.",
    )
    file_date_format = fields.Char(
        string="Date format",
        help="Detected from the file, written as in Python (%d/%m/%Y for 31/12/2026); empty: 2026-12-31.",
    )
    file_decimal_separator = fields.Selection(
        [("dot", "Dot"), ("comma", "Comma")], string="Decimal separator", default="dot", required=True
    )
    file_thousands_separator = fields.Selection(
        [("comma", "Comma"), ("dot", "Dot"), ("space", "Space"), ("apostrophe", "Apostrophe")],
        string="Thousands separator",
        help="Empty: amounts are written without one.",
    )
    preview = fields.Json(compute="_compute_preview", help="The first rows of the file with their errors.")

    # === COMPUTE METHODS === #

    @api.depends("file_name")
    def _compute_file_kind(self):
        for request_import in self:
            request_import.file_kind = os.path.splitext(request_import.file_name or "")[1].lstrip(".").lower()

    @api.depends("row_ids.errors", "row_ids.state", "column_ids.field_name", "state")
    def _compute_preview(self):
        rows_by_import = self._dunning_preview_rows()
        labels = dict(self.env["dunning.request.import.column"]._fields["field_name"]._description_selection(self.env))
        for request_import in self:
            rows = rows_by_import.get(request_import.id)
            if not rows:
                request_import.preview = False
                continue
            columns = [
                {"field": column.field_name, "header": column.header or labels[column.field_name]}
                for column in request_import.column_ids.sorted("column_index")
                if column.field_name
            ]
            shown = {column["field"] for column in columns}
            request_import.preview = {
                "columns": columns,
                "row_count": request_import.row_count,
                "rows": [
                    {
                        "number": row["row_number"],
                        "state": row["state"],
                        "partner_action": row["partner_action"],
                        "partner_changes": row["partner_changes"],
                        "cells": [
                            {
                                "value": (row["raw"] or {}).get(column["field"]) or "",
                                "error": (row["errors"] or {}).get(column["field"]),
                            }
                            for column in columns
                        ],
                        # Errors of a field no column feeds (no contact at all, a missing amount column).
                        "row_errors": [
                            f"{labels.get(field, field)}: {message}"
                            for field, message in (row["errors"] or {}).items()
                            if field not in shown
                        ],
                    }
                    for row in rows
                ],
            }

    def _dunning_preview_rows(self):
        """The first rows of each import in ``self``, in the file's order (every line of the file has its row,
        numbered from 1).

        :return: {import id: [row dict]}
        """
        import_ids = [request_import.id for request_import in self if isinstance(request_import.id, int)]
        if not import_ids:
            return {}
        fnames = ["import_id", "row_number", "raw", "errors", "state", "partner_action", "partner_changes"]
        rows = self.env["dunning.request.import.row"].search_fetch(
            [("import_id", "in", import_ids), ("row_number", "<=", PREVIEW_ROWS)], fnames, order="row_number"
        )
        rows_by_import = {}
        for row in rows:
            values = {fname: row[fname] for fname in fnames[1:]}
            rows_by_import.setdefault(row.import_id.id, []).append(values)
        return rows_by_import

    # === ONCHANGE METHODS === #

    @api.onchange("file", "file_separator", "file_encoding")
    def _onchange_file_read_columns(self):
        if self.file and self.state == "draft":
            self._dunning_read_columns(base64.b64decode(self.file))

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        imports = super().create(vals_list)
        # Created with a file but no columns (over RPC, from the demo data): read them, keeping a given mapping.
        for request_import in imports.filtered(lambda i: i.file and not i.column_ids):
            request_import._dunning_read_columns(request_import._dunning_file_bytes(), request_import.mapping)
        return imports

    # === ACTION METHODS === #

    def action_validate(self):
        for request_import in self:
            request_import._dunning_check_columns()
            columns = request_import.column_ids
            request_import.write(
                {
                    "mapping": {str(column.column_index): column.field_name for column in columns if column.field_name},
                    "options": request_import._dunning_options(),
                }
            )
            self.env["dunning.request.mapping"]._save(
                request_import.company_id, {column.header: column.field_name for column in columns}
            )
        return super().action_validate()

    def action_download_error_file(self):
        """Download the whole file back with an "Errors" column, to fix the rows in it and upload it again."""
        self.ensure_one()
        name, content, mimetype = self._dunning_error_file()
        attachments = self.env["ir.attachment"]
        attachments.search([("res_model", "=", self._name), ("res_id", "=", self.id), ("name", "=", name)]).unlink()
        attachment = attachments.create(
            {"name": name, "raw": content, "mimetype": mimetype, "res_model": self._name, "res_id": self.id}
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "download",
        }

    # === BUSINESS METHODS - READING THE FILE === #

    def _iter_file_rows(self):
        """Yield each data row of the file (the first row holds the headers) as the core validates it.

        A CSV file is read from the stored file as it goes, so memory stays bounded whatever its size. An XLSX, XLS
        or ODS file is read whole by base_import (xlrd, openpyxl or odfpy load the sheet at once), so its memory
        grows with the file.

        :return: an iterator of (row number, {row field: raw value}), 1 being the first data row
        """
        self.ensure_one()
        fields_by_index = {int(index): field for index, field in (self.mapping or {}).items() if field}
        options = self.options or self._dunning_options()
        rows = self._dunning_iter_file(options)
        next(rows, None)
        for row_number, values in enumerate(rows, 1):
            yield (
                row_number,
                {
                    field: self._dunning_cell_text(values[index] if index < len(values) else "", options)
                    for index, field in fields_by_index.items()
                },
            )

    def _dunning_iter_file(self, options):
        """Every non-empty row of the file, headers first, as lists of cell values (strings, or dates for dates
        in a spreadsheet)."""
        if self.file_kind in CSV_EXTENSIONS:
            with self._dunning_open_file() as stream:
                text = io.TextIOWrapper(stream, encoding=options.get("encoding") or "utf-8", newline="")
                reader = csv.reader(
                    text, delimiter=options.get("separator") or ",", quotechar=options.get("quoting") or '"'
                )
                for row in reader:
                    if any(cell.strip() for cell in row):
                        yield row
            return
        _length, rows = self._dunning_read_file(self._dunning_file_bytes(), dict(options))
        yield from rows

    @contextmanager
    def _dunning_open_file(self):
        """A binary stream over the stored file: the file in the filestore itself, read as it goes, or its bytes
        when attachments are kept in the database."""
        # The file field's attachment, which the ORM reads as superuser too once the import itself is readable.
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_field", "=", "file"), ("res_id", "=", self.id)], limit=1)
        )
        if attachment.store_fname:
            with open(attachment._full_path(attachment.store_fname), "rb") as stream:
                yield stream
        else:
            yield io.BytesIO(self._dunning_file_bytes())

    def _dunning_file_bytes(self):
        return base64.b64decode(self.with_context(bin_size=False).file or b"")

    def _dunning_read_file(self, data, options):
        """Read ``data`` with base_import (CSV, XLSX, XLS or ODS, told apart by their content and the file name),
        completing ``options`` with what it detects (encoding, separator, sheet).

        :return: (number of rows, list of non-empty rows)
        :raise UserError: when the file cannot be read
        """
        reader = self.env["base_import.import"].new(
            {"res_model": self._name, "file": data, "file_name": self.file_name}
        )
        try:
            return reader._read_file(options)
        except (ImportValidationError, ValueError, csv.Error) as error:
            raise UserError(
                self.env._(
                    "The file %(file)s of import %(name)s cannot be read: %(error)s",
                    file=self.file_name,
                    name=self.name,
                    error=error,
                )
            ) from error

    def _dunning_cell_text(self, value, options):
        """A cell as the text the core validates: spreadsheet dates written in the import's date format."""
        if isinstance(value, datetime.datetime):
            return value.strftime(options.get("datetime_format") or DEFAULT_SERVER_DATETIME_FORMAT)
        if isinstance(value, datetime.date):
            return value.strftime(options.get("date_format") or DEFAULT_SERVER_DATE_FORMAT)
        return (value or "").strip()

    def _dunning_options(self):
        """The reading and locale options of the file, in base_import's terms."""
        spreadsheet = self.file_kind not in CSV_EXTENSIONS
        return {
            "has_headers": True,
            "quoting": '"',
            "encoding": self.file_encoding or "",
            "separator": SEPARATORS.get(self.file_separator, ""),
            "date_format": self.file_date_format or "",
            # Numbers in a spreadsheet's cells come as Python writes them: 1234.5.
            "float_decimal_separator": "." if spreadsheet else SEPARATORS.get(self.file_decimal_separator, "."),
            "float_thousand_separator": "" if spreadsheet else SEPARATORS.get(self.file_thousands_separator, ""),
        }

    # === BUSINESS METHODS - COLUMNS AND MAPPING === #

    def _dunning_read_columns(self, data, mapping=None):
        """Read the headers and first rows of ``data``, detect the file's options and propose a field per column:
        the one given by ``mapping``, else the one the company mapped the same header to last time, else the one
        the header names.

        :param bytes data: the file's content
        :param dict mapping: {column index (str): row field}, when the caller has one
        """
        options = {
            "quoting": '"',
            "has_headers": True,
            "encoding": self.file_encoding or "",
            "separator": SEPARATORS.get(self.file_separator, ""),
        }
        if self.file_kind in CSV_EXTENSIONS and len(data) > CSV_HEAD_BYTES:
            data = data[: data.rfind(b"\n", 0, CSV_HEAD_BYTES) + 1] or data[:CSV_HEAD_BYTES]
        _length, rows = self._dunning_read_file(data, options)
        if not rows:
            raise UserError(
                self.env._("The file %(file)s of import %(name)s is empty.", file=self.file_name, name=self.name)
            )
        headers, samples = [str(header) for header in rows[0]], rows[1 : SAMPLE_ROWS + 1]
        if mapping:
            fields_by_index = {int(index): field for index, field in mapping.items()}
        else:
            fields_by_index = self._dunning_propose_fields(headers)
        values = {
            "file_encoding": options.get("encoding") or False,
            "file_separator": SEPARATOR_KEYS["column"].get(options.get("separator"), False),
            "column_ids": [Command.clear()]
            + [
                Command.create(
                    {
                        "column_index": index,
                        "header": header,
                        "sample": ", ".join(
                            str(row[index]) for row in samples[:3] if index < len(row) and str(row[index]).strip()
                        )[:80],
                        "field_name": fields_by_index.get(index) or False,
                    }
                )
                for index, header in enumerate(headers)
            ],
        }
        values.update(self._dunning_detect_formats(samples, fields_by_index, options))
        self.update(values)

    def _dunning_propose_fields(self, headers):
        """The field of each header: the company's saved one first, then the one the header names exactly, then
        the closest name within base_import's fuzzy distance; a field is proposed for one column only.

        :return: {column index: row field}
        """
        saved = self.env["dunning.request.mapping"]._saved_fields(self.company_id, headers)
        names = [normalize_header(header) for header in headers]
        proposal = {index: saved[name] for index, name in enumerate(names) if name in saved}
        candidates = header_candidates()
        exact = dict(reversed(candidates))
        for index, name in enumerate(names):
            if index not in proposal and exact.get(name) and exact[name] not in proposal.values():
                proposal[index] = exact[name]
        base_import = self.env["base_import.import"]
        for index, name in enumerate(names):
            if index in proposal or not name:
                continue
            taken = set(proposal.values())
            distance, field = min(
                (
                    (base_import._get_distance(name, candidate), field)
                    for candidate, field in candidates
                    if field not in taken
                ),
                default=(1, None),
            )
            if field and distance <= base_import.FUZZY_MATCH_DISTANCE:
                proposal[index] = field
        return proposal

    def _dunning_detect_formats(self, samples, fields_by_index, options):
        """The date format (base_import's date pattern matching) and the amount separators seen in the first rows.

        :return: values for the file_* option fields
        """
        values = {}
        base_import = self.env["base_import.import"]
        date_values = [
            row[index]
            for index, field in fields_by_index.items()
            if field in ("date_invoice", "date_due")
            for row in samples
            if index < len(row) and isinstance(row[index], str) and row[index].strip()
        ]
        detected = {}
        if date_values and base_import._try_match_date_time(date_values, detected):
            values["file_date_format"] = detected.get("date_format") or False
        amounts = [
            row[index].strip()
            for index, field in fields_by_index.items()
            if field == "amount"
            for row in samples
            if index < len(row) and isinstance(row[index], str)
        ]
        separators = _amount_separators(amounts)
        if separators:
            thousands, decimal = separators
            values["file_thousands_separator"] = SEPARATOR_KEYS["number"].get(thousands, False)
            values["file_decimal_separator"] = SEPARATOR_KEYS["number"][decimal]
        return values

    def _dunning_check_columns(self):
        """:raise UserError: when a required field has no column, or a field has two."""
        self.ensure_one()
        labels = dict(self.env["dunning.request.import.column"]._fields["field_name"]._description_selection(self.env))
        mapped = [column.field_name for column in self.column_ids if column.field_name]
        if not self.column_ids:
            raise UserError(self.env._("Import %(name)s has no file to read.", name=self.name))
        for field in REQUIRED_FIELDS:
            if field not in mapped:
                raise UserError(
                    self.env._("Import %(name)s: no column gives the %(field)s.", name=self.name, field=labels[field])
                )
        if not set(CONTACT_FIELDS) & set(mapped):
            raise UserError(self.env._("Import %(name)s: no column gives an email or a mobile number.", name=self.name))
        for field in set(mapped):
            if mapped.count(field) > 1:
                raise UserError(
                    self.env._("Import %(name)s: two columns give the %(field)s.", name=self.name, field=labels[field])
                )

    # === BUSINESS METHODS - ERROR FILE === #

    def _dunning_error_file(self):
        """The whole file back with an "Errors" column naming each invalid cell's column and what is wrong with it:
        a CSV file comes back as CSV (same separator), a spreadsheet as XLSX.

        :return: (file name, content, mimetype)
        """
        self.ensure_one()
        rows = self.env["dunning.request.import.row"].search_fetch(
            [("import_id", "=", self.id), ("state", "in", ("error", "failed"))], ["row_number", "errors"]
        )
        errors_by_number = {row.row_number: row.errors or {} for row in rows}
        labels = dict(self.env["dunning.request.import.column"]._fields["field_name"]._description_selection(self.env))
        headers_by_field = {column.field_name: column.header for column in self.column_ids if column.field_name}
        options = self.options or self._dunning_options()

        def error_text(row_number):
            return "; ".join(
                f"{headers_by_field.get(field) or labels.get(field, field)}: {message}"
                for field, message in errors_by_number.get(row_number, {}).items()
            )

        file_rows = self._dunning_iter_file(options)
        headers = next(file_rows, [])
        stem = os.path.splitext(self.file_name or self.name or "import")[0]
        errors_header = self.env._("Errors")
        if self.file_kind in CSV_EXTENSIONS:
            buffer = io.StringIO()
            writer = csv.writer(
                buffer, delimiter=options.get("separator") or ",", quotechar=options.get("quoting") or '"'
            )
            writer.writerow([*headers, errors_header])
            for row_number, row in enumerate(file_rows, 1):
                writer.writerow([*row, error_text(row_number)])
            encoding = options.get("encoding") or "utf-8"
            # An ASCII file's errors may need accents: the file comes back in UTF-8 then.
            if encoding.replace("-", "").lower() == "ascii":
                encoding = "utf-8"
            return f"{stem}-errors.csv", buffer.getvalue().encode(encoding, errors="replace"), "text/csv"
        buffer = io.BytesIO()
        workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "default_date_format": "yyyy-mm-dd"})
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, [*headers, errors_header])
        for row_number, row in enumerate(file_rows, 1):
            sheet.write_row(row_number, 0, [*row, error_text(row_number)])
        workbook.close()
        return f"{stem}-errors.xlsx", buffer.getvalue(), XLSX_MIMETYPE


def _csv_dialect(options):
    """The separator and quote of a CSV file, from base_import's options."""
    return {"delimiter": options.get("separator") or ",", "quotechar": options.get("quoting") or '"'}


def _amount_separators(amounts):
    """The (thousands, decimal) separators of the amounts: from the first amount written with both ("1 234,50",
    "1,234.50"), else from one whose only mark is not followed by three digits ("1234,5"), the thousands separator
    being then the other of dot and comma; None when no amount tells ("1234", "1,234").

    :param list amounts: amounts as written in the file
    """
    decimal = None
    for amount in amounts:
        marks = [" " if character in NO_BREAK_SPACES else character for character in amount if character in MARKS]
        if len(set(marks)) == 2 and marks.count(marks[-1]) == 1 and marks[-1] in ".,":
            return marks[0], marks[-1]
        if decimal is None and len(marks) == 1 and marks[0] in ".," and len(amount.rsplit(marks[0], 1)[1]) != 3:
            decimal = marks[0]
    if decimal is None:
        return None
    return ("," if decimal == "." else "."), decimal
