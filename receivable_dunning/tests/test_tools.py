from datetime import date

from stdnum import iso11649

from odoo.tests import BaseCase, tagged

from ..tools.interest import late_interest, round_amount
from ..tools.matching import BankLine, OpenItem, OpenItemIndex
from ..tools.phone import InvalidPhoneNumber, to_e164
from ..tools.references import normalize, normalize_iban, number_candidates, rf_candidates


@tagged("post_install", "-at_install")
class TestPhone(BaseCase):
    def test_national_numbers_with_country(self):
        self.assertEqual(to_e164("0470 12 34 56", "BE"), "+32470123456")
        self.assertEqual(to_e164("06 12 34 56 78", "fr"), "+33612345678")

    def test_international_numbers_without_country(self):
        self.assertEqual(to_e164("+34 612 34 56 78"), "+34612345678")

    def _assert_invalid(self, number):
        with self.assertRaises(InvalidPhoneNumber):
            to_e164(number, "FR")

    def test_empty_number_is_invalid(self):
        self._assert_invalid("")

    def test_blank_number_is_invalid(self):
        self._assert_invalid("   ")

    def test_too_short_number_is_invalid(self):
        self._assert_invalid("12")

    def test_words_are_no_number(self):
        self._assert_invalid("not a number")

    def test_truncated_international_number_is_invalid(self):
        self._assert_invalid("+33 1")


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


@tagged("post_install", "-at_install")
class TestReferences(BaseCase):
    def test_rf_candidates(self):
        self.assertEqual(rf_candidates("paid RF18 5390 0754 7034, thanks"), [("RF18539007547034", True)])
        self.assertEqual(rf_candidates("rf18-5390-0754-7034"), [("RF18539007547034", True)])
        self.assertEqual(rf_candidates("RF18 5390 0754 7035"), [("RF18539007547035", False)])
        self.assertEqual(rf_candidates("RF18 5390 0754 7034 INV 12"), [("RF18539007547034", True)])

    def test_known_rf_reference_wins_over_a_longer_run_valid_by_chance(self):
        # One run of groups in 97 has a valid checksum by chance: find a group that makes one after the reference.
        suffix = next(
            group for number in range(100, 1000) if iso11649.is_valid("RF18539007547034" + (group := f"A{number}"))
        )
        label = f"RF18 5390 0754 7034 {suffix}"
        self.assertEqual(rf_candidates(label), [(f"RF18539007547034{suffix}", True)])
        self.assertEqual(rf_candidates(label, known={"RF18539007547034"}), [("RF18539007547034", True)])

    def test_broken_checksum_is_noted(self):
        index = OpenItemIndex([OpenItem(1, 10, 100, "INV/1", "RF18 5390 0754 7034", 100.0, 1)])
        proposal = index.match(BankLine(1, "RF18 5390 0754 7035", 100.0, 1))
        self.assertFalse(proposal.items)
        self.assertIn("wrong checksum", proposal.notes[0])

    def test_number_candidates(self):
        keys = number_candidates("Pay inv 2026/00012 and INV-2026-00013")
        self.assertIn("INV202600012", keys)
        self.assertIn("INV202600013", keys)

    def test_iban(self):
        self.assertEqual(normalize_iban("be71 0961 2345 6769"), "BE71096123456769")
        self.assertIsNone(normalize_iban("BE71 0961 2345 6760"))
        self.assertEqual(normalize("RF18 5390-0754.7034"), "RF18539007547034")


@tagged("post_install", "-at_install")
class TestMatcher(BaseCase):
    def _index(self):
        items = [
            OpenItem(1, 10, 100, "INV/2026/00001", "RF18 5390 0754 7034", 100.0, 1),
            OpenItem(2, 11, 100, "INV/2026/00002", "INV/2026/00002", 250.0, 1),
            OpenItem(3, 12, 200, "INV/2026/00003", "INV/2026/00003", 400.0, 1),
            OpenItem(4, 13, 200, "INV/2026/00004", "INV/2026/00004", 400.0, 1),
        ]
        return OpenItemIndex(items, iban_partners={"BE71096123456769": 100}, reminder_references={"RF0612": [10, 11]})

    def test_rules(self):
        index = self._index()
        cases = [
            (BankLine(1, "RF18 5390 0754 7034", 100.0, 1), (1,), "exact_reference", 100),
            (BankLine(2, "rf18539007547034", 100.0, 1), (1,), "normalized_reference", 95),
            (BankLine(3, "facture inv 2026 00002", 250.0, 1), (2,), "invoice_number", 90),
            (BankLine(4, "RF18539007547034 INV/2026/00002", 350.0, 1), (1, 2), "several_references", 95),
            (BankLine(5, "virement", 250.0, 1, iban="BE71096123456769"), (2,), "iban_amount", 80),
            (BankLine(6, "virement", 250.0, 1, partner_id=100), (2,), "partner_amount", 70),
            (BankLine(7, "RF18 5390 0754 7034", 60.0, 1), (1,), "exact_reference", 90),
            (BankLine(8, "RF18 5390 0754 7034", 160.0, 1), (1,), "exact_reference", 85),
            (BankLine(9, "RF18539007547034", 100.0, 2), (), None, 0),
        ]
        for line, items, reason, score in cases:
            with self.subTest(label=line.label):
                proposal = index.match(line)
                self.assertEqual(tuple(item.line_id for item in proposal.items), items)
                self.assertEqual((proposal.reason, proposal.score), (reason, score))

    def test_reference_followed_by_a_number_valid_by_chance_still_matches(self):
        suffix = next(
            group for number in range(100, 1000) if iso11649.is_valid("RF18539007547034" + (group := f"A{number}"))
        )
        proposal = self._index().match(BankLine(1, f"RF18 5390 0754 7034 {suffix} and INV/2026/00002", 350.0, 1))
        self.assertEqual(tuple(item.line_id for item in proposal.items), (1, 2))

    def test_reference_of_another_payer_is_ambiguous(self):
        proposal = self._index().match(BankLine(1, "INV/2026/00003", 400.0, 1, partner_id=100))
        self.assertEqual(proposal.items[0].line_id, 3)
        self.assertTrue(proposal.ambiguous)

    def test_amount_of_another_payer_than_the_iban_owner_is_ambiguous(self):
        proposal = self._index().match(BankLine(1, "virement", 250.0, 1, partner_id=200, iban="BE71096123456769"))
        self.assertEqual((proposal.items[0].line_id, proposal.reason), (2, "iban_amount"))
        self.assertTrue(proposal.ambiguous)

    def test_ambiguous(self):
        proposal = self._index().match(BankLine(1, "virement", 400.0, 1, partner_id=200))
        self.assertTrue(proposal.ambiguous)

    def test_cost_grows_with_lines_plus_items(self):
        items = [OpenItem(i, i, i % 50, f"INV/{i:06d}", f"INV/{i:06d}", 10.0 + i, 1) for i in range(20000)]
        index = OpenItemIndex(items)
        for i in range(0, 20000, 997):
            self.assertEqual(index.match(BankLine(i, f"inv {i:06d}", 10.0 + i, 1)).items[0].move_id, i)
