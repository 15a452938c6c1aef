from datetime import date, timedelta

from odoo import Command, fields
from odoo.tests import tagged
from odoo.tools import format_date

from .common import DunningCommon, days_ago

# The forecast starts on a Wednesday, so that its first week (from Monday) holds days before it.
MONDAY = date.today() - timedelta(days=date.today().weekday())
D = MONDAY + timedelta(days=2)


def day(offset):
    """The day ``offset`` days after the forecast's date (before it when negative)."""
    return D + timedelta(days=offset)


def week(index):
    """The Monday of the forecast's week ``index`` (0 for the week of its date)."""
    return MONDAY + timedelta(weeks=index)


@tagged("post_install", "-at_install")
class TestReportCashForecast(DunningCommon):
    """A forecast built by hand: one debtor under an approved plan, one with a promise, one with a payer profile,
    debtors without one, invoices held back, a plan proposed and one rejected, and a second company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Plan = cls.env["dunning.plan"]
        # An approved plan of 3 instalments of 400 over two invoices; 500 paid since: the first instalment paid,
        # the second lacks 300, the third all of its 400. Oldest invoice first: P1's 400 left goes 300 to the
        # second instalment and 100 to the third, P2's 300 to the third.
        cls.planner = cls._create_debtor("Planner")
        cls.p1 = cls._create_invoice_due(cls.planner, 900, day(-20))
        cls.p2 = cls._create_invoice_due(cls.planner, 300, day(-5))
        cls.plan = Plan.create(
            {
                "partner_id": cls.planner.id,
                "move_ids": [Command.set((cls.p1 | cls.p2).ids)],
                "amount_total": 1200,
                "line_ids": [
                    Command.create({"sequence": 1, "date": day(-10), "amount": 400}),
                    Command.create({"sequence": 2, "date": day(8), "amount": 400}),
                    Command.create({"sequence": 3, "date": day(36), "amount": 400}),
                ],
            }
        )
        cls.plan.action_approve()
        DunningCommon._register_payment(cls, cls.p1, amount=500)
        # A promise of 300 on an invoice of 500, then 100 paid: 200 promised still, 200 left to the due date.
        cls.promiser = cls._create_debtor("Promiser")
        cls.q = cls._create_invoice_due(cls.promiser, 500, day(-15))
        cls.promise = cls.env["dunning.promise"].create(
            {
                "partner_id": cls.promiser.id,
                "move_ids": [Command.set(cls.q.ids)],
                "amount": 300,
                "date_promised": day(3),
            }
        )
        DunningCommon._register_payment(cls, cls.q, amount=100)
        # A payer profile from two invoices paid 10 and 15 days late: 12.5 days expected, 13 once rounded.
        cls.regular = cls._create_debtor("Regular")
        for due, paid in ((days_ago(100), days_ago(90)), (days_ago(60), days_ago(45))):
            DunningCommon._register_payment(cls, cls._create_invoice_due(cls.regular, 1000, due), payment_date=paid)
        cls.r = cls._create_invoice_due(cls.regular, 800, day(10))
        cls.env["dunning.payer.profile"]._recompute(partners=cls.regular, companies=cls.company)
        # Debtors without a profile: their due dates, some held back.
        cls.newcomer = cls._create_debtor("Newcomer")
        cls.n = cls._create_invoice_due(cls.newcomer, 250, day(50))
        cls.x = cls._create_invoice_due(cls.newcomer, 70, day(3))
        cls.env["dunning.dispute"].create({"partner_id": cls.newcomer.id, "move_id": cls.x.id, "reason": "defective"})
        cls.last_day = cls._create_invoice_due(cls.newcomer, 40, week(12) + timedelta(days=6))
        cls.beyond = cls._create_invoice_due(cls.newcomer, 999, week(13))
        cls.late = cls._create_debtor("Late")
        cls.o = cls._create_invoice_due(cls.late, 150, day(-40))
        cls.o.dunning_hold_until = day(30)
        cls.h = cls._create_invoice_due(cls.late, 60, day(-30))
        cls.env["dunning.handover"].create({"partner_id": cls.late.id, "move_ids": [Command.set(cls.h.ids)]})
        # Plans that do not count: one rejected, one still to approve.
        cls.refused = cls._create_debtor("Refused")
        cls.z1 = cls._create_invoice_due(cls.refused, 120, day(1))
        cls.z2 = cls._create_invoice_due(cls.refused, 130, day(15))
        for invoice, state in ((cls.z1, "rejected"), (cls.z2, "proposed")):
            Plan.create(
                {
                    "partner_id": cls.refused.id,
                    "move_ids": [Command.set(invoice.ids)],
                    "amount_total": invoice.amount_residual,
                    "state": state,
                    "line_ids": [
                        Command.create({"sequence": 1, "date": day(60), "amount": invoice.amount_residual / 2}),
                        Command.create({"sequence": 2, "date": day(70), "amount": invoice.amount_residual / 2}),
                    ],
                }
            )
        # Company B: 5000 due in 3 days, 1000 of which promised in 10.
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.b = cls._create_invoice_due(cls.newcomer, 5000, day(3), company=cls.company_b)
        cls.env["dunning.promise"].with_company(cls.company_b).create(
            {
                "company_id": cls.company_b.id,
                "partner_id": cls.newcomer.id,
                "move_ids": [Command.set(cls.b.ids)],
                "amount": 1000,
                "date_promised": day(10),
            }
        )
        cls.user_a = cls._create_user("forecast_reader_a", "account.group_account_readonly")

    def _report(self, env=None, report_date=D):
        env = env or self.env
        return env["dunning.report.cash.forecast"].with_context(dunning_report_date=fields.Date.to_string(report_date))

    def _rows(self, moves):
        """(invoice, source, expected on, week, amount, overdue, held back by) of the rows of ``moves``."""
        rows = self._report().search([("move_id", "in", moves.ids)])
        return [
            (row.move_id, row.source, row.date_expected, row.week, row.amount, row.is_overdue, row.blocked_by)
            for row in rows.sorted(lambda row: (row.move_id.id, row.date_expected, row.source))
        ]

    def test_weekly_totals(self):
        totals = dict(self._report()._read_group([("company_id", "=", self.company.id)], ["week:day"], ["amount:sum"]))
        self.assertEqual(
            totals,
            {
                # Q promised 200 and its 200 due, O 150 held, H 60 handed over, X 70 disputed, Z1 120.
                week(0): 800,
                week(1): 300,  # P1, the second instalment
                week(2): 130,  # Z2
                week(3): 800,  # R on its expected date
                week(5): 400,  # P1 100 and P2 300, the third instalment
                week(7): 250,  # N
                week(12): 40,  # due on the horizon's last day
            },
        )
        overdue = self._report()._read_group(
            [("company_id", "=", self.company.id), ("is_overdue", "=", True)], [], ["amount:sum"]
        )
        self.assertEqual(overdue[0][0], 410, "Q's 200, O's 150 and H's 60")

    def test_plan_instalments_net_of_what_was_paid(self):
        self.assertEqual(
            self._rows(self.p1 | self.p2),
            [
                (self.p1, "plan", day(8), week(1), 300, False, False),
                (self.p1, "plan", day(36), week(5), 100, False, False),
                (self.p2, "plan", day(36), week(5), 300, False, False),
            ],
        )
        self.assertEqual(self._report().search([("move_id", "=", self.p1.id)]).plan_id, self.plan)

    def test_promise_then_expected_date(self):
        # The payment gave the promiser a payer profile: the company's average delay then, 0 days (nothing was paid
        # in full yet).
        self.assertEqual(self.q.dunning_expected_payment_date, day(-15))
        self.assertEqual(
            self._rows(self.q),
            [
                (self.q, "expected", day(-15), week(0), 200, True, False),
                (self.q, "promise", day(3), week(0), 200, False, False),
            ],
        )

    def test_expected_date_and_due_dates(self):
        self.assertEqual(self._rows(self.r), [(self.r, "expected", day(23), week(3), 800, False, False)])
        self.assertEqual(self._rows(self.n), [(self.n, "due_date", day(50), week(7), 250, False, False)])
        self.assertEqual(
            self._rows(self.z1 | self.z2),
            [
                (self.z1, "due_date", day(1), week(0), 120, False, False),
                (self.z2, "due_date", day(15), week(2), 130, False, False),
            ],
            "a rejected plan and a plan to approve leave the due dates",
        )

    def test_held_back_and_overdue(self):
        self.assertEqual(
            self._rows(self.x | self.o | self.h),
            [
                (self.x, "due_date", day(3), week(0), 70, False, "dispute"),
                (self.o, "due_date", day(-40), week(0), 150, True, "hold"),
                (self.h, "due_date", day(-30), week(0), 60, True, "handover"),
            ],
        )
        self.env.invalidate_all()  # the rows of two dates share their ids
        rows = self._report(report_date=day(31)).search([("move_id", "=", self.o.id)])
        self.assertFalse(rows.blocked_by, "the hold is over by then")

    def test_horizon(self):
        self.assertEqual(
            self._rows(self.last_day),
            [(self.last_day, "due_date", week(12) + timedelta(days=6), week(12), 40, False, False)],
        )
        self.assertFalse(self._rows(self.beyond), "due after the 13 weeks")
        self.env.invalidate_all()  # the rows of two dates share their ids
        later = self._report(report_date=week(1)).search([("move_id", "=", self.beyond.id)])
        self.assertEqual(later.week, week(13), "a week later, it comes in")

    def test_expected_date_is_the_invoice_field(self):
        """The report's SQL and account.move dunning_expected_payment_date agree, the half day rounded up."""
        rows = self._report().search([("source", "in", ("expected", "due_date")), ("is_overdue", "=", False)])
        self.assertGreater(len(rows), 5)
        for row in rows:
            with self.subTest(invoice=row.move_id.name):
                self.assertEqual(row.date_expected, row.move_id.dunning_expected_payment_date)
        self.assertEqual(self.r.dunning_expected_payment_date, day(23))

    def test_companies_apart(self):
        env_a = self.env(user=self.user_a)
        rows = self._report(env_a).search([])
        self.assertEqual(rows.company_id, self.company)
        self.assertNotIn(self.b, rows.move_id)
        both = self.env(context={"allowed_company_ids": [self.company.id, self.company_b.id]})
        rows_b = self._report(both).search([("company_id", "=", self.company_b.id)], order="date_expected")
        self.assertEqual(
            [(row.source, row.week, row.amount, row.currency_id) for row in rows_b],
            [
                ("due_date", week(0), 4000, self.company_b.currency_id),
                ("promise", week(1), 1000, self.company_b.currency_id),
            ],
        )

    def test_today_by_default_and_actions(self):
        rows = self.env["dunning.report.cash.forecast"].search([("move_id", "=", self.n.id)])
        self.assertEqual(rows.report_date, fields.Date.context_today(rows))
        action = self.env["dunning.report.cash.forecast"].action_open_at_date(D)
        self.assertEqual(action["context"], {"dunning_report_date": fields.Date.to_string(D)})
        self.assertEqual(action["name"], f"Cash Forecast from {format_date(self.env, D)}")
        wizard = self.env["dunning.report.date.wizard"].create({"report": "forecast", "date": D})
        self.assertEqual(wizard.action_open()["context"], {"dunning_report_date": fields.Date.to_string(D)})
        invoices = self._report().search([("move_id", "in", (self.p1 | self.q).ids)]).action_open_invoices()
        self.assertEqual(invoices["res_model"], "account.move")
        self.assertEqual(set(invoices["domain"][0][2]), set((self.p1 | self.q).ids))
