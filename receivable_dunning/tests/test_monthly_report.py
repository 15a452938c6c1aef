import base64
import io
from datetime import date, datetime
from unittest.mock import patch

import openpyxl
from freezegun import freeze_time

from odoo import Command
from odoo.tests import tagged
from odoo.tools import mute_logger
from odoo.tools.misc import formatLang

from .engine_common import DunningEngineCommon
from .test_letters import pdf_pages

# The reported month: May 2026, its figures taken on its last day.
MONTH = date(2026, 5, 1)
MONTH_END = date(2026, 5, 31)
BUCKET_COLUMNS = ("not_due", "1_30", "31_60", "61_90", "91_120", "over_120")


@tagged("post_install", "-at_install")
class TestMonthlyReport(DunningEngineCommon):
    """A month of receivables built by hand, then its report: the workbook's figures against the report models and
    the hand-computed numbers, a real PDF, the monthly email to each company's recipients.

    Open at 31 May 2026 (invoices without tax, the company's currency):

    ============  ======  ==========  ==========  =====================================  ================
    invoice       amount  invoiced    due         paid                                   open at 31 May
    ============  ======  ==========  ==========  =====================================  ================
    One / A1      1,000   2026-03-01  2026-03-31  400 on 05-10, 600 on 06-15             600 (61 days)
    One / A2        500   2026-05-01  2026-05-20  -                                      500 (11 days)
    One / A3        250   2026-03-16  2026-04-15  -                                      250 (46 days)
    One / A4        150   2026-02-20  2026-03-22  150 on 05-20                           0
    Two / B1      2,000   2026-05-15  2026-06-14  -                                      2,000 (not due)
    Two / B2        300   2025-12-01  2025-12-31  -                                      300 (151 days)
    Two / B3        700   2026-03-21  2026-04-20  700 on 05-25                           0
    Two / B4        400   2026-02-15  2026-03-17  400 on 04-20                           0
    ============  ======  ==========  ==========  =====================================  ================

    Reminders sent in May: level 1 by email for A1 (05-05), B3 (05-10) and A3 (05-25); level 2 by SMS for A1
    (05-20). Recovered by 31 May (money paid after a reminder, before the invoice's next one): level 1 400 (A1,
    before its level 2) + 700 (B3) = 1,100; level 2 nothing (A1's 600 came in June). Paid in full within 30 days
    among the reminders whose 30 days ended in May (sent in April): level 1 by email for B4 (04-08, paid in 12
    days) and A4 (04-10, paid in 40 days): 50 %; no level 2 reminder then.

    Promises due in May: kept 200 (One, 05-15); broken 300 (Two, 05-28) and 150 (Two, 05-30); one still pending
    and one kept due in June are not the month's.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # wkhtmltopdf loads the report's styles from Odoo's HTTP server: serve them with the test's cursor.
        cls.registry_enter_test_mode_cls()
        cls.Monthly = cls.env["dunning.monthly.report"]
        cls.debtor_two = cls._create_debtor("Debtor Two", email="debtor.two@example.com")
        cls.b4 = cls._invoice(cls.debtor_two, 400, date(2026, 2, 15), date(2026, 3, 17))
        cls.a4 = cls._invoice(cls.debtor, 150, date(2026, 2, 20), date(2026, 3, 22))
        cls.a1 = cls._invoice(cls.debtor, 1000, date(2026, 3, 1), date(2026, 3, 31))
        cls.a3 = cls._invoice(cls.debtor, 250, date(2026, 3, 16), date(2026, 4, 15))
        cls.b3 = cls._invoice(cls.debtor_two, 700, date(2026, 3, 21), date(2026, 4, 20))
        cls.a2 = cls._invoice(cls.debtor, 500, date(2026, 5, 1), date(2026, 5, 20))
        cls.b1 = cls._invoice(cls.debtor_two, 2000, date(2026, 5, 15), date(2026, 6, 14))
        cls.b2 = cls._invoice(cls.debtor_two, 300, date(2025, 12, 1), date(2025, 12, 31))
        cls._send_reminder(cls.level_1, "email", cls.b4, datetime(2026, 4, 8, 9, 0))
        cls._send_reminder(cls.level_1, "email", cls.a4, datetime(2026, 4, 10, 9, 0))
        cls._send_reminder(cls.level_1, "email", cls.a1, datetime(2026, 5, 5, 9, 0))
        cls._send_reminder(cls.level_1, "email", cls.b3, datetime(2026, 5, 10, 9, 0))
        cls._send_reminder(cls.level_2, "sms", cls.a1, datetime(2026, 5, 20, 9, 0))
        cls._send_reminder(cls.level_1, "email", cls.a3, datetime(2026, 5, 25, 9, 0))
        cls._pay(cls.b4, 400, date(2026, 4, 20))
        cls._pay(cls.a1, 400, date(2026, 5, 10))
        cls._pay(cls.a4, 150, date(2026, 5, 20))
        cls._pay(cls.b3, 700, date(2026, 5, 25))
        cls._pay(cls.a1, 600, date(2026, 6, 15))
        cls._promise(cls.a2, 200, date(2026, 5, 15), "kept")
        cls._promise(cls.b2, 300, date(2026, 5, 28), "broken")
        cls._promise(cls.b1, 150, date(2026, 5, 30), "broken")
        cls._promise(cls.a3, 100, date(2026, 5, 31), "pending")
        cls._promise(cls.a3, 50, date(2026, 6, 5), "kept")

    # === DATA SET === #

    @classmethod
    def _invoice(cls, partner, amount, invoice_date, date_due, company=None):
        company = company or cls.company
        invoice = (
            cls.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "invoice_date": invoice_date,
                    "invoice_line_ids": [
                        Command.create({"name": "Service", "quantity": 1, "price_unit": amount, "tax_ids": []})
                    ],
                }
            )
        )
        invoice.action_post()
        invoice.invoice_date_due = date_due
        return invoice

    @classmethod
    def _pay(cls, invoice, amount, payment_date):
        cls.env["account.payment.register"].with_context(active_model="account.move", active_ids=invoice.ids).create(
            {"amount": amount, "payment_date": payment_date, "payment_difference_handling": "open"}
        )._create_payments()

    @classmethod
    def _send_reminder(cls, level, channel, invoice, sent_at):
        reminder = cls.env["dunning.reminder"].create(
            {
                "partner_id": invoice.commercial_partner_id.id,
                "company_id": invoice.company_id.id,
                "level_id": level.id,
                "channel": channel,
                "date_scheduled": sent_at.date(),
                "line_ids": [
                    Command.create(
                        {
                            "move_id": invoice.id,
                            "level_id": level.id,
                            "is_escalation": True,
                            "date_due": invoice.invoice_date_due,
                            "amount_residual": invoice.amount_residual,
                        }
                    )
                ],
            }
        )
        reminder.write({"state": "sent", "date_done": sent_at})
        return reminder

    @classmethod
    def _promise(cls, invoice, amount, date_promised, state):
        promise = cls.env["dunning.promise"].create(
            {
                "partner_id": invoice.commercial_partner_id.id,
                "company_id": invoice.company_id.id,
                "move_ids": [Command.set(invoice.ids)],
                "amount": amount,
                "date_promised": date_promised,
            }
        )
        promise.state = state
        return promise

    # === HELPERS === #

    def _workbook(self, month=MONTH, company=None):
        raw = self.Monthly._render_xlsx(company or self.company, month)
        return openpyxl.load_workbook(io.BytesIO(raw), data_only=True)

    @staticmethod
    def _rows(sheet):
        """The data rows of a sheet (after its title and header), as lists of values."""
        return [list(row) for row in sheet.iter_rows(min_row=4, values_only=True)]

    @staticmethod
    def _row(sheet, label):
        """The values of the row whose first cell is ``label``, without that cell."""
        return next(row[1:] for row in sheet.iter_rows(min_row=4, values_only=True) if row[0] == label)

    def _at_month_end(self, model):
        return self.env[model].with_context(dunning_report_date=MONTH_END)

    def _sent_in_month_domain(self):
        return [
            ("company_id", "=", self.company.id),
            ("date_sent", ">=", MONTH),
            ("date_sent", "<", date(2026, 6, 1)),
        ]

    # === TESTS === #

    def test_xlsx_ageing_by_debtor_and_totals(self):
        sheet = self._workbook()["Ageing"]
        self.assertEqual(self._row(sheet, "Debtor One"), (0, 500, 250, 600, 0, 0, 1350))
        self.assertEqual(self._row(sheet, "Debtor Two"), (2000, 0, 0, 0, 0, 300, 2300))
        total = self._row(sheet, "Total")
        self.assertEqual(total, (2000, 500, 250, 600, 0, 300, 3650))
        [model_totals] = self._at_month_end("dunning.report.ageing")._read_group(
            [("company_id", "=", self.company.id)],
            [],
            [f"amount_{bucket}:sum" for bucket in BUCKET_COLUMNS] + ["amount_residual:sum"],
        )
        self.assertEqual(total, tuple(model_totals))
        self.assertIn("amounts in USD", sheet["A1"].value)

    def test_xlsx_dso_by_month(self):
        sheet = self._workbook()["DSO"]
        rows = self._rows(sheet)
        self.assertLessEqual(len(rows), 12)
        may = next(row for row in rows if row[0].date() == MONTH)
        # Credit sales of May: A2 and B1; receivables at its end: the ageing's total.
        self.assertEqual(may[1:3], [2500, 3650])
        [dso] = self._at_month_end("dunning.report.dso").search_fetch(
            [("company_id", "=", self.company.id), ("month", "=", MONTH)],
            ["sales", "receivables", "dso_standard", "dso_countback", "cei"],
        )
        self.assertEqual(may[1:3], [dso.sales, dso.receivables])
        self.assertAlmostEqual(may[5], dso.dso_standard)
        self.assertAlmostEqual(may[6], dso.dso_countback)
        self.assertAlmostEqual(may[9], dso.cei)
        summary = self._workbook()["Summary"]
        self.assertAlmostEqual(self._row(summary, "DSO (count-back method)")[0], dso.dso_countback)

    def test_xlsx_effectiveness_and_recovered_by_level(self):
        workbook = self._workbook()
        sheet = workbook["Effectiveness"]
        rows = {(row[1], row[2]): row[3:] for row in self._rows(sheet) if row[0] != "Total"}
        # (count, reminded, paid 7, paid 14, paid 30, paid in full within 30 days, recovered)
        self.assertEqual(rows[("Level 1", "Email")], [3, 1950, 400, 400, 1100, 1, 1100])
        self.assertEqual(rows[("Level 2", "SMS")], [1, 600, 0, 0, 0, 0, 0])
        total = self._row(sheet, "Total")
        [model_totals] = self._at_month_end("dunning.report.effectiveness")._read_group(
            self._sent_in_month_domain(),
            [],
            ["__count", "amount_reminded:sum", "paid_30_count:sum", "amount_recovered:sum"],
        )
        self.assertEqual((total[2], total[3], total[7], total[8]), tuple(model_totals))
        self.assertEqual((total[2], total[3], total[8]), (4, 2550, 1100))
        levels = self._rows(workbook["Levels"])
        self.assertEqual(levels, [["Level 1", 3, 1100, 50], ["Level 2", 1, 0, None], ["Total", 4, 1100, None]])

    def test_xlsx_promises_of_the_month(self):
        sheet = self._workbook()["Promises"]
        promises = [row[:4] for row in self._rows(sheet) if not str(row[0]).startswith("Total")]
        self.assertEqual(
            [(name, day.date(), state, amount) for name, day, state, amount in promises],
            [
                ("Debtor One", date(2026, 5, 15), "Kept", 200),
                ("Debtor Two", date(2026, 5, 28), "Broken", 300),
                ("Debtor Two", date(2026, 5, 30), "Broken", 150),
            ],
        )
        self.assertEqual(self._row(sheet, "Total Kept")[1:4], (1, 200, "USD"))
        self.assertEqual(self._row(sheet, "Total Broken")[1:4], (2, 450, "USD"))
        summary = self._workbook()["Summary"]
        self.assertEqual(self._row(summary, "Promises broken")[0], 2)
        self.assertEqual(self._row(summary, "Amount of promises kept")[0], 200)

    def test_xlsx_cash_forecast(self):
        sheet = self._workbook()["Cash forecast"]
        rows = self._rows(sheet)
        total = self._row(sheet, "Total")
        self.assertEqual(sum(row[-1] for row in rows if row[0] != "Total"), total[-1])
        [[model_total]] = self._at_month_end("dunning.report.cash.forecast")._read_group(
            [("company_id", "=", self.company.id)], [], ["amount:sum"]
        )
        self.assertAlmostEqual(total[-1], model_total)
        # The forecast counts today's open amounts (its arrangements are today's): A2, A3, B1 and B2.
        self.assertEqual(total[-1], 3050)

    def test_pdf_rendered_with_dso(self):
        figures = self.Monthly._figures(self.company, MONTH)
        with self.allow_pdf_render():
            content, report_type = self.Monthly.with_context(force_report_rendering=True)._render_pdf(
                self.company, MONTH
            )
        self.assertEqual(report_type, "pdf")
        self.assertTrue(content.startswith(b"%PDF"))
        text = " ".join(pdf_pages(content))
        self.assertIn("Receivables Report: May 2026", text)
        self.assertIn("Amounts in USD", text)
        self.assertIn("DSO (count-back method)", text)
        self.assertIn(formatLang(self.env, figures["dso"]["dso_countback"], digits=1), text)

    def test_pdf_charts_are_inline_svg(self):
        content, report_type = self.Monthly._render_pdf(self.company, MONTH)
        self.assertEqual(report_type, "html")
        html = content.decode()
        self.assertEqual(html.count("<svg "), 3)
        self.assertNotIn("<script", html.split("<body", 1)[1])

    def test_month_without_data(self):
        """January 2025: nothing invoiced yet, an empty but valid report."""
        workbook = self._workbook(date(2025, 1, 1))
        self.assertEqual(self._row(workbook["Ageing"], "Total"), (0, 0, 0, 0, 0, 0, 0))
        self.assertEqual([row[0] for row in self._rows(workbook["Effectiveness"])], ["Total"])
        self.assertEqual(self._row(workbook["Promises"], "Total Kept")[1:3], (0, 0))
        self.assertEqual(self._row(workbook["Summary"], "Receivables at the month's end"), (0,))
        content, _report_type = self.Monthly._render_pdf(self.company, date(2025, 1, 1))
        self.assertIn("No reminder was sent in the month.", content.decode())

    # === EMAIL === #

    def _run_cron(self, today=date(2026, 6, 1)):
        with freeze_time(today), patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
            self.Monthly._cron_send()

    def _report_mails(self, companies):
        return self.env["mail.mail"].search(
            [("model", "=", "res.company"), ("res_id", "in", companies.ids)], order="res_id, id"
        )

    def test_cron_emails_each_company_its_recipients(self):
        controller = self._create_user("controller", "account.group_account_user")
        self.company.dunning_report_user_ids = controller
        company_b = self.setup_other_company(name="Company B")["company"]
        manager_b = self._create_user("manager_b", "account.group_account_manager", company=company_b)
        accountant_b = self._create_user("accountant_b", "account.group_account_user", company=company_b)
        self._run_cron()
        mails = self._report_mails(self.company | company_b)
        self.assertEqual(mails.mapped("res_id"), (self.company | company_b).ids)
        mail_a, mail_b = mails
        self.assertEqual(mail_a.recipient_ids, controller.partner_id)
        self.assertIn(manager_b.partner_id, mail_b.recipient_ids)
        self.assertNotIn(accountant_b.partner_id, mail_b.recipient_ids)
        self.assertEqual(mail_a.subject, f"{self.company.name}: receivables report of May 2026")
        self.assertEqual(
            sorted(mail_a.attachment_ids.mapped("name")),
            [f"Receivables 2026-05 {self.company.name}.html", f"Receivables 2026-05 {self.company.name}.xlsx"],
        )
        self.assertEqual(self.company.dunning_report_sent_month, MONTH)
        # Delivered with both files.
        with self.smtp_sink() as sink:
            self._flush_mail_queue()
        [message] = sink.messages_to(controller.email)
        self.assertEqual(
            sorted(sink.attachment_names(message)),
            [f"Receivables 2026-05 {self.company.name}.html", f"Receivables 2026-05 {self.company.name}.xlsx"],
        )
        xlsx = next(part for part in message.iter_attachments() if part.get_filename().endswith(".xlsx"))
        workbook = openpyxl.load_workbook(io.BytesIO(xlsx.get_content()))
        self.assertEqual(self._row(workbook["Ageing"], "Total")[-1], 3650)
        # Run again the same month (a restarted cron): nothing is sent twice; June's run sends May's no more.
        self._run_cron(date(2026, 6, 2))
        self.assertFalse(self._report_mails(self.company | company_b).filtered(lambda mail: mail.state == "outgoing"))

    def test_failing_company_spares_the_others(self):
        self.company.dunning_report_user_ids = self._create_user("controller", "account.group_account_user")
        company_b = self.setup_other_company(name="Company B")["company"]
        self._create_user("manager_b", "account.group_account_manager", company=company_b)
        render_xlsx = type(self.Monthly)._render_xlsx

        def fail_for_company_b(report, company, month):
            if company == company_b:
                raise ValueError("no workbook")
            return render_xlsx(report, company, month)

        with (
            patch.object(type(self.Monthly), "_render_xlsx", fail_for_company_b),
            mute_logger("odoo.addons.receivable_dunning.models.dunning_monthly_report"),
        ):
            self._run_cron()
        self.assertEqual(len(self._report_mails(self.company)), 1)
        self.assertFalse(self._report_mails(company_b))
        self.assertEqual(self.company.dunning_report_sent_month, MONTH)
        self.assertFalse(company_b.dunning_report_sent_month)

    def test_switch_off_sends_nothing(self):
        self.company.dunning_report_enabled = False
        self._run_cron()
        self.assertFalse(self._report_mails(self.company))

    # === WIZARD === #

    def test_wizard_downloads_and_sends_any_month(self):
        wizard = self.env["dunning.monthly.report.wizard"].create({"company_id": self.company.id, "month": MONTH})
        action = wizard.action_download_pdf()
        self.assertEqual(action["report_name"], "receivable_dunning.report_dunning_monthly")
        self.assertEqual(action["data"], {"month": "2026-05-01"})
        action = wizard.action_download_xlsx()
        self.assertIn(f"/web/content/dunning.monthly.report.wizard/{wizard.id}/xlsx_file/", action["url"])
        workbook = openpyxl.load_workbook(io.BytesIO(base64.b64decode(wizard.xlsx_file)))
        self.assertEqual(self._row(workbook["Ageing"], "Total")[-1], 3650)
        self.company.dunning_report_user_ids = self._create_user("controller", "account.group_account_user")
        wizard.action_send()
        self.assertEqual(len(self._report_mails(self.company)), 1)
        # Sent on demand: the monthly email still goes.
        self.assertFalse(self.company.dunning_report_sent_month)
