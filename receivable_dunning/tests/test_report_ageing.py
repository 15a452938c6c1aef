from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.tests import tagged

from .common import DunningCommon

# The report date in the past, and a later date, both after every invoice of the data set was due or not.
PAST = date(2026, 6, 30)
LATER = date(2026, 9, 30)


class ReportCommon(DunningCommon):
    """Invoices, credit notes and bank entries at explicit dates, for the receivables reports."""

    @classmethod
    def _invoice(cls, amount, invoice_date, date_due, move_type="out_invoice", company=None, partner=None):
        """A posted invoice (or credit note) of ``amount`` without tax dated ``invoice_date``, due on ``date_due``."""
        company = company or cls.company
        move = (
            cls.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": move_type,
                    "partner_id": (partner or cls.debtor).id,
                    "company_id": company.id,
                    "invoice_date": invoice_date,
                    "invoice_date_due": date_due,
                    "invoice_line_ids": [
                        Command.create({"name": "Service", "quantity": 1, "price_unit": amount, "tax_ids": []})
                    ],
                }
            )
        )
        move.action_post()
        move.invoice_date_due = date_due
        return move

    @classmethod
    def _pay(cls, invoice, amount, payment_date):
        """``amount`` of ``invoice`` paid on ``payment_date``, reconciled with it."""
        return (
            cls.env["account.payment.register"]
            .with_company(invoice.company_id)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"amount": amount, "payment_date": payment_date})
            ._create_payments()
        )

    @classmethod
    def _unmatched_receipt(cls, amount, entry_date):
        """Money received from the debtor on ``entry_date``, on its receivable and matched to no invoice."""
        bank = cls.company_data["default_journal_bank"]
        entry = cls.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": bank.id,
                "date": entry_date,
                "line_ids": [
                    Command.create({"account_id": bank.default_account_id.id, "debit": amount}),
                    Command.create(
                        {
                            "account_id": cls.debtor.property_account_receivable_id.id,
                            "partner_id": cls.debtor.id,
                            "credit": amount,
                            "date_maturity": entry_date,
                        }
                    ),
                ],
            }
        )
        entry.action_post()
        return entry


