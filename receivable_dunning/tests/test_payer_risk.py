from unittest.mock import patch

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import DunningCommon, days_ago, in_days


@tagged("post_install", "-at_install")
class TestPayerRisk(DunningCommon):
    """Payer profiles built from hand-made payment histories: each factor, the score, the class, and what a change
    of class does to the debtor."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Profile = cls.env["dunning.payer.profile"]
        cls.classes = {
            risk_class.code: risk_class
            for risk_class in cls.env["dunning.risk.class"].search([("company_id", "=", cls.company.id)])
        }

    def _paid_invoice(self, partner, amount, due, paid_on):
        invoice = self._create_invoice_due(partner, amount, due)
        self._register_payment(invoice, payment_date=paid_on)
        return invoice

    def _profile(self, partner):
        self.Profile._recompute(partners=partner, companies=self.company)
        return self.Profile.search([("partner_id", "=", partner.id), ("company_id", "=", self.company.id)])

    def test_default_classes(self):
        """Every company gets four classes, A to D by score, D stopping supply; a new company too."""
        self.assertEqual(
            [(code, risk_class.min_score, risk_class.stop_supply) for code, risk_class in sorted(self.classes.items())],
            [("A", 75, False), ("B", 50, False), ("C", 25, False), ("D", 0, True)],
        )
        company = self.env["res.company"].create({"name": "Risk Newco"})
        new_classes = self.env["dunning.risk.class"].search([("company_id", "=", company.id)])
        self.assertEqual(sorted(new_classes.mapped("code")), ["A", "B", "C", "D"])
        # A company without any invoice: nothing to profile, nothing fails.
        self.Profile._recompute(companies=company)
        self.assertFalse(self.Profile.search([("company_id", "=", company.id)]))

    def test_thresholds_keep_their_order(self):
        # assertRaises, not assertRaisesRegex: only the former rolls the failed write back.
        with self.assertRaises(ValidationError) as caught:
            self.classes["B"].min_score = 80
        self.assertIn(
            "Minimum Score of class A - Reliable (75) must be higher than that of class B", str(caught.exception)
        )
        with self.assertRaises(ValidationError) as caught:
            self.classes["D"].min_score = 10
        self.assertIn("Minimum Score of class D - Critical must be 0", str(caught.exception))
        self.classes["A"].min_score = 90
        self.assertEqual(self.classes["A"].min_score, 90)

    def test_payment_factors_and_score(self):
        """Two paid invoices (30 days late, on time), one overdue for 10 days, one not due yet."""
        debtor = self.debtor
        self._paid_invoice(debtor, 1000, days_ago(100), days_ago(70))
        self._paid_invoice(debtor, 1000, days_ago(50), days_ago(50))
        self._create_invoice_due(debtor, 2000, days_ago(10))
        self._create_invoice_due(debtor, 1000, in_days(20))
        profile = self._profile(debtor)
        self.assertEqual(profile.invoice_count, 3, "the invoice not due yet has no delay")
        self.assertEqual(profile.late_invoice_count, 2)
        self.assertAlmostEqual(profile.late_share, 66.7, places=1)
        # (1000 x 30 + 1000 x 0 + 2000 x 10) / 4000
        self.assertAlmostEqual(profile.avg_days_late, 12.5)
        self.assertEqual(profile.max_days_late, 30)
        self.assertEqual(profile.open_amount, 3000)
        self.assertEqual(profile.overdue_amount, 2000)
        self.assertAlmostEqual(profile.overdue_share, 66.7, places=1)
        self.assertEqual(profile.overdue_share_last_month, 0, "a month ago, nothing was open")
        self.assertEqual(profile.trend, "worse")
        self.assertEqual(profile.last_payment_date, days_ago(50))
        # Its own paid invoices: (1000 x 30 + 1000 x 0) / 2000.
        self.assertAlmostEqual(profile.expected_delay_days, 15)
        # 100 - 12.5 (average) - 13.3 (share late) - 13.3 (overdue share) - 10 (trend, capped) = 50.8
        self.assertEqual(profile.score, 51)
        self.assertEqual(profile.risk_class_id, self.classes["B"])
        self.assertEqual(
            profile.explanation,
            "pays 13 days late on average; 67% of invoices paid late; 67% of the open balance overdue; "
            "getting worse this month",
        )
        self.assertEqual(profile.level_id, self.env["dunning.level"], "no invoice was reminded")
        self.assertEqual(debtor.dunning_profile_id, profile)
        self.assertEqual(debtor.dunning_risk_score, 51)

    def test_arrangement_factors(self):
        """A broken promise, two disputes of which one rejected, a missed instalment."""
        debtor = self.debtor
        promised, disputed, planned = (self._create_invoice_due(debtor, 200, in_days(30)) for _i in range(3))
        promise = self.env["dunning.promise"].create(
            {
                "partner_id": debtor.id,
                "move_ids": [Command.set(promised.ids)],
                "amount": 200,
                "date_promised": days_ago(5),
            }
        )
        promise.state = "broken"
        disputes = self.env["dunning.dispute"].create(
            [{"partner_id": debtor.id, "move_id": disputed.id, "reason": reason} for reason in ("defective", "other")]
        )
        disputes[0].action_reject()
        plan = self.env["dunning.plan"].create(
            {
                "partner_id": debtor.id,
                "move_ids": [Command.set(planned.ids)],
                "amount_total": 200,
                "line_ids": [
                    Command.create({"sequence": 1, "date": days_ago(10), "amount": 100}),
                    Command.create({"sequence": 2, "date": in_days(20), "amount": 100}),
                ],
            }
        )
        plan.action_approve()
        profile = self._profile(debtor)
        self.assertEqual(
            (profile.broken_promise_count, profile.dispute_count, profile.dispute_rejected_count),
            (1, 2, 1),
        )
        self.assertEqual(profile.missed_instalment_count, 1, "the instalment to come is not missed")
        self.assertEqual(profile.invoice_count, 0)
        # 100 - 10 (promise) - 4 (disputes) - 5 (rejected) - 10 (instalment)
        self.assertEqual(profile.score, 71)
        self.assertEqual(profile.risk_class_id, self.classes["B"])
        self.assertEqual(profile.explanation, "no invoice due in the last 12 months")
        # Half of the instalment paid: still missed; all of it: kept.
        self._register_payment(planned, amount=50)
        self.assertEqual(self._profile(debtor).missed_instalment_count, 1)
        self._register_payment(planned, amount=50)
        self.assertEqual(self._profile(debtor).missed_instalment_count, 0)

    def test_empty_history(self):
        """A debtor without a history is the safest, and is expected to pay as late as the company's average."""
        self._paid_invoice(self.debtor, 1000, days_ago(60), days_ago(40))
        newcomer = self._create_debtor("Newcomer")
        invoice = self._create_invoice_due(newcomer, 500, in_days(10))
        stranger = self._create_debtor("Never Invoiced")
        self.Profile._recompute(companies=self.company)
        profile = self.Profile.search([("partner_id", "=", newcomer.id)])
        self.assertEqual((profile.score, profile.risk_class_id), (100, self.classes["A"]))
        self.assertEqual(profile.invoice_count, 0)
        self.assertAlmostEqual(profile.expected_delay_days, 20, msg="the company's average: the other debtor's")
        self.assertEqual(invoice.dunning_expected_payment_date, in_days(30))
        self.assertFalse(self.Profile.search([("partner_id", "=", stranger.id)]))
        self.assertFalse(stranger.dunning_profile_id)

    def test_expected_payment_date(self):
        self._paid_invoice(self.debtor, 1000, days_ago(60), days_ago(45))
        invoice = self._create_invoice_due(self.debtor, 300, in_days(10))
        self._profile(self.debtor)
        self.assertEqual(invoice.dunning_expected_payment_date, in_days(25))
        self._register_payment(invoice)
        invoice.invalidate_recordset(["dunning_expected_payment_date"])
        self.assertFalse(invoice.dunning_expected_payment_date, "a paid invoice is expected no more")

    def test_recompute_after_payment(self):
        """A payment recomputes its debtor's profile, with no call to the recomputation."""
        invoice = self._create_invoice_due(self.debtor, 1000, days_ago(40))
        profile = self._profile(self.debtor)
        self.assertEqual((profile.overdue_amount, profile.last_payment_date), (1000, False))
        self._register_payment(invoice, payment_date=days_ago(1))
        self.assertEqual((profile.overdue_amount, profile.last_payment_date), (0, days_ago(1)))
        self.assertEqual(profile.max_days_late, 39)

    def _worsen(self, partner):
        """From class A (paid on time) to class C: 48 = 100 - 20 (average) - 10 (share late) - 2 (longest delay,
        40 days) - 20 (all of the open balance overdue)."""
        self._paid_invoice(partner, 1000, days_ago(80), days_ago(80))
        profile = self._profile(partner)
        self.assertEqual(profile.risk_class_id, self.classes["A"])
        self._create_invoice_due(partner, 1000, days_ago(40))
        self.Profile._recompute(partners=partner, companies=self.company)
        self.assertEqual(profile.score, 48)
        return profile

    def test_class_change_moves_the_policy(self):
        strict = self._create_policy("Strict", self.company)
        self.classes["C"].policy_id = strict
        profile = self._worsen(self.debtor)
        self.assertEqual(profile.risk_class_id, self.classes["C"])
        self.assertEqual(profile.previous_class_id, self.classes["A"])
        self.assertTrue(profile.class_worsened)
        self.assertEqual(profile.class_changed_date, days_ago(0))
        self.assertEqual(self.debtor.dunning_policy_id, strict)
        self.assertFalse(self.debtor.dunning_policy_pinned, "a policy set by its class is not pinned")
        note = self.debtor.message_ids[:1]
        self.assertIn("from A - Reliable to C - At Risk", note.body)
        self.assertIn("score 48", note.body)
        # The class did not change: no second note.
        self.Profile._recompute(partners=self.debtor, companies=self.company)
        self.assertEqual(self.debtor.message_ids[:1], note)

    def test_pinned_policy_stays(self):
        strict, own = self._create_policy("Strict", self.company), self._create_policy("Own", self.company)
        self.classes["C"].policy_id = strict
        self.debtor.dunning_policy_id = own
        self.assertTrue(self.debtor.dunning_policy_pinned, "a policy chosen by hand is pinned")
        profile = self._worsen(self.debtor)
        self.assertEqual(profile.risk_class_id, self.classes["C"])
        self.assertEqual(self.debtor.dunning_policy_id, own)
        self.assertIn("to C - At Risk", self.debtor.message_ids[:1].body, "the move is noted all the same")

    def test_the_nightly_review_stops_supply_of_a_debtor_moving_into_a_stopping_class(self):
        """The nightly review puts a debtor moving into a class that stops supply on stop supply, with the class as
        reason and in the note. Not a debtor's first class, nor a move found after a payment (or any recomputation
        during the day), which must not block the invoicing of the day."""
        for risk_class in self.classes.values():
            risk_class.stop_supply = True
        newcomer = self._create_debtor("Newcomer", email="newcomer@example.com")
        self._create_invoice_due(newcomer, 1000, days_ago(40))
        self._nightly_review()
        self.assertTrue(self._profile(newcomer).risk_class_id)
        self.assertFalse(newcomer.dunning_stop_supply, "a first classification stops nothing")

        self._worsen(self.debtor)
        self.assertFalse(self.debtor.dunning_stop_supply, "a move found during the day stops nothing")

        other = self._create_debtor("Other", email="other@example.com")
        self._paid_invoice(other, 1000, days_ago(80), days_ago(80))
        self.assertEqual(self._profile(other).risk_class_id, self.classes["A"])
        self._create_invoice_due(other, 1000, days_ago(40))
        self._nightly_review()
        self.assertEqual(self._profile(other).risk_class_id, self.classes["C"])
        self.assertTrue(other.dunning_stop_supply)
        self.assertEqual(other.dunning_stop_supply_reason, "Risk class C - At Risk")
        self.assertIn("Supply stopped by the class.", other.message_ids[:1].body)

    def _nightly_review(self):
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
            self.Profile._cron_recompute()

    def test_new_thresholds_move_the_debtors(self):
        self._create_invoice_due(self.debtor, 1000, days_ago(40))
        profile = self._profile(self.debtor)
        self.assertEqual(profile.risk_class_id, self.classes["C"])
        self.classes["C"].min_score = 45
        self.assertEqual(profile.risk_class_id, self.classes["D"])

    def test_recompute_query_count(self):
        """The recomputation costs as many queries for three debtors as for one: set-based, no loop."""

        def count(partners):
            for partner in partners:
                self._create_invoice_due(partner, 100, days_ago(5))
            self.env.flush_all()
            before = self.cr.sql_log_count
            self.Profile._recompute(partners=partners, companies=self.company)
            return self.cr.sql_log_count - before

        count(self._create_debtor("Warm-up"))  # the first call reads what later calls find in the caches
        one = count(self._create_debtor("Counted 1"))
        three = count(self.env["res.partner"].union(*(self._create_debtor(f"Counted {i}") for i in range(2, 5))))
        self.assertEqual(one, three)
        self.assertLessEqual(three, 3)
