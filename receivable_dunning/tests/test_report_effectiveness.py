from datetime import date, datetime

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged
from odoo.tools.misc import format_date

from .common import DunningCommon, on

BRUSSELS = "Europe/Brussels"  # UTC+1 in March 2026, before the clocks change on the 29th


@tagged("post_install", "-at_install")
class TestReportEffectiveness(DunningCommon):
    """Five invoices due on 1 March 2026, reminded at level 1 on 11 March (Brussels time); one of them reminded
    again at level 2 on 21 March. Payments, hand-computed against each reminder (day 0 is the reminder's day):

    ====  ======  =========================  ============================================================
    inv.  amount  reminders                  payments
    ====  ======  =========================  ============================================================
    A     1000    L1 11/3 09:30, L2 21/3     300 on 18/3 (day 7 of L1), 700 on 22/3 (day 11 of L1, 1 of L2)
    B     500     L1 11/3 00:30 (10/3 UTC)   500 on 18/3 (day 7 in Brussels, day 8 in UTC)
    C     800     L1 11/3 09:30, thank-you   800 on 19/3 (day 8)
    D     400     L1 11/3 09:30              400 on 11/4 (day 31)
    E     600     L1 11/3 09:30              200 on 13/3 (day 2): partial
    ====  ======  =========================  ============================================================
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Report = cls.env["dunning.report.effectiveness"].with_context(tz=BRUSSELS, dunning_report_date="2026-06-30")
        invoices = {
            name: cls._create_invoice_due(cls.debtor, amount, on(0))
            for name, amount in (("A", 1000.0), ("B", 500.0), ("C", 800.0), ("D", 400.0), ("E", 600.0))
        }
        cls.invoice_a, cls.invoice_b, cls.invoice_c, cls.invoice_d, cls.invoice_e = invoices.values()
        morning = datetime(2026, 3, 11, 8, 30)  # 09:30 in Brussels, a Wednesday
        cls._sent_reminder(cls.invoice_a | cls.invoice_c | cls.invoice_d | cls.invoice_e, cls.level_1, morning)
        cls._sent_reminder(cls.invoice_b, cls.level_1, datetime(2026, 3, 10, 23, 30))  # 00:30 on the 11th in Brussels
        cls._sent_reminder(cls.invoice_a, cls.level_2, datetime(2026, 3, 21, 10, 0))  # a Saturday, 11:00
        cls._sent_reminder(cls.invoice_c, cls.level_1, datetime(2026, 3, 15, 9, 0), reminder_type="thanks")
        # Neither sent nor a reminder of its own: a reminder still queued.
        cls.env["dunning.reminder"].create(
            {
                "partner_id": cls.debtor.id,
                "level_id": cls.level_2.id,
                "line_ids": [Command.create({"move_id": cls.invoice_d.id, "level_id": cls.level_2.id})],
            }
        )
        for invoice, amount, day in (
            (cls.invoice_a, 300.0, date(2026, 3, 18)),
            (cls.invoice_a, 700.0, date(2026, 3, 22)),
            (cls.invoice_b, 500.0, date(2026, 3, 18)),
            (cls.invoice_c, 800.0, date(2026, 3, 19)),
            (cls.invoice_d, 400.0, date(2026, 4, 11)),
            (cls.invoice_e, 200.0, date(2026, 3, 13)),
        ):
            cls.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"amount": amount, "payment_date": day})._create_payments()

    @classmethod
    def _sent_reminder(cls, invoices, level, sent_at, reminder_type="reminder"):
        reminder = cls.env["dunning.reminder"].create(
            {
                "partner_id": cls.debtor.id,
                "level_id": level.id,
                "reminder_type": reminder_type,
                "line_ids": [Command.create({"move_id": invoice.id, "level_id": level.id}) for invoice in invoices],
            }
        )
        reminder.write({"state": "sent", "date_done": sent_at})
        return reminder

    def _row(self, Report, invoice, level):
        row = Report.search([("move_id", "=", invoice.id), ("level_id", "=", level.id)])
        self.assertEqual(len(row), 1, f"one row for {invoice.name} at {level.name}")
        return row

    def _by_level(self, Report, domain=()):
        aggregates = [
            "__count",
            "paid_7:sum",
            "paid_14:sum",
            "paid_30:sum",
            "paid_7_count:sum",
            "paid_14_count:sum",
            "paid_30_count:sum",
            "paid_30_rate:avg",
            "amount_recovered:sum",
        ]
        return {
            level: dict(zip(aggregates, values, strict=True))
            for level, *values in Report._read_group(list(domain), ["level_id"], aggregates)
        }

    def test_windows_of_each_reminder(self):
        expected = {
            # invoice, level: amount reminded, paid in 7 / 14 / 30 days, fully paid in 7 / 14 / 30 days, recovered
            (self.invoice_a, self.level_1): (1000, 300, 1000, 1000, 0, 1, 1, 300),
            (self.invoice_a, self.level_2): (700, 700, 700, 700, 1, 1, 1, 700),
            (self.invoice_b, self.level_1): (500, 500, 500, 500, 1, 1, 1, 500),
            (self.invoice_c, self.level_1): (800, 0, 800, 800, 0, 1, 1, 800),
            (self.invoice_d, self.level_1): (400, 0, 0, 0, 0, 0, 0, 400),
            (self.invoice_e, self.level_1): (600, 200, 200, 200, 0, 0, 0, 200),
        }
        for (invoice, level), values in expected.items():
            with self.subTest(invoice=invoice.name, level=level.name):
                row = self._row(self.Report, invoice, level)
                self.assertEqual(
                    (
                        row.amount_reminded,
                        row.paid_7,
                        row.paid_14,
                        row.paid_30,
                        row.paid_7_count,
                        row.paid_14_count,
                        row.paid_30_count,
                        row.amount_recovered,
                    ),
                    values,
                )
                self.assertEqual(row.currency_id, self.company.currency_id)
        self.assertEqual(
            self.Report.search_count([("partner_id", "=", self.debtor.id)]),
            6,
            "the thank-you and the queued reminder are not counted",
        )

    def test_payment_after_the_next_reminder_goes_to_it(self):
        level_1, level_2 = (
            self._row(self.Report, self.invoice_a, self.level_1),
            self._row(self.Report, self.invoice_a, self.level_2),
        )
        self.assertEqual(level_1.date_next_reminder, datetime(2026, 3, 21, 10, 0))
        self.assertEqual((level_1.amount_recovered, level_2.amount_recovered), (300, 700))
        # The thank-you sent before invoice C's payment neither has a row nor takes the payment from the reminder.
        self.assertFalse(self._row(self.Report, self.invoice_c, self.level_1).date_next_reminder)

    def test_pivot_by_level(self):
        by_level = self._by_level(self.Report)
        self.assertEqual(
            by_level[self.level_1],
            {
                "__count": 5,
                "paid_7:sum": 1000,  # A 300, B 500, E 200
                "paid_14:sum": 2500,  # A 1000, B 500, C 800, E 200
                "paid_30:sum": 2500,
                "paid_7_count:sum": 1,  # B
                "paid_14_count:sum": 3,  # A, B, C
                "paid_30_count:sum": 3,
                "paid_30_rate:avg": 60.0,  # 3 of 5
                "amount_recovered:sum": 2200,  # A 300, B 500, C 800, D 400, E 200
            },
        )
        self.assertEqual(by_level[self.level_2]["amount_recovered:sum"], 700)
        self.assertEqual(by_level[self.level_2]["paid_30_rate:avg"], 100.0)

    def test_weekday_and_hour_in_the_time_zone(self):
        row_a = self._row(self.Report, self.invoice_a, self.level_1)
        self.assertEqual((row_a.weekday, row_a.hour), ("2", "09"), "Wednesday 09:30 in Brussels")
        self.assertEqual(self._row(self.Report, self.invoice_a, self.level_2).hour, "11")
        self.assertEqual(self._row(self.Report, self.invoice_a, self.level_2).weekday, "5", "Saturday")
        row_b = self._row(self.Report, self.invoice_b, self.level_1)
        self.assertEqual((row_b.weekday, row_b.hour, row_b.paid_7), ("2", "00", 500))
        # In UTC the same reminder went out on Tuesday at 23:00, and the payment came on its 8th day.
        self.env.invalidate_all()  # the same row, read in another time zone
        row_b_utc = self._row(self.Report.with_context(tz="UTC"), self.invoice_b, self.level_1)
        self.assertEqual((row_b_utc.weekday, row_b_utc.hour, row_b_utc.paid_7), ("1", "23", 0))

    def test_report_date_leaves_out_later_payments_and_open_windows(self):
        Report = self.Report.with_context(dunning_report_date=date(2026, 4, 5))
        self.assertEqual(self._row(Report, self.invoice_d, self.level_1).amount_recovered, 0, "paid on 11 April")
        by_level = self._by_level(Report)[self.level_1]
        self.assertEqual(by_level["amount_recovered:sum"], 1800)
        self.assertIs(by_level["paid_30_rate:avg"], False, "no 30-day window is over on 5 April: no rate, not 0")
        [(rate_7,)] = Report._read_group([("level_id", "=", self.level_1.id)], [], ["paid_7_rate:avg"])
        self.assertEqual(rate_7, 20.0, "B, 1 of 5")
        self.assertFalse(
            self.Report.with_context(dunning_report_date="2026-03-10").search_count(
                [("partner_id", "=", self.debtor.id)]
            )
        )

    def test_two_periods_through_the_wizard(self):
        wizard = Form(self.env["dunning.effectiveness.wizard"])
        wizard.comparison = "custom"
        wizard.period_a_from, wizard.period_a_to = date(2026, 3, 15), date(2026, 3, 31)
        wizard.period_b_from, wizard.period_b_to = date(2026, 3, 1), date(2026, 3, 14)
        action = wizard.save().action_open_report()
        self.assertEqual(action["res_model"], "dunning.report.effectiveness")
        self.assertEqual(action["context"]["pivot_column_groupby"], ["period"])
        Report = self.Report.with_context(**action["context"])
        groups = Report._read_group(
            [("partner_id", "=", self.debtor.id)], ["period"], ["__count", "amount_recovered:sum"]
        )
        label_a = f"A: {format_date(self.env, date(2026, 3, 15))} to {format_date(self.env, date(2026, 3, 31))}"
        label_b = f"B: {format_date(self.env, date(2026, 3, 1))} to {format_date(self.env, date(2026, 3, 14))}"
        self.assertEqual(groups, [(label_a, 1, 700), (label_b, 5, 2200)])
        self.assertEqual(set(self.Report.search([("partner_id", "=", self.debtor.id)]).mapped("period")), {"All"})

    def test_wizard_default_periods(self):
        with freeze_time("2026-03-15"):
            wizard = self.env["dunning.effectiveness.wizard"].create({})
            self.assertEqual(
                (wizard.period_a_from, wizard.period_a_to, wizard.period_b_from, wizard.period_b_to),
                (date(2026, 2, 1), date(2026, 2, 28), date(2026, 1, 1), date(2026, 1, 31)),
            )
            wizard.comparison = "30_days"
            self.assertEqual(
                (wizard.period_a_from, wizard.period_a_to, wizard.period_b_from, wizard.period_b_to),
                (date(2026, 2, 14), date(2026, 3, 15), date(2026, 1, 15), date(2026, 2, 13)),
            )

    def test_wizard_refuses_a_period_ending_before_it_starts(self):
        with self.assertRaisesRegex(ValidationError, "Period B starts on 2026-03-14, after its end on 2026-03-01"):
            self.env["dunning.effectiveness.wizard"].create(
                {"comparison": "custom", "period_b_from": date(2026, 3, 14), "period_b_to": date(2026, 3, 1)}
            )

    def test_drill_down_to_the_invoices(self):
        rows = self.Report.search([("level_id", "=", self.level_1.id), ("amount_recovered", ">=", 500)])
        action = rows.action_open_invoices()
        self.assertEqual(
            self.env["account.move"].search(action["domain"]), self.invoice_b | self.invoice_c, "B 500, C 800"
        )

    def test_multi_company_isolation(self):
        company_b = self.setup_other_company(name="Company B")["company"]
        level_b = company_b.dunning_policy_id.level_ids[0]
        invoice = self._create_invoice_due(self.debtor, 250.0, on(0), company=company_b)
        reminder = (
            self.env["dunning.reminder"]
            .with_company(company_b)
            .create(
                {
                    "company_id": company_b.id,
                    "partner_id": self.debtor.id,
                    "level_id": level_b.id,
                    "line_ids": [Command.create({"move_id": invoice.id, "level_id": level_b.id})],
                }
            )
        )
        reminder.write({"state": "sent", "date_done": datetime(2026, 3, 11, 8, 30)})
        user = self._create_user("effect_a", "receivable_dunning.group_dunning_user")
        Report = self.Report.with_user(user)
        self.assertEqual(Report.search_count([]), 6)
        self.assertFalse(Report.search([("move_id", "=", invoice.id)]))
        user.company_ids |= company_b
        both = Report.with_context(allowed_company_ids=[self.company.id, company_b.id])
        row = both.search([("move_id", "=", invoice.id)])
        self.assertEqual((row.company_id, row.amount_reminded, row.amount_recovered), (company_b, 250, 0))
