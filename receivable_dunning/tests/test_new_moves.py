from odoo import fields
from odoo.tests import Form, HttpCase, tagged

from .common import DunningCommon, days_ago


@tagged("post_install", "-at_install")
class TestNewMoveForms(DunningCommon):
    """Every kind of move opens and saves in its form as the web client drives it, with the module installed: the
    dunning fields are computed on new records before any partner, company or date is known."""

    def _new_move_form(self, move_type):
        return Form(self.env["account.move"].with_context(default_move_type=move_type))

    def _add_line(self, move_form, amount=100.0):
        with move_form.invoice_line_ids.new() as line:
            line.name = "Service"
            line.quantity = 1
            line.price_unit = amount
            line.tax_ids.clear()

    def test_new_customer_invoice_form_opens_and_saves(self):
        move_form = self._new_move_form("out_invoice")
        self.assertFalse(move_form.dunning_policy_id, "no customer yet, no policy")
        self.assertEqual(move_form.dunning_reminder_count, 0)
        move_form.partner_id = self.debtor
        self.assertEqual(move_form.dunning_policy_id, self.policy)
        self._add_line(move_form)
        invoice = move_form.save()
        self.assertEqual(invoice.move_type, "out_invoice")
        self.assertEqual(invoice.dunning_policy_id, self.policy)
        self.assertFalse(invoice.dunning_next_date, "a draft invoice is not dunned")
        self.assertEqual(invoice.dunning_days_overdue, 0)

    def test_new_credit_note_vendor_bill_and_entry_show_nothing_of_dunning(self):
        for move_type in ("out_refund", "in_invoice", "in_refund", "entry"):
            with self.subTest(move_type=move_type):
                move_form = self._new_move_form(move_type)
                if move_type == "entry":
                    move_form.ref = "Accrual"
                else:
                    move_form.partner_id = self.debtor
                    move_form.invoice_date = fields.Date.today()
                    self._add_line(move_form)
                move = move_form.save()
                self.assertEqual(move.move_type, move_type)
                self.assertFalse(move.dunning_policy_id)
                self.assertFalse(move.dunning_next_date)
                self.assertEqual(move.dunning_reminder_count, 0)

    def test_dunning_fields_of_many_moves_at_once(self):
        """The web client computes many records at once: saved and new, with and without partner or company."""
        other_policy = self._create_policy("Other policy", self.company)
        special = self._create_debtor("Special Debtor")
        special.dunning_policy_id = other_policy
        invoice = self._create_invoice_due(self.debtor, 100.0, days_ago(15))
        special_invoice = self._create_invoice_due(special, 50.0, days_ago(15))
        Move = self.env["account.move"]
        entry = Move.create({"move_type": "entry", "ref": "Accrual"})
        new_invoice = Move.new({"move_type": "out_invoice"})
        new_invoice_of_debtor = Move.new({"move_type": "out_invoice", "partner_id": self.debtor.id})
        new_without_company = Move.new({"move_type": "out_invoice", "partner_id": self.debtor.id, "company_id": False})
        edited_invoice = Move.new(origin=invoice)
        moves = invoice | special_invoice | entry | new_invoice | new_invoice_of_debtor | new_without_company
        moves |= edited_invoice
        no_policy = Move.dunning_policy_id
        expected = [self.policy, other_policy, no_policy, no_policy, self.policy, self.policy, self.policy]
        self.assertEqual([move.dunning_policy_id for move in moves], expected)
        self.assertEqual(moves.mapped("dunning_days_overdue"), [15, 15, 0, 0, 0, 0, 15])
        self.assertEqual(moves.mapped("dunning_reminder_count"), [0] * 7)

    def test_new_partner_form_computes_dunning_fields(self):
        partner_form = Form(self.env["res.partner"])
        self.assertEqual(partner_form.dunning_overdue_amount, 0.0)
        self.assertFalse(partner_form.dunning_level_id)
        partner_form.name = "New Customer"
        partner = partner_form.save()
        self.assertEqual(partner.dunning_overdue_count, 0)
        self.assertEqual(partner.dunning_reminder_count, 0)

    def test_edited_partner_keeps_its_overdue_amount(self):
        """In a form an existing customer is a new record with an origin: it owes what the saved one owes."""
        self._create_invoice_due(self.debtor, 120.0, days_ago(20))
        partner_form = Form(self.debtor)
        partner_form.phone = "+32 2 555 01 01"
        self.assertEqual(partner_form.dunning_overdue_amount, 120.0)
        self.assertEqual(partner_form.dunning_overdue_count, 1)


@tagged("post_install", "-at_install")
class TestNewMoveTours(HttpCase):
    """A user clicks New on each list of moves, picks the partner and saves, in the browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({"name": "Tour Customer", "is_company": True})

    def _tour_moves(self, move_type):
        return (
            self.env["account.move"]
            .search([("move_type", "=", move_type), ("ref", "=", False)])
            .filtered(lambda move: move.create_uid == self.env.ref("base.user_admin"))
        )

    def _start_new_move_tour(self, action_xmlid, tour):
        self.start_tour(f"/odoo/action-{action_xmlid}", tour, login="admin")

    def test_new_customer_invoice_in_the_browser(self):
        self._start_new_move_tour("account.action_move_out_invoice_type", "receivable_dunning_new_customer_invoice")
        invoice = self._tour_moves("out_invoice")
        self.assertEqual(invoice.partner_id, self.partner)
        self.assertEqual(invoice.state, "draft")

    def test_new_credit_note_and_vendor_bill_in_the_browser(self):
        for action, move_type in (
            ("account.action_move_out_refund_type", "out_refund"),
            ("account.action_move_in_invoice_type", "in_invoice"),
        ):
            with self.subTest(move_type=move_type):
                self._start_new_move_tour(action, "receivable_dunning_new_move_with_partner_no_dunning")
                self.assertEqual(self._tour_moves(move_type).partner_id, self.partner)

    def test_new_journal_entry_in_the_browser(self):
        entries_before = self._tour_moves("entry")
        self._start_new_move_tour("account.action_move_journal_line", "receivable_dunning_new_journal_entry")
        self.assertEqual(len(self._tour_moves("entry") - entries_before), 1)
