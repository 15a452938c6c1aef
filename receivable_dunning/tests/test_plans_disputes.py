from freezegun import freeze_time

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import on
from .engine_common import DunningEngineCommon


@tagged("post_install", "-at_install")
class TestPlansAndDisputes(DunningEngineCommon):
    """Instalment plans and disputes raised by the debtor, and how dunning runs treat them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector = cls._create_collector("collector_plans")
        cls.policy.write(
            {"plan_max_instalments": 4, "plan_min_amount": 100.0, "plan_max_days": 90, "plan_auto_approve": False}
        )
        cls.invoice = cls._create_invoice_due(cls.debtor, 900.0, on(0))
        cls.other = cls._create_invoice_due(cls.debtor, 300.0, on(0))

    def _propose(self, count=3, first=5, moves=None, frequency="monthly"):
        with freeze_time(on(1)):
            return self.env["dunning.statement"]._propose_plan(
                self.debtor, self.company, (moves or self.invoice).ids, count, on(first), frequency
            )

    def _pay(self, amount, day, invoice=None):
        with freeze_time(on(day)):
            self._register_payment(invoice or self.invoice, amount=amount, payment_date=on(day))

    # --- plans ------------------------------------------------------------------------------------------------

    def test_proposal_waits_for_the_collector(self):
        plan = self._propose()
        self.assertEqual(plan.state, "proposed")
        self.assertEqual(plan.line_ids.mapped("amount"), [300.0, 300.0, 300.0])
        self.assertEqual(plan.line_ids.mapped("date"), [on(5), on(5 + 31), on(5 + 31 + 30)])
        self.assertEqual(plan.activity_ids.user_id, self.collector)
        self.assertFalse(self.invoice.dunning_plan_id, "a proposal changes nothing until approved")
        with freeze_time(on(12)):
            run = self._run()
        self.assertEqual(run.reminder_ids.line_ids.move_id, self.invoice | self.other)

    def _assert_proposal_refused(self, message, **values):
        """A proposal of ``values`` (see :meth:`_propose`) is refused, with ``message`` naming the limit."""
        with self.assertRaises(ValidationError) as caught:
            self._propose(**values)
        self.assertIn(message, caught.exception.args[0])
        self.assertFalse(self.env["dunning.plan"].search([]))

    def test_plan_of_more_instalments_than_the_policy_allows_is_refused(self):
        self._assert_proposal_refused("Number of instalments", count=5)  # more than 4

    def test_plan_of_instalments_under_the_minimum_amount_is_refused(self):
        self._assert_proposal_refused("at least", count=4, moves=self.other, frequency="weekly")  # 75 each, min. 100

    def test_plan_starting_in_the_past_is_refused(self):
        self._assert_proposal_refused("First payment", first=0)  # in the past on day 1

    def test_plan_ending_beyond_the_policy_longest_plan_is_refused(self):
        self._assert_proposal_refused("after", first=40, count=3)  # last on day 101, beyond 90 days

    def test_plan_of_an_unknown_frequency_is_refused(self):
        self._assert_proposal_refused("Frequency", frequency="daily")

    def test_invoice_of_another_debtor_is_refused(self):
        stranger = self._create_debtor("Stranger")
        foreign = self._create_invoice_due(stranger, 500.0, on(0))
        with self.assertRaises(AccessError):
            self._propose(moves=self.invoice | foreign)

    def test_invoice_is_in_one_plan_at_a_time(self):
        self._propose()
        with self.assertRaises(ValidationError) as caught:
            self._propose()
        self.assertIn("already has an instalment plan", caught.exception.args[0])

    def test_approved_plan_pauses_dunning_until_an_instalment_is_missed(self):
        plan = self._propose()
        with freeze_time(on(2)):
            self._run(mode="review")  # a draft reminder listing the invoice
            plan.with_user(self.collector).action_approve()
        self.assertEqual(self.invoice.dunning_plan_id, plan)
        self.assertFalse(
            self.env["dunning.reminder.line"].search([("move_id", "=", self.invoice.id), ("state", "=", "draft")]),
            "approval takes the invoice out of the reminders not yet sent",
        )
        self._pay(300.0, 5)
        with freeze_time(on(30)):
            run = self._run()
        self.assertNotIn(self.invoice, run.reminder_ids.line_ids.move_id)
        self.assertIn("plan", run.exception_ids.mapped("reason"))
        # The second instalment (day 36) is not paid: dunning resumes, counted from that date.
        with freeze_time(on(36 + 11)):
            self.assertEqual(plan.date_missed, on(36))
            run = self._run()
        line = run.reminder_ids.line_ids.filtered(lambda line: line.move_id == self.invoice)
        self.assertEqual(line.date_due, on(36))
        self.assertEqual(line.days_overdue, 11)
        self.assertEqual(line.level_id, self.level_1)

    def test_plan_paid_in_full_is_done(self):
        plan = self._propose()
        plan.action_approve()
        self._pay(900.0, 10)
        self.assertEqual(plan.state, "done")
        self.assertFalse(self.invoice.dunning_plan_id)

    def test_plan_to_approve_paid_in_full_is_done(self):
        """The debtor pays the invoices before anyone approves its plan: nothing is left to approve or to pay."""
        plan = self._propose(moves=self.invoice | self.other)
        self.assertTrue(plan.activity_ids)
        self._pay(900.0, 10)
        self.assertEqual(plan.state, "proposed", "one of its invoices is still open")
        self._pay(300.0, 11, invoice=self.other)
        self.assertEqual(plan.state, "done")
        self.assertFalse(plan.activity_ids)
        self.assertEqual(set(plan.line_ids.mapped("charge_state")), {"paid"})

    def test_cancelled_plan_resumes_dunning_from_the_due_date(self):
        plan = self._propose()
        plan.action_approve()
        plan.action_cancel()
        self.assertFalse(self.invoice.dunning_plan_id)
        with freeze_time(on(25)):
            run = self._run()
        self.assertIn(self.invoice, run.reminder_ids.line_ids.move_id)

    def test_auto_approval_within_limits(self):
        self.policy.plan_auto_approve = True
        plan = self._propose()
        self.assertEqual(plan.state, "approved")
        self.assertEqual(self.invoice.dunning_plan_id, plan)

    # --- disputes ---------------------------------------------------------------------------------------------

    def _dispute(self, reason="wrong_amount", description="Price should be 800."):
        with freeze_time(on(12)):
            return self.env["dunning.statement"]._raise_dispute(
                self.debtor,
                self.company,
                self.invoice.id,
                reason,
                description,
                [("proof.pdf", b"%PDF-1.4 order form")],
            )

    def test_dispute_takes_the_invoice_out_of_dunning(self):
        with freeze_time(on(11)):
            queued = self._run().reminder_ids
        self.assertIn(self.invoice, queued.line_ids.move_id)
        dispute = self._dispute()
        self.assertNotIn(self.invoice, queued.line_ids.move_id, "left the reminder not yet sent")
        self.assertEqual(dispute.user_id, self.collector)
        self.assertEqual(dispute.activity_ids.user_id, self.collector)
        self.assertIn("Price should be 800.", self.invoice.message_ids[0].body)
        self.assertEqual(self.invoice.message_ids[0].attachment_ids.name, "proof.pdf")
        queued.action_cancel()
        with freeze_time(on(25)):
            run = self._run()
        self.assertNotIn(self.invoice, run.reminder_ids.line_ids.move_id)
        self.assertIn(self.other, run.reminder_ids.line_ids.move_id)
        self.assertIn("disputed", run.exception_ids.mapped("reason"))

    def test_rejected_dispute_resumes_dunning(self):
        dispute = self._dispute()
        dispute.action_reject()
        self.assertEqual(dispute.state, "rejected")
        self.assertFalse(dispute.activity_ids, "the collector's to-do is done")
        with freeze_time(on(25)):
            run = self._run()
        self.assertIn(self.invoice, run.reminder_ids.line_ids.move_id)

    def test_dispute_input_is_validated(self):
        with self.assertRaises(ValidationError) as caught:
            self._dispute(reason="other", description="  ")
        self.assertIn("Explanation", caught.exception.args[0])
        with self.assertRaises(ValidationError) as caught:
            self._dispute(reason="because")
        self.assertIn("Reason", caught.exception.args[0])
        self._dispute()
        with self.assertRaises(ValidationError) as caught:
            self._dispute()
        self.assertIn("already disputed", caught.exception.args[0])
