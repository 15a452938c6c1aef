from freezegun import freeze_time

from odoo.tests import tagged

from .common import on
from .engine_common import DunningEngineCommon


@tagged("post_install", "-at_install")
class TestPromises(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector = cls._create_collector("collector_promise")
        cls.invoice = cls._create_invoice_due(cls.debtor, 1000.0, on(-11))
        with freeze_time(on(0)):
            cls.env["dunning.run"].create({}).action_execute()
            cls.env["dunning.reminder"].search([("state", "=", "queued")])._dispatch()

    def _promise(self, days, amount=600.0):
        with freeze_time(on(1)):
            return self.env["dunning.promise"].create(
                {
                    "partner_id": self.debtor.id,
                    "move_ids": [(6, 0, self.invoice.ids)],
                    "date_promised": on(days),
                    "amount": amount,
                }
            )

    def _pay(self, amount, day):
        with freeze_time(on(day)):
            self._register_payment(self.invoice, amount=amount, payment_date=on(day))

    def test_pending_promise_pauses_its_invoices(self):
        self._promise(20)
        with freeze_time(on(12)):
            run = self._run()
        self.assertFalse(run.reminder_ids)
        self.assertEqual(run.exception_ids.reason, "promise")

    def test_promise_kept_by_a_reconciled_payment(self):
        promise = self._promise(20)
        self._pay(600.0, 15)
        self.assertEqual(promise.state, "kept", "checked when the payment is reconciled")
        with freeze_time(on(21)):
            run = self._run()
        self.assertEqual(run.reminder_ids.level_id, self.level_2, "dunning resumes on what is still owed")
        self.assertEqual(set(run.reminder_ids.mapped("amount_residual")), {400.0})

    def test_promise_broken_moves_to_the_next_level_at_once(self):
        promise = self._promise(3)
        self._pay(100.0, 2)  # not enough
        self.assertEqual(promise.state, "pending")
        with freeze_time(on(4)):
            run = self._run()  # 4 days after the last reminder: the interval would hold, but a promise was broken
        self.assertEqual(promise.state, "broken")
        self.assertTrue(promise.escalated)
        self.assertEqual(run.reminder_ids.level_id, self.level_2)
        activity = promise.activity_ids
        self.assertEqual(activity.user_id, self.collector)
        self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
        with freeze_time(on(4)):
            self._dispatch()
        with freeze_time(on(6)):
            self.assertFalse(self._run().reminder_ids, "a broken promise escalates once")

    def test_promise_recorded_from_the_reminder(self):
        reminder = self.env["dunning.reminder"].search([("partner_id", "=", self.debtor.id)], limit=1)
        action = reminder.action_record_promise()
        promise = self.env["dunning.promise"].with_context(**action["context"]).create({"date_promised": on(9)})
        self.assertEqual(promise.move_ids, self.invoice)
        self.assertEqual(promise.amount, 1000.0)
        self.assertEqual(promise.amount_residual_start, 1000.0)
