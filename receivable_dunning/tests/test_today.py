from odoo import Command
from odoo.tests import tagged

from .common import DunningCommon, days_ago, in_days

# Reading a page of the Today list (the list view's fields and the records' names) costs the same queries for
# 50 rows as for 5: 8 measured for both when the budget was set.
TODAY_READ_BUDGET = 10


@tagged("post_install", "-at_install")
class TestToday(DunningCommon):
    """The collector's Today list: one row per thing to do, the most at stake first, and the one-click outcomes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.level_3.write({"create_call": True, "is_last_auto_step": True})
        cls.policy.write(
            {"plan_max_instalments": 4, "plan_min_amount": 50.0, "plan_max_days": 120, "plan_auto_approve": False}
        )
        cls.collector = cls._create_collector("collector_today")
        cls.other_collector = cls._create_user("collector_other", "receivable_dunning.group_dunning_user")
        cls.manager = cls._create_user("manager_today", "receivable_dunning.group_dunning_manager")
        # The debtor to call, at the last automatic level.
        cls.debtor.phone = "+32 470 12 34 56"
        cls.call_invoice = cls._create_invoice_due(cls.debtor, 1000.0, days_ago(40))
        cls.call_invoice.write({"dunning_level_id": cls.level_3.id, "dunning_last_date": days_ago(2)})
        # A debtor past the last level: called after it was reached.
        cls.exhausted = cls._create_debtor("Exhausted Debtor")
        cls._create_invoice_due(cls.exhausted, 150.0, days_ago(45)).write(
            {"dunning_level_id": cls.level_3.id, "dunning_last_date": days_ago(5)}
        )
        cls.env["dunning.call.log"].create({"partner_id": cls.exhausted.id, "outcome": "reached", "date": days_ago(3)})
        # A promise due today, of another collector's debtor.
        cls.promising = cls._create_debtor("Promising Debtor")
        cls.promising.dunning_collector_id = cls.other_collector
        cls.promised_invoice = cls._create_invoice_due(cls.promising, 300.0, days_ago(15))
        cls.promised_invoice.dunning_level_id = cls.level_1
        cls.promise_due = cls._promise(cls.promising, cls.promised_invoice, days_ago(0), 300.0)
        # A broken promise, with the call activity the run gives.
        cls.breaking = cls._create_debtor("Breaking Debtor")
        cls.broken_invoice = cls._create_invoice_due(cls.breaking, 500.0, days_ago(25))
        cls.broken_invoice.dunning_level_id = cls.level_2
        cls.promise_broken = cls._promise(cls.breaking, cls.broken_invoice, days_ago(3), 200.0)
        cls.promise_broken._settle_pending()
        # An open dispute, an instalment plan to approve, a failed reminder.
        cls.disputing = cls._create_debtor("Disputing Debtor")
        cls.disputed_invoice = cls._create_invoice_due(cls.disputing, 200.0, days_ago(12))
        cls.dispute = cls.env["dunning.dispute"]._open_on_invoice(
            cls.disputing, cls.company, cls.disputed_invoice, "defective", source="collector"
        )
        cls.planning = cls._create_debtor("Planning Debtor")
        cls.planned_invoice = cls._create_invoice_due(cls.planning, 700.0, days_ago(20))
        cls.plan = cls.env["dunning.plan"]._propose(cls.planning, cls.company, cls.planned_invoice, 2, in_days(5))
        cls.unreachable = cls._create_debtor("Unreachable Debtor")
        cls._create_invoice_due(cls.unreachable, 100.0, days_ago(11)).dunning_level_id = cls.level_1
        cls.failed = cls.env["dunning.reminder"].create(
            {
                "partner_id": cls.unreachable.id,
                "level_id": cls.level_1.id,
                "channel": "email",
                "state": "failed",
                "error_message": "no email",
            }
        )

    @classmethod
    def _promise(cls, partner, invoice, date, amount):
        return cls.env["dunning.promise"].create(
            {"partner_id": partner.id, "move_ids": [Command.set(invoice.ids)], "date_promised": date, "amount": amount}
        )

    def _rows(self, env=None, partner=None):
        Today = (env or self.env)["dunning.today"]
        domain = [("partner_id", "=", partner.id)] if partner else []
        return Today.search(domain)

    def _kinds(self, partner, env=None):
        return sorted(self._rows(env, partner).mapped("kind"))

    def _call_outcome(self, partner=None, env=None, **values):
        return (env or self.env)["dunning.call.outcome"].create(
            {"partner_id": (partner or self.debtor).id, "company_id": self.company.id, **values}
        )

    # --- content and order --------------------------------------------------------------------------------------

    def test_one_row_per_thing_to_do(self):
        rows = self._rows()
        self.assertEqual(
            {(row.partner_id, row.kind, row.source_ref) for row in rows},
            {
                (self.debtor, "call", self.debtor),
                (self.exhausted, "past_last_level", self.exhausted),
                (self.promising, "promise_due", self.promise_due),
                (self.breaking, "promise_broken", self.promise_broken),
                (self.disputing, "dispute", self.dispute),
                (self.planning, "plan", self.plan),
                (self.unreachable, "failed", self.failed),
            },
        )
        call = rows.filtered(lambda row: row.kind == "call")
        self.assertEqual(call.phone, "+32 470 12 34 56")
        self.assertEqual(call.amount, 1000.0)
        self.assertEqual(call.level_id, self.level_3)
        self.assertEqual(call.collector_id, self.collector)
        self.assertEqual(call.last_contact_date, days_ago(2))
        self.assertEqual(call.days_overdue, 40)
        promise = rows.filtered(lambda row: row.kind == "promise_due")
        self.assertEqual(promise.date_promised, days_ago(0))
        self.assertEqual(promise.collector_id, self.other_collector)
        self.assertFalse(rows.filtered(lambda row: row.kind == "dispute").collector_id)

    def test_ordered_by_what_is_at_stake(self):
        rows = self._rows()
        self.assertEqual(rows.mapped("priority"), sorted(rows.mapped("priority"), reverse=True))
        self.assertEqual(rows[0].partner_id, self.debtor)
        self.assertEqual(rows[0].priority, 1000.0 * 0.5)
        self.assertEqual(
            rows.partner_id.ids[1:],
            [
                self.planning.id,
                self.breaking.id,
                self.promising.id,
                self.disputing.id,
                self.exhausted.id,
                self.unreachable.id,
            ],
            "700, 500, 300, 200, 150 and 100 overdue",
        )

    def test_the_payer_profile_weighs_the_amount_at_stake(self):
        """Once a debtor has a payer profile, its rows weigh the amount at stake by its risk, (100 - score) / 100;
        a call outcome recomputes the profile at once."""
        self._call_outcome().action_reached()
        profile = self.env["dunning.payer.profile"].search(
            [("partner_id", "=", self.debtor.id), ("company_id", "=", self.company.id)]
        )
        self.assertTrue(profile, "the outcome recomputed the debtor's profile")
        unweighed = self._rows(partner=self.planning)[0].priority
        self.env["dunning.payer.profile"]._recompute(partners=self.planning, companies=self.company)
        planning_profile = self.env["dunning.payer.profile"].search(
            [("partner_id", "=", self.planning.id), ("company_id", "=", self.company.id)]
        )
        self.env.invalidate_all()
        row = self._rows(partner=self.planning)[0]
        self.assertAlmostEqual(row.priority, unweighed / 0.5 * (100 - planning_profile.score) / 100)

    def test_the_dunning_contact_phone_comes_first(self):
        self.env["res.partner"].create(
            {"name": "Accounts", "parent_id": self.debtor.id, "dunning_contact": True, "phone": "+32 470 99 99 99"}
        )
        self.assertEqual(self._rows(partner=self.debtor).phone, "+32 470 99 99 99")

    def test_a_queued_call_reminder_is_a_call_to_make(self):
        reminder = self.env["dunning.reminder"].create(
            {"partner_id": self.promising.id, "level_id": self.level_1.id, "channel": "call", "state": "queued"}
        )
        call = self._rows(partner=self.promising).filtered(lambda row: row.kind == "call")
        self.assertEqual(call.source_ref, reminder)
        reminder.action_cancel()
        self.assertNotIn("call", self._kinds(self.promising))

    def test_on_hold_and_paid_debtors_have_nothing_to_do(self):
        self.debtor.dunning_hold_until = self.exhausted.dunning_hold_until = in_days(5)
        self.assertEqual(self._kinds(self.debtor), [])
        self.assertEqual(self._kinds(self.exhausted), [])
        self.debtor.dunning_hold_until = False
        self._register_payment(self.call_invoice)
        self.assertEqual(self._kinds(self.debtor), [])

    def test_resolved_work_leaves_the_list(self):
        self.dispute.action_reject()
        self.plan.action_approve()
        self.failed.action_cancel()
        self.promise_due.action_cancel()
        self.assertEqual(set(self._rows().mapped("kind")), {"call", "past_last_level", "promise_broken"})

    def test_collectors_see_theirs_and_the_unassigned_managers_all(self):
        mine = self._rows(self.env(user=self.collector))
        self.assertIn(self.debtor, mine.partner_id)
        self.assertNotIn(self.promising, mine.partner_id, "another collector's debtor")
        self.assertIn(self.disputing, mine.partner_id, "nobody's debtor is everyone's")
        theirs = self._rows(self.env(user=self.other_collector))
        self.assertNotIn(self.debtor, theirs.partner_id)
        self.assertIn(self.promising, theirs.partner_id)
        self.assertEqual(self._rows(self.env(user=self.manager)), self._rows())

    def test_other_companies_rows_are_hidden(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        self.env.cr.execute("UPDATE dunning_plan SET company_id = %s WHERE id = %s", (other_company.id, self.plan.id))
        self.env.invalidate_all()
        self.assertNotIn(self.planning, self._rows(self.env(user=self.manager)).partner_id)

    # --- one-click outcomes -------------------------------------------------------------------------------------

    def test_reached_closes_the_call_and_logs_it(self):
        self._call_outcome(env=self.env(user=self.collector), note="Pays on Friday.").action_reached()
        self.assertEqual(self._kinds(self.debtor), ["past_last_level"])
        log = self.env["dunning.call.log"].search([("partner_id", "=", self.debtor.id)])
        self.assertEqual((log.outcome, log.user_id, log.date), ("reached", self.collector, days_ago(0)))
        message = self.debtor.message_ids[:1]
        self.assertIn("Call: reached", message.body)
        self.assertIn("Pays on Friday.", message.body)
        self.assertEqual(self._rows(partner=self.debtor).last_contact_date, days_ago(0))

    def test_no_answer_comes_back_tomorrow(self):
        self._call_outcome().action_no_answer()
        self.assertEqual(self._kinds(self.debtor), [], "the call is still to make: not past the last level yet")
        self.assertIn("Call: no answer", self.debtor.message_ids[:1].body)
        # Tomorrow: the outcome was logged yesterday, and the call is still to make.
        self.env["dunning.call.log"].search([("partner_id", "=", self.debtor.id)]).date = days_ago(1)
        self.assertIn("call", self._kinds(self.debtor))

    def test_a_new_level_asks_for_a_new_call(self):
        self._call_outcome().action_reached()
        # Yesterday's call, after the level was reached two days ago.
        self.env["dunning.call.log"].search([("partner_id", "=", self.debtor.id)]).date = days_ago(1)
        self.assertNotIn("call", self._kinds(self.debtor), "the call of this level was made")
        self.call_invoice.dunning_last_date = days_ago(0)
        self.assertIn("call", self._kinds(self.debtor), "the level was reached again after the call")

    def test_outcome_closes_the_call_activities(self):
        reminder = self.env["dunning.reminder"].create(
            {"partner_id": self.breaking.id, "level_id": self.level_2.id, "channel": "call", "state": "queued"}
        )
        reminder._send_call()
        reminder.state = "sent"
        self.assertEqual(self._kinds(self.breaking), ["call", "promise_broken"])
        call = self._rows(partner=self.breaking).filtered(lambda row: row.kind == "call")
        self.assertEqual(call.source_ref, reminder)
        self.assertEqual(call.date_promised, days_ago(3), "the debtor's latest promise")
        self._call_outcome(self.breaking).action_no_answer()
        self.assertEqual(reminder.activity_id.date_deadline, in_days(1), "the call is tried again tomorrow")
        self._call_outcome(self.breaking).action_reached()
        self.assertFalse(reminder.activity_id.active)
        self.assertFalse(self.promise_broken.activity_ids)
        self.env["dunning.call.log"].search([("partner_id", "=", self.breaking.id)]).date = days_ago(1)
        self.assertEqual(self._kinds(self.breaking), [], "followed up: not back tomorrow")

    def test_wrong_number_flags_the_phone(self):
        self._call_outcome().action_wrong_number()
        self.assertTrue(self.debtor.dunning_phone_wrong)
        self.assertNotIn("call", self._kinds(self.debtor))
        Reminder = self.env["dunning.reminder"]
        self.assertIn("reported wrong", Reminder._contact_problem("sms", self.debtor))
        self.assertIn("reported wrong", Reminder._contact_problem("call", self.debtor))
        reminder = Reminder.create(
            {"partner_id": self.debtor.id, "level_id": self.level_3.id, "channel": "call", "state": "queued"}
        )
        reminder._dispatch()
        self.assertEqual(reminder.state, "failed")
        self.assertIn("+32 470 12 34 56", reminder.error_message)
        self.assertTrue(self._rows(partner=self.debtor).filtered(lambda row: row.kind == "failed").phone_wrong)
        self.debtor.phone = "+32 470 65 43 21"
        self.assertFalse(self.debtor.dunning_phone_wrong, "a new number is not the wrong one")
        self.assertFalse(Reminder._contact_problem("call", self.debtor))

    def test_promise_to_pay(self):
        wizard = self._call_outcome(env=self.env(user=self.collector))
        wizard.action_promise()
        self.assertEqual(wizard.promise_amount, 1000.0)
        wizard.write({"promise_date": in_days(4), "promise_amount": 400.0})
        wizard.action_confirm()
        promise = self.env["dunning.promise"].search([("partner_id", "=", self.debtor.id)])
        self.assertEqual(
            (promise.amount, promise.date_promised, promise.move_ids, promise.source, promise.state),
            (400.0, in_days(4), self.call_invoice, "collector", "pending"),
        )
        self.assertEqual(self.env["dunning.call.log"].search([("partner_id", "=", self.debtor.id)]).outcome, "promise")
        self.assertIn("Call: promise to pay", self.debtor.message_ids[:1].body)
        self.assertEqual(self._kinds(self.debtor), [], "called, and paused by the promise")

    def test_promise_in_the_past_is_refused(self):
        wizard = self._call_outcome()
        wizard.write({"step": "promise", "promise_date": days_ago(1)})
        with self.assertRaisesRegex(Exception, "Promised Date"):
            wizard.action_confirm()
        self.assertFalse(self.env["dunning.call.log"].search([("partner_id", "=", self.debtor.id)]))

    def test_dispute(self):
        wizard = self._call_outcome(env=self.env(user=self.collector))
        wizard.action_dispute()
        wizard.write(
            {"dispute_move_id": self.call_invoice.id, "dispute_reason": "wrong_amount", "dispute_description": "x2"}
        )
        wizard.action_confirm()
        dispute = self.call_invoice.dunning_dispute_ids
        self.assertEqual((dispute.reason, dispute.source, dispute.state), ("wrong_amount", "collector", "open"))
        self.assertEqual(self._kinds(self.debtor), ["dispute", "past_last_level"])
        self.assertIn("Call: dispute", self.debtor.message_ids[:1].body)

    def test_asked_for_a_plan(self):
        wizard = self._call_outcome(env=self.env(user=self.collector))
        wizard.action_plan()
        wizard.write({"plan_count": 4, "plan_first_date": in_days(7)})
        wizard.action_confirm()
        plan = self.env["dunning.plan"].search([("partner_id", "=", self.debtor.id)])
        self.assertEqual((plan.state, plan.source, len(plan.line_ids)), ("proposed", "collector", 4))
        self.assertEqual(plan.move_ids, self.call_invoice)
        self.assertEqual(self._kinds(self.debtor), ["past_last_level", "plan"])

    def test_log_call_from_the_partner_and_the_row(self):
        action = self.debtor.action_dunning_log_call()
        self.assertEqual(action["res_model"], "dunning.call.outcome")
        self.assertEqual(action["context"]["default_partner_id"], self.debtor.id)
        row = self._rows(partner=self.debtor)[:1]
        self.assertEqual(row.action_log_call()["context"]["default_partner_id"], self.debtor.id)
        opened = self._rows(partner=self.disputing).action_open_source()
        self.assertEqual((opened["res_model"], opened["res_id"]), ("dunning.dispute", self.dispute.id))

    # --- many rows --------------------------------------------------------------------------------------------

    def test_reading_many_rows_costs_a_bounded_number_of_queries(self):
        debtors = self.env["res.partner"].create(
            [{"name": f"Debtor {index}", "phone": f"+32 470 00 00 {index:02d}"} for index in range(50)]
        )
        debtors[::2].dunning_collector_id = self.collector
        invoices = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": debtor.id,
                    "invoice_date": days_ago(60),
                    "invoice_date_due": days_ago(45),
                    "invoice_line_ids": [
                        Command.create({"name": "Service", "quantity": 1, "price_unit": 10.0 + index, "tax_ids": []})
                    ],
                }
                for index, debtor in enumerate(debtors)
            ]
        )
        invoices.action_post()
        invoices.dunning_level_id = self.level_3
        list_fields = {
            name: {}
            for name in ("kind", "phone", "amount", "days_overdue", "last_contact_date", "date_promised", "priority")
        }
        relational = {"fields": {"display_name": {}}}
        specification = {
            **list_fields,
            "partner_id": relational,
            "level_id": relational,
            "collector_id": relational,
            "currency_id": relational,
            "source_ref": relational,
        }

        def read(limit):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            # The debtors to call, whose rows all open the debtor: the same models read for 5 rows as for 50.
            result = self.env["dunning.today"].web_search_read(
                [("kind", "in", ("call", "past_last_level"))], specification, limit=limit
            )
            return self.env.cr.sql_log_count - before, result

        read(5)
        few, _result = read(5)
        many, result = read(50)
        self.assertEqual(len(result["records"]), 50)
        self.assertLessEqual(many, few + 1, "no query per row")
        self.assertLessEqual(many, TODAY_READ_BUDGET)
