from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.tests import tagged

from .engine_common import DunningEngineCommon


@tagged("post_install", "-at_install")
class TestStatutoryCharges(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR")
        cls.policy.escalation_mode = "catch_up"
        cls.level_3.fee_amount = 0.0  # only the statutory compensation in these figures

    def _charge(self, rule_xmlid, partner, amount=10000.0, due=date(2025, 6, 15), run_date=date(2025, 7, 31)):
        self.policy.charge_rule_id = self.env.ref(rule_xmlid)
        invoice = self._create_invoice_due(partner, amount, due, currency=self.eur)
        with freeze_time(run_date):
            run = self._run()
        return invoice, run.reminder_ids.line_ids.filtered(lambda line: line.move_id == invoice)

    def test_france_over_a_rate_change(self):
        invoice, line = self._charge("receivable_dunning.charge_rule_fr", self.debtor)
        # ECB 3.15% from 2025-01-01, 2.15% from 2025-07-01, + 10 points; due 2025-06-15, charged to 2025-07-31:
        # 10000 x 13.15% x 15/365 (June 16-30) = 54.0411
        # 10000 x 12.15% x 31/365 (July 1-31)  = 103.1918
        # total 157.2329 -> 157.23, plus the 40 EUR compensation (business debtor)
        self.assertEqual(line.amount_interest, 157.23)
        self.assertEqual(line.amount_fee, 40.0)
        self.assertTrue(line.includes_compensation)
        self.assertEqual(line.reminder_id.amount_total, 10000.0 + 157.23 + 40.0)
        self.assertEqual(line.reminder_id.currency_id, invoice.currency_id)

    def test_spain_over_a_rate_change(self):
        _invoice, line = self._charge("receivable_dunning.charge_rule_es", self.debtor)
        # ECB + 8 points: 10000 x 11.15% x 15/365 = 45.8219 ; 10000 x 10.15% x 31/365 = 86.2055 ; 132.0274 -> 132.03
        self.assertEqual(line.amount_interest, 132.03)
        self.assertEqual(line.amount_fee, 40.0)

    def test_germany_consumer(self):
        consumer = self.env["res.partner"].create({"name": "Private person", "email": "p@example.com"})
        _invoice, line = self._charge("receivable_dunning.charge_rule_de", consumer)
        # Base rate 2.27% then 1.27% from 2025-07-01, + 5 points for consumers, no compensation:
        # 10000 x 7.27% x 15/365 = 29.8767 ; 10000 x 6.27% x 31/365 = 53.2521 ; 83.1288 -> 83.13
        self.assertEqual(line.amount_interest, 83.13)
        self.assertEqual(line.amount_fee, 0.0)

    def test_no_double_charge_on_rerun_and_next_level(self):
        self.policy.level_ids = [
            Command.create({"sequence": 5, "name": "Level 4", "delay_days": 60, "apply_interest": True})
        ]
        invoice, first = self._charge("receivable_dunning.charge_rule_fr", self.debtor)
        self.assertEqual(first.amount_fee, 40.0)
        with freeze_time(date(2025, 7, 31)):
            self._dispatch()
            self.assertFalse(self._run().reminder_ids, "nothing new the same day")
        with freeze_time(date(2025, 8, 20)):
            later = self._run().reminder_ids.line_ids.filtered(lambda line: line.move_id == invoice)
        self.assertEqual(later.level_id.name, "Level 4")
        self.assertEqual(later.amount_fee, 0.0, "the compensation is charged once per invoice")
        # Only August 1-20 at 12.15%: 10000 x 12.15% x 20/365 = 66.5753 -> 66.58
        self.assertEqual(later.interest_date_from, date(2025, 7, 31))
        self.assertEqual(later.amount_interest, 66.58)

    def test_charges_invoiced_once_per_debtor_and_run(self):
        self.policy.invoice_charges = True
        self.level_3.send_letter = True  # two channels list the same charges
        self.policy.charge_rule_id = self.env.ref("receivable_dunning.charge_rule_fr")
        first = self._create_invoice_due(self.debtor, 10000.0, date(2025, 6, 15), currency=self.eur)
        second = self._create_invoice_due(self.debtor, 5000.0, date(2025, 6, 15), currency=self.eur)
        with freeze_time(date(2025, 7, 31)):
            run = self._run()
            self._dispatch()
        charges = run.reminder_ids.line_ids.charge_move_id
        self.assertEqual(len(charges), 1)
        self.assertEqual(charges.state, "posted")
        self.assertEqual(charges.partner_id, self.debtor)
        self.assertEqual(charges.currency_id, self.eur)
        # 157.23 + 40 for the first invoice, 78.62 (half of 157.2329 = 78.6164) + 40 for the second
        self.assertEqual(charges.amount_total, 157.23 + 40 + 78.62 + 40)
        self.assertEqual(len(charges.invoice_line_ids), 4)
        self.assertIn(first.name, charges.invoice_origin)
        self.assertIn(second.name, charges.invoice_origin)
