from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import DunningCommon, in_days


@tagged("post_install", "-at_install")
class TestCreditStopSupply(DunningCommon):
    """Odoo's credit limit on the debtor, the note when an invoice takes the debtor over it, and stop supply."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.account_use_credit_limit = True
        cls.debtor.credit_limit = 1000.0
        cls.other_debtor = cls._create_debtor("Debtor Two")
        cls.manager = cls._create_user("credit_manager", "receivable_dunning.group_dunning_manager")
        cls.collector = cls._create_user("credit_collector", "receivable_dunning.group_dunning_user")
        cls._create_invoice_due(cls.debtor, 600.0, in_days(30))

    def _draft(self, partner, amount=100.0, move_type="out_invoice"):
        return self.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": partner.id,
                "invoice_date": in_days(0),
                "invoice_line_ids": [Command.create({"name": "Service", "price_unit": amount, "tax_ids": []})],
            }
        )

    def _stop(self, partner, reason="Unpaid since March"):
        partner.write({"dunning_stop_supply": True, "dunning_stop_supply_reason": reason})

    def _notes(self, move):
        return " ".join(move.message_ids.mapped("body"))

    # --- credit limit -------------------------------------------------------------------------------------

    def test_limit_open_balance_and_what_is_left(self):
        self.other_debtor.credit_limit = 200.0
        self._create_invoice_due(self.other_debtor, 300.0, in_days(30))
        contact = self.env["res.partner"].create({"name": "Accounts", "parent_id": self.debtor.id})
        partners = (self.debtor | self.other_debtor | contact).with_user(self.collector)
        self.assertEqual(partners.mapped("dunning_credit_open"), [600.0, 300.0, 600.0])
        self.assertEqual(partners.mapped("dunning_credit_left"), [400.0, -100.0, 400.0])
        self.assertEqual(partners.mapped("dunning_currency_id"), self.company.currency_id)

    def test_draft_warns_and_posting_over_the_limit_logs_the_limit_and_the_balance(self):
        invoice = self._draft(self.debtor, 500.0)
        self.assertIn("credit limit", invoice.partner_credit_warning)
        self.assertIn("account_partner_credit_warning", invoice._get_alerts(), "shown in the draft's form")
        invoice.action_post()
        notes = self._notes(invoice)
        self.assertIn("over the credit limit of Debtor One", notes)
        self.assertIn("1,000.00", notes)
        self.assertIn("1,100.00", notes)
        self.assertEqual(invoice.state, "posted", "a limit warns, it does not block")

    def test_posting_under_the_limit_or_without_limits_logs_nothing(self):
        under = self._draft(self.debtor, 300.0)
        under.action_post()
        self.assertNotIn("credit limit", self._notes(under))
        self.company.account_use_credit_limit = False
        over = self._draft(self.debtor, 900.0)
        over.action_post()
        self.assertNotIn("credit limit", self._notes(over))

    # --- stop supply --------------------------------------------------------------------------------------

    def test_stop_supply_blocks_posting_with_a_clear_message(self):
        self._stop(self.debtor)
        invoice = self._draft(self.debtor)
        self.assertTrue(invoice.dunning_stop_supply)
        self.assertIn("Unpaid since March", invoice._get_alerts()["receivable_dunning_stop_supply"]["message"])
        with self.assertRaises(UserError) as caught:
            invoice.action_post()
        self.assertIn("Debtor One is on Stop Supply", str(caught.exception))
        self.assertIn("Post Despite Stop Supply", str(caught.exception))
        self.assertEqual(invoice.state, "draft")

    def test_stop_supply_is_per_company(self):
        self._stop(self.debtor)
        company_b = self.setup_other_company(name="Company B")["company"]
        self.assertFalse(self.debtor.with_company(company_b).dunning_stop_supply)
        invoice_b = self._create_invoice_due(self.debtor, 100.0, in_days(30), company=company_b)
        self.assertEqual(invoice_b.state, "posted")

    def test_manager_override_posts_and_logs_who(self):
        self._stop(self.debtor)
        invoice = self._draft(self.debtor)
        invoice.with_user(self.manager).action_post_despite_stop_supply()
        self.assertEqual(invoice.state, "posted")
        self.assertIn(f"Posted despite the stop supply of Debtor One, by {self.manager.name}", self._notes(invoice))

    def test_only_managers_override_or_stop(self):
        self._stop(self.debtor)
        invoice = self._draft(self.debtor)
        with self.assertRaises(AccessError):
            invoice.with_user(self.collector).action_post_despite_stop_supply()
        with self.assertRaises(UserError, msg="the context key alone does not override"):
            invoice.with_user(self.collector).with_context(dunning_stop_supply_override=True).action_post()
        with self.assertRaises(AccessError):
            self.other_debtor.with_user(self.collector).dunning_stop_supply = True
        wizard = (
            self.env["dunning.stop.supply.wizard"]
            .with_user(self.manager)
            .with_context(active_model="res.partner", active_ids=self.debtor.ids)
            .create({})
        )
        wizard.action_resume()
        self.assertFalse(self.debtor.dunning_stop_supply)
        self.assertFalse(self.debtor.dunning_stop_supply_reason)

    def test_credit_notes_and_vendor_bills_are_never_blocked(self):
        self._stop(self.debtor)
        credit_note = self._draft(self.debtor, move_type="out_refund")
        bill = self.env["account.move"].create(
            {
                "move_type": "in_invoice",
                "partner_id": self.debtor.id,
                "invoice_date": in_days(0),
                "invoice_line_ids": [Command.create({"name": "Goods", "price_unit": 50.0, "tax_ids": []})],
            }
        )
        (credit_note | bill).action_post()
        self.assertEqual((credit_note | bill).mapped("state"), ["posted", "posted"])

    def test_batch_posting_of_mixed_debtors(self):
        self._stop(self.other_debtor)
        third = self._create_debtor("Debtor Three")
        contact = self.env["res.partner"].create({"name": "Buyer", "parent_id": self.other_debtor.id})
        free = self.env["account.move"].union(*(self._draft(partner) for partner in [self.debtor, third] * 10))
        stopped = self._draft(self.other_debtor) | self._draft(contact)
        with self.assertRaises(UserError) as caught:
            (free | stopped).action_post()
        self.assertIn("Debtor Two is on Stop Supply", str(caught.exception))
        self.assertNotIn("Debtor Three", str(caught.exception))
        self.assertEqual(set((free | stopped).mapped("state")), {"draft"})

        # The debtors are read once per company, however many invoices are posted.
        def count_queries(moves):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.assertEqual(moves._dunning_stopped_invoices(), moves & stopped)
            return self.env.cr.sql_log_count - before

        self.assertEqual(count_queries(free[:1] | stopped[:1]), count_queries(free | stopped))

        free.action_post()
        self.assertEqual(set(free.mapped("state")), {"posted"})
        stopped.with_user(self.manager).action_post_despite_stop_supply()
        self.assertEqual(set(stopped.mapped("state")), {"posted"})

    def test_invoice_without_customer(self):
        self._stop(self.debtor)
        new_invoice = self.env["account.move"].new({"move_type": "out_invoice"})
        self.assertFalse(new_invoice.dunning_stop_supply)
        self.assertNotIn("receivable_dunning_stop_supply", new_invoice._get_alerts())
        draft = self.env["account.move"].create({"move_type": "out_invoice"})
        self.assertFalse(draft._dunning_stopped_invoices())
        with self.assertRaises(UserError) as caught:
            draft.action_post()
        self.assertNotIn("Stop Supply", str(caught.exception), "Odoo's own checks answer")
