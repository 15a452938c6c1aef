import base64
import io
from contextlib import contextmanager
from datetime import date
from unittest.mock import patch

from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools.pdf import PdfFileReader

from odoo.addons.base.models import ir_actions_report

from .common import on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 15)
TODAY = on(11, DUE)


def pdf_pages(raw):
    """The text of each page of a PDF, its whitespace collapsed to single spaces."""
    return [" ".join(page.extract_text().split()) for page in PdfFileReader(io.BytesIO(raw)).pages]


def pdf_fonts(raw):
    """The names of the fonts a PDF's pages write their text in."""
    return {
        str(font.get_object()["/BaseFont"])
        for page in PdfFileReader(io.BytesIO(raw)).pages
        for font in page["/Resources"].get("/Font", {}).values()
    }


@tagged("post_install", "-at_install")
class TestLetters(DunningEngineCommon):
    """Letters and invoice PDFs are rendered for a whole batch of reminders at once, then split per document."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # wkhtmltopdf loads the report's styles and fonts from Odoo's HTTP server: serve them with the test's cursor,
        # as an HttpCase does, rather than wait for the registry the test runner holds (its requests are let through
        # by allow_pdf_render()).
        cls.registry_enter_test_mode_cls()
        cls.level_1.write({"send_email": False, "send_letter": True})
        cls.debtors = (
            cls.debtor
            | cls._create_debtor("Bravo Supplies", email="bravo@example.com")
            | cls._create_debtor("Charlie Works", email="charlie@example.com")
        )
        for debtor in cls.debtors:
            cls._create_invoice_due(debtor, 1000.0, DUE)

    @contextmanager
    def _count_wkhtmltopdf(self):
        """Count the wkhtmltopdf processes started in the block, which still run."""
        with patch.object(
            ir_actions_report, "_run_wkhtmltopdf", wraps=ir_actions_report._run_wkhtmltopdf
        ) as run_wkhtmltopdf:
            yield run_wkhtmltopdf

    def _letter_reminders(self):
        with freeze_time(TODAY):
            run = self._run()
        reminders = run.reminder_ids.sorted("id")
        self.assertEqual(reminders.mapped("channel"), ["letter"] * 3)
        self.assertEqual(reminders.partner_id, self.debtors)
        return reminders

    def test_letter_is_attached(self):
        reminders = self._letter_reminders()
        with freeze_time(TODAY):
            self._dispatch()
        for reminder in reminders:
            self.assertEqual(reminder.state, "sent")
            self.assertIn(reminder.line_ids.move_id.name, reminder.letter_attachment_id.raw.decode())

    def test_letter_real_pdf(self):
        reminder = self._letter_reminders()[0]
        with self.allow_pdf_render(), freeze_time(TODAY):
            reminder.with_context(force_report_rendering=True)._dispatch()
        attachment = reminder.letter_attachment_id
        self.assertEqual(attachment.mimetype, "application/pdf")
        self.assertTrue(attachment.raw.startswith(b"%PDF"))
        self.assertIn(reminder.partner_id.name, " ".join(pdf_pages(attachment.raw)))
        # The report font (Lato) embedded as a font, not its web font drawn as paths or another font in its place.
        self.assertIn("/Lato-Regular", pdf_fonts(attachment.raw))

    def test_letters_of_a_batch_in_one_wkhtmltopdf_call(self):
        # The first debtor's letter lists enough invoices to take more than one page: the PDF cannot be split one
        # page per letter, the split goes by the documents' outline.
        for amount in range(40):
            self._create_invoice_due(self.debtor, 10.0 + amount, DUE)
        reminders = self._letter_reminders()
        with self.allow_pdf_render(), self._count_wkhtmltopdf() as run_wkhtmltopdf, freeze_time(TODAY):
            reminders.with_context(force_report_rendering=True)._send_letter()
        self.assertEqual(run_wkhtmltopdf.call_count, 1)
        letters = reminders.letter_attachment_id
        self.assertEqual(len(letters), 3)
        self.assertEqual(set(letters.mapped("mimetype")), {"application/pdf"})
        for reminder in reminders:
            pages = pdf_pages(reminder.letter_attachment_id.raw)
            text = " ".join(pages)
            self.assertIn(reminder.name, pages[0], "each letter starts on its first page")
            self.assertIn(reminder.partner_id.name, text)
            for other in reminders - reminder:
                self.assertNotIn(other.partner_id.name, text)
                self.assertNotIn(other.name, text)
            self.assertIn(reminder.letter_attachment_id, reminder.message_ids.attachment_ids)
        self.assertGreater(len(pdf_pages(reminders[0].letter_attachment_id.raw)), 1)
        self.assertEqual([len(pdf_pages(reminder.letter_attachment_id.raw)) for reminder in reminders[1:]], [1, 1])

    def test_letters_as_html_without_forced_rendering(self):
        reminders = self._letter_reminders()
        with self._count_wkhtmltopdf() as run_wkhtmltopdf, freeze_time(TODAY):
            letters = reminders._render_letters()
        self.assertEqual(run_wkhtmltopdf.call_count, 0)
        self.assertEqual(set(letters), set(reminders.ids))
        for reminder in reminders:
            letter = letters[reminder.id]
            self.assertEqual(
                (letter.mimetype, letter.res_model, letter.res_id), ("text/html", reminder._name, reminder.id)
            )
            html = letter.raw.decode()
            self.assertIn(reminder.partner_id.name, html)
            self.assertIn(reminder.line_ids.move_id.name, html)
            for other in reminders - reminder:
                self.assertNotIn(other.partner_id.name, html)

    def test_invoice_pdfs_stored_reused_and_missing_rendered_in_one_call(self):
        self.level_1.write({"send_letter": False, "send_email": True, "attach_invoices": True})
        stored = self.debtor.invoice_ids
        first, second = (
            self._create_invoice_due(self.debtor, 200.0, DUE),
            self._create_invoice_due(self.debtor, 300.0, DUE),
        )
        stored.invoice_pdf_report_file = base64.b64encode(b"%PDF-1.4 stored invoice")
        self.assertTrue(stored.invoice_pdf_report_id)
        with freeze_time(TODAY):
            self._run()
        reminder = self._reminders(channel="email")
        self.assertEqual(reminder.line_ids.move_id, stored | first | second)
        with self.allow_pdf_render(), self._count_wkhtmltopdf() as run_wkhtmltopdf, freeze_time(TODAY):
            attachments = reminder.with_context(force_report_rendering=True)._invoice_attachments()[reminder.id]
        self.assertEqual(run_wkhtmltopdf.call_count, 1, "the two invoices without a kept PDF rendered together")
        self.assertIn(stored.invoice_pdf_report_id, attachments, "the kept PDF itself, not a new rendering")
        rendered = attachments - stored.invoice_pdf_report_id
        self.assertEqual(len(rendered), 2)
        for invoice, other in ((first, second), (second, first)):
            pdf = rendered.filtered(
                lambda attachment, invoice=invoice: invoice.name.replace("/", "_") in attachment.name
            )
            self.assertEqual(
                (pdf.mimetype, pdf.res_model, pdf.res_id), ("application/pdf", reminder._name, reminder.id)
            )
            text = " ".join(pdf_pages(pdf.raw))
            self.assertIn(invoice.name, text)
            self.assertNotIn(other.name, text)

    def test_stored_invoice_pdf_is_not_rendered_again(self):
        self.level_1.write({"send_letter": False, "send_email": True, "attach_invoices": True})
        invoice = self.debtor.invoice_ids
        invoice.invoice_pdf_report_file = base64.b64encode(b"%PDF-1.4 stored invoice")
        with freeze_time(TODAY):
            self._run()
        reminder = self._reminders(channel="email")
        with self._count_wkhtmltopdf() as run_wkhtmltopdf, freeze_time(TODAY):
            attachments = reminder.with_context(force_report_rendering=True)._invoice_attachments()
        self.assertEqual(run_wkhtmltopdf.call_count, 0)
        self.assertEqual(attachments, {reminder.id: invoice.invoice_pdf_report_id})

    def test_invoices_and_letters_attached_to_emails_of_a_batch(self):
        self.level_1.write({"send_email": True, "attach_invoices": True})
        with freeze_time(TODAY):
            run = self._run()
        emails = run.reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self.assertEqual(len(emails), 3)
        with freeze_time(TODAY):
            attachments = emails._invoice_attachments()
        for reminder in emails:
            names = attachments[reminder.id].mapped("name")
            self.assertEqual(len(names), 2, names)
            self.assertIn(f"{reminder.name.replace('/', '-')}.html", names, "the letter of the email's level")
            self.assertIn(reminder.partner_id.name, " ".join(attachments[reminder.id].mapped(lambda a: a.raw.decode())))
