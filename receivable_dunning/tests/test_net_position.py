from odoo import Command, fields
from odoo.tests import BaseCase, tagged

from ..tools.credits import Credit, Invoice, allocate_credits
from .common import days_ago
from .engine_common import DunningEngineCommon


@tagged("post_install", "-at_install")
class TestCreditAllocation(BaseCase):
    """The pure allocation the run, the reminders and the statement share."""

    def test_credit_note_covers_its_own_invoice_first(self):
        invoices = [Invoice(1, "2026-01-01", 100.0), Invoice(2, "2026-02-01", 80.0)]
        allocation = allocate_credits(invoices, [Credit(10, 30.0, reversed_move_id=2)])
        self.assertEqual(allocation.covered, {2: 30.0})
        self.assertTrue(allocation.is_covered(invoices[1]), "an invoice with an open credit note is not dunned")
        self.assertFalse(allocation.is_covered(invoices[0]))

    def test_other_credits_cover_the_oldest_invoices_first(self):
        invoices = [Invoice(2, "2026-02-01", 80.0), Invoice(1, "2026-01-01", 100.0)]
        allocation = allocate_credits(invoices, [Credit(10, 120.0)])
        self.assertEqual(allocation.covered, {1: 100.0, 2: 20.0})
        self.assertEqual(allocation.net(invoices[0]), 60.0)
        self.assertEqual(allocation.unused, 0.0)

    def test_leftover_of_a_credit_note_joins_the_other_credits(self):
        invoices = [Invoice(1, "2026-01-01", 100.0), Invoice(2, "2026-02-01", 80.0)]
        allocation = allocate_credits(invoices, [Credit(10, 150.0, reversed_move_id=2)])
        self.assertEqual(allocation.covered, {2: 80.0, 1: 70.0})

    def test_outbound_refund_takes_back_what_credits_cover(self):
        invoices = [Invoice(1, "2026-01-01", 100.0)]
        allocation = allocate_credits(invoices, [Credit(10, 100.0), Credit(11, -100.0)])
        self.assertEqual(allocation.covered, {})
        self.assertEqual(allocation.unused, 0.0)

    def test_amounts_are_rounded_in_the_currency(self):
        yen = allocate_credits([Invoice(1, "2026-01-01", 1000.0)], [Credit(10, 333.4), Credit(11, 333.4)], digits=0)
        self.assertEqual(yen.covered, {1: 666.0})
        dinar = allocate_credits([Invoice(1, "2026-01-01", 10.0)], [Credit(10, 3.3333)], digits=3)
        self.assertEqual(dinar.covered, {1: 3.333})
        self.assertEqual(dinar.net(Invoice(1, "2026-01-01", 10.0), 3), 6.667)


