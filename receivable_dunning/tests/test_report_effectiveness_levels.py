from datetime import date, datetime

from odoo import Command
from odoo.tests import tagged

from .common import DunningCommon, on

BRUSSELS = "Europe/Brussels"  # UTC+1 in March 2026


@tagged("post_install", "-at_install")
class TestReportEffectivenessLevels(DunningCommon):
    """The step a line is counted for, and periods that start after some of an invoice's reminders.

    ====  ======  ==============================================  ==========================================
    inv.  amount  reminders (09:30 in Brussels)                   payments
    ====  ======  ==============================================  ==========================================
    F     900     level 2 reminder on 11/3, line without a level  900 on 14/3 (day 3)
    G     300     same level 2 reminder, line at level 1          none
    H     1000    level 1 on 11/3, level 2 on 21/3                300 on 18/3 (day 7 of L1), 700 on 22/3
    ====  ======  ==============================================  ==========================================
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Report = cls.env["dunning.report.effectiveness"].with_context(tz=BRUSSELS, dunning_report_date="2026-06-30")
        cls.invoice_f = cls._create_invoice_due(cls.debtor, 900.0, on(0))
        cls.invoice_g = cls._create_invoice_due(cls.debtor, 300.0, on(0))
        cls.invoice_h = cls._create_invoice_due(cls.debtor, 1000.0, on(0))
        cls._sent_reminder(
            cls.level_2,
            datetime(2026, 3, 11, 8, 30),
            [{"move_id": cls.invoice_f.id}, {"move_id": cls.invoice_g.id, "level_id": cls.level_1.id}],
        )
        cls._sent_reminder(
            cls.level_1, datetime(2026, 3, 11, 8, 30), [{"move_id": cls.invoice_h.id, "level_id": cls.level_1.id}]
        )
        cls._sent_reminder(
            cls.level_2, datetime(2026, 3, 21, 8, 30), [{"move_id": cls.invoice_h.id, "level_id": cls.level_2.id}]
        )
        for invoice, amount, day in (
            (cls.invoice_f, 900.0, date(2026, 3, 14)),
            (cls.invoice_h, 300.0, date(2026, 3, 18)),
            (cls.invoice_h, 700.0, date(2026, 3, 22)),
        ):
            cls.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"amount": amount, "payment_date": day})._create_payments()

    @classmethod
    def _sent_reminder(cls, level, sent_at, lines):
        reminder = cls.env["dunning.reminder"].create(
            {
                "partner_id": cls.debtor.id,
                "level_id": level.id,
                "line_ids": [Command.create(values) for values in lines],
            }
        )
        reminder.write({"state": "sent", "date_done": sent_at})
        return reminder

    def _rows(self, Report):
        rows = Report.search([("partner_id", "=", self.debtor.id)])
        return {
            (row.move_id, row.level_id): (row.amount_reminded, row.paid_7, row.paid_7_count, row.amount_recovered)
            for row in rows
        }

    def test_line_without_level_counts_for_its_reminders_step(self):
        self.assertEqual(
            self._rows(self.Report),
            {
                # amount reminded, paid in 7 days, fully paid in 7 days, recovered
                (self.invoice_f, self.level_2): (900, 900, 1, 900),
                (self.invoice_g, self.level_1): (300, 0, 0, 0),
                (self.invoice_h, self.level_1): (1000, 300, 0, 300),
                (self.invoice_h, self.level_2): (700, 700, 1, 700),
            },
        )
        groups = self.Report._read_group(
            [("partner_id", "=", self.debtor.id)], ["level_id"], ["__count", "amount_recovered:sum"]
        )
        self.assertEqual(
            sorted(groups, key=lambda group: group[0].id), [(self.level_1, 2, 300), (self.level_2, 2, 1600)]
        )

    def test_period_after_earlier_reminders(self):
        """Reminders before the period are left out, but the payments before it still lower what was reminded."""
        Report = self.Report.with_context(dunning_effectiveness_periods=[("2026-03-15", "2026-03-31")])
        self.assertEqual(self._rows(Report), {(self.invoice_h, self.level_2): (700, 700, 1, 700)})

    def test_period_before_later_reminders(self):
        """Reminders after the period still end the recovery of those in it."""
        Report = self.Report.with_context(dunning_effectiveness_periods=[("2026-03-01", "2026-03-12")])
        rows = self._rows(Report)
        self.assertEqual(rows[self.invoice_h, self.level_1], (1000, 300, 0, 300), "the 700 of 22/3 goes to level 2")
        self.assertEqual(len(rows), 3)
