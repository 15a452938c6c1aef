from unittest.mock import patch

from freezegun import freeze_time
from lxml import html

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import in_days
from .portal_common import DunningPortalCommon

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# One byte over the 5 MB a proof may weigh, within what the request may carry.
OVERSIZED_PDF = PDF + b"0" * (5 * 1024 * 1024 + 1 - len(PDF))


@tagged("post_install", "-at_install")
class TestPortalClaims(DunningPortalCommon):
    """Promises and "I already paid" from the statement page, and the debtor told of a dispute's outcome."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank = cls.company_data["default_journal_bank"]
        cls.policy.write({"promise_max_days": 30, "claim_pause_days": 10})

    def setUp(self):
        super().setUp()
        self.csrf = self._anonymous_csrf_token()

    # === HELPERS === #

    def _post(self, route, values, files=None, path=None):
        return self._make_http_post_request(
            f"{path or self._statement_path()}/{route}", {"csrf_token": self.csrf, **values}, files=files
        )

    def _promise(self, invoices, date_promised, amount):
        return self._post(
            "promise",
            {
                "invoice_ids": invoices.ids,
                "date_promised": fields.Date.to_string(date_promised),
                "amount": str(amount),
            },
        )

    def _claim(self, invoices, amount, reference, files=None, date_paid=None):
        return self._post(
            "paid",
            {
                "invoice_ids": invoices.ids,
                "date_paid": fields.Date.to_string(date_paid or fields.Date.today()),
                "amount": str(amount),
                "payment_reference": reference,
            },
            files=files,
        )

    def _statement_line(self, label, amount, **values):
        return self.env["account.bank.statement.line"].create(
            {"journal_id": self.bank.id, "date": fields.Date.today(), "payment_ref": label, "amount": amount, **values}
        )

    def _claims(self, invoices):
        return self.env["dunning.payment.claim"].search([("move_ids", "in", invoices.ids)])

    def _mails(self, record):
        """The emails to the debtor about ``record`` (not those telling users of their activities)."""
        return self.env["mail.mail"].search(
            [("model", "=", record._name), ("res_id", "=", record.id), ("recipient_ids", "in", self.debtor.ids)]
        )

    def _reminded_invoices(self, run):
        return run.reminder_ids.line_ids.move_id

    def _pause(self, invoice):
        """Why a run today leaves ``invoice`` out of the reminders (a ``dunning.run.exception`` reason), or None."""
        run = self.env["dunning.run"].create({"mode": "review"})
        return {row["move_id"]: row["pause"] for row in run._select_invoices()}.get(invoice.id)

    # === PROMISES === #

    def test_portal_promise_pauses_its_invoices_then_breaks(self):
        page = html.fromstring(
            self.url_open(f"{self._statement_path()}/promise?invoice_ids={self.invoice_old.id}").content
        )
        self.assertEqual(page.xpath("//input[@name='invoice_ids'][@checked]/@value"), [str(self.invoice_old.id)])
        response = self._promise(self.invoice_old, in_days(10), "60.50")
        self.assertEqual(response.status_code, 303)
        self.assertIn("notice=promised", response.headers["Location"])
        promise = self.env["dunning.promise"].search([("move_ids", "in", self.invoice_old.ids)])
        self.assertRecordValues(
            promise, [{"source": "portal", "state": "pending", "amount": 60.5, "date_promised": in_days(10)}]
        )
        self.assertIn("Promise to pay", self.url_open(self._statement_path()).text)
        self.assertEqual(self._pause(self.invoice_old), "promise")
        self.assertIsNone(self._pause(self.invoice_mid), "the other invoices are dunned")
        with freeze_time(in_days(11)):
            broken = promise._settle_pending()
            self.assertEqual(broken, promise)
            self.assertEqual(promise.state, "broken")
            self.assertFalse(promise.activity_ids.user_id.share, "the call goes to a collector, not the visitor")
            run = self._run()
        self.assertIn(self.invoice_old, self._reminded_invoices(run), "a broken promise escalates")
        self.assertTrue(promise.escalated)

    def test_promise_limits(self):
        response = self._promise(self.invoice_old, in_days(31), 100.0)
        self.assertEqual(response.status_code, 200)
        self.assertIn("field Promised date", response.text)
        response = self._promise(self.invoice_old, in_days(5), 100.01)
        self.assertIn("at most", response.text)
        self.assertIn("field Amount", response.text)
        response = self._promise(self.invoice_old, in_days(5), 0)
        self.assertIn("field Amount", response.text)
        self.assertFalse(self.env["dunning.promise"].search([]))
        self.assertEqual(self._promise(self.invoice_old, in_days(30), 100.0).status_code, 303)
        response = self._promise(self.invoice_old | self.invoice_mid, in_days(5), 50.0)
        self.assertIn("already under a promise", response.text)
        response = self._claim(self.invoice_old, 100.0, "BANK 1234")
        self.assertIn("already under a promise", response.text, "one open promise or claim per invoice")
        self.assertEqual(len(self.env["dunning.promise"].search([])), 1)
        self.assertFalse(self._claims(self.invoice_old))

    # === PAYMENTS CLAIMED === #

    def test_claim_finds_its_statement_line_and_one_click_confirms_it(self):
        line = self._statement_line("VIR SEPA 8812 BANK ACME", 100.0)
        self._statement_line("VIR SEPA 9999 BANK ACME", 100.0)  # same amount, another reference
        response = self._claim(
            self.invoice_old, 100.0, "vir sepa-8812", files={"proof": ("receipt.pdf", PDF, "application/pdf")}
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("notice=claimed", response.headers["Location"])
        claim = self._claims(self.invoice_old)
        self.assertRecordValues(claim, [{"state": "proposed", "statement_line_id": line.id, "amount": 100.0}])
        activity = claim.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertFalse(activity.user_id.share)
        self.assertIn("Confirm and reconcile", str(activity.note))
        proof = self.env["ir.attachment"].search([("res_model", "=", claim._name), ("res_id", "=", claim.id)])
        self.assertEqual(proof.raw, PDF)
        self.assertEqual(self._pause(self.invoice_old), "payment_claim", "paused until confirmed")

        claim.action_confirm_payment()
        self.assertEqual(claim.state, "confirmed")
        self.assertTrue(line.is_reconciled)
        self.assertIn(self.invoice_old.payment_state, ("paid", "in_payment"))
        self.assertFalse(claim.activity_ids)
        mail = self._mails(claim)
        self.assertEqual(mail.recipient_ids, self.debtor)
        self.assertIn("we found your payment", mail.subject)
        self.assertIn("received, thank you", self.url_open(self._statement_path()).text)

    def test_claim_found_by_the_matcher_when_its_bank_line_arrives(self):
        self._claim(self.invoice_mid, 250.0, "My bank")
        claim = self._claims(self.invoice_mid)
        self.assertEqual(claim.state, "searching")
        # The invoice's number in the label: the module's matcher recognises it, whatever the debtor wrote.
        line = self._statement_line(f"Payment {self.invoice_mid.name}", 250.0)
        self.env["dunning.payment.claim"]._cron_dunning_payment_claims()
        self.assertRecordValues(claim, [{"state": "proposed", "statement_line_id": line.id}])

    def test_claim_confirmed_when_the_auto_reconciliation_pays_its_invoice(self):
        self.bank.dunning_auto_reconcile_threshold = 90
        self._claim(self.invoice_new, 75.0, "Transfer from my bank")
        claim = self._claims(self.invoice_new)
        self.assertEqual(claim.state, "searching")
        line = self._statement_line(f"Invoice {self.invoice_new.name}", 75.0)
        # One call of the auto-reconcile cron; its commit point is recorded instead of committing the test.
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
            self.env["account.bank.statement.line"]._cron_dunning_auto_reconcile()
        self.assertTrue(line.is_reconciled)
        self.assertEqual(claim.state, "confirmed", "the claim looked again once the bank lines were matched")
        self.assertIn("we found your payment", self._mails(claim).subject)

    def test_claim_not_found_pauses_then_resumes_dunning(self):
        self._statement_line("VIR SEPA 8812", 249.0)  # not the amount claimed
        response = self._claim(self.invoice_mid, 250.0, "VIR SEPA 8812")
        self.assertEqual(response.status_code, 303)
        claim = self._claims(self.invoice_mid)
        self.assertRecordValues(claim, [{"state": "searching", "pause_until": in_days(10)}])
        task = claim.activity_ids
        self.assertEqual(task.date_deadline, in_days(10))
        self.assertFalse(task.user_id.share, "the collector looks for the payment")
        self.assertIn("we are looking for it", self.url_open(self._statement_path()).text)
        self.assertEqual(self._pause(self.invoice_mid), "payment_claim")
        with freeze_time(in_days(9)):
            self.env["dunning.payment.claim"]._cron_dunning_payment_claims()
            self.assertEqual(claim.state, "searching", "the pause is not over")
            self.assertEqual(self._pause(self.invoice_mid), "payment_claim")
        with freeze_time(in_days(10)):
            self.env["dunning.payment.claim"]._cron_dunning_payment_claims()
            self.assertEqual(claim.state, "not_found")
            self.assertEqual(claim.activity_ids.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
            self.assertIn("could not find your payment", self._mails(claim).subject)
            self.assertIsNone(self._pause(self.invoice_mid), "dunning resumes")
            self.assertIn(self.invoice_mid, self._reminded_invoices(self._run()))

    def test_claim_limits(self):
        response = self._claim(
            self.invoice_old, 100.0, "BANK", files={"proof": ("big.pdf", OVERSIZED_PDF, "application/pdf")}
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn("larger than 5 MB", response.text)
        response = self._claim(
            self.invoice_old, 100.0, "BANK", files={"proof": ("page.html", b"<html>x</html>", "application/pdf")}
        )
        self.assertIn("not a PDF or an image", response.text)
        self.assertIn("field Amount", self._claim(self.invoice_old, 100.01, "BANK").text)
        self.assertIn("field Paid on", self._claim(self.invoice_old, 100.0, "BANK", date_paid=in_days(1)).text)
        self.assertIn("field Reference or bank", self._claim(self.invoice_old, 100.0, " ").text)
        self.assertFalse(self._claims(self.invoice_old))

    def test_wrong_token_or_invoice_is_not_found(self):
        wrong = self._statement_path()[:-1] + ("0" if self._statement_path()[-1] != "0" else "1")
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open(f"{wrong}/promise").status_code, 404)
            self.assertEqual(self.url_open(f"{wrong}/paid").status_code, 404)
            self.assertEqual(self._promise(self.invoice_old, in_days(5), 10.0).status_code, 303)
            response = self._post(
                "paid",
                {
                    "invoice_ids": self.invoice_mid.ids,
                    "date_paid": "2026-01-01",
                    "amount": "1",
                    "payment_reference": "X",
                },
                path=wrong,
            )
            self.assertEqual(response.status_code, 404)
            self.assertEqual(self._claim(self.stranger_invoice, 10.0, "BANK").status_code, 404)
            page = self.url_open(f"{self._statement_path()}/paid?invoice_ids={self.stranger_invoice.id}")
            self.assertEqual(page.status_code, 404)
        self.assertFalse(self.env["dunning.payment.claim"].search([]))

    # === DISPUTE OUTCOMES === #

    def test_dispute_outcomes_reach_the_debtor(self):
        Dispute = self.env["dunning.dispute"]
        accepted = Dispute._open_on_invoice(self.debtor, self.company, self.invoice_old, "wrong_amount")
        rejected = Dispute._open_on_invoice(self.debtor, self.company, self.invoice_mid, "defective")
        self.assertEqual(accepted.amount_disputed, 100.0, "the invoice's residual by default")
        accepted.amount_disputed = 40.0
        accepted.action_accept_with_credit_note()
        credit_note = accepted.credit_note_id
        self.assertRecordValues(
            credit_note,
            [
                {
                    "move_type": "out_refund",
                    "state": "draft",
                    "amount_total": 40.0,
                    "reversed_entry_id": self.invoice_old.id,
                    "partner_id": self.debtor.id,
                }
            ],
        )
        mail = self._mails(accepted)
        self.assertEqual(mail.recipient_ids, self.debtor)
        self.assertIn("is accepted", mail.subject)
        self.assertIn("credit note", mail.body_html)
        rejected.action_reject()
        mail = self._mails(rejected)
        self.assertEqual(mail.recipient_ids, self.debtor)
        self.assertIn("owed as", mail.body_html)
        self.assertFalse(rejected.credit_note_id)