@tagged("post_install", "-at_install")
class TestNetPosition(DunningEngineCommon):
    """The run duns what the debtor really owes: credit notes, unmatched payments and refunds are set against
    its invoices before levels, thresholds and charges."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.escalation_mode = "catch_up"

    def _credit_note(self, amount, reversed_invoice=None, partner=None, currency=None):
        refund = self.env["account.move"].create(
            {
                "move_type": "out_refund",
                "partner_id": (partner or self.debtor).id,
                "currency_id": (currency or self.company.currency_id).id,
                "invoice_date": fields.Date.today(),
                "reversed_entry_id": reversed_invoice.id if reversed_invoice else False,
                "invoice_line_ids": [
                    Command.create({"name": "Return", "quantity": 1, "price_unit": amount, "tax_ids": []})
                ],
            }
        )
        refund.action_post()
        if reversed_invoice:
            # Posting reconciles a credit note with the invoice it reverses; this one stays open, as one whose
            # matching was undone, or posted while the invoice was in another state.
            refund.line_ids.remove_move_reconcile()
        return refund

    def _bank_entry(self, amount):
        """A posted bank entry on the debtor's receivable: ``amount`` > 0 is money received and not yet matched to
        an invoice, ``amount`` < 0 money paid out to the debtor (a refund) not yet matched to its credit note."""
        receivable = self.debtor.property_account_receivable_id
        bank = self.company_data["default_journal_bank"]
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": bank.id,
                "line_ids": [
                    Command.create(
                        {"account_id": bank.default_account_id.id, "debit": max(amount, 0), "credit": max(-amount, 0)}
                    ),
                    Command.create(
                        {
                            "account_id": receivable.id,
                            "partner_id": self.debtor.id,
                            "debit": max(-amount, 0),
                            "credit": max(amount, 0),
                        }
                    ),
                ],
            }
        )
        entry.action_post()
        return entry

    def _lines_of(self, run, invoice):
        return run.reminder_ids.line_ids.filtered(lambda line: line.move_id == invoice)

    def test_invoice_with_an_open_credit_note_is_neither_escalated_nor_charged(self):
        credited = self._create_invoice_due(self.debtor, 100.0, days_ago(35))
        other = self._create_invoice_due(self.debtor, 300.0, days_ago(35))
        self._credit_note(40.0, reversed_invoice=credited)
        run = self._run()
        self.assertFalse(self._lines_of(run, credited).filtered("is_escalation"))
        self.assertFalse(sum(self._lines_of(run, credited).mapped("amount_fee")))
        self.assertFalse(sum(self._lines_of(run, credited).mapped("amount_interest")))
        self.assertTrue(self._lines_of(run, other).filtered("is_escalation"))
        self.assertFalse(credited.dunning_level_id)

    def test_debtor_whose_credits_cover_all_overdue_gets_no_reminder(self):
        self._create_invoice_due(self.debtor, 100.0, days_ago(35))
        self._create_invoice_due(self.debtor, 50.0, days_ago(15))
        self._bank_entry(200.0)
        run = self._run()
        self.assertFalse(run.reminder_ids, "no reminder, no fee and no interest")
        exception = run.exception_ids.filtered(lambda exc: exc.partner_id == self.debtor)
        self.assertEqual(exception.reason, "credits")

    def test_partly_covered_debtor_is_reminded_for_the_net_amount(self):
        old = self._create_invoice_due(self.debtor, 100.0, days_ago(15))
        mid = self._create_invoice_due(self.debtor, 250.0, days_ago(12))
        refund = self._credit_note(120.0)
        run = self._run()
        reminder = run.reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self.assertEqual(len(reminder), 1)
        self.assertEqual(self._lines_of(run, old).amount_credit, 100.0)
        self.assertFalse(self._lines_of(run, old).is_escalation, "the oldest invoice is covered")
        self.assertEqual(self._lines_of(run, mid).amount_credit, 20.0)
        self.assertEqual(reminder.amount_residual, 350.0)
        self.assertEqual(reminder.amount_credit, 120.0)
        self.assertEqual(reminder.amount_total, 230.0, "the reminder asks for the net amount")
        self.assertEqual(reminder.credit_line_ids.move_id, refund)

    def test_thresholds_apply_to_the_net_overdue(self):
        self.level_1.min_amount = 300.0
        self._create_invoice_due(self.debtor, 100.0, days_ago(15))
        self._create_invoice_due(self.debtor, 250.0, days_ago(12))
        self._credit_note(120.0)
        run = self._run()
        self.assertFalse(run.reminder_ids, "230 net overdue is under the minimum of 300, although 350 are gross")
        self.assertEqual(run.exception_ids.reason, "under_minimum")

    def test_unmatched_outbound_refund_cancels_the_credit_it_paid_out(self):
        invoice = self._create_invoice_due(self.debtor, 100.0, days_ago(15))
        self._credit_note(100.0)
        self._bank_entry(-100.0)
        run = self._run()
        self.assertTrue(self._lines_of(run, invoice).filtered("is_escalation"))
        self.assertEqual(run.reminder_ids[:1].amount_total, 100.0)

    def test_charges_invoice_is_reminded_without_fees_or_interest(self):
        self.policy.interest_rate = 10.0
        charges_invoice = self._create_invoice_due(self.debtor, 40.0, days_ago(35))
        invoice = self._create_invoice_due(self.debtor, 500.0, days_ago(35))
        # sudo: only the dispatch links a charges invoice to the line that charged it.
        earlier = (
            self.env["dunning.reminder"]
            .sudo()
            .create({"partner_id": self.debtor.id, "level_id": self.level_1.id, "state": "sent"})
        )
        self.env["dunning.reminder.line"].sudo().create(
            {"reminder_id": earlier.id, "move_id": invoice.id, "charge_move_id": charges_invoice.id}
        )
        run = self._run()
        charges_line = self._lines_of(run, charges_invoice).filtered("is_escalation")[:1]
        self.assertEqual(charges_line.level_id, self.level_3)
        self.assertEqual(charges_line.amount_fee, 0.0, "no fee on fees")
        self.assertEqual(charges_line.amount_interest, 0.0, "no interest on interest")
        invoice_line = self._lines_of(run, invoice).filtered("is_escalation")[:1]
        self.assertEqual(invoice_line.amount_fee, 40.0)
        self.assertTrue(invoice_line.amount_interest)

    def test_reminder_tells_overdue_from_due_soon_and_lists_credits(self):
        self._create_invoice_due(self.debtor, 300.0, days_ago(12))
        soon = self._create_invoice_due(self.debtor, 80.0, fields.Date.today())
        refund = self._credit_note(50.0)
        run = self._run()
        reminder = run.reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self.assertIn(soon, reminder.line_ids.move_id)
        template = self.env.ref("receivable_dunning.mail_template_dunning_reminder")
        body = template._render_field("body_html", reminder.ids)[reminder.id]
        self.assertIn("Overdue", body)
        self.assertIn("Falling due soon", body)
        self.assertLess(body.index("Overdue"), body.index("Falling due soon"))
        self.assertIn(refund.name, body)
        self.assertIn("Net balance to pay", body)
        self.assertEqual(reminder.amount_total, 330.0)
        self.assertNotIn("the following invoices are overdue", body)

    def test_zero_and_three_decimal_currencies(self):
        for code, amount, credit, expected in (("JPY", 10001.0, 3333.0, 6668.0), ("KWD", 100.125, 33.333, 66.792)):
            with self.subTest(currency=code):
                currency = self.setup_other_currency(code, rates=[("1900-01-01", 1.0)])
                debtor = self._create_debtor(f"Debtor {code}", email=f"{code.lower()}@example.com")
                self._create_invoice_due(debtor, amount, days_ago(15), currency=currency)
                self._credit_note(credit, partner=debtor, currency=currency)
                run = self._run(partner_ids=[Command.set(debtor.ids)])
                reminder = run.reminder_ids.filtered(lambda reminder: reminder.channel == "email")
                self.assertEqual(reminder.currency_id, currency)
                self.assertEqual(reminder.amount_credit, credit)
                self.assertEqual(reminder.amount_total, expected)
                self.assertTrue(currency.is_zero(reminder.amount_total - currency.round(reminder.amount_total)))

    def test_transfer_of_the_net_amount_quoting_the_reminder_settles_invoices_and_credits(self):
        old = self._create_invoice_due(self.debtor, 100.0, days_ago(15))
        mid = self._create_invoice_due(self.debtor, 250.0, days_ago(12))
        refund = self._credit_note(120.0)
        reminder = self._run().reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self._dispatch()
        self.assertEqual((reminder.state, reminder.amount_total), ("sent", 230.0))
        statement_line = self.env["account.bank.statement.line"].create(
            {
                "journal_id": self.company_data["default_journal_bank"].id,
                "payment_ref": f"Reminder {reminder.payment_reference}",
                "amount": 230.0,
            }
        )
        wizard = (
            self.env["dunning.statement.match.wizard"]
            .with_context(active_model="account.bank.statement.line", active_ids=statement_line.ids)
            .create({})
        )
        wizard.action_propose()
        self.assertEqual(wizard.line_ids.move_line_ids.move_id, old | mid | refund)
        self.assertEqual((wizard.line_ids.reason, wizard.line_ids.score), ("reminder_reference", 100))
        wizard.action_confirm()
        self.assertTrue(statement_line.is_reconciled)
        for move in old | mid | refund:
            with self.subTest(move=move.name):
                self.assertIn(move.payment_state, ("paid", "in_payment", "reversed"))

    def test_reminder_and_statement_page_agree_on_the_balance(self):
        self._create_invoice_due(self.debtor, 100.0, days_ago(15))
        self._create_invoice_due(self.debtor, 250.0, days_ago(12))
        refund = self._credit_note(120.0)
        paid_out = self._bank_entry(-30.0)  # a refund paid to the debtor, not yet matched
        reminder = self._run().reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self.assertEqual(reminder.amount_total, 260.0)
        self.assertEqual(reminder.credit_line_ids.move_id, refund | paid_out, "every item set against the invoices")
        values = self.env["dunning.statement"]._values(self.debtor, self.company)
        self.assertIn("260.00", values["balance_text"])

    def test_reminder_and_statement_page_list_the_same_credits(self):
        """One rule of a debtor's credits (``account.move.line._dunning_open_credit_domain``) for the run and the
        page: a subsidiary company under the debtor owes and is owed on its own."""
        self._create_invoice_due(self.debtor, 300.0, days_ago(15))
        refund = self._credit_note(50.0)
        subsidiary = self.env["res.partner"].create(
            {"name": "Debtor One Branch", "parent_id": self.debtor.id, "is_company": True}
        )
        self._credit_note(70.0, partner=subsidiary)
        reminder = self._run().reminder_ids.filtered(lambda reminder: reminder.channel == "email")
        self.assertEqual(reminder.credit_line_ids.move_id, refund)
        values = self.env["dunning.statement"]._values(self.debtor, self.company)
        self.assertEqual([credit["line_id"] for credit in values["credits"]], reminder.credit_line_ids.ids)
        self.assertIn("250.00", values["balance_text"])
