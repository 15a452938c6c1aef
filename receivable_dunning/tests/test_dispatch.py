from datetime import date
from unittest.mock import patch

from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.sms.tests.common import SMSCase

from ..models.dunning_reminder import DunningChannel
from .common import on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 15)
TODAY = on(11, DUE)


@tagged("post_install", "-at_install")
class TestDispatch(DunningEngineCommon, SMSCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.invoice = cls._create_invoice_due(cls.debtor, 1234.5, DUE)

    def _queue(self):
        with freeze_time(TODAY):
            return self._run()

    def test_email_through_the_smtp_server(self):
        run = self._queue()
        with self.smtp_sink() as sink, freeze_time(TODAY):
            sent = self._dispatch()
            self._flush_mail_queue()
        self.assertEqual(sent, run.reminder_ids)
        messages = sink.messages_to("debtor.one@example.com")
        self.assertEqual(len(messages), 1)
        message = messages[0]
        self.assertIn(run.reminder_ids.name, message["Subject"])
        body = sink.html_body(message)
        self.assertIn(self.invoice.name, body)
        self.assertIn("1,234.50", body)
        self.assertIn("06/15/2026", body, "English date format")
        self.assertIn(f"/my/invoices/{self.invoice.id}?access_token={self.invoice.access_token}", body)
        self.assertIn(self.invoice.payment_reference or self.invoice.name, body)

    def test_email_stored_once(self):
        """The email's HTML is the mail's, as sent; the reminder's chatter entry names it in one line, and the
        reminder's Email tab shows it."""
        run = self._queue()
        with freeze_time(TODAY):
            self._dispatch()
        reminder = run.reminder_ids
        mail = reminder.mail_id
        self.assertIn(self.invoice.name, mail.body_html)
        self.assertEqual(reminder.mail_message_id, mail.mail_message_id)
        self.assertNotIn(self.invoice.name, str(reminder.mail_message_id.body))
        self.assertIn("Email tab", str(reminder.mail_message_id.body))
        self.assertEqual(reminder.mail_message_id.subject, mail.subject)
        self.assertEqual(reminder.mail_message_id.partner_ids, self.debtor)
        dunning_user = self._create_user("collector_email_tab", "receivable_dunning.group_dunning_user")
        self.assertIn(self.invoice.name, str(reminder.with_user(dunning_user).email_body))

    def test_email_in_the_debtor_language(self):
        self.env["ir.module.module"].search([("name", "=", "receivable_dunning")])._update_translations(["fr_FR"])
        self.debtor.lang = "fr_FR"
        self._queue()
        with self.smtp_sink() as sink, freeze_time(TODAY):
            self._dispatch()
            self._flush_mail_queue()
        body = sink.html_body(sink.messages_to("debtor.one@example.com")[0])
        self.assertIn("15/06/2026", body, "French date format")
        self.assertIn("Selon nos écritures", body)
        self.assertIn("Échéance", body)

    def test_effects_of_a_sent_reminder(self):
        run = self._queue()
        with freeze_time(TODAY):
            self._dispatch()
        self.assertEqual(run.reminder_ids.state, "sent")
        self.assertEqual(self.invoice.dunning_level_id, self.level_1)
        self.assertEqual(self.invoice.dunning_last_date, TODAY)
        self.assertIn(run.reminder_ids.name, self.debtor.message_ids[0].body)
        self.assertTrue(run.reminder_ids.mail_id)

    def test_an_invoice_listed_twice_in_a_batch_ends_at_the_higher_level(self):
        """Two reminders of one batch list the invoice at two levels (a level-1 reminder retried beside the level-2
        one of a later run), the higher level first: the invoice ends at the higher level, dated once."""
        first = self._queue().reminder_ids
        later = self.env["dunning.reminder"]._bulk_create(
            [
                {
                    "run_id": None,
                    "company_id": first.company_id.id,
                    "currency_id": first.currency_id.id,
                    "partner_id": self.debtor.id,
                    "recipient_id": self.debtor.id,
                    "level_id": self.level_2.id,
                    "channel": "email",
                    "state": "queued",
                    "trigger": first.trigger,
                    "date_scheduled": TODAY,
                    "line_ids": [
                        {
                            "move_id": self.invoice.id,
                            "level_id": self.level_2.id,
                            "is_escalation": True,
                            "date_due": DUE,
                            "days_overdue": (TODAY - DUE).days,
                            "amount_residual": 1234.5,
                        }
                    ],
                }
            ]
        )
        with freeze_time(TODAY):
            sent = (later | first)._dispatch()
        self.assertEqual(sent, later | first)
        self.assertEqual(self.invoice.dunning_level_id, self.level_2)
        self.assertEqual(self.invoice.dunning_last_date, TODAY)

    def _sent_sms_reminder(self):
        self.policy.escalation_mode = "catch_up"
        self.debtor.write({"phone": "0470 12 34 56", "country_id": self.env.ref("base.be").id})
        self.invoice.invoice_date_due = on(-10, DUE)  # level 2: email and SMS
        run = self._queue()
        sms_reminder = run.reminder_ids.filtered(lambda e: e.channel == "sms")
        with freeze_time(TODAY):
            self._dispatch()
        self.assertEqual(sms_reminder.state, "sent")
        return run, sms_reminder

    def test_sms_number_in_e164(self):
        _run, sms_reminder = self._sent_sms_reminder()
        self.assertEqual(sms_reminder.sms_id.number, "+32470123456")
        self.assertIn(sms_reminder.name, sms_reminder.sms_id.body)
        self.assertEqual(sms_reminder.mail_message_id.message_type, "sms")
        with self.mockSMSGateway():
            sms_reminder.sms_id.sudo()._send()
        self.assertSMSIapSent(["+32470123456"])

    def test_sms_and_calls_of_a_batch_sent_together(self):
        """Two debtors at a level with SMS and a call: each SMS goes to its own number with its own text, each call
        is for its own debtor, the batch needing no second try one reminder at a time."""
        self.policy.escalation_mode = "catch_up"
        self.level_2.create_call = True
        other = self._create_debtor("Debtor Two", email="debtor.two@example.com", phone="0471 98 76 54")
        self.debtor.phone = "0470 12 34 56"
        for invoice in (self.invoice, self._create_invoice_due(other, 50.0, DUE)):
            invoice.invoice_date_due = on(-10, DUE)  # level 2: email, SMS and call
        run = self._queue()
        with (
            self.assertNoLogs("odoo.addons.receivable_dunning.models.dunning_reminder", level="INFO"),
            freeze_time(TODAY),
        ):
            self._dispatch()
        self.assertEqual(set(run.reminder_ids.mapped("state")), {"sent"})
        for debtor, number in ((self.debtor, "+32470123456"), (other, "+32471987654")):
            sms = run.reminder_ids.filtered(lambda r, debtor=debtor: r.partner_id == debtor and r.channel == "sms")
            self.assertEqual(sms.sms_id.number, number)
            self.assertIn(sms.name, sms.sms_id.body)
            call = run.reminder_ids.filtered(lambda r, debtor=debtor: r.partner_id == debtor and r.channel == "call")
            self.assertIn(debtor.name, call.activity_id.summary)

    def test_sms_refused_by_provider_fails_and_is_retried(self):
        run, sms_reminder = self._sent_sms_reminder()
        first_sms = sms_reminder.sms_id
        with self.mockSMSGateway(sim_error="credit"):
            first_sms.sudo()._send()
        self.assertEqual(first_sms.state, "error")
        self.assertEqual(sms_reminder.state, "failed")
        self.assertIn("+32470123456", sms_reminder.error_message)
        self.assertIn("Insufficient Credit", sms_reminder.error_message)
        self.assertEqual(sms_reminder.attempt_count, 1)
        self.assertEqual(run.reminder_ids.filtered(lambda e: e.channel == "email").state, "sent")
        # A collector (no administrator) sends it again now; the refused SMS is cancelled.
        collector = self._create_user("sms_collector", "receivable_dunning.group_dunning_user")
        with freeze_time(TODAY):
            sms_reminder.with_user(collector).action_retry()
            self.assertEqual(sms_reminder.state, "queued")
            sms_reminder.with_user(collector).action_send_now()
        self.assertEqual(sms_reminder.state, "sent")
        self.assertNotEqual(sms_reminder.sms_id, first_sms)
        self.assertEqual(first_sms.state, "canceled")
        with self.mockSMSGateway():
            sms_reminder.sms_id.sudo()._send()
        self.assertSMSIapSent(["+32470123456"])
        self.assertEqual(sms_reminder.state, "sent")

    def test_sms_bounce_reported_later_fails_the_reminder(self):
        _run, sms_reminder = self._sent_sms_reminder()
        with self.mockSMSGateway():
            sms_reminder.sms_id.sudo()._send()
        self.assertEqual(sms_reminder.state, "sent")
        # The provider's delivery reports, as /sms/status hands them over days later (as superuser).
        trackers = self.env["sms.tracker"].sudo()
        # A report on another SMS leaves the reminder alone.
        other_message = self.debtor._message_sms("Unrelated", sms_numbers=["+32470999999"], put_in_queue=True)
        other_tracker = trackers.search([("mail_notification_id.mail_message_id", "=", other_message.id)])
        self.assertEqual(len(other_tracker), 1)
        other_tracker._action_update_from_provider_error("invalid_destination")
        self.assertEqual(sms_reminder.state, "sent")
        tracker = trackers.search([("mail_notification_id.mail_message_id", "=", sms_reminder.mail_message_id.id)])
        self.assertEqual(len(tracker), 1)
        tracker._action_update_from_provider_error("invalid_destination")
        self.assertEqual(sms_reminder.state, "failed")
        self.assertIn("+32470123456", sms_reminder.error_message)
        self.assertEqual(sms_reminder.attempt_count, 1)

    def test_invalid_phone_fails_with_reason(self):
        self.policy.escalation_mode = "catch_up"
        self.debtor.phone = "12"
        self.invoice.invoice_date_due = on(-10, DUE)
        run = self._queue()
        sms_reminder = run.reminder_ids.filtered(lambda e: e.channel == "sms")
        self.assertEqual(run.exception_ids.reason, "no_contact")
        with freeze_time(TODAY):
            self._dispatch()
        self.assertEqual(sms_reminder.state, "failed")
        self.assertIn("field Phone", sms_reminder.error_message)
        self.assertEqual(sms_reminder.attempt_count, 1)
        self.assertEqual(run.reminder_ids.filtered(lambda e: e.channel == "email").state, "sent")

    def test_call_activity_for_the_collector(self):
        collector = self._create_collector("collector")
        self.level_1.write({"send_email": False, "create_call": True})
        run = self._queue()
        with freeze_time(TODAY):
            self._dispatch()
        activity = run.reminder_ids.activity_id
        self.assertEqual(activity.user_id, collector)
        self.assertEqual(activity.date_deadline, TODAY)
        self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
        self.assertIn(self.invoice.name, str(activity.note))

    def test_call_activity_passes_over_an_archived_salesperson(self):
        """Without a collector the call goes to the invoice's salesperson, unless that user is archived (OdooBot,
        someone who left): then to the administrator, not to a user nobody reads."""
        gone = self.env["res.users"].create({"name": "Former Salesperson", "login": "rd-former-salesperson"})
        self.invoice.invoice_user_id = gone
        gone.active = False
        self.level_1.write({"send_email": False, "create_call": True})
        run = self._queue()
        with freeze_time(TODAY):
            self._dispatch()
        self.assertEqual(run.reminder_ids.activity_id.user_id, self.env.ref("base.user_admin"))

    def test_bad_contacts_fail_alone(self):
        debtors = self.env["res.partner"].create(
            [
                {"name": f"Debtor {index}", "email": f"d{index}@example.com" if index % 20 else "no-at-sign"}
                for index in range(40)
            ]
        )
        for debtor in debtors:
            self._create_invoice_due(debtor, 100.0, DUE)
        run = self._queue()
        with self.smtp_sink() as sink, freeze_time(TODAY):
            self._dispatch()
            self._flush_mail_queue()
        reminders = run.reminder_ids.filtered(lambda e: e.partner_id in debtors)
        failed = reminders.filtered(lambda e: e.state == "failed")
        self.assertEqual(sorted(failed.partner_id.mapped("name")), ["Debtor 0", "Debtor 20"])
        self.assertTrue(all("field Email" in error for error in failed.mapped("error_message")))
        self.assertEqual(len(reminders.filtered(lambda e: e.state == "sent")), 38)
        self.assertEqual(
            len({rcpt for item in sink.messages for rcpt in item["rcpt_tos"]} - {"debtor.one@example.com"}), 38
        )
        failed_action = self.env.ref("receivable_dunning.dunning_reminder_action_failed")
        self.assertIn("search_default_filter_failed", failed_action.context)
        self.assertEqual(self.env["dunning.reminder"].search([("state", "=", "failed")]), failed)

    def test_smtp_refusal_fails_the_reminder_then_retry(self):
        run = self._queue()
        with self.smtp_sink(refused={"debtor.one@example.com"}) as sink, freeze_time(TODAY):
            self._dispatch()
            self._flush_mail_queue()
        self.assertFalse(sink.messages)
        reminder = run.reminder_ids
        self.assertEqual(reminder.state, "failed")
        self.assertTrue(reminder.error_message)
        with freeze_time(on(1, TODAY)):
            self._run()  # the next run puts failed reminders back in the queue
        self.assertEqual(reminder.state, "queued")
        with self.smtp_sink() as sink, freeze_time(on(1, TODAY)):
            self._dispatch()
            self._flush_mail_queue()
        self.assertEqual(reminder.state, "sent")
        self.assertEqual(len(sink.messages_to("debtor.one@example.com")), 1)

    def _bounce(self, message, email):
        """Hand the mail gateway a delivery status notification, as a mail server returns it for ``message``."""
        dsn = "\n".join(
            [
                "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)",
                "To: bounce@example.com",
                "Subject: Undelivered Mail Returned to Sender",
                f"Message-Id: <dsn-{message.id}-{email}>",
                "MIME-Version: 1.0",
                'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"',
                "",
                "--DSN",
                "Content-Type: text/plain",
                "",
                "550 No such person at this address.",
                "--DSN",
                "Content-Type: message/delivery-status",
                "",
                "Reporting-MTA: dns; mail.example.com",
                "",
                f"Final-Recipient: rfc822; {email}",
                "Action: failed",
                "Status: 5.1.1",
                "--DSN",
                "Content-Type: text/rfc822-headers",
                "",
                f"Message-Id: {message.message_id}",
                "Subject: Reminder",
                "--DSN--",
                "",
            ]
        )
        self.env["mail.thread"].sudo().message_process(False, dsn)

    def test_email_bounce_reported_later_fails_the_reminder(self):
        # No other channel reaches the debtor: no fallback takes the reminder's place (see test_delivery_preferences).
        self.debtor.write({"street": False, "city": False})
        self.level_1.cc_mode = "collector"
        self.debtor.with_company(self.env.company).dunning_collector_id = self.env.user
        self.env.user.email = "collector@example.com"
        run = self._queue()
        with self.smtp_sink() as sink, freeze_time(TODAY):
            self._dispatch()
            self._flush_mail_queue()
        reminder = run.reminder_ids
        self.assertEqual(reminder.state, "sent")
        self.assertEqual(len(sink.messages_to("debtor.one@example.com")), 1)
        # The copy to the collector bounces: the reminder reached the debtor all the same.
        self._bounce(reminder.mail_message_id, "collector@example.com")
        self.assertEqual(reminder.state, "sent")
        self._bounce(reminder.mail_message_id, "debtor.one@example.com")
        self.assertEqual(reminder.state, "failed")
        self.assertIn("debtor.one@example.com", reminder.error_message)
        self.assertEqual(reminder.attempt_count, 1)
        with freeze_time(on(1, TODAY)):
            self._run()
        self.assertEqual(reminder.state, "queued", "the next run sends it again")

    def test_payment_cancels_pending_reminders_and_thanks(self):
        other = self._create_invoice_due(self.debtor, 100.0, DUE)
        run = self._queue()
        with freeze_time(TODAY):
            self._dispatch()
        self.assertEqual(self.invoice.dunning_level_id, self.level_1)
        queued = run.reminder_ids.copy({"state": "queued"})  # a reminder still waiting in the queue
        self._register_payment(self.invoice)
        self.assertEqual(queued.line_ids.move_id, other, "the paid invoice left the pending reminder")
        thanks = self.env["dunning.reminder"].search([("reminder_type", "=", "thanks")])
        self.assertEqual(thanks.line_ids.move_id, self.invoice)
        self.assertEqual(thanks.state, "queued")
        with self.smtp_sink() as sink, freeze_time(TODAY):
            thanks._dispatch()
            self._flush_mail_queue()
        message = sink.messages_to("debtor.one@example.com")[0]
        self.assertIn("thank you", message["Subject"].lower())
        self.assertIn(self.invoice.name, sink.html_body(message))

    def test_payment_of_every_invoice_cancels_the_reminder(self):
        run = self._queue()
        self._register_payment(self.invoice)
        self.assertEqual(run.reminder_ids.state, "cancelled")

    def test_template_error_fails_the_reminder(self):
        # Written before any reminder exists: Odoo renders a template on an existing record to accept it.
        self.assertFalse(self.env["dunning.reminder"].search_count([]))
        template = self.env.ref("receivable_dunning.mail_template_dunning_reminder")
        template.body_html = '<p><t t-out="object.partner_id.dunning_no_such_field"/></p>'
        run = self._queue()
        with (
            mute_logger(
                "odoo.addons.receivable_dunning.models.dunning_reminder", "odoo.addons.mail.models.mail_render_mixin"
            ),
            freeze_time(TODAY),
        ):
            self._dispatch()
        self.assertEqual(run.reminder_ids.state, "failed")
        self.assertIn("dunning_no_such_field", run.reminder_ids.error_message)
        self.assertFalse(run.reminder_ids.mail_id)

    def _three_debtors_in_three_languages(self):
        """The English debtor of the class, a French and a Spanish one, each with an invoice of its own."""
        module = self.env["ir.module.module"].search([("name", "=", "receivable_dunning")])
        self.env["res.lang"]._activate_lang("es_ES")
        module._update_translations(["fr_FR", "es_ES"])
        french = self._create_debtor("Débiteur Français", email="fr@example.com", lang="fr_FR")
        spanish = self._create_debtor("Deudor Español", email="es@example.com", lang="es_ES")
        invoices = {
            self.debtor: self.invoice,
            french: self._create_invoice_due(french, 222.0, DUE),
            spanish: self._create_invoice_due(spanish, 333.0, DUE),
        }
        return invoices

    def test_a_batch_gives_each_debtor_its_own_email_in_its_language(self):
        """One batch, three debtors: each email names its own debtor and invoice only, in the debtor's language,
        and is what Odoo's own rendering of the template gives for that reminder alone."""
        invoices = self._three_debtors_in_three_languages()
        run = self._queue()
        self.assertEqual(len(run.reminder_ids), 3)
        with self.smtp_sink() as sink, freeze_time(TODAY):
            self.assertEqual(self._dispatch(), run.reminder_ids)
            self._flush_mail_queue()
        expected_text = {"en_US": "According to our records", "fr_FR": "Selon nos écritures", "es_ES": "Según nuestros"}
        for debtor, invoice in invoices.items():
            body = sink.html_body(sink.messages_to(debtor.email)[0])
            self.assertIn(debtor.name, body)
            self.assertIn(invoice.name, body)
            self.assertIn(expected_text[debtor.lang or "en_US"], body)
            for other in invoices.keys() - {debtor}:
                self.assertNotIn(other.name, body)
                self.assertNotIn(invoices[other].name, body)
        template = self.env.ref("receivable_dunning.mail_template_dunning_reminder")
        for reminder in run.reminder_ids:
            # One record: Odoo's own per-record rendering, not the module's batch.
            alone = template._render_field("body_html", reminder.ids, compute_lang=True)[reminder.id]
            self.assertEqual(reminder.mail_id.body_html, alone)

    def test_a_reminder_that_cannot_be_rendered_spares_its_batch(self):
        """A level's template that fails for one debtor: that reminder fails with the reason, the others of its
        batch are sent."""
        invoices = self._three_debtors_in_three_languages()
        french = next(debtor for debtor in invoices if debtor.lang == "fr_FR")
        self.debtor.union(*invoices).ref = "CUST"
        french.ref = False
        template = self.env.ref("receivable_dunning.mail_template_dunning_reminder").copy(
            {"body_html": '<p>Customer <t t-out="object.partner_id.ref.lower()"/></p>'}
        )
        self.level_1.mail_template_id = template
        run = self._queue()
        with (
            mute_logger(
                "odoo.addons.receivable_dunning.models.dunning_reminder", "odoo.addons.mail.models.mail_render_mixin"
            ),
            freeze_time(TODAY),
        ):
            sent = self._dispatch()
        failed = run.reminder_ids.filtered(lambda reminder: reminder.partner_id == french)
        self.assertEqual(sent, run.reminder_ids - failed)
        self.assertEqual(failed.state, "failed")
        self.assertIn("lower", failed.error_message)
        self.assertEqual(failed.attempt_count, 1)
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        self.assertEqual(len(sent.mail_id), 2)

    def test_invoice_links_without_writing_the_invoices(self):
        """The "View and pay" links get the invoices' tokens without account.move.write: no re-synchronisation of
        the invoice, no "manually modified" flag, no chatter line on it."""
        self.assertFalse(self.invoice.access_token)
        self.invoice.is_manually_modified = False
        messages_before = self.invoice.message_ids
        run = self._queue()
        Move = type(self.env["account.move"])
        with patch.object(Move, "write", autospec=True, side_effect=Move.write) as move_write, freeze_time(TODAY):
            self._dispatch()
        self.assertFalse(move_write.call_args_list)
        self.assertTrue(self.invoice.access_token)
        self.assertIn(f"access_token={self.invoice.access_token}", run.reminder_ids.mail_id.body_html)
        self.assertFalse(self.invoice.is_manually_modified)
        self.assertEqual(self.invoice.dunning_level_id, self.level_1)
        self.assertEqual(self.invoice.message_ids, messages_before)

    def test_resend_without_new_charges(self):
        self.policy.escalation_mode = "catch_up"
        self.invoice.invoice_date_due = on(-30, DUE)
        run = self._queue()
        with freeze_time(TODAY):
            self._dispatch()
            self.assertEqual(run.reminder_ids.amount_fee, 40.0)
            copy = run.reminder_ids.action_resend()
        self.assertEqual(copy.state, "sent")
        self.assertNotEqual(copy.name, run.reminder_ids.name)
        self.assertFalse(copy.line_ids.filtered("is_escalation"))
        self.assertEqual(copy.amount_fee, 0.0)
        self.assertEqual(copy.amount_residual, 1234.5)


@tagged("post_install", "-at_install")
class TestChannelRegistry(DunningEngineCommon):
    """A channel is one entry of the registry: whatever it declares is what the run, the dispatch and the delivery
    reports use."""

    def test_every_channel_of_the_selection_is_in_the_registry(self):
        Reminder = self.env["dunning.reminder"]
        self.assertEqual(list(Reminder._channels()), Reminder._fields["channel"].get_values(self.env))

    def test_a_channel_added_to_the_registry_is_queued_checked_sent_and_failed(self):
        Reminder = type(self.env["dunning.reminder"])
        fancier = self._create_debtor("Pigeon Fancier", email="fancier@example.com", ref="LOFT-1")
        no_loft = self._create_debtor("No Loft", email="no.loft@example.com")
        for debtor in fancier + no_loft:
            self._create_invoice_due(debtor, 100.0, DUE)
        flown = []

        def send_pigeon(reminders):  # a channel's sender gets the batch of its reminders
            flown.extend(reminders.partner_id)

        def contact_problem_pigeon(model, recipient):
            return False if recipient.ref else f"{recipient.name} has no loft (field Reference)."

        def delivery_failures_pigeon(model, report):
            return dict.fromkeys(model.search([("partner_id", "in", report["lost"].ids)]), "The pigeon got lost.")

        channels = {
            **self.env["dunning.reminder"]._channels(),
            "pigeon": DunningChannel(
                level_field="attach_invoices",  # stands for the boolean an add-on adds to the level
                send="_send_pigeon",
                contact_problem="_contact_problem_pigeon",
                delivery_failures="_delivery_failures_pigeon",
            ),
        }
        field = Reminder._fields["channel"]
        with (
            patch.object(Reminder, "_channels", lambda self: channels),
            patch.object(Reminder, "_send_pigeon", send_pigeon, create=True),
            patch.object(Reminder, "_contact_problem_pigeon", contact_problem_pigeon, create=True),
            patch.object(Reminder, "_delivery_failures_pigeon", delivery_failures_pigeon, create=True),
            patch.object(field, "selection", [*field.selection, ("pigeon", "Carrier Pigeon")]),
            patch.object(field, "_selection", {**field._selection, "pigeon": "Carrier Pigeon"}),
            freeze_time(TODAY),
        ):
            self.level_1.write({"send_email": False, "attach_invoices": True})
            run = self._run()
            self.assertEqual(run.reminder_ids.mapped("channel"), ["pigeon", "pigeon"])
            self.assertEqual(run.exception_ids.partner_id, no_loft)
            self.assertEqual(run.exception_ids.detail, "No Loft has no loft (field Reference).")
            self._dispatch()
            self.assertEqual(flown, [fancier])
            sent = run.reminder_ids.filtered(lambda reminder: reminder.partner_id == fancier)
            unreachable = run.reminder_ids - sent
            self.assertEqual(sent.state, "sent")
            self.assertEqual(
                (unreachable.state, unreachable.error_message), ("failed", "No Loft has no loft (field Reference).")
            )
            self.env["dunning.reminder"]._report_delivery_failures("pigeon", {"lost": fancier})
            self.assertEqual(
                (sent.state, sent.error_message, sent.attempt_count), ("failed", "The pigeon got lost.", 1)
            )
