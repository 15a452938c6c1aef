import base64
import csv
import io
from unittest.mock import patch

import openpyxl

from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import file_open

from odoo.addons.base_import.models.base_import import Base_ImportImport

from ..models.dunning_request_import_file import CSV_HEAD_BYTES, XLSX_MIMETYPE
from .common import DunningCommon

SAMPLE = "receivable_dunning/static/samples/payment_requests.csv"
SAMPLE_XLSX = "receivable_dunning/static/samples/payment_requests.xlsx"
SAMPLE_ODS = "receivable_dunning/static/samples/payment_requests.ods"
# The sample's columns, as the import proposes to map them.
SAMPLE_FIELDS = [
    "name",
    "email",
    "mobile",
    "country_code",
    "vat",
    "iban",
    "lang",
    "external_ref",
    "description",
    "amount",
    "currency",
    "date_invoice",
    "date_due",
]
# The sample's deliberate mistakes: {row number: the field at fault}.
SAMPLE_ERRORS = {5: "email", 9: "iban", 13: "external_ref", 16: "amount"}


def sample_rows():
    """The sample file's rows, headers first."""
    with file_open(SAMPLE, "rb") as sample:
        return list(csv.reader(io.StringIO(sample.read().decode())))


def csv_bytes(rows, delimiter=","):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode()


def sample_xlsx():
    """The sample's spreadsheet twin, typed as a user's: amounts as numbers, dates as dates."""
    with file_open(SAMPLE_XLSX, "rb") as sample:
        return sample.read()


