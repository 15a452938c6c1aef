from datetime import date, datetime

from odoo import Command
from odoo.tests import tagged
from odoo.tools import SQL

from . import test_report_effectiveness
from .common import DunningCommon, on

BRUSSELS = "Europe/Brussels"  # UTC+1 in March 2026


class OutcomeStoreMixin:
    """Helpers of the tests of ``dunning.reminder.outcome``: the store kept in Brussels time, compared with the
    report's live statement."""

    @classmethod
    def _keep_store_in_brussels(cls):
        """Read the report in Brussels time, as the store's time zones are the users' own, and rebuild it."""
        cls.env.user.tz = BRUSSELS
        cls.env["dunning.reminder.outcome"]._rebuild()

    def _stored_and_live(self):
        """The store's rows in Brussels time and the live statement's (no cut-off), each sorted by line."""
        columns = SQL(
            "line_id, company_id, currency_id, policy_id, level_id, channel, reminder_id, move_id, partner_id, "
            "date_sent, day_sent, weekday, hour, date_next_reminder, amount_reminded, paid_7, paid_14, paid_30, "
            "paid_7_count, paid_14_count, paid_30_count, amount_recovered, date_last_payment"
        )
        self.env.flush_all()
        self.env.cr.execute(
            SQL("SELECT %s FROM dunning_reminder_outcome WHERE tz = %s ORDER BY line_id", columns, BRUSSELS)
        )
        stored = self.env.cr.fetchall()
        facts = self.env["dunning.report.effectiveness"]._facts_query(BRUSSELS)
        self.env.cr.execute(SQL("SELECT %s FROM %s AS facts ORDER BY line_id", columns, facts))
        return stored, self.env.cr.fetchall()

    def assertStoreIsLive(self, count=None):
        stored, live = self._stored_and_live()
        self.assertEqual(stored, live, "the stored outcomes are the live statement's rows")
        if count is not None:
            self.assertEqual(len(stored), count)

    def _reads_store(self, Report):
        return "dunning_reminder_outcome" in Report._table_query.code


@tagged("post_install", "-at_install")
class TestReportEffectivenessStored(OutcomeStoreMixin, test_report_effectiveness.TestReportEffectiveness):
    """The hand-computed data set of ``TestReportEffectiveness``, its every test run again with the report reading
    the stored outcomes (the menu's case: the report's day after every reminder and payment)."""

    allow_inherited_tests_method = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._keep_store_in_brussels()

    def test_the_report_reads_the_store(self):
        self.assertStoreIsLive(count=6)
        self.assertTrue(self._reads_store(self.Report))
        self.assertTrue(self._reads_store(self.Report.with_context(dunning_report_date=False)), "today")
        # Before invoice D's payment (11 April) the rows cannot say what was paid by then: the live statement.
        self.assertFalse(self._reads_store(self.Report.with_context(dunning_report_date=date(2026, 4, 5))))
        # A time zone the store does not keep: the live statement.
        self.assertFalse(self._reads_store(self.Report.with_context(tz="Asia/Tokyo")))


