import re

from freezegun import freeze_time
from lxml import html

from odoo import fields, tools
from odoo.exceptions import UserError
from odoo.tests import JsonRpcException, tagged
from odoo.tools import mute_logger

from .common import days_ago, in_days
from .portal_common import DunningPortalCommon


@tagged("post_install", "-at_install")
class TestStatementAccess(DunningPortalCommon):
    """Who may open a statement page: the token decides, and a doubt answers 404."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.company_b.dunning_policy_id = cls._create_policy("Policy B", cls.company_b)
        cls.invoice_b = cls._create_invoice_due(cls.debtor, 640.0, days_ago(15), company=cls.company_b)

    def test_statement_lists_the_debtor_open_invoices_and_their_total(self):
        self.invoice_old.dunning_level_id = self.level_1
        response = self.url_open(self._statement_path())
        self.assertEqual(response.status_code, 200)
        page = html.fromstring(response.content)
        rows = page.xpath("//table[contains(@class, 'o_dunning_invoices')]/tbody/tr")
        self.assertEqual(
            [row.get("data-invoice") for row in rows],
            [self.invoice_old.name, self.invoice_mid.name, self.invoice_new.name],
            "oldest due first",
        )
        first = [" ".join(cell.text_content().split()) for cell in rows[0].xpath("./td")]
        self.assertEqual(first[3], "40", "days late")
        self.assertEqual(first[4], "Level 1")
        self.assertIn("100.00", first[6])
        total = " ".join(page.xpath("//td[contains(@class, 'o_dunning_total')]")[0].text_content().split())
        self.assertIn("425.00", total)
        self.assertNotIn(self.stranger_invoice.name, response.text)

    def test_credit_notes_reduce_the_balance(self):
        refund = self._refund(60.0)
        page = html.fromstring(self.url_open(self._statement_path()).content)
        credits = page.xpath("//div[contains(@class, 'o_dunning_credits')]")[0].text_content()
        self.assertIn(refund.name, credits)
        balance = " ".join(page.xpath("//td[contains(@class, 'o_dunning_balance')]")[0].text_content().split())
        self.assertIn("365.00", balance, "425.00 owed, 60.00 credited")

    def _assert_statement_not_found(self, path):
        """``path`` answers 404 and shows nothing of the debtor."""
        with mute_logger("odoo.http"):
            response = self.url_open(path)
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(self.invoice_old.name, response.text)
        self.assertNotIn(self.debtor.name, response.text)

    def _with_token(self, token):
        """The debtor's statement path, with ``token`` in place of its own."""
        path = self._statement_path()
        return path.replace(path.rsplit("/", 1)[1], token)

    def test_statement_refuses_a_token_with_a_changed_digit(self):
        token = self._statement_path().rsplit("/", 1)[1]
        self._assert_statement_not_found(self._with_token(token[:-1] + ("0" if token[-1] != "0" else "1")))

    def test_statement_refuses_a_forged_token_of_the_right_shape(self):
        self._assert_statement_not_found(self._with_token("0-" + "a" * 64))

    def test_statement_refuses_a_garbage_token(self):
        self._assert_statement_not_found(self._with_token("garbage"))

    def test_statement_refuses_the_debtor_token_on_another_debtor_page(self):
        path = self._statement_path()
        self._assert_statement_not_found(path.replace(f"/{self.debtor.id}/", f"/{self.stranger.id}/"))

    def test_statement_refuses_another_debtor_token_on_the_debtor_page(self):
        other_path = self._statement_path(self.stranger)
        self._assert_statement_not_found(other_path.replace(f"/{self.stranger.id}/", f"/{self.debtor.id}/"))

    def test_statement_refuses_the_token_on_another_company_page(self):
        path = self._statement_path()
        self._assert_statement_not_found(path.replace(f"/{self.company.id}/", f"/{self.company_b.id}/"))

    def test_statement_refuses_an_unknown_debtor(self):
        path = self._statement_path()
        self._assert_statement_not_found(path.replace(f"/{self.debtor.id}/", "/999999999/"))

    def test_each_company_statement_lists_its_own_invoices(self):
        # Both companies number their invoices INV/2026/00001...: tell them apart by amount.
        page_a = self.url_open(self._statement_path()).text
        self.assertIn("250.00", page_a)
        self.assertNotIn("640.00", page_a)
        path_b = self._statement_path(company=self.company_b)
        page_b = self.url_open(path_b).text
        self.assertIn("640.00", page_b)
        self.assertNotIn("250.00", page_b)
        with mute_logger("odoo.http"):
            self.assertEqual(self._portal_pay(self.invoice_old, path_b).status_code, 404)
            self.assertEqual(self.url_open(f"{path_b}/invoice/{self.invoice_old.id}").status_code, 404)

    def test_page_in_the_debtor_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"].search([("name", "=", "receivable_dunning")])._update_translations(["fr_FR"])
        self.debtor.lang = "fr_FR"
        page = html.fromstring(self.url_open(self._statement_path()).content)
        text = " ".join(page.text_content().split())
        self.assertIn("Relevé de Debtor One", text)
        self.assertIn("Payer les factures sélectionnées", text)
        self.assertIn("Un problème ?", text)
        page = html.fromstring(self.url_open(f"{self._statement_path()}/dispute?move_id={self.invoice_old.id}").content)
        # The dispute page too (its own terms are translated once the .pot lists the page: see i18n/).
        self.assertIn("Déjà payée", " ".join(page.text_content().split()))

    def test_amounts_and_dates_read_as_odoo_formats_them(self):
        """The page formats its amounts and dates itself, with the language looked up once: same text as Odoo."""
        self.env["res.lang"]._activate_lang("fr_FR")
        eur, usd = self.env.ref("base.EUR"), self.env.ref("base.USD")
        amounts = [0.0, 0.004, -0.5, 12.345, -1234.5, 987654321.019]
        dates = [fields.Date.to_date("2026-03-09"), days_ago(400), False]
        # Languages with groups of three and numeric dates, then formats off those fast paths: month names, and
        # Indian grouping (12,34,567.00).
        named_months = self.env["res.lang"]._activate_lang("es_ES")
        for lang, date_format, grouping in (
            ("en_US", None, None),
            ("fr_FR", None, None),
            ("es_ES", "%d %B %Y", "[3,2,0]"),
        ):
            if date_format:
                named_months.write({"date_format": date_format, "grouping": grouping})
            env = self.env(context={"lang": lang})
            format_amount, format_date = env["dunning.statement"]._formatters()
            for currency, amount in ((currency, amount) for currency in (eur, usd) for amount in amounts):
                self.assertEqual(format_amount(amount, currency), tools.format_amount(env, amount, currency))
            for date in dates:
                self.assertEqual(format_date(date), tools.format_date(env, date))
        self.assertEqual(
            self.env(context={"lang": "es_ES"})["dunning.statement"]._formatters()[1](dates[0]), "09 marzo 2026"
        )

    def test_collector_opens_the_statement_the_debtor_sees(self):
        self.policy.statement_link_days = 10
        action = self.debtor.action_dunning_open_statement()
        self.assertEqual(action["type"], "ir.actions.act_url")
        self.assertIn(in_days(10).strftime("%Y%m%d"), action["url"])
        self.assertEqual(self.url_open(self._build_url(action["url"])).status_code, 200)
        self.debtor.action_dunning_revoke_statement()
        with self.assertRaises(UserError):
            self.debtor.action_dunning_open_statement()

    def test_revoked_and_renewed_links(self):
        old_path = self._statement_path()
        self.debtor.action_dunning_revoke_statement()
        self.assertFalse(
            self.env["dunning.statement"]._url(self.debtor, self.company), "reminders carry no link once revoked"
        )
        self.assertEqual(self.url_open(old_path).status_code, 404)
        self.debtor.action_dunning_new_statement_link()
        new_path = self._statement_path()
        self.assertNotEqual(new_path, old_path)
        self.assertEqual(self.url_open(old_path).status_code, 404, "a new link does not revive the old one")
        self.assertEqual(self.url_open(new_path).status_code, 200)

    def test_links_expire_after_their_last_day(self):
        today = fields.Date.today()
        path = self._statement_path(valid_until=today)
        self.assertEqual(self.url_open(path).status_code, 200)
        with freeze_time(in_days(1)):
            self.assertEqual(self.url_open(path).status_code, 404)
        # The expiry is signed: pushing it back in the URL breaks the token.
        later = in_days(400).strftime("%Y%m%d")
        self.assertEqual(self.url_open(path.replace(today.strftime("%Y%m%d"), later)).status_code, 404)

    def test_reminder_link_expires_with_the_policy_validity(self):
        self.policy.statement_link_days = 30
        run = self._run()
        reminder = run.reminder_ids[:1]
        reminder.date_done = fields.Datetime.now()
        url = self._build_url(reminder.statement_url)
        self.assertIn(in_days(30).strftime("%Y%m%d"), url)
        self.assertEqual(self.url_open(url).status_code, 200)
        with freeze_time(in_days(31)):
            self.assertEqual(self.url_open(url).status_code, 404)

    def test_invoice_pdf_only_for_the_debtor_invoices(self):
        path = self._statement_path()
        response = self.url_open(f"{path}/invoice/{self.invoice_old.id}")
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.invoice_old.name, response.text, "Odoo renders reports as HTML in tests")
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open(f"{path}/invoice/{self.stranger_invoice.id}").status_code, 404)

    def test_my_home_counts_overdue_invoices_and_leads_to_the_statement(self):
        user = self._create_portal_user("debtor.one.portal", self.debtor)
        self.invoice_old.dunning_level_id = self.level_1
        self.authenticate(user.login, user.login)
        home = self.url_open("/my/home")
        self.assertIn("/my/dunning", home.text)
        counters = self.make_jsonrpc_request("/my/counters", {"counters": ["dunning_overdue_count"]})
        self.assertEqual(counters["dunning_overdue_count"], 3)
        # The debtor owes both companies: one statement each.
        choices = html.fromstring(self.url_open("/my/dunning").content).xpath(
            "//a[contains(@href, '/dunning/statement/')]"
        )
        self.assertEqual(len(choices), 2)
        link_a = next(link.get("href") for link in choices if f"/statement/{self.company.id}/" in link.get("href"))
        self.assertIn("250.00", self.url_open(link_a).text)
        self.invoice_b.button_draft()
        response = self.url_open("/my/dunning")
        self.assertIn(
            f"/dunning/statement/{self.company.id}/{self.debtor.id}/", response.url, "one company: straight there"
        )
        invoice_page = self.url_open(f"/my/invoices/{self.invoice_old.id}")
        self.assertIn("Reminder: Level 1", " ".join(html.fromstring(invoice_page.content).text_content().split()))