class RequestImportFileCommon(DunningCommon):
    """The sample's languages and currencies, and uploads as the form does them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for code in ("fr_FR", "es_ES"):
            cls.env["res.lang"]._activate_lang(code)
        currencies = cls.env["res.currency"].with_context(active_test=False).search([("name", "in", ("EUR", "GBP"))])
        currencies.active = True

    def _upload(self, content, file_name="payment_requests.csv", company=None):
        company = company or self.company
        return (
            self.env["dunning.request.import"]
            .with_company(company)
            .create(
                {
                    "name": f"Import of {file_name}",
                    "company_id": company.id,
                    "file": base64.b64encode(content),
                    "file_name": file_name,
                }
            )
        )

    def _import(self, request_import):
        """Queue the valid rows and create their requests as the scheduled action does, batch after batch."""
        request_import.action_import()
        while request_import._process_batch() is not None:
            pass

    def _errors_by_row(self, request_import):
        return {row.row_number: set(row.errors) for row in request_import.row_ids if row.state == "error"}


@tagged("post_install", "-at_install")
class TestRequestImportFile(RequestImportFileCommon):
    """Reading the file through base_import, the mapping, the preview, the error file and its round trip."""

    def test_sample_columns_and_options_are_proposed(self):
        request_import = self._upload(csv_bytes(sample_rows()))
        columns = request_import.column_ids.sorted("column_index")
        self.assertEqual(columns.mapped("field_name"), SAMPLE_FIELDS)
        self.assertEqual(columns[0].sample, "Harbour Lights Ltd, Fenwick & Sons, Oakridge Bakery")
        self.assertEqual(request_import.file_separator, "comma")
        self.assertEqual(request_import.file_encoding, "utf-8")
        self.assertEqual(request_import.file_date_format, "%Y-%m-%d")
        self.assertEqual(
            (request_import.file_decimal_separator, request_import.file_thousands_separator), ("dot", "comma")
        )

    def test_french_file_separators_and_dates_are_detected(self):
        rows = [
            ["Nom", "Courriel", "Montant", "Échéance", "Numéro de facture"],
            ["Boulangerie Martin", "compta@martin.example.fr", "1 234,50", "15/12/2026", "F-1"],
            ["Café du Port", "port@example.fr", "89,90", "31/12/2026", "F-2"],
        ]
        request_import = self._upload(csv_bytes(rows, delimiter=";"), "factures.csv")
        self.assertEqual(
            request_import.column_ids.sorted("column_index").mapped("field_name"),
            ["name", "email", "amount", "date_due", "external_ref"],
        )
        self.assertEqual(request_import.file_separator, "semicolon")
        self.assertEqual(request_import.file_date_format, "%d/%m/%Y")
        self.assertEqual(
            (request_import.file_decimal_separator, request_import.file_thousands_separator), ("comma", "space")
        )
        request_import.action_validate()
        self.assertEqual((request_import.valid_count, request_import.error_count), (2, 0))
        self.assertEqual(
            dict(request_import.row_ids.mapped(lambda row: (row.row_number, row.raw["amount"]))),
            {1: "1 234,50", 2: "89,90"},
        )

    def test_preview_shows_each_error_on_its_cell(self):
        request_import = self._upload(csv_bytes(sample_rows()))
        request_import.action_validate()
        self.assertEqual(
            (request_import.row_count, request_import.valid_count, request_import.error_count), (20, 16, 4)
        )
        self.assertEqual(self._errors_by_row(request_import), {row: {field} for row, field in SAMPLE_ERRORS.items()})

        preview = request_import.preview
        self.assertEqual([column["field"] for column in preview["columns"]], SAMPLE_FIELDS)
        self.assertEqual([row["number"] for row in preview["rows"]], list(range(1, 21)))
        for row in preview["rows"]:
            with self.subTest(row=row["number"]):
                cells_in_error = {SAMPLE_FIELDS[index] for index, cell in enumerate(row["cells"]) if cell["error"]}
                expected = {SAMPLE_ERRORS[row["number"]]} if row["number"] in SAMPLE_ERRORS else set()
                self.assertEqual(cells_in_error, expected)
                self.assertEqual(row["row_errors"], [])
        bad_email = preview["rows"][4]["cells"][SAMPLE_FIELDS.index("email")]
        self.assertEqual(bad_email["value"], "marie.dubois@")

    def test_mapping_errors_name_the_field(self):
        rows = [["Debtor", "Email", "Reference"], ["No Amount Ltd", "billing@no-amount.example.com", "NA-1"]]
        with self.assertRaisesRegex(UserError, "no column gives the Amount"):
            self._upload(csv_bytes(rows), "no_amount.csv").action_validate()
        rows = [["Debtor", "Amount", "Reference"], ["No Contact Ltd", "10.00", "NC-1"]]
        request_import = self._upload(csv_bytes(rows), "no_contact.csv")
        with self.assertRaisesRegex(UserError, "no column gives an email or a mobile number"):
            request_import.action_validate()
        rows = [["Debtor", "Email", "Amount", "Total"], ["Twice Ltd", "twice@example.com", "10.00", "10.00"]]
        request_import = self._upload(csv_bytes(rows), "twice.csv")
        request_import.column_ids.filtered(lambda column: column.header == "Total").field_name = "amount"
        with self.assertRaisesRegex(UserError, "two columns give the Amount"):
            request_import.action_validate()

    def test_error_file_round_trip(self):
        """Download the error file, fix its rows, upload it again: the fixed rows import, nothing is duplicated."""
        first = self._upload(csv_bytes(sample_rows()))
        first.action_validate()
        self._import(first)
        self.assertEqual((first.state, first.created_count, first.error_count), ("done", 16, 4))

        action = first.action_download_error_file()
        attachment = self.env["ir.attachment"].browse(int(action["url"].split("/")[3].split("?")[0]))
        self.assertEqual(attachment.name, "payment_requests-errors.csv")
        error_rows = list(csv.reader(io.StringIO(attachment.raw.decode())))
        self.assertEqual(error_rows[0], [*sample_rows()[0], "Errors"])
        self.assertEqual(len(error_rows), 21)
        self.assertEqual({number for number in range(1, 21) if error_rows[number][-1]}, set(SAMPLE_ERRORS))
        self.assertTrue(error_rows[5][-1].startswith("Email: "), error_rows[5][-1])
        self.assertTrue(error_rows[16][-1].startswith("Amount: "), error_rows[16][-1])
        self.assertEqual(error_rows[1][:-1], sample_rows()[1])

        error_rows[5][1] = "marie.dubois@example.fr"
        error_rows[9][5] = "ES6000491500051234567892"
        error_rows[13][7] = "LEG-2026-0020"
        error_rows[16][9] = "310.00"
        second = self._upload(csv_bytes(error_rows), attachment.name)
        self.assertFalse(second.column_ids.filtered(lambda column: column.header == "Errors").field_name)
        second.action_validate()
        self.assertEqual((second.valid_count, second.error_count), (20, 0))
        self._import(second)
        self.assertEqual((second.created_count, second.unchanged_count, second.failed_count), (4, 16, 0))

        requests = self.env["account.move"].search(
            [("company_id", "=", self.company.id), ("dunning_request_ref", "!=", False)]
        )
        self.assertEqual(len(requests), 20)
        self.assertEqual(len(set(requests.mapped("dunning_request_ref"))), 20)
        self.assertEqual(
            requests.filtered(lambda move: move.dunning_request_ref == "LEG-2026-0015").amount_total, 310.0
        )
        names = {row[0] for row in sample_rows()[1:]}
        debtors = self.env["res.partner"].search([("name", "in", list(names))])
        self.assertEqual(sorted(debtors.mapped("name")), sorted(names))

    def test_xlsx_file_reads_like_its_csv_twin(self):
        request_import = self._upload(sample_xlsx(), "payment_requests.xlsx")
        self.assertEqual(request_import.column_ids.sorted("column_index").mapped("field_name"), SAMPLE_FIELDS)
        request_import.action_validate()
        self.assertEqual(self._errors_by_row(request_import), {row: {field} for row, field in SAMPLE_ERRORS.items()})
        first_row = request_import.row_ids.filtered(lambda row: row.row_number == 1)
        self.assertEqual(
            (first_row.raw["amount"], first_row.raw["date_invoice"], first_row.raw["date_due"]),
            ("1250", "2026-11-02", "2026-12-02"),
        )

        name, content, mimetype = request_import._dunning_error_file()
        self.assertEqual((name, mimetype), ("payment_requests-errors.xlsx", XLSX_MIMETYPE))
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        rows = [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(values_only=True)]
        self.assertEqual(rows[0][-1], "Errors")
        self.assertEqual({number for number in range(1, 21) if rows[number][-1]}, set(SAMPLE_ERRORS))
        self.assertTrue(rows[9][-1].startswith("IBAN: "), rows[9][-1])

    def test_ods_file_reads_like_its_csv_twin(self):
        with file_open(SAMPLE_ODS, "rb") as sample:
            request_import = self._upload(sample.read(), "payment_requests.ods")
        self.assertEqual(request_import.file_kind, "ods")
        self.assertEqual(request_import.column_ids.sorted("column_index").mapped("field_name"), SAMPLE_FIELDS)
        request_import.action_validate()
        self.assertEqual(self._errors_by_row(request_import), {row: {field} for row, field in SAMPLE_ERRORS.items()})
        first_row = request_import.row_ids.filtered(lambda row: row.row_number == 1)
        self.assertEqual(
            (first_row.raw["amount"], first_row.raw["date_invoice"], first_row.raw["iban"]),
            ("1250.00", "2026-11-02", "GB29NWBK60161331926819"),
        )
        # A spreadsheet comes back as XLSX, whatever its own format.
        name, _content, mimetype = request_import._dunning_error_file()
        self.assertEqual((name, mimetype), ("payment_requests-errors.xlsx", XLSX_MIMETYPE))

    def test_csv_rows_are_streamed(self):
        """base_import reads only the head of a CSV file (for the columns and options); the rows come from the
        stored file as they are read."""
        header, *rows = sample_rows()
        many_rows = [header] + [[*row[:7], f"{row[7]}-{copy}", *row[8:]] for copy in range(40) for row in rows]
        content = csv_bytes(many_rows)
        self.assertGreater(len(content), CSV_HEAD_BYTES)
        read_sizes = []
        original_read_file = Base_ImportImport._read_file

        def read_file(reader, options):
            read_sizes.append(len(reader.file))
            return original_read_file(reader, options)

        with patch.object(Base_ImportImport, "_read_file", read_file):
            request_import = self._upload(content, "big.csv")
            request_import.write(
                {
                    "mapping": {str(column.column_index): column.field_name for column in request_import.column_ids},
                    "options": request_import._dunning_options(),
                }
            )
            streamed = list(request_import._iter_file_rows())
        self.assertEqual(len(read_sizes), 1)
        self.assertLessEqual(read_sizes[0], CSV_HEAD_BYTES)
        self.assertEqual(len(streamed), 800)
        self.assertEqual(streamed[-1][0], 800)
        self.assertEqual(streamed[-1][1]["external_ref"], "LEG-2026-0019-39")
        self.assertEqual(streamed[4][1]["email"], "marie.dubois@")

    def test_mapping_is_proposed_again_for_the_same_company_only(self):
        rows = [
            ["Kunde", "Postfach", "Betrag", "Beleg"],
            ["Müller GmbH", "buchhaltung@mueller.example.de", "120.00", "RE-77"],
        ]
        content = csv_bytes(rows)
        first = self._upload(content, "kunden.csv")
        self.assertEqual(first.column_ids.sorted("column_index").mapped("field_name"), [False] * 4)
        mapped = ["name", "email", "amount", "external_ref"]
        for column, field in zip(first.column_ids.sorted("column_index"), mapped, strict=True):
            column.field_name = field
        first.action_validate()
        self.assertEqual(first.valid_count, 1)

        again = self._upload(content, "kunden.csv")
        self.assertEqual(again.column_ids.sorted("column_index").mapped("field_name"), mapped)
        other_company = self.setup_other_company()["company"]
        elsewhere = self._upload(content, "kunden.csv", company=other_company)
        self.assertEqual(elsewhere.column_ids.sorted("column_index").mapped("field_name"), [False] * 4)


@tagged("post_install", "-at_install")
class TestRequestImportUi(RequestImportFileCommon, HttpCase):
    """The back-office flow in the browser: upload the sample, import its valid rows, watch the progress."""

    def test_import_sample_file_in_the_browser(self):
        # Batches of five: the progress bar moves four times while the tour watches.
        self.env["ir.config_parameter"].sudo().set_param("receivable_dunning.import_batch_size", 5)
        self.start_tour(
            "/odoo/action-receivable_dunning.dunning_request_import_action",
            "receivable_dunning_request_import",
            login="admin",
            timeout=300,
        )
        # What the browser wrote, in the administrator's company: read as superuser, whatever this test's company.
        self.env.invalidate_all()
        request_import = self.env["dunning.request.import"].sudo().search([], limit=1)
        self.assertEqual(
            (request_import.state, request_import.created_count, request_import.error_count, request_import.progress),
            ("done", 16, 4, 100.0),
        )
        requests = self.env["account.move"].sudo().search([("dunning_request_ref", "like", "LEG-2026-%")])
        self.assertEqual(len(requests), 16)
        self.assertEqual(set(requests.mapped("state")), {"posted"})
