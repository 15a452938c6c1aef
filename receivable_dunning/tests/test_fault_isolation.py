"""One failure never stops the rest: companies of the daily run, reminders of the dispatch, charges invoices,
statement lines of the auto-reconciliation and the payment hook each fail alone, visibly."""

from contextlib import contextmanager
from datetime import date
from unittest.mock import patch

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import UserError
from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 15)
TODAY = on(11, DUE)  # level 1 for the invoices due on DUE
LONG_DUE = on(-31, TODAY)  # level 3, with its 40.00 fee, for the invoices due on LONG_DUE

RUN_LOGGER = "odoo.addons.receivable_dunning.models.dunning_run"
REMINDER_LOGGER = "odoo.addons.receivable_dunning.models.dunning_reminder"
MOVE_LOGGER = "odoo.addons.receivable_dunning.models.account_move"
STATEMENT_LOGGER = "odoo.addons.receivable_dunning.models.account_bank_statement_line"


@tagged("post_install", "-at_install")
class TestFaultIsolation(DunningEngineCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b_data = cls.setup_other_company(name="Company B")
        cls.company_b = cls.company_b_data["company"]
        cls.company_b.sequence = 1  # the daily run takes company B first: the companies after it must go on
        cls.company_c = cls.setup_other_company(name="Company C")["company"]
        template = cls.env.ref("receivable_dunning.mail_template_dunning_reminder")
        for company in (cls.company_b, cls.company_c):
            company.email = f"billing@{company.name.replace(' ', '').lower()}.example.com"
            policy = cls._create_policy(f"Policy of {company.name}", company)
            policy.level_ids.filtered("send_email").mail_template_id = template
            company.dunning_policy_id = policy
        cls.debtor_b = cls._create_debtor("Debtor B", email="debtor.b@example.com")
        cls.debtor_c = cls._create_debtor("Debtor C", email="debtor.c@example.com")
        cls.collector = cls._create_user("fault_collector", "receivable_dunning.group_dunning_user")
        cls.manager_a = cls._create_user("fault_manager_a", "receivable_dunning.group_dunning_manager")
        cls.manager_b = cls._create_user(
            "fault_manager_b", "receivable_dunning.group_dunning_manager", company=cls.company_b
        )

    # === HELPERS === #

    def _cron_run(self):
        """One call of the daily run cron; its commit points are recorded instead of committing the test."""
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0) as progress:
            self.env["dunning.run"]._cron_dunning_run()
        return progress

    def _cron_dispatch(self):
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0) as progress:
            self.env["dunning.reminder"]._cron_dunning_dispatch()
        return progress

    def _dispatch_as_the_cron(self, calls=6):
        """Call the dispatch cron the way Odoo's cron runner does: a call that raises is rolled back and the runner
        calls again later."""
        for _call in range(calls):
            if not self.env["dunning.reminder"].search_count([("state", "=", "queued")]):
                return
            try:
                with self.env.cr.savepoint():
                    self._cron_dispatch()
            except Exception:  # the cron runner logs it and rolls the call back
                self.env.invalidate_all()

    @contextmanager
    def _broken_company(self, company):
        """The run of ``company`` raises, as when its policy is unusable."""
        Run = type(self.env["dunning.run"])
        select = Run._select_invoices

        def broken_select(run, partition=None):
            if run.company_id == company:
                raise ValueError(f"the dunning policy of {company.name} has no usable level")
            return select(run, partition)

        with patch.object(Run, "_select_invoices", broken_select), mute_logger(RUN_LOGGER):
            yield

    @contextmanager
    def _unpostable_charges(self, company):
        """Charges invoices of ``company`` cannot be posted, as when its sales journal is locked."""
        Move = type(self.env["account.move"])
        post = Move._post

        def locked_post(moves, soft=True):
            if moves.filtered(lambda move: move.company_id == company and move.invoice_origin):
                raise UserError(moves.env._("The sales journal of %(company)s is locked.", company=company.name))
            return post(moves, soft=soft)

        with patch.object(Move, "_post", locked_post), mute_logger(REMINDER_LOGGER):
            yield

    def _charging_policy(self, policy):
        policy.write({"escalation_mode": "catch_up", "invoice_charges": True})

    def _runs(self, company):
        return self.env["dunning.run"].search([("company_id", "=", company.id), ("trigger", "=", "scheduled")])

    # === DAILY RUN === #

    def test_failing_company_leaves_a_failed_run_and_the_next_goes_on(self):
        self._create_invoice_due(self.debtor, 100.0, DUE)
        self._create_invoice_due(self.debtor_b, 200.0, DUE, company=self.company_b)
        self._create_invoice_due(self.debtor_c, 300.0, DUE, company=self.company_c)
        with freeze_time(TODAY), self._broken_company(self.company_b):
            self._cron_run()
        run_b = self._runs(self.company_b)
        self.assertEqual(run_b.state, "failed")
        self.assertIn("no usable level", run_b.failure_reason)
        self.assertFalse(run_b.reminder_ids, "a failed run queues nothing")
        message = run_b.message_ids.filtered(lambda m: "no usable level" in str(m.body))
        self.assertTrue(message, "the failure is posted on the run")
        self.assertIn(self.manager_b.partner_id, message.partner_ids, "company B's managers are told")
        self.assertNotIn(self.manager_a.partner_id, message.partner_ids, "not the managers of other companies")
        for company, debtor in ((self.company, self.debtor), (self.company_c, self.debtor_c)):
            run = self._runs(company)
            self.assertEqual(run.state, "done", f"{company.name} was run after the failure")
            self.assertEqual(run.reminder_ids.partner_id, debtor)

    def test_restarted_cron_never_doubles_the_day_runs(self):
        self._create_invoice_due(self.debtor, 100.0, DUE)
        with freeze_time(TODAY):
            self._cron_run()
            progress = self._cron_run()  # restarted after a crash, or called again by Odoo's cron runner
        progress.assert_not_called()
        for company in (self.company, self.company_b, self.company_c):
            self.assertEqual(len(self._runs(company)), 1, f"one scheduled run of {company.name} today")
        with freeze_time(on(1, TODAY)):
            self._cron_run()
        self.assertEqual(len(self._runs(self.company)), 2, "and one the next day")

    def test_second_scheduled_run_of_the_day_is_refused_by_the_database(self):
        Run = self.env["dunning.run"]
        values = {"company_id": self.company.id, "date": TODAY, "trigger": "scheduled"}
        Run.create(values)
        Run.create({**values, "trigger": "manual"})  # a person may run dunning again
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            Run.create(values)

    def test_run_cron_reports_no_work_left_when_a_company_is_skipped(self):
        other = db_connect(self.env.cr.dbname).cursor()
        try:
            # Another worker runs company C: it is skipped, yet counts as looked at.
            other.execute(
                "SELECT pg_try_advisory_xact_lock(hashtext(%s))", [f"receivable_dunning.run.{self.company_c.id}"]
            )
            with freeze_time(TODAY):
                progress = self._cron_run()
        finally:
            other.rollback()
            other.close()
        self.assertFalse(self._runs(self.company_c))
        self.assertTrue(self._runs(self.company))
        self.assertEqual(progress.call_args.kwargs["remaining"], 0, "nothing left: Odoo's cron does not call again")
        self.assertEqual(sum(call.args[0] for call in progress.call_args_list), progress.call_count)

    # === DISPATCH === #

    def test_charges_invoice_that_cannot_post_leaves_the_reminder_sent(self):
        self._charging_policy(self.policy)
        self.debtor.with_company(self.company).dunning_collector_id = self.collector
        invoice = self._create_invoice_due(self.debtor, 1000.0, LONG_DUE)
        with freeze_time(TODAY):
            run = self._run()
            with self._unpostable_charges(self.company):
                self._dispatch()
        reminder = run.reminder_ids
        self.assertEqual(reminder.state, "sent")
        self.assertEqual(invoice.dunning_level_id, self.level_3, "the level moved all the same")
        self.assertEqual(reminder.charge_state, "failed")
        self.assertIn("is locked", reminder.charge_error)
        self.assertFalse(reminder.line_ids.charge_move_id)
        activity = reminder.activity_ids
        self.assertEqual(activity.user_id, self.collector)
        self.assertIn(reminder.name, activity.summary)
        # Once the cause is fixed, the collector invoices the charges from the reminder, once.
        reminder.action_invoice_charges()
        reminder.action_invoice_charges()
        self.assertEqual(reminder.charge_state, "invoiced")
        self.assertEqual(reminder.line_ids.charge_move_id.state, "posted")
        self.assertEqual(reminder.line_ids.charge_move_id.amount_total, 40.0)

    def test_always_failing_reminder_never_blocks_the_queue(self):
        self.env["ir.config_parameter"].set_param("receivable_dunning.dispatch_batch_size", 2)
        poisoned = self.debtor
        debtors = poisoned | self._create_debtor("Two", email="two@example.com")
        debtors |= self._create_debtor("Three", email="three@example.com")
        for debtor in debtors:
            self._create_invoice_due(debtor, 100.0, DUE)
        Reminder = type(self.env["dunning.reminder"])
        apply_effects = Reminder._apply_effects

        def failing_effects(reminders):
            if reminders.partner_id & poisoned:
                raise ValueError("the chatter of Debtor One cannot be written")
            return apply_effects(reminders)

        with freeze_time(TODAY):
            run = self._run()
            self.assertEqual(run.reminder_ids.sorted("id")[0].partner_id, poisoned, "first in the queue")
            with patch.object(Reminder, "_apply_effects", failing_effects), mute_logger(REMINDER_LOGGER):
                self._dispatch_as_the_cron()
        failed = run.reminder_ids.filtered(lambda e: e.partner_id == poisoned)
        self.assertEqual(failed.state, "failed")
        self.assertIn("cannot be written", failed.error_message)
        self.assertEqual(failed.attempt_count, 1)
        self.assertEqual(set((run.reminder_ids - failed).mapped("state")), {"sent"}, "the queue behind it went on")
        self.assertFalse(failed.line_ids.move_id.dunning_level_id, "its effects were rolled back with it")

    def test_failed_reminders_are_retried_after_the_queued_ones(self):
        self.env["ir.config_parameter"].set_param("receivable_dunning.dispatch_batch_size", 2)
        debtors = self.env["res.partner"].create(
            [{"name": f"Debtor {index}", "email": f"debtor{index}@example.com"} for index in range(4)]
        )
        for debtor in debtors:
            self._create_invoice_due(debtor, 100.0, DUE)
        with freeze_time(TODAY):
            run = self._run()
            retried = run.reminder_ids.sorted("id")[:2]
            retried.write({"attempt_count": 3})  # they failed before and were put back in the queue
            self._cron_dispatch()
        self.assertEqual(set(retried.mapped("state")), {"queued"})
        self.assertEqual(set((run.reminder_ids - retried).mapped("state")), {"sent"}, "the fresh reminders went first")

    # === AUTO-RECONCILIATION === #

    def _bank_line(self, label, amount, journal=None, **values):
        journal = journal or self.company_data["default_journal_bank"]
        return self.env["account.bank.statement.line"].create(
            {"journal_id": journal.id, "date": TODAY, "payment_ref": label, "amount": amount, **values}
        )

    def _auto_reconcile(self):
        with patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
            self.env["account.bank.statement.line"]._cron_dunning_auto_reconcile()

    def test_any_error_on_one_statement_line_spares_the_others(self):
        self.company_data["default_journal_sale"].invoice_reference_model = "euro"
        self.company_data["default_journal_bank"].dunning_auto_reconcile_threshold = 70
        other = self._create_debtor("Other debtor", email="other@example.com")
        first = self._create_invoice_due(self.debtor, 1000.0, DUE)
        second = self._create_invoice_due(other, 400.0, DUE)
        broken = self._bank_line(first.payment_reference, 1000.0)
        fine = self._bank_line(second.payment_reference, 400.0)
        Line = type(self.env["account.bank.statement.line"])
        prepare_reconcile = Line._dunning_prepare_reconcile

        def failing_reconcile(line, items):
            if line == broken:
                raise KeyError("a tax of the bank journal is missing")
            return prepare_reconcile(line, items)

        with patch.object(Line, "_dunning_prepare_reconcile", failing_reconcile), mute_logger(STATEMENT_LOGGER):
            self._auto_reconcile()
        self.assertTrue(fine.is_reconciled)
        self.assertIn(second.payment_state, ("paid", "in_payment"))
        self.assertFalse(broken.is_reconciled)
        self.assertTrue(broken.dunning_auto_match_tried, "tried: the cron does not stumble on it again")
        self.assertEqual(first.payment_state, "not_paid")

    def test_posting_an_invoice_rechecks_only_the_lines_that_may_match(self):
        self.company_data["default_journal_sale"].invoice_reference_model = "euro"
        self.company_data["default_journal_bank"].dunning_auto_reconcile_threshold = 70
        self.company_b_data["default_journal_bank"].dunning_auto_reconcile_threshold = 70
        other = self._create_debtor("Other debtor", email="other@example.com")
        accounting = self.env["res.partner"].create({"name": "Accounting", "parent_id": self.debtor.id})
        # Posted once for its number and reference, then back to draft: the payment came before the invoice.
        invoice = self._create_invoice_due(self.debtor, 777.0, DUE)
        invoice.button_draft()
        lines = {
            "child of the debtor": self._bank_line("transfer", 10.0, partner_id=accounting.id),
            "number in the label": self._bank_line(f"paying {invoice.name.lower()} thanks", 20.0),
            "reference in the label": self._bank_line(f"ref {invoice.payment_reference}", 30.0),
            "amount due": self._bank_line("transfer", 777.0),
            "other debtor": self._bank_line("transfer", 777.0, partner_id=other.id),
            "unrelated": self._bank_line("rent of March", 50.0),
            "other company": self._bank_line(
                invoice.name, 777.0, journal=self.company_b_data["default_journal_bank"], partner_id=self.debtor.id
            ),
        }
        tried = self.env["account.bank.statement.line"].union(*lines.values())
        tried.dunning_auto_match_tried = True
        invoice.action_post()
        looked_again = {name for name, line in lines.items() if not line.dunning_auto_match_tried}
        self.assertEqual(
            looked_again, {"child of the debtor", "number in the label", "reference in the label", "amount due"}
        )

    # === PAYMENT HOOK === #

    def _dunned_invoice(self):
        invoice = self._create_invoice_due(self.debtor, 500.0, DUE)
        with freeze_time(TODAY):
            self._run()
            self._dispatch()
        self.assertEqual(invoice.dunning_level_id, self.level_1)
        return invoice

    def _payment_line(self, invoice):
        """A posted entry crediting the debtor's receivable by what ``invoice`` leaves to pay; its receivable line."""
        receivable = invoice.line_ids.filtered(lambda line: line.account_id.account_type == "asset_receivable")
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "date": TODAY,
                "journal_id": self.company_data["default_journal_misc"].id,
                "line_ids": [
                    Command.create(
                        {
                            "account_id": receivable.account_id.id,
                            "partner_id": invoice.commercial_partner_id.id,
                            "credit": invoice.amount_residual,
                        }
                    ),
                    Command.create(
                        {
                            "account_id": self.company_data["default_journal_bank"].default_account_id.id,
                            "debit": invoice.amount_residual,
                        }
                    ),
                ],
            }
        )
        entry.action_post()
        return receivable, entry.line_ids.filtered(lambda line: line.account_id == receivable.account_id)

    def _thanks(self):
        return self.env["dunning.reminder"].search(
            [("reminder_type", "=", "thanks"), ("partner_id", "=", self.debtor.id)]
        )

    def test_payment_reconciled_twice_thanks_once(self):
        invoice = self._dunned_invoice()
        receivable, payment = self._payment_line(invoice)
        (receivable | payment).reconcile()
        self.assertEqual(invoice.payment_state, "paid")
        thanks = self._thanks()
        self.assertEqual(len(thanks), 1)
        with freeze_time(TODAY):
            thanks._dispatch()
        self.assertEqual(thanks.state, "sent")
        receivable.remove_move_reconcile()
        self.assertEqual(invoice.payment_state, "not_paid")
        (receivable | payment).reconcile()
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(self._thanks(), thanks, "no second thank-you")

    def test_failing_thank_you_never_blocks_the_payment(self):
        invoice = self._dunned_invoice()
        receivable, payment = self._payment_line(invoice)
        with (
            patch.object(
                type(self.env["dunning.reminder"]),
                "_trigger_dispatch",
                side_effect=RuntimeError("dispatcher unreachable"),
            ),
            mute_logger(MOVE_LOGGER),
        ):
            (receivable | payment).reconcile()
        self.assertEqual(invoice.payment_state, "paid", "the payment went through")
        self.assertTrue(receivable.reconciled)
        self.assertFalse(self._thanks(), "the thank-you was rolled back alone")

    # === FAULT DRILL === #

    def test_fault_drill_three_companies(self):
        """Company B's run raises, the mail server refuses one debtor's address for good and company C's charges
        invoice cannot be posted: everything else is queued, sent and charged once, and each failure shows."""
        self.env["ir.config_parameter"].set_param("receivable_dunning.dispatch_batch_size", 2)
        self._charging_policy(self.policy)
        self._charging_policy(self.company_c.dunning_policy_id)
        refused = self._create_debtor("Refused", email="refused@example.com")
        charged = self._create_debtor("Charged", email="charged@example.com")
        self.debtor_c.with_company(self.company_c).dunning_collector_id = self.collector
        self._create_invoice_due(refused, 100.0, DUE)
        self._create_invoice_due(self.debtor, 100.0, DUE)
        charged_invoice = self._create_invoice_due(charged, 1000.0, LONG_DUE)
        self._create_invoice_due(self.debtor_b, 200.0, DUE, company=self.company_b)
        invoice_c = self._create_invoice_due(self.debtor_c, 300.0, LONG_DUE, company=self.company_c)
        with (
            freeze_time(TODAY),
            self._broken_company(self.company_b),
            self._unpostable_charges(self.company_c),
            self.smtp_sink(refused={"refused@example.com"}) as sink,
        ):
            self._cron_run()
            self._cron_run()  # the cron restarted: nothing doubles
            self._dispatch_as_the_cron()
            self._flush_mail_queue()
        # Runs: one scheduled run per company; B's failed, with the reason, and its managers told.
        run_a, run_b, run_c = (self._runs(company) for company in (self.company, self.company_b, self.company_c))
        self.assertEqual((run_a.state, run_b.state, run_c.state), ("done", "failed", "done"))
        self.assertIn("no usable level", run_b.failure_reason)
        self.assertIn(self.manager_b.partner_id, run_b.message_ids.partner_ids)
        # Reminders: the refused one failed with the server's answer, every other one was sent once.
        reminders = run_a.reminder_ids | run_c.reminder_ids
        refused_reminder = reminders.filtered(lambda e: e.partner_id == refused)
        self.assertEqual(refused_reminder.state, "failed")
        self.assertIn("refused@example.com", refused_reminder.error_message)
        self.assertEqual(set((reminders - refused_reminder).mapped("state")), {"sent"})
        debtor_emails = set((refused | charged | self.debtor | self.debtor_b | self.debtor_c).mapped("email"))
        received = sorted(rcpt for item in sink.messages for rcpt in item["rcpt_tos"] if rcpt in debtor_emails)
        self.assertEqual(received, ["charged@example.com", "debtor.c@example.com", "debtor.one@example.com"])
        # Charges: company A's invoiced once; company C's failed on its reminder, with an activity for the collector.
        charged_reminder = reminders.filtered(lambda e: e.partner_id == charged)
        self.assertEqual(charged_reminder.charge_state, "invoiced")
        charges = self.env["account.move"].search([("invoice_origin", "ilike", charged_invoice.name)])
        self.assertEqual(len(charges), 1)
        self.assertEqual((charges.state, charges.amount_total), ("posted", 40.0))
        reminder_c = run_c.reminder_ids
        self.assertEqual((reminder_c.state, reminder_c.charge_state), ("sent", "failed"))
        self.assertIn("is locked", reminder_c.charge_error)
        self.assertEqual(reminder_c.activity_ids.user_id, self.collector)
        self.assertEqual(invoice_c.dunning_level_id.delay_days, 30, "company C's reminder took effect")
        self.assertFalse(self.env["account.move"].search([("invoice_origin", "ilike", invoice_c.name)]))
