from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import DunningCommon, days_ago, on
from .engine_common import DunningEngineCommon

DUE = date(2026, 6, 1)
SENT_ON = on(35, DUE)  # 35 days late: level 3, which carries a fee
HOLD = date(2026, 12, 31)


@tagged("post_install", "-at_install")
class TestColleagueGuards(DunningCommon):
    """Users who edit customers and invoices, but are no dunning users, cannot decide who is dunned or where."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Both may create and edit customers (Contact Creation) and invoices.
        cls.colleague = cls._create_user(
            "invoicing_colleague", "account.group_account_invoice,base.group_partner_manager"
        )
        cls.collector = cls._create_user(
            "guard_collector", "receivable_dunning.group_dunning_user,base.group_partner_manager"
        )
        cls.special = cls._create_policy("Special", cls.company)
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.policy_b = cls.company_b.dunning_policy_id

    def _collector_values(self):
        return {
            "dunning_policy_id": self.special.id,
            "dunning_collector_id": self.collector.id,
            "dunning_hold_until": HOLD,
            "dunning_contact": True,
            "dunning_statement_revoked": True,
        }

    def _assert_colleague_cannot_create_with(self, name):
        """The colleague cannot create a customer with the dunning decision ``name`` (a field) among its values."""
        Partner = self.env["res.partner"].with_user(self.colleague)
        with self.assertRaisesRegex(AccessError, "Only dunning users"):
            Partner.create({"name": "Held from the start", name: self._collector_values()[name]})

    def _assert_colleague_cannot_default(self, name):
        """The colleague cannot create a customer with the dunning decision ``name`` (a field) as a context
        default."""
        Partner = self.env["res.partner"].with_user(self.colleague)
        with self.assertRaisesRegex(AccessError, "Only dunning users"):
            Partner.with_context(**{f"default_{name}": self._collector_values()[name]}).create({"name": "Defaulted"})

    def test_colleague_cannot_create_a_customer_with_a_dunning_policy(self):
        self._assert_colleague_cannot_create_with("dunning_policy_id")

    def test_colleague_cannot_create_a_customer_with_a_collector(self):
        self._assert_colleague_cannot_create_with("dunning_collector_id")

    def test_colleague_cannot_create_a_customer_on_hold(self):
        self._assert_colleague_cannot_create_with("dunning_hold_until")

    def test_colleague_cannot_create_a_customer_as_the_reminders_contact(self):
        self._assert_colleague_cannot_create_with("dunning_contact")

    def test_colleague_cannot_create_a_customer_with_its_statement_links_revoked(self):
        self._assert_colleague_cannot_create_with("dunning_statement_revoked")

    def test_colleague_cannot_default_the_dunning_policy_of_a_new_customer(self):
        self._assert_colleague_cannot_default("dunning_policy_id")

    def test_colleague_cannot_default_the_collector_of_a_new_customer(self):
        self._assert_colleague_cannot_default("dunning_collector_id")

    def test_colleague_cannot_default_a_new_customer_on_hold(self):
        self._assert_colleague_cannot_default("dunning_hold_until")

    def test_colleague_cannot_default_a_new_customer_as_the_reminders_contact(self):
        self._assert_colleague_cannot_default("dunning_contact")

    def test_colleague_cannot_default_the_statement_links_of_a_new_customer_to_revoked(self):
        self._assert_colleague_cannot_default("dunning_statement_revoked")

    def test_colleague_creates_customers_with_empty_dunning_fields(self):
        """The web client sends every field of a new contact, with the fields' own (empty) defaults."""
        empty = dict.fromkeys(self._collector_values(), False)
        partner = self.env["res.partner"].with_user(self.colleague).create({"name": "Plain customer", **empty})
        self.assertFalse(partner.dunning_hold_until)
        self.env["res.partner"].with_user(self.colleague).create({"name": "Other plain customer"})

    def test_colleague_cannot_import_dunning_decisions(self):
        Partner = self.env["res.partner"].with_user(self.colleague)
        result = Partner.load(["name", "dunning_hold_until"], [["Imported on hold", str(HOLD)]])
        self.assertFalse(result["ids"])
        self.assertIn("Only dunning users", " ".join(message["message"] for message in result["messages"]))
        self.assertFalse(self.env["res.partner"].search([("name", "=", "Imported on hold")]))
        result = Partner.load(["name", "dunning_hold_until"], [["Imported plainly", ""]])
        self.assertTrue(result["ids"], result["messages"])

    def test_collector_creates_a_customer_on_hold(self):
        partner = self.env["res.partner"].with_user(self.collector).create({"name": "Held", **self._collector_values()})
        self.assertEqual(partner.dunning_hold_until, HOLD)
        self.assertEqual(partner.dunning_policy_id, self.special)

    def test_copied_customer_leaves_dunning_decisions_behind(self):
        self.debtor.write(self._collector_values())
        copy = self.debtor.with_user(self.colleague).copy()
        for name in self._collector_values():
            with self.subTest(field=name):
                self.assertFalse(copy[name])
        with self.assertRaisesRegex(AccessError, "Only dunning users"):
            self.debtor.with_user(self.colleague).copy({"dunning_hold_until": HOLD})

    def test_colleague_cannot_hold_an_invoice(self):
        invoice = self._create_invoice_due(self.debtor, 100.0, days_ago(20))
        with self.assertRaisesRegex(AccessError, "Dunning on Hold Until"):
            invoice.with_user(self.colleague).write({"dunning_hold_until": HOLD})
        Move = self.env["account.move"].with_user(self.colleague)
        vals = {"move_type": "out_invoice", "partner_id": self.debtor.id}
        with self.assertRaisesRegex(AccessError, "Dunning on Hold Until"):
            Move.create({**vals, "dunning_hold_until": HOLD})
        with self.assertRaisesRegex(AccessError, "Dunning on Hold Until"):
            Move.with_context(default_dunning_hold_until=HOLD).create(vals)
        self.assertFalse(Move.create({**vals, "dunning_hold_until": False}).dunning_hold_until)
        invoice.with_user(self.collector).dunning_hold_until = HOLD
        self.assertFalse(invoice.with_user(self.colleague).copy().dunning_hold_until)

    def test_customer_policy_of_another_company_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "Dunning Policy of Debtor One"):
            self.debtor.dunning_policy_id = self.policy_b
        with self.assertRaisesRegex(ValidationError, "New customer"):
            self.env["res.partner"].create({"name": "New customer", "dunning_policy_id": self.policy_b.id})
        with self.assertRaisesRegex(ValidationError, "Company B"):
            self.env["res.partner"].with_company(self.company_b).create(
                {"name": "Customer of B", "dunning_policy_id": self.special.id}
            )
        partner = (
            self.env["res.partner"]
            .with_company(self.company_b)
            .create({"name": "Customer of B", "dunning_policy_id": self.policy_b.id})
        )
        self.assertEqual(partner.with_company(self.company_b).dunning_policy_id, self.policy_b)
        self.assertFalse(partner.with_company(self.company).dunning_policy_id)
        self.debtor.with_company(self.company_b).dunning_policy_id = self.policy_b


