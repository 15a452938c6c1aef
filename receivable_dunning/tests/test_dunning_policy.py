from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import DUE, DunningCommon, days_ago, on


@tagged("post_install", "-at_install")
class TestDunningPolicy(DunningCommon):
    def test_levels_must_have_increasing_delays(self):
        with self.assertRaisesRegex(ValidationError, "must come later"):
            self.level_2.delay_days = 5  # now before Level 1 (10 days)
        with self.assertRaisesRegex(ValidationError, "must come later"):
            self.level_2.delay_days = 10  # equal delays are refused too

    def test_reordering_levels_checks_delays(self):
        with self.assertRaisesRegex(ValidationError, "must come later"):
            self.level_3.sequence = 0  # 30 days first, then -3 days

    def test_new_level_in_order_is_accepted(self):
        self.policy.level_ids = [Command.create({"sequence": 5, "name": "Level 4", "delay_days": 45})]
        self.assertEqual(self.policy.level_ids.sorted().mapped("delay_days"), [-3, 10, 20, 30, 45])

    def test_level_sequence_unique_per_policy(self):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            self.env["dunning.level"].create(
                {"policy_id": self.policy.id, "sequence": 2, "name": "Duplicate", "delay_days": 100}
            )
            self.env.flush_all()

    def test_level_needs_a_channel(self):
        with self.assertRaisesRegex(ValidationError, "has no channel"):
            self.level_1.send_email = False
        # ...unless it is the hand-over step, which sends nothing automatically.
        self.level_3.write({"send_email": False, "is_last_auto_step": True})
        self.assertFalse(self.level_3._enabled_channels())

    def _assert_refused_by_the_database(self, record, values):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            record.write(values)
            self.env.flush_all()

    def test_negative_grace_days_refused(self):
        self._assert_refused_by_the_database(self.policy, {"grace_days": -1})

    def test_negative_minimum_interval_refused(self):
        self._assert_refused_by_the_database(self.policy, {"min_interval_days": -1})

    def test_negative_interest_rate_refused(self):
        self._assert_refused_by_the_database(self.policy, {"interest_rate": -1})

    def test_negative_fee_refused(self):
        self._assert_refused_by_the_database(self.level_3, {"fee_amount": -40})

    def test_company_default(self):
        other = self._create_policy("Other", self.company)
        self.assertTrue(self.policy.is_company_default)
        self.assertFalse(other.is_company_default)
        other.is_company_default = True
        self.assertEqual(self.company.dunning_policy_id, other)
        self.assertFalse(self.policy.is_company_default)
        other.is_company_default = False
        self.assertFalse(self.company.dunning_policy_id)

    def test_levels_reached(self):
        def reached(days):
            return self.policy.level_ids.filtered(lambda level: level._is_reached(days))

        self.assertFalse(reached(-5))
        self.assertEqual(reached(-3), self.courtesy)
        self.assertEqual(reached(0), self.courtesy)
        self.assertEqual(reached(10), self.level_1, "a courtesy reminder makes no sense once the invoice is late")
        self.assertEqual(reached(29), self.level_1 | self.level_2)
        self.assertEqual(reached(90), self.level_1 | self.level_2 | self.level_3)
        self.policy.grace_days = 3  # grace delays late levels, never the courtesy reminder
        self.assertFalse(reached(12))
        self.assertEqual(reached(13), self.level_1)
        self.assertEqual(reached(-3), self.courtesy)
        self.assertEqual(str(self.level_1._date_reached(DUE)), "2026-03-14")
        self.assertEqual(str(self.courtesy._date_reached(DUE)), "2026-02-26")

    def test_level_order(self):
        other = self._create_policy("Other", self.company)
        other_level_3 = other.level_ids.filtered(lambda level: level.delay_days == 30)
        other_level_3.sequence = 9
        self.assertTrue(self.level_2._is_after(self.level_1))
        self.assertFalse(self.level_1._is_after(self.level_2))
        self.assertFalse(self.level_1._is_after(self.level_1))
        self.assertTrue(self.courtesy._is_after(self.env["dunning.level"]), "every level comes after no level")
        self.assertTrue(other_level_3._is_after(self.level_3), "same delay in two policies: the sequence decides")
        self.assertFalse(self.level_3._is_after(other_level_3))

    def test_partner_policy_overrides_company_default(self):
        self.assertEqual(self.debtor._dunning_get_policy(), self.policy)
        special = self._create_policy("Special", self.company)
        self.debtor.dunning_policy_id = special
        self.assertEqual(self.debtor._dunning_get_policy(), special)
        contact = self.env["res.partner"].create({"name": "Contact", "parent_id": self.debtor.id})
        self.assertEqual(contact._dunning_get_policy(), special, "a contact follows its commercial partner")

    @freeze_time(DUE)
    def test_next_date(self):
        invoice = self._create_invoice_due(self.debtor, 100.0, on(9))  # due 2026-03-10
        self.assertEqual(str(invoice.dunning_next_date), "2026-03-07", "courtesy 3 days before the due date")
        self.assertEqual(invoice.dunning_days_overdue, -9)
        invoice.write({"dunning_level_id": self.courtesy.id, "dunning_last_date": "2026-03-07"})
        self.assertEqual(str(invoice.dunning_next_date), "2026-03-20", "level 1, 10 days after the due date")
        invoice.write({"dunning_level_id": self.level_1.id, "dunning_last_date": "2026-03-28"})
        self.assertEqual(str(invoice.dunning_next_date), "2026-04-02", "level 2 waits for the minimum interval")
        invoice.dunning_hold_until = "2026-04-15"
        self.assertEqual(str(invoice.dunning_next_date), "2026-04-15", "on hold until the 15th")
        invoice.no_followup = True
        self.assertFalse(invoice.dunning_next_date)

    def test_last_automatic_step_has_no_next_date(self):
        invoice = self._create_invoice_due(self.debtor, 100.0, days_ago(100))
        self.level_3.is_last_auto_step = True
        invoice.dunning_level_id = self.level_3
        self.assertFalse(invoice.dunning_next_date)
