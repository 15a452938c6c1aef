from unittest.mock import patch

from dateutil.relativedelta import relativedelta
from freezegun import freeze_time
from lxml import html

from odoo import Command, fields, http
from odoo.tests import JsonRpcException, tagged
from odoo.tools import mute_logger

from .common import days_ago, in_days
from .portal_common import DunningPortalCommon


class DunningPlanAutopayCommon(DunningPortalCommon):
    """A plan of three monthly instalments of 200.00 for an invoice of 600.00, the first one due today."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.write(
            {
                "plan_max_instalments": 4,
                "plan_min_amount": 50.0,
                "plan_max_days": 120,
                "plan_auto_approve": True,
                "plan_charge_notice_days": 3,
            }
        )
        cls.planned = cls._create_invoice_due(cls.debtor, 600.0, days_ago(5))

    def _propose(self):
        plan = self.env["dunning.statement"]._propose_plan(
            self.debtor, self.company, self.planned.ids, 3, fields.Date.today(), "monthly"
        )
        self.first, self.second, self.third = plan.line_ids
        return plan

    def _plan_path(self, plan):
        return f"{self._statement_path()}/plan/{plan.id}"

    def _consent(self, plan, ticked=True):
        """Post the plan page's consent form as a visitor of the link, the box ``ticked`` or not."""
        values = {"csrf_token": self._anonymous_csrf_token()} | ({"consent": "on"} if ticked else {})
        return self._make_http_post_request(f"{self._plan_path(plan)}/consent", values)

    def _instalment_route(self, plan, instalment):
        return f"{self._plan_path(plan)}/transaction/{instalment.id}"

    def _pay_instalment(self, plan, instalment, amount=200.0, **overrides):
        """Start the payment of ``instalment`` as the plan page's payment form does; the new transaction."""
        self.make_jsonrpc_request(
            self._instalment_route(plan, instalment), self._prepare_transaction_values(amount, **overrides)
        )
        return instalment.transaction_ids.sorted("id")[-1:]

    def _demo_process(self, transaction, state="done"):
        """The demo provider's answer for ``transaction`` (its payment form sends the same), then the
        post-processing Odoo's status page or cron runs."""
        self.env["payment.transaction"].sudo()._process(
            "demo", {"reference": transaction.reference, "payment_details": "4242", "simulated_state": state}
        )
        transaction._post_process()

    def _cron(self, day):
        """The charging cron on ``day``, without its commits."""
        with freeze_time(day), patch.object(type(self.env["ir.cron"]), "_commit_progress", return_value=60.0):
            self.env["dunning.plan"]._cron_charge_instalments()

    def _mails(self, record):
        return self.env["mail.mail"].search([("model", "=", record._name), ("res_id", "=", record.id)], order="id")

    def _autopay_with_first_paid(self):
        """The debtor agrees, pays the first instalment with the demo card, which the plan keeps."""
        plan = self._propose()
        self._consent(plan)
        self._demo_process(self._pay_instalment(plan, self.first))
        return plan


