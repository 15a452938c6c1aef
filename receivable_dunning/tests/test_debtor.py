from odoo.tests import tagged

from .common import DunningCommon, days_ago, in_days


@tagged("post_install", "-at_install")
class TestDebtorStatus(DunningCommon):
    """Who is overdue and at which level: partner fields and the debtors view, with no_followup honoured."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.late = cls._create_invoice_due(cls.debtor, 100.0, days_ago(15))
        cls.later = cls._create_invoice_due(cls.debtor, 250.0, days_ago(40))
        cls.not_due = cls._create_invoice_due(cls.debtor, 1000.0, in_days(10))
        cls.late.dunning_level_id = cls.level_1
        cls.later.dunning_level_id = cls.level_3

    def _debtor_row(self):
        return self.env["dunning.debtor"].search([("partner_id", "=", self.debtor.id)])

    def test_overdue_amount_and_level(self):
        self.assertEqual(self.debtor.dunning_overdue_amount, 350.0)
        self.assertEqual(self.debtor.dunning_overdue_count, 2)
        self.assertEqual(self.debtor.dunning_level_id, self.level_3)
        row = self._debtor_row()
        self.assertEqual(len(row), 1)
        self.assertEqual(row.amount_overdue, 350.0)
        self.assertEqual(row.invoice_count, 2)
        self.assertEqual(row.max_days_overdue, 40)
        self.assertEqual(row.level_id, self.level_3)
        self.assertEqual(self.later.dunning_days_overdue, 40)
        self.assertEqual(self.not_due.dunning_days_overdue, -10)

    def test_opening_a_debtor_opens_its_contact(self):
        action = self._debtor_row().action_open_partner()
        self.assertEqual((action["res_model"], action["res_id"]), ("res.partner", self.debtor.id))
        self.assertEqual(action["views"], [(False, "form")])

    def test_contact_shows_its_company_figures(self):
        contact = self.env["res.partner"].create({"name": "Accounts", "parent_id": self.debtor.id})
        self.assertEqual(contact.dunning_overdue_amount, 350.0)

    def test_no_followup_excludes_the_invoice(self):
        self.later.no_followup = True
        self.env.invalidate_all()
        self.assertEqual(self.debtor.dunning_overdue_amount, 100.0)
        self.assertEqual(self._debtor_row().amount_overdue, 100.0)
        self.assertEqual(self._debtor_row().level_id, self.level_1)
        self.assertFalse(self.later.dunning_next_date)
        run = self.env["dunning.run"].create({"mode": "review"})
        self.assertNotIn(self.later.id, [row["move_id"] for row in run._select_invoices()])

    def test_paid_invoices_leave_the_list(self):
        self._register_payment(self.late | self.later, group_payment=False)
        self.env.invalidate_all()
        self.assertEqual(self.debtor.dunning_overdue_amount, 0.0)
        self.assertFalse(self.debtor.dunning_level_id)
        self.assertFalse(self._debtor_row())

    def test_kanban_shows_every_level(self):
        debtors = self.env["dunning.debtor"].with_context(read_group_expand=True)
        groups = debtors.web_read_group([], ["level_id"], ["amount_overdue:sum"])
        levels_shown = {group["level_id"][0] for group in groups["groups"] if group["level_id"]}
        self.assertTrue(set(self.policy.level_ids.ids) <= levels_shown, "empty levels are columns too")

    def test_pivot_sums_overdue_by_level(self):
        second = self.env["res.partner"].create({"name": "Second Debtor", "email": "second@example.com"})
        self._create_invoice_due(second, 80.0, days_ago(5)).dunning_level_id = self.level_1
        groups = self.env["dunning.debtor"].formatted_read_group(
            [("partner_id", "in", (self.debtor | second).ids)],
            ["level_id"],
            ["amount_overdue:sum", "invoice_count:sum", "max_days_overdue:max"],
            order="level_id",
        )
        by_level = {group["level_id"][0]: group for group in groups}
        self.assertEqual(by_level[self.level_3.id]["amount_overdue:sum"], 350.0)
        self.assertEqual(by_level[self.level_3.id]["invoice_count:sum"], 2)
        self.assertEqual(by_level[self.level_1.id]["amount_overdue:sum"], 80.0)
        self.assertEqual(by_level[self.level_1.id]["max_days_overdue:max"], 5)
