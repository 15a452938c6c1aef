"""Delivery at scale: the debtor's channel preferences and SMS opt-out, the fallback of a reminder that could not
be delivered, and the policy's review before the scheduled run sends."""

from datetime import date
from unittest.mock import patch

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.sms.tests.common import SMSCase

from .common import on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 15)
LEVEL_1_DAY = on(11, DUE)  # level 1: email
LEVEL_2_DAY = on(21, DUE)  # level 2: email and SMS, in catch-up mode
PHONE = "0470 12 34 56"
PHONE_E164 = "+32470123456"


@tagged("post_install", "-at_install")
class TestChannelPreferences(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.escalation_mode = "catch_up"
        cls.debtor.phone = PHONE
        cls.collector = cls._create_collector("pref_collector")

    def _debtor_with_invoice(self, name, preference=False):
        debtor = self._create_debtor(
            name,
            email=f"{name.lower().replace(' ', '.')}@example.com",
            phone=PHONE,
            dunning_channel_preference=preference,
        )
        self._create_invoice_due(debtor, 100.0, DUE)
        return debtor

    def _channels_of(self, run, debtor):
        return set(run.reminder_ids.filtered(lambda reminder: reminder.partner_id == debtor).mapped("channel"))

    def test_preferences_filter_the_level_channels(self):
        self.level_2.write({"send_letter": True, "create_call": True})
        anyway = self._debtor_with_invoice("Any Channel")
        email_only = self._debtor_with_invoice("Email Only", "email")
        no_sms = self._debtor_with_invoice("No Sms", "no_sms")
        post_only = self._debtor_with_invoice("Post Only", "letter")
        with freeze_time(LEVEL_2_DAY):
            run = self._run()
        self.assertEqual(self._channels_of(run, anyway), {"email", "sms", "letter", "call"})
        # The call is the collector's work, not a message to the debtor: no preference removes it.
        self.assertEqual(self._channels_of(run, email_only), {"email", "call"})
        self.assertEqual(self._channels_of(run, no_sms), {"email", "letter", "call"})
        self.assertEqual(self._channels_of(run, post_only), {"letter", "call"})
        self.assertFalse(run.exception_ids.filtered(lambda exception: exception.reason == "no_channel"))

    def test_no_allowed_channel_is_a_run_exception(self):
        post_only = self._debtor_with_invoice("Post Only", "letter")  # level 2 sends email and SMS only
        with freeze_time(LEVEL_2_DAY):
            run = self._run()
        self.assertFalse(self._channels_of(run, post_only))
        exception = run.exception_ids.filtered(lambda exception: exception.partner_id == post_only)
        self.assertEqual(exception.reason, "no_channel")
        self.assertIn("Level 2", exception.detail)
        self.assertIn("Post Only", exception.detail)
        self.assertIn("Post only", exception.detail)

    def test_no_message_channel_left_but_the_call_is_an_exception(self):
        self.level_2.create_call = True
        post_only = self._debtor_with_invoice("Post Only", "letter")
        with freeze_time(LEVEL_2_DAY):
            run = self._run()
        self.assertEqual(self._channels_of(run, post_only), {"call"})
        self.assertEqual(run.exception_ids.filtered(lambda e: e.partner_id == post_only).reason, "no_channel")

    def test_only_collectors_set_the_preference(self):
        # Both may edit customers (Contact Creation); only the collector decides how the customer is dunned.
        colleague = self._create_user("pref_colleague", "account.group_account_invoice,base.group_partner_manager")
        collector = self._create_user("pref_editor", "receivable_dunning.group_dunning_user,base.group_partner_manager")
        with self.assertRaisesRegex(AccessError, "Only dunning users"):
            self.debtor.with_user(colleague).dunning_channel_preference = "email"
        self.debtor.with_user(collector).dunning_channel_preference = "email"
        self.assertEqual(self.debtor.dunning_channel_preference, "email")

    def test_sms_opt_out_through_the_phone_blacklist(self):
        self._create_invoice_due(self.debtor, 100.0, DUE)
        accountant = self._create_user("optout_accountant", "account.group_account_invoice")
        with self.assertRaises(AccessError):
            self.debtor.with_user(accountant).action_dunning_sms_opt_out()
        self.debtor.with_user(self.collector).action_dunning_sms_opt_out()
        self.assertTrue(self.env["phone.blacklist"].sudo().search([("number", "=", PHONE_E164)]))
        self.assertTrue(self.debtor.phone_sanitized_blacklisted)
        with freeze_time(LEVEL_2_DAY):
            run = self._run()
        self.assertEqual(self._channels_of(run, self.debtor), {"email"})
        self.assertFalse(run.exception_ids.filtered(lambda exception: exception.reason == "no_channel"))

    def test_opt_out_without_phone_names_the_field(self):
        self.debtor.phone = False
        with self.assertRaisesRegex(UserError, "Debtor One has no phone number .*Phone"):
            self.debtor.with_user(self.collector).action_dunning_sms_opt_out()

    def test_blacklisted_number_of_the_dunning_contact_gets_no_sms(self):
        other = self._debtor_with_invoice("Other Debtor")
        contact = self.env["res.partner"].create(
            {
                "name": "Accounts Payable",
                "parent_id": other.id,
                "dunning_contact": True,
                "email": "ap@example.com",
                "phone": "+32 470 99 88 77",
            }
        )
        self.env["phone.blacklist"].sudo()._add([contact.phone_sanitized])
        self._create_invoice_due(self.debtor, 100.0, DUE)
        with freeze_time(LEVEL_2_DAY):
            run = self._run()
        self.assertEqual(self._channels_of(run, other), {"email"})
        self.assertEqual(self._channels_of(run, self.debtor), {"email", "sms"}, "another number is not opted out")

    def test_refused_channels_of_many_debtors_at_once(self):
        debtors = self.env["res.partner"].create(
            [{"name": f"Debtor {index}", "phone": "+32 470 12 34 56" if index % 2 else False} for index in range(20)]
        )
        debtors[:4].dunning_channel_preference = "email"
        self.env["phone.blacklist"].sudo()._add([PHONE_E164])
        Partner = self.env["res.partner"]
        self.env.invalidate_all()
        with self.assertQueryCount(7):
            Partner._dunning_refused_channels({debtor.id: debtor for debtor in debtors[:2]})
        self.env.invalidate_all()
        with self.assertQueryCount(7):  # as many queries for ten times as many debtors
            refused = Partner._dunning_refused_channels({debtor.id: debtor for debtor in debtors})
        self.assertEqual({debtor.id for debtor in debtors[4:] if "sms" in refused[debtor.id]}, set(debtors[5::2].ids))
        self.assertEqual(refused[debtors[0].id], {"sms", "letter"})
        self.assertEqual(refused[debtors[10].id], set())


@tagged("post_install", "-at_install")
class TestDeliveryFallback(DunningEngineCommon, SMSCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.escalation_mode = "catch_up"
        cls.debtor.phone = PHONE
        cls.invoice = cls._create_invoice_due(cls.debtor, 1234.5, DUE)

    def _sent_run(self, day):
        with freeze_time(day):
            run = self._run()
            self._dispatch()
        self.assertEqual(set(run.reminder_ids.mapped("state")), {"sent"})
        return run

    def _bounce(self, reminder):
        """The mail gateway's call when the debtor's address sends the reminder's email back."""
        reminder._message_receive_bounce("debtor.one@example.com", self.debtor)

    def _sms_not_delivered(self, reminder):
        """The provider's delivery report that the SMS never reached the number."""
        with self.mockSMSGateway():
            reminder.sms_id.sudo()._send()
        tracker = (
            self.env["sms.tracker"]
            .sudo()
            .search([("mail_notification_id.mail_message_id", "=", reminder.mail_message_id.id)])
        )
        tracker._action_update_from_provider_error("invalid_destination")

    def test_email_bounce_falls_back_to_sms_once(self):
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        with freeze_time(on(2, LEVEL_1_DAY)):
            self._bounce(original)
        self.assertEqual(original.state, "failed")
        fallback = original.fallback_reminder_id
        self.assertEqual(fallback.channel, "sms")
        self.assertEqual(fallback.state, "queued")
        self.assertEqual(fallback.fallback_of_id, original)
        self.assertEqual(fallback.date_scheduled, on(2, LEVEL_1_DAY))
        self.assertEqual(fallback.line_ids.move_id, self.invoice)
        self.assertEqual(fallback.amount_total, original.amount_total)
        self.assertIn(fallback.name, original.message_ids[0].body)
        self.assertIn(original.name, fallback.message_ids[0].body)
        with freeze_time(on(2, LEVEL_1_DAY)):
            self._dispatch()
        self.assertEqual(fallback.state, "sent")
        self.assertEqual(fallback.sms_id.number, PHONE_E164)
        with freeze_time(on(3, LEVEL_1_DAY)):
            self._run()
        self.assertEqual(original.state, "failed", "its fallback replaced the retry")
        # A collector sends the email again by hand and it bounces again: no second fallback.
        with freeze_time(on(3, LEVEL_1_DAY)):
            original.action_retry()
            self._dispatch()
        self.assertEqual(original.state, "sent")
        self._bounce(original)
        self.assertEqual(original.state, "failed")
        self.assertEqual(original.fallback_reminder_id, fallback)
        self.assertEqual(self.env["dunning.reminder"].search_count([("partner_id", "=", self.debtor.id)]), 2)

    def test_a_fallback_has_no_fallback_and_is_retried(self):
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        self._bounce(original)
        fallback = original.fallback_reminder_id
        with freeze_time(LEVEL_1_DAY):
            self._dispatch()
        self._sms_not_delivered(fallback)
        self.assertEqual(fallback.state, "failed")
        self.assertFalse(fallback.fallback_reminder_id)
        self.assertEqual(self.env["dunning.reminder"].search_count([("partner_id", "=", self.debtor.id)]), 2)
        with freeze_time(on(1, LEVEL_1_DAY)):
            self._run()
        self.assertEqual(fallback.state, "queued", "the next run retries a failed fallback")
        self.assertEqual(original.state, "failed")

    def test_email_bounce_falls_back_to_letter_when_no_sms(self):
        self.debtor.dunning_channel_preference = "no_sms"
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        self._bounce(original)
        self.assertEqual(original.fallback_reminder_id.channel, "letter")

    def test_email_bounce_with_level_sms_already_sent_falls_back_to_letter(self):
        run = self._sent_run(LEVEL_2_DAY)
        email = run.reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self._bounce(email)
        self.assertEqual(email.fallback_reminder_id.channel, "letter", "the SMS of the level already went out")

    def test_sms_failure_falls_back_to_letter(self):
        run = self._sent_run(LEVEL_2_DAY)
        sms = run.reminder_ids.filtered(lambda reminder: reminder.channel == "sms")
        self._sms_not_delivered(sms)
        self.assertEqual(sms.state, "failed")
        letter = sms.fallback_reminder_id
        self.assertEqual(letter.channel, "letter")
        self.assertEqual(letter.run_id, run)
        with freeze_time(LEVEL_2_DAY):
            self._dispatch()
        self.assertEqual(letter.state, "sent")
        self.assertTrue(letter.letter_attachment_id)

    def test_preference_changed_after_queueing_holds_at_dispatch(self):
        """The debtor asked for post only after the run queued its email: the email is not sent, a letter takes
        its place once."""
        with freeze_time(LEVEL_1_DAY):
            email = self._run().reminder_ids
        self.debtor.dunning_channel_preference = "letter"
        with freeze_time(LEVEL_1_DAY):
            self._dispatch()
        self.assertEqual(email.state, "failed")
        self.assertFalse(email.mail_id)
        self.assertIn("Reminder Channels: Post only", email.error_message)
        letter = email.fallback_reminder_id
        self.assertEqual(letter.channel, "letter")
        with freeze_time(LEVEL_1_DAY):
            self._dispatch()
        self.assertEqual(letter.state, "sent")

    def test_sms_opt_out_after_queueing_holds_at_dispatch(self):
        with freeze_time(LEVEL_2_DAY):
            run = self._run()
        sms = run.reminder_ids.filtered(lambda reminder: reminder.channel == "sms")
        self.debtor.action_dunning_sms_opt_out()
        with freeze_time(LEVEL_2_DAY), self.mockSMSGateway():
            self._dispatch()
        self.assertEqual(sms.state, "failed")
        self.assertFalse(sms.sms_id)
        self.assertIn("SMS blacklist", sms.error_message)
        self.assertEqual(sms.fallback_reminder_id.channel, "letter")
        self.assertEqual(run.reminder_ids.filtered(lambda reminder: reminder.channel == "email").state, "sent")

    def test_no_fallback_without_another_contact(self):
        self.debtor.write({"phone": False, "street": False, "city": False})
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        self._bounce(original)
        self.assertEqual(original.state, "failed")
        self.assertFalse(original.fallback_reminder_id)
        with freeze_time(on(1, LEVEL_1_DAY)):
            self._run()
        self.assertEqual(original.state, "queued", "without a fallback the next run retries it")

    def test_transport_failure_is_retried_without_fallback(self):
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        self.env["dunning.reminder"]._report_delivery_failures(
            "email",
            {"messages": original.mail_message_id, "reason": "Connection refused", "failure_type": "mail_smtp"},
        )
        self.assertEqual(original.state, "failed")
        self.assertFalse(original.fallback_reminder_id)

    def test_connection_failure_shows_its_label(self):
        """The mail queue reports a connection failure with its type only: the reminder reads as a sentence."""
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        original.mail_id._postprocess_sent_message(success_pids=[], success_emails=[], failure_type="mail_smtp")
        self.assertEqual(original.state, "failed")
        self.assertEqual(original.error_message, "Connection failed (outgoing mail server problem)")

    def test_no_fallback_for_paid_invoices(self):
        original = self._sent_run(LEVEL_1_DAY).reminder_ids
        self._register_payment(self.invoice)
        self._bounce(original)
        self.assertEqual(original.state, "failed")
        self.assertFalse(original.fallback_reminder_id)


@tagged("post_install", "-at_install")
class TestReviewBeforeSending(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.review_before_sending = True
        cls._create_invoice_due(cls.debtor, 100.0, DUE)
        cls.manager = cls._create_user("review_manager", "receivable_dunning.group_dunning_manager")
        cls.collector = cls._create_user("review_collector", "receivable_dunning.group_dunning_user")

    def _cron_run(self):
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0), freeze_time(LEVEL_1_DAY):
            self.env["dunning.run"]._cron_dunning_run()
        return self.env["dunning.run"].search([("trigger", "=", "scheduled"), ("company_id", "=", self.company.id)])

    def test_scheduled_run_stops_in_review_until_a_manager_sends(self):
        run = self._cron_run()
        self.assertEqual(run.state, "review")
        self.assertEqual(run.reminder_ids.mapped("state"), ["draft"])
        self.assertIn(self.manager, run.activity_ids.user_id)
        self.assertNotIn(self.collector, run.activity_ids.user_id)
        with freeze_time(LEVEL_1_DAY):
            self.assertFalse(self._dispatch(), "nothing is sent before the review")
        with self.assertRaises(AccessError):
            run.with_user(self.collector).action_send()
        with freeze_time(LEVEL_1_DAY):
            run.with_user(self.manager).action_send()
            self.assertEqual(run.state, "done")
            self.assertFalse(run.activity_ids, "the managers' activities are done")
            self._dispatch()
        self.assertEqual(run.reminder_ids.mapped("state"), ["sent"])

    def test_scheduled_run_of_other_policies_sends_at_once(self):
        self.policy.review_before_sending = False
        run = self._cron_run()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.reminder_ids.mapped("state"), ["queued"])
        self.assertFalse(run.activity_ids)

    def test_manual_run_keeps_its_mode(self):
        with freeze_time(LEVEL_1_DAY):
            run = self._run()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.reminder_ids.mapped("state"), ["queued"])
        self.assertFalse(run.activity_ids)
        with freeze_time(LEVEL_1_DAY):
            sent = self._dispatch()
        self.assertEqual(sent, run.reminder_ids)