@tagged("post_install", "-at_install")
class TestReportAgeing(ReportCommon):
    """The ageing at a past date shows what was open then, whatever was paid since, in the buckets of then.

    The data set, in the company's currency, the debtor's items at PAST (30 June 2026) and LATER (30 September):

    ========  ==========  ==========  ======  ==========================  =======  ==========  =========  ==========
    item      dated       due         amount  paid                        at PAST  bucket      at LATER   bucket
    ========  ==========  ==========  ======  ==========================  =======  ==========  =========  ==========
    inv 1     2026-06-10  2026-07-10   1,000  all on 07-05                  1,000  not due     -
    inv 2     2026-05-16  2026-06-15   2,000  500 on 06-20, 1,500 on 08-01  1,500  15 d 1-30   -
    inv 3     2026-04-01  2026-05-01   3,000  1,000 on 08-15                3,000  60 d 31-60   2,000  152 d >120
    inv 4     2026-03-01  2026-04-01   4,000  -                             4,000  90 d 61-90   4,000  >120
    inv 5     2026-02-01  2026-03-02   5,000  -                             5,000  120 d 91-120 5,000  >120
    inv 6     2026-01-01  2026-01-31   6,000  -                             6,000  150 d >120   6,000  >120
    credit    2026-06-20  2026-06-20    -700  -                              -700  10 d 1-30     -700  102 d 91-120
    receipt   2026-06-25  2026-06-25    -250  matched to nothing             -250  5 d 1-30      -250  97 d 91-120
    inv 7     2026-07-20  2026-08-19     800  -                             -                     800  42 d 31-60
    ========  ==========  ==========  ======  ==========================  =======  ==========  =========  ==========

    Company B has one invoice of 900 due on 2026-06-01 (29 days at PAST, 121 at LATER) for the same debtor.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector = cls._create_collector("ageing_collector")
        invoices = (
            cls._invoice(1000, date(2026, 6, 10), date(2026, 7, 10)),
            cls._invoice(2000, date(2026, 5, 16), date(2026, 6, 15)),
            cls._invoice(3000, date(2026, 4, 1), date(2026, 5, 1)),
            cls._invoice(4000, date(2026, 3, 1), date(2026, 4, 1)),
            cls._invoice(5000, date(2026, 2, 1), date(2026, 3, 2)),
            cls._invoice(6000, date(2026, 1, 1), date(2026, 1, 31)),
        )
        cls.invoice_1, cls.invoice_2, cls.invoice_3, cls.invoice_4, cls.invoice_5, cls.invoice_6 = invoices
        cls._pay(cls.invoice_1, 1000, date(2026, 7, 5))
        cls._pay(cls.invoice_2, 500, date(2026, 6, 20))
        cls._pay(cls.invoice_2, 1500, date(2026, 8, 1))
        cls._pay(cls.invoice_3, 1000, date(2026, 8, 15))
        cls.credit_note = cls._invoice(700, date(2026, 6, 20), date(2026, 6, 20), move_type="out_refund")
        cls.receipt = cls._unmatched_receipt(250, date(2026, 6, 25))
        cls.invoice_7 = cls._invoice(800, date(2026, 7, 20), date(2026, 8, 19))
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.invoice_b = cls._invoice(900, date(2026, 5, 2), date(2026, 6, 1), company=cls.company_b)
        cls.user_a = cls._create_user("ageing_user_a", "receivable_dunning.group_dunning_user")

    def _buckets(self, report_date, company=None, user=None):
        """The debtor's open amounts at ``report_date`` per bucket column, from the report."""
        report = self.env["dunning.report.ageing"].with_context(dunning_report_date=report_date)
        # The report reads the environment's companies: the user's own, or the one asked for.
        report = report.with_user(user) if user else report.with_company(company or self.company)
        columns = ["not_due", "1_30", "31_60", "61_90", "91_120", "over_120", "overdue", "residual"]
        [sums] = report._read_group(
            [("partner_id", "=", self.debtor.id), ("company_id", "=", (company or self.company).id)],
            aggregates=[f"amount_{column}:sum" for column in columns],
        )
        return dict(zip(columns, sums, strict=True))

    def test_past_date_shows_what_was_open_then(self):
        self.assertPaymentsReconciled()
        self.assertEqual(
            self._buckets(PAST),
            {
                "not_due": 1000,
                "1_30": 1500 - 700 - 250,
                "31_60": 3000,
                "61_90": 4000,
                "91_120": 5000,
                "over_120": 6000,
                "overdue": 550 + 3000 + 4000 + 5000 + 6000,
                "residual": 19550,
            },
        )

    def test_later_date_shows_only_what_is_still_open(self):
        self.assertEqual(
            self._buckets(LATER),
            {
                "not_due": 0,
                "1_30": 0,
                "31_60": 800,
                "61_90": 0,
                "91_120": -700 - 250,
                "over_120": 2000 + 4000 + 5000 + 6000,
                "overdue": 16850,
                "residual": 16850,
            },
        )

    def test_rows_at_a_past_date(self):
        """One row per open item, with its days and bucket of then; the rows of later items do not exist yet."""
        rows = (
            self.env["dunning.report.ageing"]
            .with_context(dunning_report_date=PAST)
            .search_fetch(
                [("company_id", "=", self.company.id), ("partner_id", "=", self.debtor.id)],
                ["move_id", "days_overdue", "bucket", "amount_residual", "amount_residual_currency", "report_date"],
            )
        )
        self.assertEqual(
            {(row.move_id, row.days_overdue, row.bucket, row.amount_residual) for row in rows},
            {
                (self.invoice_1, -10, "not_due", 1000),
                (self.invoice_2, 15, "1_30", 1500),
                (self.invoice_3, 60, "31_60", 3000),
                (self.invoice_4, 90, "61_90", 4000),
                (self.invoice_5, 120, "91_120", 5000),
                (self.invoice_6, 150, "over_120", 6000),
                (self.credit_note, 10, "1_30", -700),
                (self.receipt, 5, "1_30", -250),
            },
        )
        self.assertEqual(rows.mapped("amount_residual"), rows.mapped("amount_residual_currency"))
        self.assertEqual(set(rows.mapped("report_date")), {PAST})
        self.assertEqual(rows.collector_id, self.collector, "the debtor's collector in the company")

    def test_today_by_default(self):
        with freeze_time(LATER):
            [[total]] = self.env["dunning.report.ageing"]._read_group(
                [("company_id", "=", self.company.id)], aggregates=["amount_residual:sum"]
            )
        self.assertEqual(total, 16850)

    def test_companies_apart(self):
        """Company B's invoice is aged in company B only, and hidden from a user of company A; without a collector
        in company B, the invoice's salesperson collects."""
        self.assertEqual(self._buckets(PAST, company=self.company_b)["1_30"], 900)
        self.assertEqual(self._buckets(LATER, company=self.company_b)["over_120"], 900)
        report = self.env["dunning.report.ageing"].with_context(dunning_report_date=PAST)
        self.assertEqual(
            report.with_user(self.user_a).search([("move_id", "=", self.invoice_b.id)]).ids,
            [],
            "a user of company A does not see company B's items",
        )
        self.assertEqual(
            report.with_company(self.company_b).search([("move_id", "=", self.invoice_b.id)]).collector_id,
            self.invoice_b.invoice_user_id,
        )
        self.assertEqual(self._buckets(PAST, user=self.user_a)["residual"], 19550)

    def test_drill_down_to_the_entries(self):
        rows = (
            self.env["dunning.report.ageing"]
            .with_context(dunning_report_date=PAST)
            .search([("company_id", "=", self.company.id), ("bucket", "=", "1_30")])
        )
        action = rows.action_open_moves()
        self.assertEqual(action["res_model"], "account.move")
        self.assertEqual(set(action["domain"][0][2]), {self.invoice_2.id, self.credit_note.id, self.receipt.id})

    def test_action_at_a_date(self):
        wizard = self.env["dunning.report.date.wizard"].create({"report": "ageing", "date": PAST})
        action = wizard.action_open()
        self.assertEqual(action["res_model"], "dunning.report.ageing")
        self.assertEqual(action["context"], {"dunning_report_date": "2026-06-30"})
        self.assertIn("2026-06-30", action["name"])

    def assertPaymentsReconciled(self):
        """The data set relies on the payments being matched with their invoices, as the register wizard does."""
        self.assertEqual(self.invoice_1.payment_state, "paid")
        self.assertEqual(self.invoice_3.amount_residual, 2000)
