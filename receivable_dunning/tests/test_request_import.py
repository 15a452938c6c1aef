from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest.mock import patch

from freezegun import freeze_time
from stdnum import iso11649

from odoo import fields
from odoo.tests import BaseCase, get_db_name, tagged

from ..tools.request_rows import DuplicateTracker, RowContext, content_reference, parse_amount, validate_row
from .common import DunningCommon
from .portal_common import DunningHttpCommon

FRENCH = {"float_decimal_separator": ",", "float_thousand_separator": " ", "date_format": "%d/%m/%Y"}
# A valid Belgian VAT number and IBAN (their check digits hold), and the same with a wrong check digit.
VAT_BE, VAT_BE_BAD = "BE0477472701", "BE0477472702"
IBAN_BE, IBAN_BE_BAD = "BE71 0961 2345 6769", "BE71 0961 2345 6768"


def _context(**values):
    return RowContext.from_options(
        values.pop("options", None),
        company_currency="EUR",
        currencies=frozenset({"EUR", "USD"}),
        languages=frozenset({"en_US", "fr_FR", "fr_BE"}),
        default_country="BE",
        today=date(2026, 3, 1),
        **values,
    )


def _row(**cells):
    return {"name": "Jean Dupont", "email": "jean@example.com", "amount": "100", **cells}


class TestRequestRows(BaseCase):
    """The pure validation of a row: each error on its cell, defaults, the file's locale."""

    def assertErrors(self, raw, fields_, options="french"):
        _values, errors = validate_row(raw, _context(options=FRENCH if options == "french" else options))
        self.assertEqual(set(errors), set(fields_), errors)
        return errors

    def test_valid_french_row(self):
        values, errors = validate_row(
            _row(
                mobile="0470 12 34 56",
                vat="be 0477.472.701",
                iban=IBAN_BE,
                lang="fr",
                amount="1 234,50",
                currency="usd",
                date_invoice="15/02/2026",
                date_due="31/03/2026",
                external_ref="INV-1",
            ),
            _context(options=FRENCH),
        )
        self.assertEqual(errors, {})
        self.assertEqual(values["amount"], Decimal("1234.50"))
        self.assertEqual(values["mobile"], "+32470123456")
        self.assertEqual(values["vat"], VAT_BE)
        self.assertEqual(values["iban"], "BE71096123456769")
        self.assertEqual(values["lang"], "fr_BE")  # the first installed French, in code order
        self.assertEqual(values["currency"], "USD")
        self.assertEqual((values["date_invoice"], values["date_due"]), (date(2026, 2, 15), date(2026, 3, 31)))

    def test_defaults(self):
        values, errors = validate_row({"name": "A", "email": "a@example.com", "amount": "10"}, _context())
        self.assertEqual(errors, {})
        self.assertEqual(values["currency"], "EUR")
        self.assertEqual(values["date_invoice"], date(2026, 3, 1))
        self.assertEqual(values["date_due"], date(2026, 3, 31))  # 30 days later
        self.assertEqual(values["lang"], "")  # the company's, when the debtor is created
        self.assertEqual(
            values["external_ref"], content_reference({"name": "A", "email": "a@example.com", "amount": "10"})
        )

    def test_each_error_on_its_cell(self):
        self.assertErrors(_row(email="jean.example.com"), {"email"})
        self.assertErrors(_row(mobile="12", country_code="FR"), {"mobile"})
        self.assertErrors(_row(vat=VAT_BE_BAD), {"vat"})
        self.assertErrors(_row(vat="ZZ12345"), {"vat"})
        self.assertErrors(_row(iban=IBAN_BE_BAD), {"iban"})
        self.assertErrors(_row(lang="xx"), {"lang"})
        self.assertErrors(_row(currency="CHF"), {"currency"})  # not among the active ones
        self.assertErrors(_row(country_code="Belgium"), {"country_code"})
        self.assertErrors(_row(date_invoice="2026-02-30"), {"date_invoice"})
        self.assertErrors(_row(date_due="12/31/2026"), {"date_due"})  # not a French date
        self.assertErrors(_row(date_invoice="10/03/2026", date_due="01/03/2026"), {"date_due"})
        errors = self.assertErrors(_row(amount="1.234,50"), {"amount"})  # a dot is no separator in French
        self.assertEqual(errors["amount"], "1.234,50 is not an amount.")
        self.assertErrors(_row(amount="-5"), {"amount"})
        self.assertErrors(_row(amount="10,005"), {"amount"})  # three decimals in euros
        self.assertErrors(_row(amount="12.50"), {"amount"})
        self.assertErrors(_row(amount="12.50"), set(), options=None)  # the same in a file with decimal points

    def test_required_fields(self):
        errors = self.assertErrors({"external_ref": "X"}, {"name", "email", "amount"})
        self.assertEqual(errors["email"], "An email or a mobile number is required to send the request.")
        self.assertErrors({"name": "A", "mobile": "+32470123456", "amount": "5"}, set())

    def test_amounts_in_locales(self):
        self.assertEqual(parse_amount("1 234,50", ",", " "), Decimal("1234.50"))
        self.assertEqual(parse_amount("1.234,50", ",", "."), Decimal("1234.50"))
        self.assertEqual(parse_amount("1,234.50", ".", ","), Decimal("1234.50"))
        self.assertEqual(parse_amount("1\u202f234,50", ",", " "), Decimal("1234.50"))
        self.assertIsNone(parse_amount("abc"))
        self.assertIsNone(parse_amount("NaN"))

    def test_duplicates_in_file(self):
        tracker = DuplicateTracker()
        self.assertIsNone(tracker.check(1, {"external_ref": "A"}))
        self.assertIsNone(tracker.check(2, {"external_ref": "B"}))
        self.assertEqual(tracker.check(5, {"external_ref": "A"}), "External reference A is already on row 1.")


