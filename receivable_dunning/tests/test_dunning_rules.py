from freezegun import freeze_time
from stdnum import iso11649

from odoo.tests import tagged

from .common import on
from .engine_common import DunningEngineCommon


@tagged("post_install", "-at_install")
class TestDunningRules(DunningEngineCommon):
    def test_minimum_amount_keeps_the_debtor_at_its_level(self):
        self.level_2.min_amount = 500.0
        invoice = self._create_invoice_due(self.debtor, 300.0, on(-25))
        invoice.dunning_level_id = self.level_1
        with freeze_time(on(0)):
            run = self._run()
        self.assertFalse(run.reminder_ids, "300 overdue is under the 500 that level 2 asks")
        self.assertEqual(run.exception_ids.reason, "under_minimum")
        self._create_invoice_due(self.debtor, 250.0, on(-1))
        with freeze_time(on(1)):
            run = self._run()
        self.assertEqual(run.reminder_ids.level_id, self.level_2, "550 overdue now")

    def test_minimum_share_of_the_open_balance(self):
        self.level_1.min_share = 50.0
        self._create_invoice_due(self.debtor, 100.0, on(-11))
        not_due = self._create_invoice_due(self.debtor, 900.0, on(30))
        with freeze_time(on(0)):
            run = self._run()
        self.assertFalse(run.reminder_ids, "100 overdue is 10% of the 1000 owed")
        self.assertEqual(run.exception_ids.reason, "under_minimum")
        self._register_payment(not_due)
        with freeze_time(on(1)):
            self.assertEqual(self._run().reminder_ids.level_id, self.level_1)

    def test_catch_up_caps_at_the_highest_level_the_thresholds_allow(self):
        self.policy.escalation_mode = "catch_up"
        self.level_3.min_amount = 1000.0
        self._create_invoice_due(self.debtor, 300.0, on(-40))
        with freeze_time(on(0)):
            self.assertEqual(self._run().reminder_ids.level_id, self.level_2)

    def test_grace_days(self):
        self.policy.grace_days = 3
        self._create_invoice_due(self.debtor, 100.0, on(-11))
        with freeze_time(on(0)):
            self.assertFalse(self._run().reminder_ids, "11 days late: under the 10 + 3 days of grace")
        with freeze_time(on(2)):
            self.assertEqual(self._run().reminder_ids.level_id, self.level_1)

    def test_both_modes_over_simulated_months(self):
        step_debtor = self.debtor
        catch_up_debtor = self._create_debtor("Catch-up debtor", email="catch@example.com")
        catch_up_policy = self._create_policy("Catch-up", self.company, escalation_mode="catch_up")
        catch_up_debtor.dunning_policy_id = catch_up_policy
        step_invoice = self._create_invoice_due(step_debtor, 100.0, on(-60))
        catch_up_invoice = self._create_invoice_due(catch_up_debtor, 100.0, on(-60))
        history = {step_invoice: [], catch_up_invoice: []}
        for month in range(3):
            with freeze_time(on(30 * month)):
                self._run()
                self._dispatch()
            for invoice, levels in history.items():
                levels.append(invoice.dunning_level_id.name)
        self.assertEqual(history[step_invoice], ["Level 1", "Level 2", "Level 3"])
        self.assertEqual(history[catch_up_invoice], ["Level 3", "Level 3", "Level 3"])

    def test_recipient_chain(self):
        self._create_invoice_due(self.debtor, 100.0, on(-11))
        with freeze_time(on(0)):
            self.assertEqual(self._run().reminder_ids.recipient_id, self.debtor, "no contact: the debtor itself")
        self.env["dunning.reminder"].search([]).action_cancel()
        invoicing = self.env["res.partner"].create(
            {"name": "Invoicing", "parent_id": self.debtor.id, "type": "invoice", "email": "inv@example.com"}
        )
        with freeze_time(on(0)):
            self.assertEqual(self._run().reminder_ids.recipient_id, invoicing)
        self.env["dunning.reminder"].search([]).action_cancel()
        dunning = self.env["res.partner"].create(
            {
                "name": "Credit manager",
                "parent_id": self.debtor.id,
                "email": "credit@example.com",
                "dunning_contact": True,
                "lang": "fr_FR",
            }
        )
        with freeze_time(on(0)):
            reminder = self._run().reminder_ids
        self.assertEqual(reminder.recipient_id, dunning)
        self.assertEqual(reminder._mail_template()._render_lang(reminder.ids)[reminder.id], "fr_FR")

    def test_missing_contact_is_an_exception_before_sending(self):
        self.debtor.email = False
        self._create_invoice_due(self.debtor, 100.0, on(-11))
        with freeze_time(on(0)):
            run = self._run()
        self.assertEqual(run.exception_ids.reason, "no_contact")
        self.assertIn("Email", run.exception_ids.detail)
        self.assertEqual(run.reminder_ids.state, "queued", "recorded, and failed with the reason at sending")

    def test_copy_to_collector_and_attachments_in_the_mail_received(self):
        collector = self._create_collector("collector_cc")
        collector.email = "collector@company.example.com"
        self.level_1.write({"cc_mode": "collector", "attach_invoices": True, "send_letter": True})
        first = self._create_invoice_due(self.debtor, 100.0, on(-11))
        second = self._create_invoice_due(self.debtor, 200.0, on(-12))
        with freeze_time(on(0)):
            self._run()
            with self.smtp_sink() as sink:
                self._dispatch()
                self._flush_mail_queue()
        to_debtor = sink.messages_to("debtor.one@example.com")
        self.assertEqual(len(to_debtor), 1)
        to_collector = sink.messages_to("collector@company.example.com")
        self.assertEqual([message["Subject"] for message in to_collector], [to_debtor[0]["Subject"]])
        names = sink.attachment_names(to_debtor[0])
        for invoice in first | second:
            self.assertTrue(any(invoice.name.replace("/", "_") in name for name in names), names)
        self.assertTrue(any(name.startswith("DUN-") for name in names), "the reminder letter")

    def test_one_reference_for_a_grouped_reminder(self):
        self._create_invoice_due(self.debtor, 100.0, on(-11))
        self._create_invoice_due(self.debtor, 200.0, on(-12))
        with freeze_time(on(0)):
            reminder = self._run().reminder_ids
            self.assertEqual(reminder.invoice_count, 2)
            self.assertTrue(iso11649.is_valid(reminder.payment_reference))
            with self.smtp_sink() as sink:
                self._dispatch()
                self._flush_mail_queue()
        self.assertIn(reminder.payment_reference, sink.html_body(sink.messages_to("debtor.one@example.com")[0]))
        other = self._create_debtor("Other", email="other@example.com")
        self._create_invoice_due(other, 100.0, on(-11))
        with freeze_time(on(0)):
            self.assertNotEqual(self._run().reminder_ids.payment_reference, reminder.payment_reference)
