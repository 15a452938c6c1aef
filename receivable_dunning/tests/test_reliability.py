from datetime import date
from unittest.mock import patch

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.mail.models.mail_mail import MailMail as OdooMailMail

from .common import committed_connections, on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 15)
TODAY = on(11, DUE)


@tagged("post_install", "-at_install")
class TestReliability(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.debtors = cls.env["res.partner"].create(
            [{"name": f"Debtor {index:02d}", "email": f"debtor{index}@example.com"} for index in range(7)]
        )
        for debtor in cls.debtors:
            cls._create_invoice_due(debtor, 100.0, DUE)

    def _cron_dispatch(self):
        """One call of the dispatch cron; its commit point is recorded instead of committing the test."""
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0) as progress:
            self.env["dunning.reminder"]._cron_dunning_dispatch()
        return progress

    def test_batches_report_progress(self):
        self.env["ir.config_parameter"].set_param("receivable_dunning.dispatch_batch_size", 3)
        with freeze_time(TODAY):
            self._run()
            progress = self._cron_dispatch()
        progress.assert_called_once_with(3, remaining=4)
        self.assertEqual(len(self.env["dunning.reminder"].search([("state", "=", "sent")])), 3)

    def test_run_killed_midway_then_restarted_sends_each_reminder_once(self):
        self.env["ir.config_parameter"].set_param("receivable_dunning.dispatch_batch_size", 2)
        original = type(self.env["dunning.reminder"])._send_email
        calls = []

        def dying_sender(reminder):
            calls.append(reminder.id)
            if len(calls) == 2:
                raise SystemExit("worker killed")
            return original(reminder)

        with freeze_time(TODAY):
            self._run()
            with self.smtp_sink() as sink:
                self._cron_dispatch()  # first batch: two debtors, committed
                # The worker dies in the middle of the second batch: its transaction is lost.
                with (
                    patch.object(type(self.env["dunning.reminder"]), "_send_email", dying_sender),
                    self.assertRaises(SystemExit),
                    self.env.cr.savepoint(),
                ):
                    self._cron_dispatch()
                self.env.invalidate_all()
                for _batch in range(10):  # restarted: it finishes the rest
                    if not self.env["dunning.reminder"].search_count([("state", "=", "queued")]):
                        break
                    self._cron_dispatch()
                self._flush_mail_queue()
        received = [rcpt for item in sink.messages for rcpt in item["rcpt_tos"]]
        expected = sorted(self.debtors.mapped("email"))
        self.assertEqual(sorted(received), expected, "every debtor got exactly one email")
        self.assertEqual(set(self.env["dunning.reminder"].search([]).mapped("state")), {"sent"})

    def test_unique_claim_refuses_a_second_escalation(self):
        with freeze_time(TODAY):
            run = self._run()
        line = run.reminder_ids.line_ids[0]
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            line.reminder_id.copy({"line_ids": [(0, 0, {**line.copy_data()[0], "is_escalation": True})]})
            self.env.flush_all()
        # Once the reminder is cancelled, the invoice and level may be claimed again.
        run.reminder_ids.action_cancel()
        with freeze_time(TODAY):
            self.assertEqual(len(self._run().reminder_ids), len(self.debtors))

    def test_second_worker_skips_a_company_being_run(self):
        company = self.env.company
        other = db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [f"receivable_dunning.run.{company.id}"])
            self.assertTrue(other.fetchone()[0])
            with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
                self.env["dunning.run"]._cron_dunning_run()
            self.assertFalse(self.env["dunning.run"].search([("company_id", "=", company.id)]))
            with self.assertRaisesRegex(UserError, "in progress"):
                self.env["dunning.run"].create({}).action_execute()
        finally:
            other.rollback()
            other.close()
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0), freeze_time(TODAY):
            self.env["dunning.run"]._cron_dunning_run()
        run = self.env["dunning.run"].search([("company_id", "=", company.id), ("trigger", "=", "scheduled")])
        self.assertEqual(len(run), 1)
        self.assertEqual(len(run.reminder_ids), len(self.debtors))

    def test_two_mail_queues_never_send_the_same_mail(self):
        """Two real connections emptying the mail queue: a mail held by one is skipped by the other, and a mail no
        longer outgoing is sent by neither."""
        with committed_connections(
            self.env, 3, "DELETE FROM mail_message WHERE subject LIKE 'RD-TEST-QUEUE/%'"
        ) as cursors:
            setup = cursors[2]
            setup.execute(
                """WITH message AS (
                       INSERT INTO mail_message (subject, message_type, body)
                       SELECT 'RD-TEST-QUEUE/' || n, 'email_outgoing', '<p>x</p>' FROM generate_series(1, 3) AS n
                       RETURNING id)
                   INSERT INTO mail_mail (mail_message_id, state, email_to, auto_delete)
                   SELECT id, 'outgoing', 'someone@example.com', false FROM message RETURNING id"""
            )
            mail_ids = sorted(mail_id for (mail_id,) in setup.fetchall())
            setup.execute("UPDATE mail_mail SET state = 'sent' WHERE id = %s", [mail_ids[2]])
            setup.commit()
            first, second = (api.Environment(cr, SUPERUSER_ID, {})["mail.mail"] for cr in cursors[:2])
            self.assertEqual(first.browse(mail_ids[:1])._dunning_claim_outgoing().ids, mail_ids[:1])
            self.assertEqual(second.browse(mail_ids)._dunning_claim_outgoing().ids, mail_ids[1:2])

    def test_a_mail_sent_by_another_queue_since_the_snapshot_is_skipped(self):
        """A queue that read the outgoing mails before another queue sent and committed one of them: the claim of
        that mail gives nothing (PostgreSQL refuses to lock a row changed after the snapshot), the transaction goes
        on, and the next mail is claimed."""
        with committed_connections(
            self.env, 3, "DELETE FROM mail_message WHERE subject LIKE 'RD-TEST-SNAPSHOT/%'"
        ) as cursors:
            setup = cursors[2]
            setup.execute(
                """WITH message AS (
                       INSERT INTO mail_message (subject, message_type, body)
                       SELECT 'RD-TEST-SNAPSHOT/' || n, 'email_outgoing', '<p>x</p>' FROM generate_series(1, 2) AS n
                       RETURNING id)
                   INSERT INTO mail_mail (mail_message_id, state, email_to, auto_delete)
                   SELECT id, 'outgoing', 'someone@example.com', false FROM message RETURNING id"""
            )
            mail_ids = sorted(mail_id for (mail_id,) in setup.fetchall())
            setup.commit()
            late, other = (api.Environment(cr, SUPERUSER_ID, {})["mail.mail"] for cr in cursors[:2])
            # The late queue's snapshot: it has read the outgoing mails, as process_email_queue does first.
            self.assertEqual(sorted(late.search([("id", "in", mail_ids), ("state", "=", "outgoing")]).ids), mail_ids)
            self.assertEqual(other.browse(mail_ids[:1])._dunning_claim_outgoing().ids, mail_ids[:1])
            cursors[1].execute("UPDATE mail_mail SET state = 'sent' WHERE id = %s", [mail_ids[0]])
            cursors[1].commit()
            self.assertFalse(late.browse(mail_ids[:1])._dunning_claim_outgoing())
            self.assertEqual(late.browse(mail_ids[1:])._dunning_claim_outgoing().ids, mail_ids[1:])

    def test_mail_server_checked_once_for_the_batch(self):
        """Each mail is sent in its own call (claimed right before it): the mail server is still checked once for
        the batch, as Odoo checks it, and a server the batch may not use refuses it before any mail is sent."""
        mails = self.env["mail.mail"].create(
            [
                {
                    "email_to": f"queue{index}@example.com",
                    "subject": "RD queue",
                    "body_html": "<p>x</p>",
                    "auto_delete": False,
                }
                for index in range(3)
            ]
        )
        other_user = self.env["res.users"].create({"name": "Server owner", "login": "rd-server-owner"})
        with self.smtp_sink() as sink:
            server = self.env["ir.mail_server"].search([("smtp_port", "=", sink.port)])
            server.owner_user_id = other_user
            with self.assertRaises(UserError):
                mails._send(mail_server=server)
            self.assertEqual(set(mails.mapped("state")), {"outgoing"})
            self.assertFalse(sink.messages)

            server.owner_user_id = False
            odoo_check = OdooMailMail._filter_mail_mail_servers
            with patch.object(
                OdooMailMail, "_filter_mail_mail_servers", autospec=True, side_effect=odoo_check
            ) as check:
                mails._send(mail_server=server)
            self.assertEqual(check.call_count, 1)
            self.assertEqual(set(mails.mapped("state")), {"sent"})
            self.assertEqual(len(sink.messages), 3)

    def test_two_dispatchers_claim_different_reminders(self):
        """Three real connections on committed reminders: what one dispatcher holds, the other skips, and a
        dispatcher that dies leaves its reminders to the next."""
        company = self.env.ref("base.main_company")
        with committed_connections(
            self.env, 3, "DELETE FROM dunning_reminder WHERE name LIKE 'RD-TEST-CLAIM/%'"
        ) as cursors:
            setup = cursors[2]
            setup.execute(
                """INSERT INTO dunning_reminder (name, company_id, currency_id, partner_id, reminder_type, channel,
                                                 state, trigger, date_scheduled, attempt_count)
                   SELECT 'RD-TEST-CLAIM/' || n, %s, %s, %s, 'reminder', 'email', 'queued', 'manual', %s, 0
                     FROM generate_series(1, 5) AS n
                RETURNING id""",
                [company.id, company.currency_id.id, company.partner_id.id, date(2000, 1, 1)],
            )
            reminder_ids = sorted(reminder_id for (reminder_id,) in setup.fetchall())
            setup.commit()
            first, second, third = (api.Environment(cr, SUPERUSER_ID, {})["dunning.reminder"] for cr in cursors)
            self.assertEqual(first._claim_queued(2).ids, reminder_ids[:2])
            self.assertEqual(second._claim_queued(10).ids, reminder_ids[2:])
            self.assertFalse(third._claim_queued(10), "every reminder is held by a dispatcher")
            cursors[0].rollback()  # the first dispatcher dies: its reminders are claimed again
            self.assertEqual(third._claim_queued(10).ids, reminder_ids[:2])