class RequestImportCommon(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.journal = cls.company_data["default_journal_sale"]
        cls.company.dunning_request_journal_id = cls.journal
        cls.product = cls.product_a
        cls.company.dunning_request_product_id = cls.product
        cls.env.ref("base.CHF").active = False
        cls.env.ref("base.EUR").active = True
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.Import = cls.env["dunning.request.import"]

    def _import(self, rows, **vals):
        record = self.Import.create({"name": "Test import", **vals})
        record._set_rows(enumerate(rows, 1))
        return record

    def _cron(self):
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
            self.Import._cron_process_imports()

    def _run(self, record):
        record.action_import()
        self._cron()
        return record

    def _rows(self, record):
        return record.row_ids.sorted("row_number")


@tagged("post_install", "-at_install")
class TestRequestImport(RequestImportCommon):
    """Rows validated, debtors found or created, requests posted, sent, re-imported and amended, in batches."""

    def test_preview_errors_on_their_cells(self):
        record = self._import(
            [
                _row(external_ref="R1", amount="1 234,50", date_due="31/12/2026"),
                _row(external_ref="R2", email="not-an-email"),
                _row(external_ref="R3", mobile="12", country_code="FR", email=""),
                _row(external_ref="R4", vat=VAT_BE_BAD),
                _row(external_ref="R5", iban=IBAN_BE_BAD),
                _row(external_ref="R6", amount="12.50"),
                _row(external_ref="R7", date_invoice="31-12-2026"),
                _row(external_ref="R8", currency="CHF"),
                _row(external_ref="R1", amount="5"),
                {"external_ref": "R10"},
            ],
            options=FRENCH,
        )
        rows = self._rows(record)
        self.assertEqual(
            [sorted(row.errors or {}) for row in rows],
            [
                [],
                ["email"],
                ["mobile"],
                ["vat"],
                ["iban"],
                ["amount"],
                ["date_invoice"],
                ["currency"],
                ["external_ref"],
                ["amount", "email", "name"],
            ],
        )
        self.assertEqual(rows[8].errors["external_ref"], "External reference R1 is already on row 1.")
        self.assertEqual(rows[7].errors["currency"], "CHF is not an active currency.")
        self.assertEqual(
            (record.state, record.row_count, record.valid_count, record.error_count), ("validated", 10, 1, 9)
        )
        self.assertIn("Amount: 2 row(s)", record.error_summary)
        self.assertEqual((rows[0].result, rows[0].partner_action), ("created", "new"))
        # Nothing exists before the import runs, and only the valid row is created.
        self.assertFalse(self.env["account.move"].search([("dunning_request_ref", "!=", False)]))
        self._run(record)
        move = self.env["account.move"].search([("dunning_request_ref", "!=", False)])
        self.assertEqual(move.dunning_request_ref, "R1")
        self.assertEqual((move.amount_total, move.invoice_date_due), (1234.5, date(2026, 12, 31)))
        self.assertEqual(rows.filtered(lambda row: row.state == "done"), rows[0])

    def test_requests_posted_with_reference(self):
        today = fields.Date.context_today(self.env.user)
        record = self._run(
            self._import(
                [
                    _row(external_ref="EXT-1", amount="120,00", description="Membership 2026", currency="EUR"),
                    _row(external_ref="EXT-2", name="Marie", email="marie@example.com", amount="80,5"),
                ],
                options=FRENCH,
            )
        )
        self.assertEqual((record.state, record.created_count, record.progress), ("done", 2, 100.0))
        first, second = self._rows(record).move_id
        self.assertEqual(first.state, "posted")
        self.assertEqual(first.move_type, "out_invoice")
        self.assertEqual(first.journal_id, self.journal)
        self.assertEqual(first.invoice_line_ids.product_id, self.product)
        self.assertEqual(first.invoice_line_ids.name, "Membership 2026")
        self.assertEqual(first.invoice_line_ids.tax_ids.ids, [])
        self.assertEqual((first.amount_total, first.currency_id.name), (120.0, "EUR"))
        self.assertEqual((second.amount_total, second.currency_id), (80.5, self.company.currency_id))
        self.assertEqual((first.ref, first.dunning_request_ref), ("EXT-1", "EXT-1"))
        self.assertEqual((first.invoice_date, first.invoice_date_due), (today, today + timedelta(days=30)))
        self.assertTrue(iso11649.is_valid(first.payment_reference.replace(" ", "")), first.payment_reference)
        self.assertNotEqual(first.payment_reference, second.payment_reference)
        receivable = first.line_ids.filtered(lambda line: line.display_type == "payment_term")
        self.assertEqual((receivable.debit, receivable.amount_currency), (first.amount_total_signed, 120.0))
        self.assertEqual(first.partner_id.name, "Jean Dupont")
        self.assertEqual(first.partner_id.email, "jean@example.com")

    def test_debtors_found_by_vat_then_reference_then_email(self):
        Partner = self.env["res.partner"]
        by_vat = Partner.create({"name": "Vat Co", "vat": "BE 0477.472.701", "email": "old@vat.example.com"})
        by_ref = Partner.create({"name": "Ref Co", "ref": "CUST-7", "email": "ref@example.com"})
        by_email = Partner.create({"name": "Mail Co", "email": "known@example.com"})
        record = self._import(
            [
                _row(external_ref="D1", vat=VAT_BE, email="new@vat.example.com", partner_ref="CUST-7"),
                _row(external_ref="D2", partner_ref="CUST-7", email="known@example.com"),
                _row(external_ref="D3", email="KNOWN@example.com"),
                _row(external_ref="D4", name="Newcomer", email="newcomer@example.com", iban=IBAN_BE),
                _row(external_ref="D5", name="Newcomer", email="newcomer@example.com"),
            ],
            options=FRENCH,
        )
        rows = self._rows(record)
        self.assertEqual(rows.mapped("partner_id")[:3], by_vat | by_ref | by_email)
        # The VAT number wins over the reference (row 1), the reference over the email (row 2).
        self.assertEqual(rows.mapped("partner_action"), ["matched_updates", "matched_updates", "matched", "new", "new"])
        self.assertEqual(rows[0].partner_changes, "Email: old@vat.example.com → new@vat.example.com")
        self.assertEqual(rows[1].partner_changes, "Email: ref@example.com → known@example.com")
        self._run(record)
        self.assertEqual(by_vat.email, "new@vat.example.com")  # announced in the preview
        self.assertEqual(by_ref.email, "known@example.com")
        self.assertEqual(by_email.email, "known@example.com")
        newcomer = rows[3].partner_id
        self.assertEqual(rows[4].partner_id, newcomer)  # one debtor for the two rows of the same email
        self.assertEqual(Partner.search_count([("email", "=", "newcomer@example.com")]), 1)
        self.assertEqual(newcomer.bank_ids.acc_number, "BE71096123456769")

    def test_reimport_creates_nothing(self):
        rows = [_row(external_ref="S1"), _row(external_ref="S2", amount="30")]
        self._run(self._import(rows, options=FRENCH))
        counts = (
            self.env["account.move"].search_count([]),
            self.env["res.partner"].search_count([]),
            self.env["dunning.reminder"].search_count([]),
        )
        again = self._import(rows, options=FRENCH)
        self.assertEqual(self._rows(again).mapped("result"), ["unchanged", "unchanged"])
        self._run(again)
        self.assertEqual((again.unchanged_count, again.created_count, again.done_count), (2, 0, 2))
        self.assertEqual(
            counts,
            (
                self.env["account.move"].search_count([]),
                self.env["res.partner"].search_count([]),
                self.env["dunning.reminder"].search_count([]),
            ),
        )

    def test_amended_amount_of_unpaid_request(self):
        first = self._run(self._import([_row(external_ref="A1", amount="100")]))
        old = first.row_ids.move_id
        amended = self._import([_row(external_ref="A1", amount="150")])
        self.assertEqual(amended.row_ids.result, "updated")
        self._run(amended)
        new = amended.row_ids.move_id
        self.assertNotEqual(new, old)
        self.assertEqual((new.amount_total, new.dunning_request_ref, new.state), (150.0, "A1", "posted"))
        self.assertEqual((old.dunning_request_ref, old.payment_state), (False, "reversed"))
        credit_note = self.env["account.move"].search([("reversed_entry_id", "=", old.id)])
        self.assertEqual(
            (credit_note.move_type, credit_note.amount_total, credit_note.state), ("out_refund", 100.0, "posted")
        )
        self.assertEqual(amended.updated_count, 1)

    def test_amended_amount_of_partly_paid_request_is_an_error(self):
        first = self._run(self._import([_row(external_ref="P1", amount="100")]))
        request = first.row_ids.move_id
        self._register_payment(request, amount=40.0)
        self.assertEqual(request.payment_state, "partial")
        amended = self._import([_row(external_ref="P1", amount="150")])
        self.assertEqual(amended.row_ids.state, "error")
        self.assertIn(f"Request {request.name} is already paid in part", amended.row_ids.errors["amount"])
        self.assertEqual(amended.valid_count, 0)
        # The same amount again is no change, paid or not.
        self.assertEqual(self._import([_row(external_ref="P1", amount="100")]).row_ids.result, "unchanged")

    def test_resume_after_interruption(self):
        self.env["ir.config_parameter"].set_param("receivable_dunning.import_batch_size", 2)
        record = self._import([_row(external_ref=f"C{number}", amount=str(number)) for number in range(1, 6)])
        record.action_import()
        calls = []

        def commit_progress(*args, **kwargs):
            """The first commit takes place (a savepoint stands for it); the worker dies at the second."""
            calls.append(args)
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            self.env.flush_all()
            self.env.cr.execute("SAVEPOINT import_committed")
            return 60.0

        with (
            patch.object(type(self.env["ir.cron"]), "_commit_progress", side_effect=commit_progress),
            self.assertRaisesRegex(RuntimeError, "worker killed"),
        ):
            self.Import._cron_process_imports()
        self.env.cr.execute("ROLLBACK TO SAVEPOINT import_committed")
        self.env.clear()
        self.assertEqual(record.done_count, 2)
        self.assertEqual(self._rows(record).mapped("state"), ["done", "done", "valid", "valid", "valid"])
        self._cron()
        moves = self.env["account.move"].search([("dunning_request_ref", "like", "C%")])
        self.assertEqual(sorted(moves.mapped("dunning_request_ref")), ["C1", "C2", "C3", "C4", "C5"])
        self.assertEqual((record.state, record.created_count, record.progress), ("done", 5, 100.0))
        self.assertEqual(self.env["dunning.reminder"].search_count([("line_ids.move_id", "in", moves.ids)]), 5)

    def test_sent_by_email_and_sms_with_statement_link(self):
        record = self._run(
            self._import([_row(external_ref="M1", amount="75", mobile="+32470123456")], send_email=True, send_sms=True)
        )
        move = record.row_ids.move_id
        reminders = self.env["dunning.reminder"].search([("line_ids.move_id", "=", move.id)])
        self.assertEqual(sorted(reminders.mapped("channel")), ["email", "sms"])
        self.assertEqual(set(reminders.mapped("reminder_type")), {"request"})
        self.assertEqual(set(reminders.mapped("state")), {"queued"})
        self.assertEqual(set(reminders.mapped("trigger")), {"import"})
        reminders._dispatch()
        self.assertEqual(set(reminders.mapped("state")), {"sent"})
        email = reminders.filtered(lambda reminder: reminder.channel == "email")
        statement_url = email.statement_url
        self.assertIn(f"/dunning/statement/{self.company.id}/{move.partner_id.id}/", statement_url)
        self.assertIn(f"{self.company.name}: payment request M1", email.mail_id.subject)
        self.assertIn(statement_url, email.mail_id.body_html)
        self.assertIn(move.payment_reference, email.mail_id.body_html)
        sms = reminders.filtered(lambda reminder: reminder.channel == "sms").sms_id
        self.assertEqual(sms.number, "+32470123456")
        self.assertIn(statement_url, sms.body)
        self.assertIn("payment request", sms.body)

    def test_sending_waits_for_the_chosen_time(self):
        now = datetime(2026, 3, 2, 9, 0)
        with freeze_time(now):
            record = self._run(self._import([_row(external_ref="T1")], send_at=now + timedelta(hours=5)))
            reminder = self.env["dunning.reminder"].search([("line_ids.move_id", "=", record.row_ids.move_id.id)])
            self.assertEqual((reminder.state, reminder.date_scheduled), ("draft", date(2026, 3, 2)))
        with freeze_time(now + timedelta(hours=4, minutes=59)):
            self._cron()
            self.assertEqual(reminder.state, "draft")
        with freeze_time(now + timedelta(hours=5, minutes=1)):
            self._cron()
            self.assertEqual(reminder.state, "queued")

    def test_progress_notified_on_the_bus(self):
        record = self._import([_row(external_ref="B1")])
        with patch.object(type(self.Import), "_notify_progress", autospec=True) as notify:
            self._run(record)
        self.assertTrue(notify.called)
        self.assertEqual(
            record._progress_values(),
            {"id": record.id, "state": "done", "done": 1, "failed": 0, "left": 0, "errors": 0, "progress": 100.0},
        )

    def test_dunning_user_imports_in_own_company_only(self):
        collector = self._create_user(
            "import_collector", "receivable_dunning.group_dunning_user,base.group_partner_manager"
        )
        record = self.Import.with_user(collector).create({"name": "Mine"})
        record._set_rows([(1, _row(external_ref="U1"))])
        record.action_import()
        self._cron()
        self.assertEqual(record.row_ids.move_id.create_uid, collector)
        other_company = self.setup_other_company(name="Company B")["company"]
        other = self.Import.with_company(other_company).create({"name": "Other", "company_id": other_company.id})
        self.assertFalse(self.Import.with_user(collector).search([("id", "=", other.id)]))


@tagged("post_install", "-at_install")
class TestRequestImportRpc(RequestImportCommon, DunningHttpCommon):
    """An integrator imports payment requests over JSON-2 with an API key, as the usage documentation shows."""

    def _call(self, user, **params):
        key = (
            self.env["res.users.apikeys"]
            .with_user(user)
            ._generate(scope="rpc", name="integration", expiration_date=datetime.now() + timedelta(days=1))
        )
        response = self._make_json_request(
            "/json/2/dunning.request.import/import_rows",
            params,
            headers={"Authorization": f"Bearer {key}", "X-Odoo-Database": get_db_name()},
        )
        return response.status_code, response.json()

    def test_import_rows_results(self):
        collector = self._create_user(
            "rpc_importer", "receivable_dunning.group_dunning_user,base.group_partner_manager"
        )
        rows = [
            {"name": "Api Co", "email": "api@example.com", "amount": 99.9, "external_ref": "API-1"},
            {"name": "Api Co", "email": "api@example", "amount": "10", "external_ref": "API-2"},
            {
                "name": "Other",
                "mobile": "+32470123456",
                "amount": "12.5",
                "external_ref": "API-3",
                "date_due": "2026-12-31",
            },
        ]
        status, results = self._call(collector, rows=rows, send_sms=True)
        self.assertEqual(status, 200, results)
        self.assertEqual([result["result"] for result in results], ["created", "error", "created"])
        self.assertEqual([result["row"] for result in results], [0, 1, 2])
        self.assertEqual(results[1]["errors"], {"email": "api@example is not a valid email address."})
        self.assertIsNone(results[1]["move_id"])
        move = self.env["account.move"].browse(results[0]["move_id"])
        self.assertEqual((move.state, move.amount_total, move.dunning_request_ref), ("posted", 99.9, "API-1"))
        self.assertEqual(move.partner_id.id, results[0]["partner_id"])
        third = self.env["account.move"].browse(results[2]["move_id"])
        self.assertEqual(third.invoice_date_due, date(2026, 12, 31))
        # The same rows again: nothing new, the amended one updated.
        rows[2]["amount"] = "15"
        status, again = self._call(collector, rows=rows)
        self.assertEqual([result["result"] for result in again], ["unchanged", "error", "updated"])
        self.assertEqual(again[0]["move_id"], results[0]["move_id"])
        self.assertEqual(self.env["account.move"].browse(again[2]["move_id"]).amount_total, 15.0)

    def test_refused_without_dunning_rights(self):
        clerk = self._create_user("rpc_import_clerk", "account.group_account_invoice")
        status, error = self._call(clerk, rows=[_row(external_ref="X")])
        self.assertEqual(status, 403, error)
        self.assertEqual(error["name"], "odoo.exceptions.AccessError")
