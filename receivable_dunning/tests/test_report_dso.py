from datetime import date

from odoo.tests import tagged

from .test_report_ageing import ReportCommon

END_OF_MARCH = date(2026, 3, 31)


@tagged("post_install", "-at_install")
class TestReportDso(ReportCommon):
    """DSO, best possible DSO, ADBT and CEI of a textbook data set, computed by hand.

    Sales (no tax) and payments of the company:
    - invoice A 100,000 dated 2026-01-10, due 02-09: 50,000 paid on 02-20, the rest on 04-20 (after the report date);
    - invoice B 120,000 dated 2026-02-15, due 03-17: 20,000 paid on 03-25;
    - invoice C 150,000 dated 2026-03-10, due 04-09.

    Month ends:   receivables                        not due (current)
    - January:    100,000 (A)                        100,000 (A due 02-09)
    - February:   50,000 + 120,000 = 170,000         120,000 (B due 03-17)
    - March:      50,000 + 100,000 + 150,000 = 300,000   150,000 (C due 04-09)

    March (standard period: January 31 + February 28 + March 31 = 90 days, sales 370,000):
    - DSO = 300,000 / 370,000 x 90 = 72.97 days;
    - count-back: 300,000 - 150,000 (March, 31 days) = 150,000 - 120,000 (February, 28 days) = 30,000, which is
      30,000 / 100,000 of January's 31 days: 31 + 28 + 9.3 = 68.3 days;
    - best possible DSO = 150,000 / 370,000 x 90 = 36.49 days; ADBT = 72.97 - 36.49 = 36.49 days;
    - CEI = (170,000 + 150,000 - 300,000) / (170,000 + 150,000 - 150,000) x 100 = 20,000 / 170,000 = 11.76 %.
    February (December 31 + January 31 + February 28 = 90 days, sales 220,000):
    - DSO = 170,000 / 220,000 x 90 = 69.55; count-back = 28 + 50,000 / 100,000 x 31 = 43.5;
    - best possible = 120,000 / 220,000 x 90 = 49.09; ADBT = 20.45;
    - CEI = (100,000 + 120,000 - 170,000) / (100,000 + 120,000 - 120,000) x 100 = 50 %.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        invoice_a = cls._invoice(100000, date(2026, 1, 10), date(2026, 2, 9))
        invoice_b = cls._invoice(120000, date(2026, 2, 15), date(2026, 3, 17))
        cls._invoice(150000, date(2026, 3, 10), date(2026, 4, 9))
        cls._pay(invoice_a, 50000, date(2026, 2, 20))
        cls._pay(invoice_a, 50000, date(2026, 4, 20))
        cls._pay(invoice_b, 20000, date(2026, 3, 25))
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls._invoice(900, date(2026, 3, 5), date(2026, 4, 4), company=cls.company_b)
        cls.user_a = cls._create_user("dso_user_a", "receivable_dunning.group_dunning_user")

    def _months(self, report_date, company=None, user=None):
        """The report's rows at ``report_date`` of ``company``, by month."""
        self.env.invalidate_all()  # rows are numbered per report date: no value of another date in the cache
        report = self.env["dunning.report.dso"].with_context(dunning_report_date=report_date)
        # The report reads the environment's companies: the user's own, or the one asked for.
        report = report.with_user(user) if user else report.with_company(company or self.company)
        rows = report.search([("company_id", "=", (company or self.company).id)])
        return {row.month: row for row in rows}

    def assertMonth(self, row, expected):
        for field, value in expected.items():
            self.assertAlmostEqual(row[field], value, places=2, msg=f"{row.month} {field}")

    def test_textbook_dso(self):
        months = self._months(END_OF_MARCH)
        self.assertEqual(len(months), 24)
        self.assertEqual(min(months), date(2024, 4, 1))
        self.assertMonth(
            months[date(2026, 3, 1)],
            {
                "days": 31,
                "sales": 150000,
                "opening_receivables": 170000,
                "receivables": 300000,
                "current_receivables": 150000,
                "overdue_receivables": 150000,
                "dso_standard": 300000 / 370000 * 90,
                "dso_countback": 31 + 28 + 30000 / 100000 * 31,
                "best_possible_dso": 150000 / 370000 * 90,
                "adbt": 300000 / 370000 * 90 - 150000 / 370000 * 90,
                "cei": 20000 / 170000 * 100,
            },
        )
        self.assertMonth(
            months[date(2026, 2, 1)],
            {
                "days": 28,
                "sales": 120000,
                "opening_receivables": 100000,
                "receivables": 170000,
                "current_receivables": 120000,
                "overdue_receivables": 50000,
                "dso_standard": 170000 / 220000 * 90,
                "dso_countback": 28 + 50000 / 100000 * 31,
                "best_possible_dso": 120000 / 220000 * 90,
                "adbt": 50000 / 220000 * 90,
                "cei": 50,
            },
        )
        self.assertMonth(
            months[date(2026, 1, 1)],
            {"sales": 100000, "receivables": 100000, "current_receivables": 100000, "dso_countback": 31},
        )
        self.assertFalse(months[date(2025, 12, 1)].receivables)

    def test_current_month_measured_at_the_report_date(self):
        """On 20 March, B (due 03-17) is overdue and not yet partly paid; C is current."""
        march = self._months(date(2026, 3, 20))[date(2026, 3, 1)]
        self.assertMonth(
            march,
            {
                "days": 20,
                "receivables": 50000 + 120000 + 150000,
                "current_receivables": 150000,
                "dso_standard": 320000 / 370000 * (31 + 28 + 20),
                "dso_countback": 20 + 28 + 50000 / 100000 * 31,
            },
        )
        self.assertEqual(march.date_measured, date(2026, 3, 20))

    def test_companies_apart(self):
        march_b = self._months(END_OF_MARCH, company=self.company_b)[date(2026, 3, 1)]
        self.assertMonth(march_b, {"sales": 900, "receivables": 900, "current_receivables": 900, "dso_countback": 31})
        self.assertFalse(
            self._months(END_OF_MARCH, company=self.company_b, user=self.user_a), "company B's rows are hidden"
        )
        self.assertEqual(
            self._months(END_OF_MARCH, user=self.user_a)[date(2026, 3, 1)].receivables,
            300000,
            "company A's figures leave company B's invoice out",
        )