@tagged("post_install", "-at_install")
class TestPlanAutopay(DunningPlanAutopayCommon):
    """Instalments charged to a method the debtor saved, with consent, for its plan only."""

    def test_consent_states_amounts_and_dates_and_saves_the_first_payment_method(self):
        plan = self._propose()
        self.assertEqual(plan.state, "approved")
        self.assertEqual(plan.line_ids.mapped("amount"), [200.0, 200.0, 200.0])
        self.assertEqual(set(plan.line_ids.mapped("charge_state")), {"to_pay"})
        page = html.fromstring(self.url_open(self._plan_path(plan)).content)
        consent = page.xpath("//label[@for='dunning_plan_consent']")[0].text_content()
        for instalment in plan.line_ids:
            self.assertIn(instalment.date.strftime("%m/%d/%Y"), consent)
        self.assertEqual(consent.count("$\N{NO-BREAK SPACE}200.00"), 3)
        form = page.xpath("//form[@id='o_payment_form']")[0]
        self.assertEqual(float(form.get("data-amount")), 200.0)

        response = self._consent(plan)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(plan.autopay_consent_date)
        self.assertIn("200.00", plan.message_ids[0].body)
        self.assertIn("127.0.0.1", plan.message_ids[0].body)

        transaction = self._pay_instalment(plan, self.first, tokenization_requested=False)
        self.assertTrue(transaction.tokenize, "the consent is the request to save the method")
        self.assertEqual(transaction.amount, 200.0)
        self.assertEqual(transaction.invoice_ids, self.planned)
        self._demo_process(transaction)
        self.assertEqual(transaction.state, "done")
        self.assertTrue(transaction.token_id)
        self.assertEqual(plan.payment_token_id, transaction.token_id)
        self.assertEqual(plan.line_ids.mapped("charge_state"), ["paid", "scheduled", "scheduled"])
        self.assertEqual(self.planned.amount_residual, 400.0)

    def test_without_the_consent_box_nothing_is_saved(self):
        plan = self._propose()
        response = self._consent(plan, ticked=False)
        self.assertEqual(response.status_code, 200)
        self.assertIn("field Consent", response.text)
        self.assertFalse(plan.autopay_consent_date)
        transaction = self._pay_instalment(plan, self.first, tokenization_requested=True)
        self.assertFalse(transaction.tokenize)
        self._demo_process(transaction)
        self.assertFalse(transaction.token_id)
        self.assertFalse(plan.payment_token_id)
        self.assertEqual(plan.line_ids.mapped("charge_state"), ["paid", "to_pay", "to_pay"])

    def test_cron_announces_then_charges_the_next_instalment(self):
        plan = self._autopay_with_first_paid()
        self._cron(self.second.date - relativedelta(days=4))
        self.assertFalse(self.second.notice_sent, "4 days before: too early for the 3 days' notice")
        self._cron(self.second.date - relativedelta(days=3))
        self.assertTrue(self.second.notice_sent)
        notice = self._mails(self.second)
        self.assertEqual(len(notice), 1)
        self.assertIn("charged on", notice.subject)
        self.assertEqual(self.second.charge_state, "scheduled")

        self._cron(self.second.date)
        charge = self.second.transaction_ids
        self.assertEqual(len(charge), 1)
        self.assertEqual(charge.operation, "offline")
        self.assertEqual(charge.token_id, plan.payment_token_id)
        self.assertEqual(charge.state, "done")
        self.assertEqual(charge.amount, 200.0)
        self.assertEqual(plan.line_ids.mapped("charge_state"), ["paid", "paid", "scheduled"])
        self.assertEqual(self.planned.amount_residual, 200.0)
        self.assertIn("received", self._mails(self.second)[-1].subject)
        # A second run of the day charges nothing again.
        self._cron(self.second.date)
        self.assertEqual(self.second.transaction_ids, charge)
        self.assertFalse(self.third.transaction_ids)

    def test_refused_charge_dunnes_that_instalment_only(self):
        plan = self._autopay_with_first_paid()
        # The demo provider refuses the payments of a card saved in the error state.
        plan.payment_token_id.demo_simulated_state = "error"
        self._cron(self.second.date)
        self.assertEqual(self.second.transaction_ids.state, "error")
        self.assertEqual(plan.line_ids.mapped("charge_state"), ["paid", "failed", "scheduled"])
        failure = self._mails(self.second)[-1]
        self.assertIn("could not be charged", failure.subject)
        self.assertIn(f"/plan/{plan.id}", failure.body_html)

        with freeze_time(self.second.date + relativedelta(days=11)):
            self.assertFalse(plan.date_missed, "the plan is kept")
            run = self._run()
        line = run.reminder_ids.line_ids.filtered(lambda line: line.move_id == self.planned)
        self.assertEqual(line.amount_residual, 200.0, "the refused instalment, not the 400.00 left")
        self.assertEqual(line.date_due, self.second.date)
        self.assertEqual(line.days_overdue, 11)

        # The debtor pays it by another method through the link: the plan pauses dunning again.
        run.reminder_ids.action_cancel()
        transaction = self._pay_instalment(plan, self.second)
        self.assertFalse(transaction.token_id)
        self._demo_process(transaction)
        self.assertEqual(plan.line_ids.mapped("charge_state"), ["paid", "paid", "scheduled"])
        with freeze_time(self.second.date + relativedelta(days=12)):
            run = self._run()
        self.assertNotIn(self.planned, run.reminder_ids.line_ids.move_id)

    def test_link_holder_never_sees_nor_uses_the_debtor_saved_methods(self):
        token = self.env["payment.token"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.demo_method.id,
                "partner_id": self.debtor.id,
                "payment_details": "9876",
                "provider_ref": "debtor card",
                "demo_simulated_state": "done",
            }
        )
        plan = self._propose()
        self.authenticate(None, None)
        page = self.url_open(self._plan_path(plan))
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("9876", page.text)
        self.assertNotIn(f'value="{token.id}"', page.text)
        with mute_logger("odoo.http"):
            answer = self._make_json_rpc_request(
                self._instalment_route(plan, self.first),
                self._prepare_transaction_values(200.0, token_id=token.id, flow="token", payment_method_id=None),
            ).json()
        self.assertEqual(answer["error"]["code"], 404)
        self.assertFalse(plan.line_ids.transaction_ids)
        # Another debtor's plan, or an instalment of another plan, is not found either.
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._pay_instalment(plan, self.env["dunning.plan.line"].browse(self.first.id + 1000))
        self.assertEqual(self.url_open(f"{self._statement_path(self.stranger)}/plan/{plan.id}").status_code, 404)

    def test_debtor_user_pays_with_its_saved_method(self):
        token = self.env["payment.token"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.demo_method.id,
                "partner_id": self.debtor.id,
                "payment_details": "9876",
                "provider_ref": "debtor card",
                "demo_simulated_state": "done",
            }
        )
        self._create_portal_user("debtor_one_user", self.debtor)
        plan = self._propose()
        self.authenticate("debtor_one_user", "debtor_one_user")
        self.assertIn("9876", self.url_open(self._plan_path(plan)).text)
        response = self._make_http_post_request(
            f"{self._plan_path(plan)}/consent", {"csrf_token": http.Request.csrf_token(self), "consent": "on"}
        )
        self.assertEqual(response.status_code, 303)
        self.make_jsonrpc_request(
            self._instalment_route(plan, self.first),
            self._prepare_transaction_values(200.0, token_id=token.id, flow="token", payment_method_id=None),
        )
        transaction = self.first.transaction_ids
        self.assertEqual(transaction.token_id, token)
        self.assertEqual(transaction.state, "done")
        transaction._post_process()
        self.assertEqual(plan.payment_token_id, token)
        self.assertEqual(plan.line_ids.mapped("charge_state"), ["paid", "scheduled", "scheduled"])