@tagged("post_install", "-at_install")
class TestReminderLineGuards(DunningEngineCommon):
    """What a reminder claimed and charged changes only through the module's own paths."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.escalation_mode = "catch_up"
        cls.policy.invoice_charges = True
        cls.collector = cls._create_user("line_collector", "receivable_dunning.group_dunning_user")
        cls.manager = cls._create_user("line_manager", "receivable_dunning.group_dunning_manager")
        cls.invoice = cls._create_invoice_due(cls.debtor, 500.0, DUE)
        cls.other_invoice = cls._create_invoice_due(cls.debtor, 300.0, DUE)

    def _sent_line(self):
        with freeze_time(SENT_ON):
            run = self._run()
            self._dispatch()
        reminder = run.reminder_ids.filtered(lambda e: e.channel == "email")
        self.assertEqual(reminder.state, "sent")
        return reminder.line_ids.filtered(lambda line: line.move_id == self.invoice)

    def test_sent_reminder_lines_are_immutable(self):
        line = self._sent_line()
        self.assertTrue(line.is_escalation)
        self.assertTrue(line.amount_fee, "level 3 carries a fee")
        self.assertTrue(line.charge_move_id, "the dispatch links the charges invoice")
        before = (line.amount_fee, line.level_id, line.is_escalation, line.charge_move_id)
        changes = {
            "amount_fee": 0.0,
            "amount_residual": 1.0,
            "amount_interest": 99.0,
            "is_escalation": False,
            "level_id": self.level_1.id,
            "charge_move_id": False,
            "days_overdue": 1,
        }
        for user in (self.collector, self.manager):
            for name, value in changes.items():
                with self.subTest(user=user.login, field=name), self.assertRaisesRegex(UserError, "was sent|is sent"):
                    line.with_user(user).write({name: value})
            with self.subTest(user=user.login), self.assertRaisesRegex(UserError, "is sent"):
                line.reminder_id.with_user(user).write(
                    {"line_ids": [Command.create({"move_id": self.other_invoice.id, "amount_fee": 500.0})]}
                )
        with self.assertRaisesRegex(UserError, "is sent"):
            line.with_user(self.manager).unlink()
        self.assertEqual((line.amount_fee, line.level_id, line.is_escalation, line.charge_move_id), before)

    def _assert_sent_reminder_stays_sent(self, state):
        """The manager cannot put a sent reminder back in ``state``."""
        reminder = self._sent_line().reminder_id
        with self.assertRaisesRegex(UserError, "was sent"):
            reminder.with_user(self.manager).write({"state": state})
        self.assertEqual(reminder.state, "sent")

    def test_sent_reminder_cannot_go_back_to_draft(self):
        self._assert_sent_reminder_stays_sent("draft")

    def test_sent_reminder_cannot_be_queued_again(self):
        self._assert_sent_reminder_stays_sent("queued")

    def test_sent_reminder_cannot_be_cancelled(self):
        self._assert_sent_reminder_stays_sent("cancelled")

    def test_cancelled_reminder_lines_are_immutable(self):
        with freeze_time(SENT_ON):
            reminder = self._run().reminder_ids.filtered(lambda e: e.channel == "email")
        reminder.with_user(self.collector).action_cancel()
        line = reminder.line_ids[:1]
        with self.assertRaisesRegex(UserError, "is cancelled"):
            line.with_user(self.manager).write({"date_due": DUE})
        with self.assertRaisesRegex(UserError, "is cancelled"):
            line.with_user(self.manager).unlink()
        with self.assertRaisesRegex(UserError, "is cancelled"):
            self.env["dunning.reminder.line"].with_user(self.manager).create(
                {"reminder_id": reminder.id, "move_id": self.other_invoice.id}
            )

    def test_reminder_in_review_changes_only_through_review(self):
        with freeze_time(SENT_ON):
            reminder = self._run(mode="review").reminder_ids.filtered(lambda e: e.channel == "email")
        self.assertEqual(reminder.state, "draft")
        line = reminder.line_ids.filtered(lambda line: line.move_id == self.invoice)
        for name, value in {"amount_fee": 400.0, "is_escalation": False, "level_id": self.level_1.id}.items():
            with self.subTest(field=name), self.assertRaisesRegex(UserError, "keep the level and charges"):
                line.with_user(self.collector).write({name: value})
        with self.assertRaisesRegex(UserError, "charges invoice"):
            self.env["dunning.reminder.line"].with_user(self.collector).create(
                {"reminder_id": reminder.id, "move_id": self.other_invoice.id, "charge_move_id": self.invoice.id}
            )
        # The review itself: the reviewer lowers the level (its escalations follow) and leaves an invoice out.
        reminder.with_user(self.collector).level_id = self.level_2
        self.assertEqual(line.level_id, self.level_2)
        self.assertEqual(line.amount_fee, 0.0, "level 2 has no fee")
        reminder.line_ids.filtered(lambda line: line.move_id == self.other_invoice).with_user(self.manager).unlink()
        self.assertEqual(reminder.line_ids, line)


@tagged("post_install", "-at_install")
class TestStatementMatchGuards(DunningCommon):
    """The statement matching wizard is for accountants, and reconciles only the debtor's open receivables."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank = cls.company_data["default_journal_bank"]
        cls.invoice = cls._create_invoice_due(cls.debtor, 400.0, date(2026, 1, 31))
        cls.other = cls._create_debtor("Other debtor", email="other@example.com")

    def _statement_line(self, **values):
        return self.env["account.bank.statement.line"].create(
            {"journal_id": self.bank.id, "date": date(2026, 2, 10), "payment_ref": "transfer", "amount": 400.0} | values
        )

    def _confirm_with(self, statement_line, items):
        wizard = (
            self.env["dunning.statement.match.wizard"]
            .with_context(active_model="account.bank.statement.line", active_ids=statement_line.ids)
            .create({})
        )
        wizard.line_ids = [
            Command.create(
                {
                    "statement_line_id": statement_line.id,
                    "move_line_ids": [Command.set(items.ids)],
                    "decision": "accept",
                }
            )
        ]
        return wizard.action_confirm()

    def test_statement_match_wizard_is_not_for_invoicing_users(self):
        invoicing = self._create_user("match_invoicing", "account.group_account_invoice")
        with self.assertRaises(AccessError):
            self.env["dunning.statement.match.wizard"].with_user(invoicing).create({})

    def test_statement_match_wizard_is_not_for_collectors(self):
        collector = self._create_user("match_collector", "receivable_dunning.group_dunning_user")
        with self.assertRaises(AccessError):
            self.env["dunning.statement.match.wizard"].with_user(collector).create({})

    def test_statement_match_wizard_is_for_accountants(self):
        accountant = self._create_user("match_accountant", "account.group_account_invoice,account.group_account_user")
        self.env["dunning.statement.match.wizard"].with_user(accountant).create({})

    def test_confirm_refuses_a_vendor_bill_payable_line(self):
        bill = self._create_invoice(
            "in_invoice",
            post=True,
            partner_id=self.debtor,
            invoice_line_ids=[Command.create({"name": "Supplies", "price_unit": 400.0, "tax_ids": []})],
        )
        payable = bill.line_ids.filtered(lambda aml: aml.account_type == "liability_payable")
        statement_line = self._statement_line(partner_id=self.debtor.id)
        with self.assertRaisesRegex(UserError, f"{bill.name}.*not a receivable"):
            self._confirm_with(statement_line, payable)
        self.assertFalse(statement_line.is_reconciled)
        self.assertEqual(bill.payment_state, "not_paid")

    def test_confirm_refuses_a_misc_entry(self):
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self.company_data["default_journal_misc"].id,
                "line_ids": [
                    Command.create(
                        {"name": "Odd", "account_id": self.company_data["default_account_expense"].id, "debit": 400.0}
                    ),
                    Command.create(
                        {"name": "Odd", "account_id": self.company_data["default_account_revenue"].id, "credit": 400.0}
                    ),
                ],
            }
        )
        entry.action_post()
        with self.assertRaisesRegex(UserError, f"{entry.name}.*not a receivable"):
            self._confirm_with(self._statement_line(), entry.line_ids.filtered("debit"))

    def test_confirm_refuses_another_debtors_or_a_draft_receivable(self):
        receivable = self.invoice.line_ids.filtered(lambda aml: aml.account_type == "asset_receivable")
        with self.assertRaisesRegex(UserError, f"{self.invoice.name}.*owed by Debtor One, not by Other debtor"):
            self._confirm_with(self._statement_line(partner_id=self.other.id), receivable)
        draft = self._create_invoice_due(self.debtor, 400.0, date(2026, 1, 31), post=False)
        draft_receivable = draft.line_ids.filtered(lambda aml: aml.account_type == "asset_receivable")
        with self.assertRaisesRegex(UserError, "not posted"):
            self._confirm_with(self._statement_line(partner_id=self.debtor.id), draft_receivable)
        # The debtor's own open receivable, reached through a contact of the debtor, is paid.
        contact = self.env["res.partner"].create({"name": "Accounts payable", "parent_id": self.debtor.id})
        self._confirm_with(self._statement_line(partner_id=contact.id), receivable)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