@tagged("post_install", "-at_install")
class TestReminderOutcomeStore(OutcomeStoreMixin, DunningCommon):
    """The stored outcomes follow every send, payment and unreconciliation, for many invoices at once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._keep_store_in_brussels()
        cls.Report = cls.env["dunning.report.effectiveness"].with_context(tz=BRUSSELS)

    def _reminder(self, invoices, level, sent_at=None):
        """A reminder of ``invoices`` at ``level``, queued; sent at ``sent_at`` when given."""
        reminder = self.env["dunning.reminder"].create(
            {
                "partner_id": self.debtor.id,
                "level_id": level.id,
                "line_ids": [Command.create({"move_id": invoice.id, "level_id": level.id}) for invoice in invoices],
            }
        )
        if sent_at:
            reminder.write({"state": "sent", "date_done": sent_at})
        return reminder

    def _stored(self, invoice, level):
        return self.env["dunning.reminder.outcome"].search(
            [("move_id", "=", invoice.id), ("level_id", "=", level.id), ("tz", "=", BRUSSELS)]
        )

    def test_send_then_pay_then_unreconcile(self):
        invoice = self._create_invoice_due(self.debtor, 1000.0, on(0))
        reminder = self._reminder(invoice, self.level_1)
        self.assertStoreIsLive(count=0)
        reminder.write({"state": "queued"})
        # Sent through the dispatch's state machine, as a channel does.
        reminder._update_state(("queued",), "sent", extra_vals={"date_done": datetime(2026, 3, 11, 8, 30)})
        self.assertStoreIsLive(count=1)
        self.assertEqual(self._stored(invoice, self.level_1).amount_reminded, 1000)
        self._register_payment(invoice, amount=400.0, payment_date=date(2026, 3, 15))
        self.assertStoreIsLive(count=1)
        outcome = self._stored(invoice, self.level_1)
        self.assertEqual(
            (outcome.paid_7, outcome.amount_recovered, outcome.date_last_payment), (400, 400, date(2026, 3, 15))
        )
        invoice.line_ids.filtered(lambda line: line.display_type == "payment_term").remove_move_reconcile()
        self.assertStoreIsLive(count=1)
        self.assertEqual(self._stored(invoice, self.level_1).amount_recovered, 0)

    def test_second_reminder_takes_the_later_payments(self):
        invoice = self._create_invoice_due(self.debtor, 1000.0, on(0))
        self._reminder(invoice, self.level_1, datetime(2026, 3, 11, 8, 30))
        self._register_payment(invoice, amount=300.0, payment_date=date(2026, 3, 18))
        self._register_payment(invoice, amount=700.0, payment_date=date(2026, 3, 22))
        self.assertEqual(self._stored(invoice, self.level_1).amount_recovered, 1000, "no later reminder yet")
        self._reminder(invoice, self.level_2, datetime(2026, 3, 21, 10, 0))
        self.assertStoreIsLive(count=2)
        self.assertEqual(
            (
                self._stored(invoice, self.level_1).amount_recovered,
                self._stored(invoice, self.level_2).amount_recovered,
            ),
            (300, 700),
        )

    def test_delivery_failure_after_sending_leaves_the_report(self):
        invoice = self._create_invoice_due(self.debtor, 500.0, on(0))
        reminder = self._reminder(invoice, self.level_1, datetime(2026, 3, 11, 8, 30))
        self.assertStoreIsLive(count=1)
        reminder._mark_failed("bounced")
        self.assertStoreIsLive(count=0)

    def test_many_invoices_at_once(self):
        invoices = self.env["account.move"].union(
            *(self._create_invoice_due(self.debtor, 100.0 + number, on(0)) for number in range(12))
        )
        self._reminder(invoices, self.level_1, datetime(2026, 3, 11, 8, 30))
        self._reminder(invoices[:6], self.level_2, datetime(2026, 3, 21, 8, 30))
        self.assertStoreIsLive(count=18)
        # One payment for all of them, half of them in full.
        self._register_payment(invoices[::2], payment_date=date(2026, 3, 25), group_payment=True)
        self.assertStoreIsLive(count=18)
        by_level = dict(self.Report._read_group([], ["level_id"], ["amount_recovered:sum"]))
        self.assertEqual(by_level[self.level_2], sum(invoices[:6:2].mapped("amount_total")))
        self.assertEqual(by_level[self.level_1], sum(invoices[6::2].mapped("amount_total")))
        self.assertTrue(self._reads_store(self.Report))

    def test_nightly_rebuild(self):
        invoice = self._create_invoice_due(self.debtor, 500.0, on(0))
        self._reminder(invoice, self.level_1, datetime(2026, 3, 11, 8, 30))
        # A change no hook follows: the invoice's amount changed in SQL.
        self.env.cr.execute(SQL("UPDATE account_move SET amount_total_signed = 450 WHERE id = %s", invoice.id))
        self.env.cr.execute(SQL("UPDATE dunning_reminder_outcome SET weekday = '6'"))
        self.env.invalidate_all()
        self.assertEqual(
            self.env.ref("receivable_dunning.ir_cron_dunning_reminder_outcome").code, "model._cron_rebuild()"
        )
        self.env["dunning.reminder.outcome"]._rebuild()
        self.assertStoreIsLive(count=1)
        self.assertEqual(self._stored(invoice, self.level_1).amount_reminded, 450)
