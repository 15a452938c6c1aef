from unittest.mock import patch

from lxml import html

from odoo.exceptions import AccessError, UserError
from odoo.tests import JsonRpcException, tagged
from odoo.tools import mute_logger

from .portal_common import DunningPortalCommon

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BIG_PDF = PDF + b"0" * (11 * 1024 * 1024)  # over the 10 MB an attachment may weigh


@tagged("post_install", "-at_install")
class TestStatementHardening(DunningPortalCommon):
    """The debtor's link and payment route: who may use saved cards, account_payment's rules, reserved credits,
    malformed input and who may read the links."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # sudo: the test user is an accountant, not a payment administrator.
        cls.provider.sudo().allow_tokenization = True
        cls.debtor_token = (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.provider.id,
                    "payment_method_id": cls.demo_method.id,
                    "partner_id": cls.debtor.id,
                    "provider_ref": "debtor-card",
                    "payment_details": "4242",
                    "demo_simulated_state": "pending",
                }
            )
        )
        debtor_contact = cls.env["res.partner"].create({"name": "Debtor One Accountant", "parent_id": cls.debtor.id})
        cls.debtor_user = cls._create_portal_user("debtor.one.accountant", debtor_contact)
        cls.stranger_user = cls._create_portal_user("debtor.two.portal", cls.stranger)

    # === 1. SAVED PAYMENT METHODS === #

    def _saved_methods_offered(self, user):
        """What the pay page offers ``user`` (a visitor without a login if None): the debtor's saved payment
        methods, and whether it offers to save one."""
        self.authenticate(user and user.login, user and user.login)
        page = html.fromstring(self._portal_pay(self.invoice_old).content)
        tokens = page.xpath(
            "//input[@name='o_payment_radio'][@data-payment-option-type='token']/@data-payment-option-id"
        )
        return tokens, bool(page.xpath("//input[@name='o_payment_tokenize_checkbox']"))

    def test_pay_page_offers_no_saved_method_to_a_visitor(self):
        self.assertEqual(self._saved_methods_offered(None), ([], False), "nothing saved, nothing to save")

    def test_pay_page_offers_no_saved_method_to_another_debtor_user(self):
        self.assertEqual(self._saved_methods_offered(self.stranger_user), ([], False), "nothing saved, nothing to save")

    def test_pay_page_offers_saved_methods_to_the_debtor_users(self):
        self.assertEqual(self._saved_methods_offered(self.debtor_user), ([str(self.debtor_token.id)], True))

    def _debtor_card(self):
        """What the payment form posts to pay with the debtor's saved card."""
        return {"flow": "token", "token_id": self.debtor_token.id, "payment_method_id": None}

    def _assert_saved_methods_refused(self, user, **overrides):
        """The transaction route refuses ``user`` (a visitor without a login if None) a payment of the debtor's
        invoice with ``overrides``, which use or save a payment method, and starts none."""
        self.authenticate(user and user.login, user and user.login)
        response = self._portal_transaction_response(self.invoice_old, 100.0, **overrides)
        self.assertIn("may use or save its payment methods", response.json()["error"]["data"]["message"])
        self.assertFalse(self._transactions(self.invoice_old))

    def test_transaction_refuses_to_save_a_card_for_a_visitor(self):
        self._assert_saved_methods_refused(None, tokenization_requested=True)

    def test_transaction_refuses_the_debtor_card_to_a_visitor(self):
        self._assert_saved_methods_refused(None, **self._debtor_card())

    def test_transaction_refuses_to_save_a_card_for_another_debtor_user(self):
        self._assert_saved_methods_refused(self.stranger_user, tokenization_requested=True)

    def test_transaction_refuses_the_debtor_card_to_another_debtor_user(self):
        self._assert_saved_methods_refused(self.stranger_user, **self._debtor_card())

    def test_other_link_holder_pays_for_the_debtor_and_saves_nothing(self):
        self.authenticate(self.stranger_user.login, self.stranger_user.login)
        self._portal_transaction(self.invoice_old, 100.0)
        transaction = self._transactions(self.invoice_old)
        self.assertEqual((transaction.partner_id, transaction.tokenize), (self.debtor, False), "paid, nothing saved")

    def test_debtor_user_pays_with_the_debtor_saved_card(self):
        self.authenticate(self.debtor_user.login, self.debtor_user.login)
        self._portal_transaction(self.invoice_old, 100.0, **self._debtor_card())
        self.assertEqual(self._transactions(self.invoice_old).token_id, self.debtor_token)

    # === 2. ACCOUNT_PAYMENT'S RULES === #

    def test_online_payment_disabled_in_the_settings_refuses_the_transaction(self):
        self.env["ir.config_parameter"].sudo().set_param("account_payment.enable_portal_payment", False)
        response = self._portal_transaction_response(self.invoice_old, 100.0)
        self.assertIn("Online payment is not available", response.json()["error"]["data"]["message"])
        self.assertFalse(self._transactions(self.invoice_old))

    def test_double_submission_gives_one_transaction(self):
        invoices = self.invoice_old | self.invoice_mid
        self._portal_transaction(invoices, 350.0)
        response = self._portal_transaction_response(invoices, 350.0)
        self.assertIn(
            f"A payment of invoice {self.invoice_old.name} is already being processed",
            response.json()["error"]["data"]["message"],
        )
        self.assertEqual(len(self._transactions(invoices)), 1)

    def test_pending_payment_blocks_another_and_an_abandoned_draft_does_not(self):
        self._portal_transaction(self.invoice_old, 100.0)
        first = self._transactions(self.invoice_old)
        first._set_pending()
        # Even an hour later, a pending payment is on its way.
        first.flush_recordset()
        self.env.cr.execute(
            "UPDATE payment_transaction SET create_date = create_date - interval '1 hour' WHERE id = %s", [first.id]
        )
        first.invalidate_recordset()
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._portal_transaction(self.invoice_old, 100.0)
        self.assertEqual(len(self._transactions(self.invoice_old)), 1)
        # A draft of an hour ago is a payment the debtor gave up: a new one may start.
        first.state = "draft"
        self._portal_transaction(self.invoice_old, 100.0)
        self.assertEqual(len(self._transactions(self.invoice_old)), 2)

    def _page_payable(self):
        """Invoice name -> whether the statement page lets the debtor select it for payment."""
        page = html.fromstring(self.url_open(self._statement_path()).content)
        return {
            row.get("data-invoice"): not row.xpath(".//input[@name='invoice_ids']/@disabled")
            for row in page.xpath("//table[contains(@class, 'o_dunning_invoices')]/tbody/tr")
        }

    def test_page_offers_to_pay_what_account_payment_would_take(self):
        """The page reads its rows in one query: what it offers to pay stays account_payment's _has_to_be_paid,
        less the disputed invoices."""
        self._portal_transaction(self.invoice_old, 100.0)
        self._transactions(self.invoice_old)._set_pending()
        self._portal_transaction(self.invoice_mid, 250.0)  # a draft: nothing under way
        self.env["dunning.statement"]._raise_dispute(self.debtor, self.company, self.invoice_new.id, "wrong_amount")
        invoices = self.invoice_old | self.invoice_mid | self.invoice_new
        self.assertEqual(
            self._page_payable(),
            {self.invoice_old.name: False, self.invoice_mid.name: True, self.invoice_new.name: False},
        )
        self.assertEqual(
            [invoice._has_to_be_paid() for invoice in invoices], [False, True, True], "the dispute is ours alone"
        )
        self.env["ir.config_parameter"].sudo().set_param("account_payment.enable_portal_payment", False)
        self.assertFalse(any(self._page_payable().values()))
        self.assertFalse(any(invoice._has_to_be_paid() for invoice in invoices))

    # === 3. CREDITS === #

    def test_credits_of_a_payment_under_way_are_not_deducted_again(self):
        refund = self._refund(60.0)
        self._portal_transaction(self.invoice_old, 40.0)
        first = self._transactions(self.invoice_old)
        self.assertEqual(first.dunning_credit_line_ids.move_id, refund)
        first._set_pending()
        # The credit is the pending payment's: the next invoice is paid in full, and settling with it is refused.
        page = html.fromstring(self._portal_pay(self.invoice_mid).content)
        self.assertEqual(float(page.xpath("//form[@id='o_payment_form']/@data-amount")[0]), 250.0)
        self._portal_transaction(self.invoice_mid, 250.0)
        second = self._transactions(self.invoice_mid)
        self.assertEqual((second.amount, second.dunning_credit_line_ids), (250.0, refund.line_ids.browse()))
        # Once the first payment is cancelled, the credit is free again.
        first._set_canceled()
        self.assertEqual(self.invoice_new._dunning_amount_to_pay(), (15.0, first.dunning_credit_line_ids))

    def test_credits_failure_after_capture_keeps_the_payment_and_warns_the_collector(self):
        collector = self._create_collector("collector.one")
        refund = self._refund(60.0)
        self._portal_transaction(self.invoice_mid, 190.0)
        transaction = self._transactions(self.invoice_mid)
        transaction._set_done()
        Move = type(self.env["account.move"])
        with (
            patch.object(Move, "_dunning_apply_credits", side_effect=UserError("Reconciliation refused")),
            self.assertLogs("odoo.addons.receivable_dunning.models.payment_transaction", "ERROR") as logs,
        ):
            transaction._post_process()
        self.assertIn(transaction.reference, logs.output[0])
        self.assertTrue(transaction.payment_id, "the payment is kept")
        self.assertEqual((self.invoice_mid.payment_state, self.invoice_mid.amount_residual), ("partial", 60.0))
        self.assertEqual(refund.payment_state, "not_paid")
        activity = self.invoice_mid.activity_ids
        self.assertEqual(activity.user_id, collector)
        self.assertIn(refund.name, str(activity.note))

    # === 4. MALFORMED INPUT === #

    def _statement_path_parts(self):
        """(company id, debtor id, token) of the debtor's statement path, as text."""
        return self._statement_path().split("/")[3:6]

    def _assert_malformed_path_not_found(self, bad_path):
        """``bad_path``, and the invoice download under it, answer 404."""
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open(bad_path).status_code, 404)
            self.assertEqual(self.url_open(f"{bad_path}/invoice/{self.invoice_old.id}").status_code, 404)

    def test_token_ending_in_a_non_ascii_letter_is_not_found(self):
        company_id, debtor_id, token = self._statement_path_parts()
        self._assert_malformed_path_not_found(f"/dunning/statement/{company_id}/{debtor_id}/{token}é")

    def test_token_ending_in_a_non_ascii_letter_is_not_found_for_an_unknown_debtor(self):
        company_id, _debtor_id, token = self._statement_path_parts()
        self._assert_malformed_path_not_found(f"/dunning/statement/{company_id}/999999/{token}é")

    def test_token_starting_with_a_non_ascii_letter_is_not_found(self):
        company_id, debtor_id, token = self._statement_path_parts()
        self._assert_malformed_path_not_found(f"/dunning/statement/{company_id}/{debtor_id}/é{token[1:]}")

    def test_token_starting_with_a_non_ascii_letter_is_not_found_for_an_unknown_debtor(self):
        company_id, _debtor_id, token = self._statement_path_parts()
        self._assert_malformed_path_not_found(f"/dunning/statement/{company_id}/999999/é{token[1:]}")

    def test_company_id_beyond_any_integer_is_not_found(self):
        _company_id, debtor_id, token = self._statement_path_parts()
        self._assert_malformed_path_not_found(f"/dunning/statement/99999999999999999999/{debtor_id}/{token}")

    def test_company_id_beyond_any_integer_is_not_found_for_an_unknown_debtor(self):
        _company_id, _debtor_id, token = self._statement_path_parts()
        self._assert_malformed_path_not_found(f"/dunning/statement/99999999999999999999/999999/{token}")

    def test_ids_in_other_digits_lead_to_their_canonical_path_for_any_debtor(self):
        company_id, debtor_id, token = self._statement_path_parts()
        arabic_id = debtor_id.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        # Odoo sends ids in other digits to their canonical path, whichever debtor they name.
        for partner_id, ascii_id in ((arabic_id, debtor_id), ("٩٩٩٩٩٩", "999999")):
            response = self.url_open(f"/dunning/statement/{company_id}/{partner_id}/{token}", allow_redirects=False)
            self.assertEqual(response.status_code, 301)
            self.assertTrue(
                response.headers["Location"].endswith(f"/dunning/statement/{company_id}/{ascii_id}/{token}")
            )

    def _assert_bad_id_answered_like_any(self, bad):
        """``bad`` as an invoice id answers as any bad id does, on every route of the statement that takes one."""
        path = self._statement_path()
        csrf = self._anonymous_csrf_token()
        response = self.url_open(f"{path}/pay?invoice_ids={bad}")
        self.assertEqual(response.status_code, 200)
        self.assertIn("Select at least one invoice", response.text)
        self.assertEqual(self.url_open(f"{path}?dispute={bad}").status_code, 200)
        plan = self._prepare_plan_values(self.invoice_old, bad, csrf_token=csrf)
        dispute = {"csrf_token": csrf, "move_id": bad, "reason": "defective"}
        with mute_logger("odoo.http"):
            self.assertEqual(self._make_http_post_request(f"{path}/plan", plan).status_code, 200)
            self.assertEqual(self._make_http_post_request(f"{path}/dispute", dispute).status_code, 404)
            response = self._make_json_rpc_request(f"{path}/transaction/{bad}", self._prepare_transaction_values(100.0))
        self.assertIn("Select at least one invoice", response.json()["error"]["data"]["message"])
        self.assertFalse(self.env["dunning.dispute"].search([]))
        self.assertFalse(self.env["dunning.plan"].search([]))

    def test_superscript_digit_as_an_id_answers_like_any_bad_id(self):
        self._assert_bad_id_answered_like_any("²")

    def test_arabic_digit_as_an_id_answers_like_any_bad_id(self):
        self._assert_bad_id_answered_like_any("٣")

    def test_letters_as_an_id_answer_like_any_bad_id(self):
        self._assert_bad_id_answered_like_any("abc")

    def test_nul_characters_in_texts_are_not_a_server_error(self):
        csrf = self._anonymous_csrf_token()
        with mute_logger("odoo.http"):
            response = self._make_http_post_request(
                f"{self._statement_path()}/dispute",
                {
                    "csrf_token": csrf,
                    "move_id": self.invoice_old.id,
                    "reason": "other",
                    "description": "Broken\x00pump",
                },
            )
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.env["dunning.dispute"].search([]).description, "Brokenpump")

    def _dispute_values(self):
        """What the dispute form posts for the debtor's oldest invoice, in a visitor's session."""
        return {"csrf_token": self._anonymous_csrf_token(), "move_id": self.invoice_old.id, "reason": "defective"}

    def _assert_upload_refused_unread(self, path, route, data, attachment):
        """A post of ``data`` and ``attachment`` to ``route`` of the statement at ``path`` is refused as too large
        (413) before the form is read: no dispute is opened."""
        with (
            patch.object(type(self.env["dunning.dispute"]), "_open_on_invoice") as dispute_open,
            mute_logger("odoo.http"),
        ):
            response = self._make_http_post_request(f"{path}/{route}", data, files={"attachment": attachment})
        self.assertEqual(response.status_code, 413)
        dispute_open.assert_not_called()

    def test_dispute_attachment_too_large_is_refused_before_it_is_read(self):
        self._assert_upload_refused_unread(
            self._statement_path(), "dispute", self._dispute_values(), ("big.pdf", BIG_PDF, "application/pdf")
        )

    def test_dispute_attachment_too_large_is_refused_for_an_unknown_debtor_too(self):
        unknown = self._statement_path().replace(f"/{self.debtor.id}/", "/999999/")
        self._assert_upload_refused_unread(
            unknown, "dispute", self._dispute_values(), ("big.pdf", BIG_PDF, "application/pdf")
        )

    def test_plan_takes_no_upload(self):
        # Forms without a file take no upload either.
        plan = {"csrf_token": self._anonymous_csrf_token(), "invoice_ids": [self.invoice_old.id], "count": "2"}
        self._assert_upload_refused_unread(
            self._statement_path(), "plan", plan, ("big.pdf", PDF + b"0" * 300_000, "application/pdf")
        )

    def _post_dispute_attachment(self, name, content):
        """A dispute of the debtor's oldest invoice, with ``content`` attached as a PDF named ``name``."""
        data = self._dispute_values()
        with mute_logger("odoo.http"):
            return self._make_http_post_request(
                f"{self._statement_path()}/dispute", data, files={"attachment": (name, content, "application/pdf")}
            )

    def _assert_attachment_refused(self, name, content):
        response = self._post_dispute_attachment(name, content)
        self.assertEqual(response.status_code, 200)
        self.assertIn("is not a PDF, an image or an office document", response.text)
        self.assertFalse(self.env["dunning.dispute"].search([]))

    def test_dispute_refuses_html_named_as_a_pdf(self):
        self._assert_attachment_refused("invoice.pdf", b"<html><script>alert(1)</script></html>")

    def test_dispute_refuses_a_program_named_as_an_image(self):
        self._assert_attachment_refused("photo.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff")

    def test_dispute_refuses_an_svg_image_with_a_script(self):
        self._assert_attachment_refused(
            "note.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        )

    def test_dispute_takes_a_pdf_attachment(self):
        response = self._post_dispute_attachment("delivery.pdf", PDF)
        self.assertEqual(response.status_code, 303)
        attachment = self.env["ir.attachment"].search([("res_model", "=", "dunning.dispute")])
        self.assertEqual((attachment.name, attachment.mimetype), ("delivery.pdf", "application/pdf"))

    def _assert_json_error_without_traceback(self, response, message):
        """``response`` is a JSON-RPC error whose message (not empty) contains ``message``, with neither debug
        information nor a traceback, and no payment started."""
        error = response.json()["error"]
        self.assertIn(message, error["data"]["message"])
        self.assertTrue(error["data"]["message"])
        self.assertNotIn("debug", error["data"])
        self.assertNotIn("Traceback", response.text)
        self.assertFalse(self._transactions(self.invoice_old))

    def test_json_error_of_a_changed_amount_carries_a_message_never_a_traceback(self):
        response = self._portal_transaction_response(self.invoice_old, 1.0)
        self._assert_json_error_without_traceback(response, "The amount to pay has changed")

    def test_json_error_of_a_wrong_token_carries_a_message_never_a_traceback(self):
        response = self._portal_transaction_response(self.invoice_old, 100.0, path=self._statement_path()[:-4] + "0000")
        self._assert_json_error_without_traceback(response, "404: Not Found")

    def test_json_error_of_garbage_input_carries_a_message_never_a_traceback(self):
        with mute_logger("odoo.sql_db"):
            response = self._portal_transaction_response(self.invoice_old, 100.0, provider_id=["x"])
        self._assert_json_error_without_traceback(response, "")

    # === 5. STATEMENT LINKS === #

    def test_statement_link_is_read_only_by_dunning_users(self):
        reminder = self._run().reminder_ids[:1]
        auditor = self._create_user("auditor.one", "base.group_user,account.group_account_readonly")
        collector = self._create_user("collector.two", "receivable_dunning.group_dunning_user")
        self.assertTrue(reminder.with_user(auditor).name, "the auditor reads reminders")
        with self.assertRaises(AccessError):
            _url = reminder.with_user(auditor).statement_url
        self.assertIn("/dunning/statement/", reminder.with_user(collector).statement_url)
