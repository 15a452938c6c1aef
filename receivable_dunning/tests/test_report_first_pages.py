from datetime import date

from lxml import etree

from odoo.tests import tagged

from .test_report_ageing import ReportCommon

PAST = date(2026, 6, 30)
AGES = ["not_due", "1_30", "31_60", "61_90", "91_120", "over_120", "residual"]


@tagged("post_install", "-at_install")
class TestReportFirstPages(ReportCommon):
    """The aged receivables open on a pivot by collector (one row per collector, the debtors one click away), the
    layout that stays fast with tens of thousands of debtors.

    At PAST (30 June 2026), in the company's currency:

    ========  =========  ==========  ==========  ======  =======  ===============================
    debtor    collector  dated       due         amount  bucket   row
    ========  =========  ==========  ==========  ======  =======  ===============================
    one       collector  2026-06-10  2026-07-10   1,000  not due  the debtor's collector
    one       collector  2026-04-01  2026-05-01   3,000  31-60    the debtor's collector
    one       collector  2026-06-20  2026-06-20    -700  1-30     the debtor's collector (credit)
    two       none       2026-05-21  2026-06-20     400  1-30     the invoice's salesperson
    ========  =========  ==========  ==========  ======  =======  ===============================
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector = cls._create_collector("first_page_collector")
        cls.salesperson = cls._create_user("first_page_salesperson", "receivable_dunning.group_dunning_user")
        cls.debtor_two = cls._create_debtor("Debtor Two", email="debtor.two@example.com")
        cls._invoice(1000, date(2026, 6, 10), date(2026, 7, 10))
        cls._invoice(3000, date(2026, 4, 1), date(2026, 5, 1))
        cls._invoice(700, date(2026, 6, 20), date(2026, 6, 20), move_type="out_refund")
        invoice_two = cls._invoice(400, date(2026, 5, 21), date(2026, 6, 20), partner=cls.debtor_two)
        invoice_two.invoice_user_id = cls.salesperson

    def test_ageing_pivot_opens_by_collector(self):
        action = self.env["dunning.report.ageing"].action_open_at_date(PAST)
        Report = self.env[action["res_model"]].with_context(**action["context"])
        self.assertEqual(action["view_mode"].split(",")[0], "pivot", "the menu opens the pivot")
        arch = etree.fromstring(Report.get_views([(False, "pivot")])["views"]["pivot"]["arch"])
        self.assertEqual([field.get("name") for field in arch.xpath("//field[@type='row']")], ["collector_id"])
        self.assertFalse(arch.xpath("//field[@type='col']"), "the ages are measures, not column groups")

        # The pivot's first call: the total and one group per collector.
        total, by_collector = Report.formatted_read_grouping_sets(
            [("company_id", "=", self.company.id)], [[], ["collector_id"]], [f"amount_{age}:sum" for age in AGES]
        )
        expected_collector = [1000, -700, 3000, 0, 0, 0, 3300]
        expected_salesperson = [0, 400, 0, 0, 0, 0, 400]
        self.assertEqual(
            [total[0][f"amount_{age}:sum"] for age in AGES],
            [a + b for a, b in zip(expected_collector, expected_salesperson, strict=True)],
        )
        self.assertEqual(
            {group["collector_id"][0]: [group[f"amount_{age}:sum"] for age in AGES] for group in by_collector},
            {self.collector.id: expected_collector, self.salesperson.id: expected_salesperson},
        )

    def test_ageing_debtors_one_click_away(self):
        """A collector's row opened by debtor: one line per debtor, the ages in columns."""
        Report = self.env["dunning.report.ageing"].with_context(dunning_report_date=PAST)
        [by_debtor] = Report.formatted_read_grouping_sets(
            [("company_id", "=", self.company.id), ("collector_id", "=", self.collector.id)],
            [["partner_id"]],
            [f"amount_{age}:sum" for age in AGES],
        )
        self.assertEqual(
            [(group["partner_id"][0], group["amount_1_30:sum"], group["amount_residual:sum"]) for group in by_debtor],
            [(self.debtor.id, -700, 3300)],
        )