@tagged("post_install", "-at_install")
class TestStatementPayment(DunningPortalCommon):
    """Paying selected invoices: ids and amounts are the server's, whatever the request says."""

    def test_pay_page_shows_the_total_of_the_selection(self):
        path = self._statement_path()
        response = self._portal_pay(self.invoice_old | self.invoice_new)
        self.assertEqual(response.status_code, 200)
        page = html.fromstring(response.content)
        form = page.xpath("//form[@id='o_payment_form']")[0]
        self.assertEqual(float(form.get("data-amount")), 175.0)
        self.assertEqual(
            form.get("data-transaction-route"),
            f"{path}/transaction/{self.invoice_old.id}-{self.invoice_new.id}",
        )
        self.assertNotIn(self.invoice_mid.name, response.text)
        self.assertFalse(page.xpath("//input[@name='o_payment_tokenize_checkbox']"), "no card saved from a link")

    def test_another_debtor_invoice_is_never_payable(self):
        with mute_logger("odoo.http"):
            response = self._portal_pay(self.invoice_old | self.stranger_invoice)
            self.assertEqual(response.status_code, 404)
            self.assertNotIn(self.stranger_invoice.name, response.text)
            with self.assertRaises(JsonRpcException):
                self._portal_transaction(self.invoice_old | self.stranger_invoice, 1099.0)
        self.assertFalse(self._transactions(self.stranger_invoice))

    def test_transaction_takes_amount_and_landing_page_from_the_server(self):
        invoices = self.invoice_old | self.invoice_mid
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._portal_transaction(invoices, 1.0)
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._portal_transaction(invoices, 350.0, partner_id=self.stranger.id)
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._portal_transaction(invoices, 350.0, tokenization_requested=True)
        self._portal_transaction(invoices, 350.0)
        transaction = self._transactions(invoices)
        self.assertEqual(len(transaction), 1)
        self.assertEqual(transaction.amount, 350.0)
        self.assertEqual(transaction.partner_id, self.debtor)
        self.assertEqual(transaction.invoice_ids, invoices)
        self.assertEqual(transaction.landing_route, f"{self._statement_path()}/thanks")

    def test_paid_transaction_settles_the_invoices_and_stops_dunning(self):
        invoices = self.invoice_old | self.invoice_mid
        run = self._run()
        pending = run.reminder_ids
        self.assertTrue(pending)
        self._portal_transaction(invoices, 350.0)
        transaction = self._transactions(invoices)
        transaction._set_done()
        transaction._post_process()
        self.assertEqual(
            set(invoices.mapped("payment_state")), {self.env["account.move"]._get_invoice_in_payment_state()}
        )
        self.assertEqual(self.invoice_new.payment_state, "not_paid")
        remaining = pending.line_ids.move_id
        self.assertNotIn(self.invoice_old, remaining)
        self.assertNotIn(self.invoice_mid, remaining)
        response = self.url_open(f"{self._statement_path()}/thanks")
        self.assertIn("o_dunning_tx_done", response.text)
        self.assertIn(self.invoice_new.name, self.url_open(self._statement_path()).text)

    def test_credits_are_deducted_then_set_against_the_paid_invoices(self):
        refund = self._refund(60.0)
        invoices = self.invoice_old | self.invoice_mid
        page = html.fromstring(self._portal_pay(invoices).content)
        self.assertEqual(float(page.xpath("//form[@id='o_payment_form']")[0].get("data-amount")), 290.0)
        self.assertIn(refund.name, page.xpath("//li[contains(@class, 'o_dunning_pay_credit')]")[0].text_content())
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._portal_transaction(invoices, 350.0)
        self._portal_transaction(invoices, 290.0)
        transaction = self._transactions(invoices)
        self.assertEqual(transaction.amount, 290.0)
        self.assertEqual(transaction.dunning_credit_line_ids.move_id, refund)
        transaction._set_done()
        transaction._post_process()
        self.assertEqual(
            set(invoices.mapped("payment_state")), {self.env["account.move"]._get_invoice_in_payment_state()}
        )
        self.assertEqual(refund.payment_state, "paid")

    def test_policy_may_leave_credits_to_the_accountant(self):
        self.policy.statement_deduct_credits = False
        refund = self._refund(60.0)
        self._portal_transaction(self.invoice_old, 100.0)
        transaction = self._transactions(self.invoice_old)
        transaction._set_done()
        transaction._post_process()
        self.assertFalse(transaction.dunning_credit_line_ids)
        self.assertEqual(refund.payment_state, "not_paid")

    def test_credits_covering_the_selection_settle_it_without_payment(self):
        refund = self._refund(120.0)
        path = self._statement_path()
        page = html.fromstring(self._portal_pay(self.invoice_old).content)
        self.assertFalse(page.xpath("//form[@id='o_payment_form']"), "nothing to pay online")
        self.assertTrue(page.xpath("//form[contains(@class, 'o_dunning_settle_form')]"))
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self._portal_transaction(self.invoice_old, 0.0)
        csrf = self._anonymous_csrf_token()
        response = self._make_http_post_request(
            f"{path}/settle", {"csrf_token": csrf, "invoice_ids": [self.invoice_old.id]}
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("notice=settled", response.headers["Location"])
        self.assertTrue(self.invoice_old.currency_id.is_zero(self.invoice_old.amount_residual))
        self.assertAlmostEqual(refund.amount_residual, 20.0)
        # Credits no longer cover the next invoice: settling it is refused, nothing is reconciled.
        response = self._make_http_post_request(
            f"{path}/settle", {"csrf_token": csrf, "invoice_ids": [self.invoice_mid.id]}
        )
        self.assertIn("do not cover", response.text)
        self.assertEqual(self.invoice_mid.payment_state, "not_paid")


@tagged("post_install", "-at_install")
class TestStatementForms(DunningPortalCommon):
    """Plans and disputes from the statement page: CSRF-protected posts validated by the models."""

    def setUp(self):
        super().setUp()
        self.csrf = self._anonymous_csrf_token()

    def _assert_post_refused(self, route, data):
        """A post of ``data`` to the statement's ``route`` is refused (400) and creates neither dispute nor plan,
        even under a policy that approves plans at once."""
        self.policy.plan_auto_approve = True
        with mute_logger("odoo.http"):
            response = self._make_http_post_request(f"{self._statement_path()}/{route}", data)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.env["dunning.dispute"].search([("move_id", "=", self.invoice_old.id)]))
        self.assertFalse(self.env["dunning.plan"].search([]))

    def test_dispute_without_csrf_token_is_refused(self):
        self._assert_post_refused("dispute", {"move_id": self.invoice_old.id, "reason": "defective"})

    def test_dispute_with_a_forged_csrf_token_is_refused(self):
        self._assert_post_refused(
            "dispute", {"move_id": self.invoice_old.id, "reason": "defective", "csrf_token": "forged"}
        )

    def test_plan_without_csrf_token_is_refused(self):
        self._assert_post_refused("plan", self._prepare_plan_values(self.invoice_old | self.invoice_mid))

    def test_plan_with_a_forged_csrf_token_is_refused(self):
        self._assert_post_refused(
            "plan", self._prepare_plan_values(self.invoice_old | self.invoice_mid, csrf_token="forged")
        )

    def test_dispute_with_attachment(self):
        response = self._make_http_post_request(
            f"{self._statement_path()}/dispute",
            {
                "csrf_token": self.csrf,
                "move_id": self.invoice_mid.id,
                "reason": "defective",
                "description": "The pump leaks.",
            },
            files={"attachment": ("photo.pdf", b"%PDF-1.4 leaking pump", "application/pdf")},
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("notice=disputed", response.headers["Location"])
        dispute = self.env["dunning.dispute"].search([("move_id", "=", self.invoice_mid.id)])
        self.assertEqual((dispute.state, dispute.reason, dispute.source), ("open", "defective", "portal"))
        self.assertTrue(dispute.activity_ids, "the collector has something to do")
        attachment = self.env["ir.attachment"].search(
            [("res_model", "=", "dunning.dispute"), ("res_id", "=", dispute.id)]
        )
        self.assertEqual(attachment.raw, b"%PDF-1.4 leaking pump")
        self.assertIn("The pump leaks.", self.invoice_mid.message_ids[:1].body)
        page = self.url_open(self._statement_path()).text
        self.assertIn("Disputed", page)

    def _statement_action(self, button):
        """Where the statement's button ``button`` takes the table's selection."""
        page = html.fromstring(self.url_open(self._statement_path()).content)
        return page.xpath(f"//form[contains(@class, 'o_dunning_pay_form')]//button[@name='{button}']/@formaction")[0]

    def test_something_wrong_opens_the_dispute_form_for_the_selected_invoice(self):
        action = self._statement_action("o_dunning_dispute")
        page = html.fromstring(self.url_open(f"{action}?invoice_ids={self.invoice_mid.id}").content)
        self.assertFalse(
            page.xpath("//table[contains(@class, 'o_dunning_invoices')]"), "the dispute form has its own page"
        )
        self.assertEqual(page.xpath("//select[@name='move_id']/option[@selected]/@value"), [str(self.invoice_mid.id)])

    def test_plan_proposal_has_its_own_page_with_the_selection_ticked(self):
        statement = html.fromstring(self.url_open(self._statement_path()).content)
        self.assertFalse(statement.xpath("//input[@name='count']"), "the statement renders no plan form")
        action = self._statement_action("o_dunning_plan")
        page = html.fromstring(self.url_open(f"{action}?invoice_ids={self.invoice_mid.id}").content)
        self.assertEqual(page.xpath("//input[@name='invoice_ids'][@checked]/@value"), [str(self.invoice_mid.id)])
        self.assertTrue(page.xpath(f"//form[@action='{action}']//input[@name='count']"))
        # Nothing selected: every open invoice a plan may take, ticked; not a disputed one.
        self._make_http_post_request(
            f"{self._statement_path()}/dispute",
            {"csrf_token": self.csrf, "move_id": self.invoice_new.id, "reason": "defective"},
        )
        page = html.fromstring(self.url_open(action).content)
        self.assertEqual(
            page.xpath("//input[@name='invoice_ids'][@checked]/@value"),
            [str(self.invoice_old.id), str(self.invoice_mid.id)],
        )

    def test_plan_proposal_of_another_debtor_invoice_is_not_found(self):
        with mute_logger("odoo.http"):
            response = self.url_open(f"{self._statement_path()}/plan?invoice_ids={self.stranger_invoice.id}")
        self.assertEqual(response.status_code, 404)

    def test_dispute_of_another_debtor_invoice_is_not_found(self):
        with mute_logger("odoo.http"):
            response = self._make_http_post_request(
                f"{self._statement_path()}/dispute",
                {"csrf_token": self.csrf, "move_id": self.stranger_invoice.id, "reason": "defective"},
            )
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.env["dunning.dispute"].search([]))

    def test_plan_with_another_debtor_invoice_is_not_found(self):
        with mute_logger("odoo.http"):
            response = self._make_http_post_request(
                f"{self._statement_path()}/plan",
                self._prepare_plan_values(self.invoice_old | self.stranger_invoice, csrf_token=self.csrf),
            )
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.env["dunning.plan"].search([]))

    def test_plan_within_limits_is_approved_when_the_policy_says_so(self):
        self.policy.write({"plan_auto_approve": True, "plan_max_instalments": 4, "plan_min_amount": 50.0})
        first = in_days(7)
        response = self._make_http_post_request(
            f"{self._statement_path()}/plan",
            self._prepare_plan_values(self.invoice_old | self.invoice_mid, "3", first, csrf_token=self.csrf),
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("notice=plan_approved", response.headers["Location"])
        plan = self.invoice_old.dunning_plan_id
        self.assertEqual(plan.state, "approved")
        self.assertEqual(plan.line_ids.mapped("amount"), [116.67, 116.67, 116.66])
        self.assertEqual(plan.line_ids[-1].date, fields.Date.add(first, months=2))
        statement = html.fromstring(self.url_open(self._statement_path()).content)
        self.assertEqual(
            statement.xpath("//a[contains(@class, 'o_dunning_plan_open')]/@href"),
            [f"{self._statement_path()}/plan/{plan.id}"],
            "the statement lists the plan under way",
        )

    def test_statement_offers_what_the_company_and_its_policy_offer(self):
        """Instalments only under a policy that offers plans; a transfer to the company's active bank account."""

        def statement():
            return html.fromstring(self.url_open(self._statement_path()).content)

        self.policy.plan_max_instalments = 1
        page = statement()
        self.assertFalse(page.xpath("//button[@name='o_dunning_plan']"))
        self.assertFalse(page.xpath("//div[contains(@class, 'o_dunning_transfer')]"))
        Bank = self.env["res.partner.bank"]
        Bank.create({"acc_number": "BE68 5390 0754 7034", "partner_id": self.company.partner_id.id, "active": False})
        Bank.create({"acc_number": "BE71 0961 2345 6769", "partner_id": self.company.partner_id.id})
        self.policy.plan_max_instalments = 2
        page = statement()
        self.assertTrue(page.xpath("//button[@name='o_dunning_plan']"))
        transfer = page.xpath("//div[contains(@class, 'o_dunning_transfer')]")[0].text_content()
        self.assertIn("BE71 0961 2345 6769", transfer)
        self.assertNotIn("BE68", transfer, "an archived account is not offered")

    def test_plan_beyond_limits_is_refused_with_the_field_named(self):
        self.policy.write({"plan_max_instalments": 3, "plan_min_amount": 50.0})
        response = self._make_http_post_request(
            f"{self._statement_path()}/plan", self._prepare_plan_values(self.invoice_new, csrf_token=self.csrf)
        )
        self.assertEqual(response.status_code, 200)
        error = html.fromstring(response.content).xpath("//div[contains(@class, 'o_dunning_error')]")[0].text_content()
        self.assertIn("at least", error)
        self.assertIn("Number of instalments", error)
        self.assertFalse(self.env["dunning.plan"].search([]))


@tagged("post_install", "-at_install")
class TestStatementTour(DunningPortalCommon):
    """The whole debtor journey in headless Chromium at phone width, from the email actually received."""

    browser_size = "390x844"
    touch_enabled = True

    def test_pay_two_invoices_from_the_reminder_email(self):
        run = self._run()
        self.assertTrue(run.reminder_ids)
        with self.smtp_sink() as sink:
            self._dispatch()
            self._flush_mail_queue()
        body = sink.html_body(sink.messages_to("debtor.one@example.com")[0])
        links = re.findall(r'href="([^"]*/dunning/statement/[^"]+)"', body)
        self.assertEqual(len(set(links)), 1, "one statement link in the reminder")
        self.start_tour(self._build_url(links[0].replace("&amp;", "&")), "receivable_dunning_portal_pay")
        paid_state = self.env["account.move"]._get_invoice_in_payment_state()
        self.assertEqual(self.invoice_old.payment_state, paid_state)
        self.assertEqual(self.invoice_mid.payment_state, paid_state)
        self.assertEqual(self.invoice_new.payment_state, "not_paid")
        transaction = self.invoice_old.transaction_ids
        self.assertEqual(transaction.state, "done")
        self.assertEqual(transaction.amount, 350.0)