@tagged("post_install", "-at_install")
class TestPlanNotifications(DunningPlanAutopayCommon):
    """The debtor hears of the plans a collector records, approves or rejects."""

    def test_phone_plan_is_approved_and_its_schedule_sent_with_the_consent_link(self):
        self.policy.plan_auto_approve = False
        collector = self._create_collector("collector_phone")
        wizard = (
            self.env["dunning.plan.phone.wizard"]
            .with_user(collector)
            .with_context(active_model="res.partner", active_ids=self.debtor.ids)
            .create(
                {
                    "move_ids": [Command.set(self.planned.ids)],
                    "instalment_count": 3,
                    "first_date": in_days(2),
                    "request_autopay": True,
                }
            )
        )
        self.assertEqual(wizard.partner_id, self.debtor)
        action = wizard.action_confirm()
        plan = self.env["dunning.plan"].browse(action["res_id"])
        self.assertEqual(plan.state, "approved")
        self.assertEqual(plan.source, "collector")
        self.assertEqual(self.planned.dunning_plan_id, plan)
        self.assertFalse(plan.activity_ids)
        self.assertEqual(plan.line_ids.mapped("date"), [in_days(2) + relativedelta(months=n) for n in range(3)])
        schedule = self._mails(plan)
        self.assertEqual(len(schedule), 1)
        self.assertEqual(schedule.recipient_ids, self.debtor)
        self.assertIn(self.planned.name, schedule.body_html)
        self.assertIn(f"/plan/{plan.id}", schedule.body_html)
        self.assertEqual(schedule.body_html.count("$\N{NO-BREAK SPACE}200.00"), 3)

    def test_phone_plan_applies_the_policy_limits(self):
        collector = self._create_collector("collector_phone")
        wizard = (
            self.env["dunning.plan.phone.wizard"]
            .with_user(collector)
            .create(
                {
                    "partner_id": self.debtor.id,
                    "move_ids": [Command.set(self.planned.ids)],
                    "instalment_count": 5,
                    "first_date": in_days(2),
                }
            )
        )
        with self.assertRaisesRegex(Exception, "Number of instalments"):
            wizard.action_confirm()

    def test_debtor_is_told_of_approval_and_rejection(self):
        self.policy.plan_auto_approve = False
        plan = self._propose()
        self.assertFalse(self._mails(plan))
        plan.action_reject()
        self.assertIn("cannot accept", self._mails(plan).body_html)
        other = self._propose()
        other.action_approve()
        approved = self._mails(other)
        self.assertIn("is approved", approved.subject)
        self.assertIn(f"/plan/{other.id}", approved.body_html)


@tagged("post_install", "-at_install")
class TestPlanAutopayTour(DunningPlanAutopayCommon):
    """Propose a plan, agree to the charges and pay the first instalment at phone width; the cron charges the
    second."""

    browser_size = "390x844"
    touch_enabled = True

    def test_plan_autopay_tour(self):
        self.start_tour(self._statement_path(), "receivable_dunning_plan_autopay")
        plan = self.env["dunning.plan"].search([("partner_id", "=", self.debtor.id)])
        self.assertEqual(plan.state, "approved")
        self.assertTrue(plan.payment_token_id)
        first, second = plan.line_ids[:2]
        self.assertEqual(first.charge_state, "paid")
        self._cron(second.date)
        self.assertEqual(second.charge_state, "paid")
        self.assertEqual(second.transaction_ids.state, "done")
