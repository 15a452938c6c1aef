from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 1)


@tagged("post_install", "-at_install")
class TestDunningRun(DunningEngineCommon):
    def _levels_sent(self, invoice):
        lines = invoice.dunning_reminder_line_ids.filtered(lambda line: line.is_escalation and line.state == "sent")
        return lines.sorted("id").level_id.mapped("name")

    def test_inserted_reminders_read_back_as_the_models_compute_them(self):
        """The queue step writes reminders with SQL: every stored field must hold what the ORM would compute."""
        self.level_3.write({"send_sms": True})
        self.debtor.phone = "+32 470 12 34 56"
        first = self._create_invoice_due(self.debtor, 1000.0, on(0, DUE))
        second = self._create_invoice_due(self.debtor, 234.56, on(5, DUE))
        with freeze_time(on(45, DUE)):
            self.policy.escalation_mode = "catch_up"
            run = self._run()
        reminders = run.reminder_ids
        Reminder = self.env["dunning.reminder"]
        self.assertEqual(sorted(reminders.mapped("channel")), ["email", "sms"])
        computed = ("payment_reference", "invoice_count", "amount_residual", "amount_fee", "amount_interest")
        computed += ("amount_total", "policy_id")
        stored = {reminder.id: {name: reminder[name] for name in ("name", *computed)} for reminder in reminders}
        for reminder in reminders:
            with self.subTest(channel=reminder.channel):
                self.assertEqual(reminder.name, f"DUN/2026/{reminder.id:06d}")
                self.assertEqual(reminder.policy_id, self.policy)
                self.assertEqual(reminder.user_id, self.env.user)
                self.assertEqual(
                    (reminder.state, reminder.trigger, reminder.reminder_type), ("queued", "manual", "reminder")
                )
                self.assertEqual(reminder.line_ids.move_id, first | second)
                self.assertEqual(reminder.amount_residual, 1234.56)
                self.assertGreater(reminder.amount_fee, 0, "level 3 charges its fee")
                self.assertFalse(reminder.message_follower_ids)
                for line in reminder.line_ids:
                    self.assertEqual(
                        (line.company_id, line.partner_id, line.state, line.channel, line.date_scheduled),
                        (
                            reminder.company_id,
                            reminder.partner_id,
                            reminder.state,
                            reminder.channel,
                            reminder.date_scheduled,
                        ),
                    )
        # Recompute every stored computed field with the ORM (the name is set by create): nothing may change.
        for name in computed:
            self.env.add_to_compute(Reminder._fields[name], reminders)
        reminders.flush_recordset()
        reminders.invalidate_recordset()
        for reminder in reminders:
            for name, value in stored[reminder.id].items():
                self.assertEqual(reminder[name], value, name)

    def test_step_mode_over_simulated_weeks(self):
        invoice = self._create_invoice_due(self.debtor, 500.0, DUE)
        for day, expected in (
            (-4, None),
            (-3, "Courtesy"),
            (5, None),
            (10, "Level 1"),
            (20, "Level 2"),
            (30, "Level 3"),
        ):
            with freeze_time(on(day, DUE)):
                run = self._run()
                self._dispatch()
                with self.subTest(day=day):
                    self.assertEqual(
                        run.reminder_ids.filtered(lambda e: e.channel == "email").level_id.name or None, expected
                    )
        self.assertEqual(self._levels_sent(invoice), ["Courtesy", "Level 1", "Level 2", "Level 3"])
        self.assertEqual(invoice.dunning_level_id, self.level_3)
        self.assertEqual(invoice.dunning_last_date, on(30, DUE))
        with freeze_time(on(60, DUE)):
            self.assertFalse(self._run().reminder_ids, "no level after the last one")

    def test_step_mode_never_skips_a_level(self):
        invoice = self._create_invoice_due(self.debtor, 500.0, on(-90, DUE))
        with freeze_time(on(0, DUE)):
            run = self._run()
            self.assertEqual(run.reminder_ids.level_id, self.level_1, "90 days late, but the first reminder first")
            self._dispatch()
        with freeze_time(on(3, DUE)):
            self.assertFalse(self._run().reminder_ids, "the minimum interval of 5 days holds")
        with freeze_time(on(5, DUE)):
            self.assertEqual(self._run().reminder_ids.level_id, self.level_2)
            self._dispatch()
        with freeze_time(on(10, DUE)):
            self.assertEqual(self._run().reminder_ids.mapped("level_id"), self.level_3)
            self._dispatch()
        self.assertEqual(self._levels_sent(invoice), ["Level 1", "Level 2", "Level 3"])

    def test_catch_up_mode_goes_straight_to_the_level(self):
        self.policy.escalation_mode = "catch_up"
        invoice = self._create_invoice_due(self.debtor, 500.0, on(-90, DUE))
        with freeze_time(on(0, DUE)):
            run = self._run()
            self.assertEqual(run.reminder_ids.level_id, self.level_3)
            self._dispatch()
        self.assertEqual(self._levels_sent(invoice), ["Level 3"])

    def test_one_reminder_per_debtor_with_every_overdue_invoice(self):
        self.policy.escalation_mode = "catch_up"
        old = self._create_invoice_due(self.debtor, 300.0, on(-35, DUE))
        recent = self._create_invoice_due(self.debtor, 200.0, on(-12, DUE))
        just_late = self._create_invoice_due(self.debtor, 100.0, on(-2, DUE))
        other = self._create_debtor("Other debtor", email="other@example.com")
        self._create_invoice_due(other, 50.0, on(-12, DUE))
        with freeze_time(on(0, DUE)):
            run = self._run()
        reminder = run.reminder_ids.filtered(lambda e: e.partner_id == self.debtor and e.channel == "email")
        self.assertEqual(len(reminder), 1)
        self.assertEqual(reminder.level_id, self.level_3, "the highest level any invoice reached")
        levels = {line.move_id: line.level_id for line in reminder.line_ids}
        self.assertEqual(levels, {old: self.level_3, recent: self.level_1, just_late: self.env["dunning.level"]})
        self.assertEqual(reminder.amount_residual, 600.0)
        self.assertEqual(reminder.line_ids.filtered(lambda line: line.move_id == just_late).days_overdue, 2)
        self.assertEqual(run.debtor_count, 2)
        self.assertEqual(run.invoice_count, 4)

    def test_new_invoice_starts_its_own_ladder(self):
        self.policy.escalation_mode = "catch_up"
        old = self._create_invoice_due(self.debtor, 300.0, on(-35, DUE))
        old.dunning_level_id = self.level_3
        new = self._create_invoice_due(self.debtor, 200.0, on(-11, DUE))
        with freeze_time(on(0, DUE)):
            reminder = self._run().reminder_ids.filtered(lambda e: e.channel == "email")
        self.assertEqual(reminder.line_ids.filtered("is_escalation").move_id, new)
        self.assertEqual(reminder.line_ids.filtered(lambda line: line.move_id == new).level_id, self.level_1)
        self.assertEqual(reminder.line_ids.filtered(lambda line: line.move_id == old).level_id, self.level_3)

    def test_recipient_is_the_invoice_address(self):
        invoicing = self.env["res.partner"].create(
            {"name": "Accounts payable", "parent_id": self.debtor.id, "type": "invoice", "email": "ap@example.com"}
        )
        self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        with freeze_time(on(0, DUE)):
            self.assertEqual(self._run().reminder_ids.recipient_id, invoicing)

    def test_minimum_interval(self):
        self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        self._create_invoice_due(self.debtor, 100.0, on(-18, DUE))
        with freeze_time(on(0, DUE)):
            self._run()
            self._dispatch()
        with freeze_time(on(2, DUE)):
            run = self._run()  # the second invoice reaches level 2 on day 2, but the debtor was reminded 2 days ago
        self.assertFalse(run.reminder_ids)
        self.assertEqual(run.exception_ids.mapped("reason"), ["interval"])
        with freeze_time(on(5, DUE)):
            self.assertEqual(self._run().reminder_ids.level_id, self.level_2)

    def test_hold_pauses_then_dunning_resumes(self):
        invoice = self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        self.debtor.dunning_hold_until = on(7, DUE)
        with freeze_time(on(0, DUE)):
            run = self._run()
        self.assertFalse(run.reminder_ids)
        self.assertEqual(run.exception_ids.reason, "on_hold")
        with freeze_time(on(8, DUE)):
            self.assertEqual(self._run().reminder_ids.level_id, self.level_1, "resumes where it stopped")
        invoice.dunning_hold_until = on(20, DUE)
        with freeze_time(on(9, DUE)):
            run = self._run()
        self.assertFalse(run.reminder_ids.filtered(lambda e: e.state == "queued" and e.run_id == run))

    def test_invoice_hold_leaves_other_invoices_dunned(self):
        held = self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        free = self._create_invoice_due(self.debtor, 200.0, on(-12, DUE))
        held.dunning_hold_until = on(10, DUE)
        with freeze_time(on(0, DUE)):
            run = self._run()
        self.assertEqual(run.reminder_ids.line_ids.move_id, free)
        self.assertEqual(run.exception_ids.reason, "on_hold")
        self.assertIn(held.name, run.exception_ids.detail)

    def test_no_followup_and_paid_invoices_are_not_dunned(self):
        excluded = self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        excluded.no_followup = True
        paid = self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        self._register_payment(paid)
        with freeze_time(on(0, DUE)):
            self.assertFalse(self._run().reminder_ids)

    def test_rerun_on_the_same_day_creates_nothing(self):
        self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        with freeze_time(on(0, DUE)):
            first = self._run()
            second = self._run()
        self.assertEqual(len(first.reminder_ids), 1)
        self.assertFalse(second.reminder_ids, "the invoice, level and channel are already claimed")

    def test_review_mode_edits_then_send(self):
        self.policy.escalation_mode = "catch_up"
        other = self._create_debtor("Skipped debtor", email="skipped@example.com")
        first = self._create_invoice_due(self.debtor, 100.0, on(-35, DUE))
        second = self._create_invoice_due(self.debtor, 100.0, on(-33, DUE))
        self._create_invoice_due(other, 100.0, on(-11, DUE))
        with freeze_time(on(0, DUE)):
            run = self._run(mode="review")
            self.assertEqual(run.state, "review")
            self.assertEqual(set(run.reminder_ids.mapped("state")), {"draft"})
            mine = run.reminder_ids.filtered(lambda e: e.partner_id == self.debtor)
            mine.level_id = self.level_2  # the reviewer lowers the level
            self.assertEqual(mine.line_ids.filtered("is_escalation").level_id, self.level_2)
            self.assertFalse(any(mine.line_ids.mapped("amount_fee")), "level 2 has no fee")
            mine.line_ids.filtered(lambda line: line.move_id == second).unlink()  # and leaves an invoice out
            run.reminder_ids.filtered(lambda e: e.partner_id == other).action_cancel()  # and skips a debtor
            run.action_send()
            self._dispatch()
        self.assertEqual(run.state, "done")
        self.assertEqual(mine.state, "sent")
        self.assertEqual(first.dunning_level_id, self.level_2)
        self.assertFalse(second.dunning_level_id)
        with self.assertRaises(UserError):
            mine.level_id = self.level_3

    def test_wizard_preview_for_selected_debtors(self):
        other = self._create_debtor("Not selected", email="ns@example.com")
        self._create_invoice_due(self.debtor, 100.0, on(-11, DUE))
        self._create_invoice_due(other, 100.0, on(-11, DUE))
        with freeze_time(on(0, DUE)):
            wizard = (
                self.env["dunning.run.wizard"]
                .with_context(active_model="res.partner", active_ids=self.debtor.ids)
                .create({})
            )
            self.assertEqual(wizard.partner_ids, self.debtor)
            action = wizard.action_run()
        run = self.env["dunning.run"].browse(action["res_id"])
        self.assertEqual(run.mode, "review")
        self.assertEqual(run.reminder_ids.partner_id, self.debtor)

    def test_fee_charged_once_per_invoice_and_level(self):
        self.policy.escalation_mode = "catch_up"
        self.level_3.send_letter = True
        invoice = self._create_invoice_due(self.debtor, 1000.0, on(-31, DUE))
        with freeze_time(on(0, DUE)):
            run = self._run()
            self.assertEqual(sorted(run.reminder_ids.mapped("channel")), ["email", "letter"])
            for reminder in run.reminder_ids:
                self.assertEqual(reminder.amount_fee, 40.0, "each channel shows the fee of the reminder")
            self._dispatch()
        with freeze_time(on(10, DUE)):
            rerun = self._run()
        self.assertFalse(rerun.reminder_ids.line_ids.filtered(lambda line: line.move_id == invoice and line.amount_fee))

    def test_interest_to_the_cent_and_never_twice(self):
        self.policy.write({"escalation_mode": "catch_up", "interest_rate": 10.0})
        self.policy.level_ids = [
            Command.create({"sequence": 5, "name": "Level 4", "delay_days": 60, "apply_interest": True})
        ]
        invoice = self._create_invoice_due(self.debtor, 1000.0, DUE)
        with freeze_time(on(36, DUE)):
            line = self._run().reminder_ids.line_ids
            # 1000 x 10% x 36 days / 365 = 9.8630... -> 9.86
            self.assertEqual(line.amount_interest, 9.86)
            self.assertEqual((line.interest_date_from, line.interest_date_to), (DUE, on(36, DUE)))
            self._dispatch()
        with freeze_time(on(66, DUE)):
            line = self._run().reminder_ids.line_ids.filtered(lambda line: line.move_id == invoice)
            # only the 30 days after day 36: 1000 x 10% x 30 / 365 = 8.2191... -> 8.22
            self.assertEqual(line.amount_interest, 8.22)
            self.assertEqual(line.interest_date_from, on(36, DUE))
