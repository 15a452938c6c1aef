from datetime import date

from odoo.tests import BaseCase, tagged

from ..tools.interest import late_interest, round_amount
from ..tools.phone import InvalidPhoneNumber, to_e164


@tagged("post_install", "-at_install")
class TestPhone(BaseCase):
    def test_national_numbers_with_country(self):
        self.assertEqual(to_e164("0470 12 34 56", "BE"), "+32470123456")
        self.assertEqual(to_e164("06 12 34 56 78", "fr"), "+33612345678")

    def test_international_numbers_without_country(self):
        self.assertEqual(to_e164("+34 612 34 56 78"), "+34612345678")

    def test_invalid_numbers(self):
        for number in ("", "   ", "12", "not a number", "+33 1"):
            with self.subTest(number=number), self.assertRaises(InvalidPhoneNumber):
                to_e164(number, "FR")


@tagged("post_install", "-at_install")
class TestInterest(BaseCase):
    def test_simple_interest(self):
        # 1000 x 10% x 36 / 365 = 9.86301...
        self.assertAlmostEqual(late_interest(1000, 10, date(2026, 1, 1), date(2026, 2, 6)), 9.863013698630137)

    def test_period_spanning_a_rate_change(self):
        # Due 2025-06-15, charged to 2025-07-31, 12.15% until June, then 12.15% - 1 point = 11.15% from July:
        # June 16-30: 15 days x 12.15% ; July 1-31: 31 days x 11.15%
        # 10000 x 12.15% x 15/365 = 49.9315 ; 10000 x 11.15% x 31/365 = 94.6986 ; total 144.63
        changes = [(date(2025, 1, 1), 12.15), (date(2025, 7, 1), 11.15)]
        interest = late_interest(10000, 0, date(2025, 6, 15), date(2025, 7, 31), changes)
        self.assertEqual(round_amount(interest), 144.63)

    def test_nothing_before_the_due_date(self):
        self.assertEqual(late_interest(1000, 10, date(2026, 1, 10), date(2026, 1, 10)), 0.0)
        self.assertEqual(late_interest(1000, 10, date(2026, 1, 10), date(2026, 1, 5)), 0.0)
        self.assertEqual(late_interest(0, 10, date(2026, 1, 1), date(2026, 2, 1)), 0.0)

    def test_round_half_up(self):
        self.assertEqual(round_amount(2.675), 2.68)
        self.assertEqual(round_amount(9.865), 9.87)
