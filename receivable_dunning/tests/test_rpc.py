from datetime import datetime, timedelta

from odoo.tests import get_db_name, tagged

from .portal_common import DunningPortalCommon


@tagged("post_install", "-at_install")
class TestIntegratorRpc(DunningPortalCommon):
    """An integrator drives dunning over Odoo's JSON-2 API with a collector's API key, as the README says."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector = cls._create_user("rpc_collector", "receivable_dunning.group_dunning_user", cls.company)
        cls.clerk = cls._create_user("rpc_clerk", "account.group_account_invoice", cls.company)

    def _key(self, user):
        return (
            self.env["res.users.apikeys"]
            .with_user(user)
            ._generate(scope="rpc", name="integration", expiration_date=datetime.now() + timedelta(days=1))
        )

    def _call(self, key, model, method, **params):
        response = self._make_json_request(
            f"/json/2/{model}/{method}",
            params,
            headers={"Authorization": f"Bearer {key}", "X-Odoo-Database": get_db_name()},
        )
        return response.status_code, response.json()

    def test_run_review_send_and_statement_link(self):
        key = self._key(self.collector)
        status, run_ids = self._call(key, "dunning.run", "create", vals_list=[{"mode": "review"}])
        self.assertEqual(status, 200, run_ids)
        self._call(key, "dunning.run", "action_execute", ids=run_ids)
        status, reminders = self._call(
            key,
            "dunning.reminder",
            "search_read",
            domain=[["run_id", "in", run_ids], ["partner_id", "=", self.debtor.id]],
            fields=["state", "channel", "invoice_count", "amount_residual"],
        )
        self.assertEqual(status, 200, reminders)
        self.assertEqual([(r["state"], r["channel"]) for r in reminders], [("draft", "email")])
        self.assertEqual((reminders[0]["invoice_count"], reminders[0]["amount_residual"]), (3, 425.0))
        self._call(key, "dunning.run", "action_send", ids=run_ids)
        self.assertEqual(self.env["dunning.reminder"].browse(reminders[0]["id"]).state, "queued")
        # The statement link, to send through the integrator's own channel; it opens without a login.
        status, action = self._call(key, "res.partner", "action_dunning_open_statement", ids=[self.debtor.id])
        self.assertEqual(status, 200, action)
        page = self.url_open(self._build_url(action["url"]))
        self.assertEqual(page.status_code, 200)
        self.assertIn(self.invoice_old.name, page.text)

    def test_statement_link_refused_to_other_users(self):
        status, error = self._call(
            self._key(self.clerk), "res.partner", "action_dunning_open_statement", ids=[self.debtor.id]
        )
        self.assertEqual(status, 403, error)
        self.assertEqual(error["name"], "odoo.exceptions.AccessError")
