from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import DunningCommon, days_ago


@tagged("post_install", "-at_install")
class TestMultiCompany(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.policy_b = cls.company_b.dunning_policy_id
        cls.invoice_a = cls._create_invoice_due(cls.debtor, 100.0, days_ago(40))
        cls.invoice_b = cls._create_invoice_due(cls.debtor, 200.0, days_ago(40), company=cls.company_b)
        cls.reminder_b = (
            cls.env["dunning.reminder"]
            .with_company(cls.company_b)
            .create(
                {
                    "company_id": cls.company_b.id,
                    "partner_id": cls.debtor.id,
                    "level_id": cls.policy_b.level_ids[0].id,
                    "line_ids": [(0, 0, {"move_id": cls.invoice_b.id, "level_id": cls.policy_b.level_ids[0].id})],
                }
            )
        )
        cls.user_a = cls._create_user("dunning_a", "receivable_dunning.group_dunning_user")

    def test_new_company_gets_its_own_default_policy(self):
        # sudo: the template belongs to the main company, outside the test user's companies.
        template = self.env.ref("receivable_dunning.dunning_policy_default").sudo()
        self.assertTrue(self.policy_b)
        self.assertEqual(self.policy_b.company_id, self.company_b)
        self.assertNotEqual(self.policy_b, template)
        self.assertEqual(len(self.policy_b.level_ids), len(template.level_ids))
        self.assertEqual(self.policy_b.level_ids.company_id, self.company_b)

    def test_user_of_company_a_sees_nothing_of_company_b(self):
        env = self.env(user=self.user_a)
        for model, record in (
            ("dunning.policy", self.policy_b),
            ("dunning.level", self.policy_b.level_ids[0]),
            ("dunning.reminder", self.reminder_b),
            ("dunning.reminder.line", self.reminder_b.line_ids),
        ):
            with self.subTest(model=model):
                self.assertFalse(env[model].search([("id", "=", record.id)]))
                with self.assertRaises(AccessError):
                    env[model].browse(record.id).read(["id"])
        debtors = env["dunning.debtor"].search([("partner_id", "=", self.debtor.id)])
        self.assertEqual(debtors.company_id, self.company, "only company A's debtor row")
        self.assertEqual(debtors.amount_overdue, 100.0)

    def test_user_with_both_companies_sees_both(self):
        self.user_a.company_ids |= self.company_b
        env = self.env(user=self.user_a, context={"allowed_company_ids": [self.company.id, self.company_b.id]})
        self.assertEqual(env["dunning.reminder"].search([("id", "=", self.reminder_b.id)]), self.reminder_b)
        rows = env["dunning.debtor"].search([("partner_id", "=", self.debtor.id)])
        self.assertEqual(set(rows.mapped("amount_overdue")), {100.0, 200.0})

    def test_overdue_amount_is_per_company(self):
        self.assertEqual(self.debtor.with_company(self.company).dunning_overdue_amount, 100.0)
        self.assertEqual(self.debtor.with_company(self.company_b).dunning_overdue_amount, 200.0)

    def test_policy_is_company_dependent_on_the_partner(self):
        special_b = self._create_policy("Special B", self.company_b)
        self.debtor.with_company(self.company_b).dunning_policy_id = special_b
        self.assertEqual(self.debtor.with_company(self.company_b)._dunning_get_policy(), special_b)
        self.assertEqual(self.debtor.with_company(self.company)._dunning_get_policy(), self.policy)

    def test_reminder_refuses_level_of_other_company(self):
        with self.assertRaises(UserError):
            self.env["dunning.reminder"].create(
                {
                    "company_id": self.company.id,
                    "partner_id": self.debtor.id,
                    "level_id": self.policy_b.level_ids[0].id,
                }
            )

    def test_run_only_selects_its_company(self):
        run = self.env["dunning.run"].with_company(self.company_b).create({"company_id": self.company_b.id})
        rows = run._select_invoices()
        self.assertEqual({row["move_id"] for row in rows}, {self.invoice_b.id})
