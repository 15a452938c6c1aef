from urllib.parse import urlsplit

from odoo import Command, fields, http
from odoo.tests import HttpCase
from odoo.tools import mute_logger

from .common import days_ago
from .engine_common import DunningEngineCommon


def _path(url):
    """The path and query of ``url``."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class DunningHttpCommon(HttpCase):
    """Requests to the test server, under the names of payment's ``http_common`` (which we do not inherit: its
    set-up creates providers, partners and currencies of its own)."""

    def _build_url(self, route):
        """The URL of ``route`` on the test server: ``route`` is a path, or a URL the module made for the outside
        world (on ``web.base.url``), whose path and query are kept."""
        return self.base_url() + _path(route)

    def _make_http_get_request(self, url, params=None):
        """A GET of ``url``, with ``params`` in its query string (a list for a repeated parameter)."""
        return self.url_open(url, params=params)

    def _make_http_post_request(self, url, data=None, files=None):
        """A form post to ``url``; its answer is the route's own: a redirect is not followed."""
        return self.url_open(url, data=data, files=files, method="POST", allow_redirects=False)

    def _make_json_request(self, url, data=None, headers=None):
        """A post of ``data`` as JSON to ``url``, as an API client sends it."""
        return self.url_open(url, json=data, headers=headers, method="POST")

    def _make_json_rpc_request(self, url, params):
        """The raw answer of a JSON-RPC call of ``url``: what a visitor's browser receives, an error included
        (``make_jsonrpc_request`` raises it instead)."""
        return self._make_json_request(url, {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})

    def _anonymous_csrf_token(self):
        """Start a visitor's session, without a login, and return the CSRF token its forms carry."""
        self.authenticate(None, None)
        return http.Request.csrf_token(self)


class DunningPortalCommon(DunningEngineCommon, DunningHttpCommon):
    """A debtor with three open invoices, another debtor, a demo payment provider, and the statement's routes.

    Only for tests of the statement page's routes (see payment's ``http_common`` for the same split).
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = cls._enable_demo_provider(cls.company)
        cls.demo_method = cls.env.ref("payment_demo.payment_method_demo")
        cls.invoice_old = cls._create_invoice_due(cls.debtor, 100.0, days_ago(40))
        cls.invoice_mid = cls._create_invoice_due(cls.debtor, 250.0, days_ago(25))
        cls.invoice_new = cls._create_invoice_due(cls.debtor, 75.0, days_ago(12))
        cls.stranger = cls._create_debtor("Debtor Two", email="debtor.two@example.com")
        cls.stranger_invoice = cls._create_invoice_due(cls.stranger, 999.0, days_ago(30))

    @classmethod
    def _enable_demo_provider(cls, company):
        """Odoo's demo provider, enabled for ``company`` with a bank journal to post its payments in."""
        # sudo: the test user is an accountant of its own company, not a payment administrator.
        demo = cls.env.ref("payment.payment_provider_demo").sudo()
        provider = demo if demo.company_id == company else demo.copy({"company_id": company.id})
        provider.write(
            {
                "state": "test",
                "is_published": True,
                "payment_method_ids": [Command.set(cls.env.ref("payment_demo.payment_method_demo").ids)],
                "journal_id": cls.env["account.journal"]
                .search([("company_id", "=", company.id), ("type", "=", "bank")], limit=1)
                .id,
            }
        )
        return provider

    @classmethod
    def _create_portal_user(cls, login, partner):
        """A portal user of ``partner`` (a debtor or one of its contacts), whose password is its login."""
        return (
            cls.env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "name": partner.name,
                    "login": login,
                    "password": login,
                    "partner_id": partner.id,
                    "group_ids": [Command.set([cls.env.ref("base.group_portal").id])],
                    "company_id": cls.company.id,
                    "company_ids": [Command.set(cls.company.ids)],
                }
            )
        )

    def _refund(self, amount):
        """A posted credit note of ``amount`` for the debtor: a credit in its favour."""
        refund = self.env["account.move"].create(
            {
                "move_type": "out_refund",
                "partner_id": self.debtor.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"name": "Return", "quantity": 1, "price_unit": amount, "tax_ids": []})
                ],
            }
        )
        refund.action_post()
        return refund

    def _statement_path(self, partner=None, company=None, valid_until=False):
        """The path of the statement page of ``partner`` (the debtor by default) with ``company``."""
        partner = partner or self.debtor
        return _path(self.env["dunning.statement"]._url(partner, company or self.company, valid_until))

    def _prepare_plan_values(self, invoices, count="2", first_date=None, csrf_token=None):
        """What the plan form posts: ``count`` monthly instalments of ``invoices``, the first on ``first_date``
        (today by default), with ``csrf_token`` if one is given."""
        values = {
            "invoice_ids": invoices.ids,
            "count": count,
            "frequency": "monthly",
            "first_date": fields.Date.to_string(first_date or fields.Date.today()),
        }
        return values | ({"csrf_token": csrf_token} if csrf_token else {})

    # === PAYMENT === #

    def _portal_pay(self, invoices, path=None):
        """The pay page of ``invoices`` on the statement at ``path`` (the debtor's by default)."""
        return self._make_http_get_request(f"{path or self._statement_path()}/pay", {"invoice_ids": invoices.ids})

    def _transaction_route(self, invoices, path=None):
        """The route that starts the payment of ``invoices`` on the statement at ``path`` (the debtor's by
        default)."""
        return f"{path or self._statement_path()}/transaction/{'-'.join(map(str, invoices.ids))}"

    def _prepare_transaction_values(self, amount, **overrides):
        """What the payment form posts to the transaction route for ``amount``: the demo provider's direct flow,
        with a landing page of the visitor's own that the server must ignore."""
        return {
            "provider_id": self.provider.id,
            "payment_method_id": self.demo_method.id,
            "token_id": None,
            "amount": amount,
            "flow": "direct",
            "tokenization_requested": False,
            "landing_route": "https://attacker.example.com/",
            "is_validation": False,
            "access_token": "ignored",
            **overrides,
        }

    def _portal_transaction(self, invoices, amount, **overrides):
        """Start the payment of ``invoices`` for ``amount`` as the payment form does.

        :raises JsonRpcException: if the route refuses it
        """
        return self.make_jsonrpc_request(
            self._transaction_route(invoices), self._prepare_transaction_values(amount, **overrides)
        )

    def _portal_transaction_response(self, invoices, amount, path=None, **overrides):
        """The raw answer of the transaction route to the payment of ``invoices`` on the statement at ``path``
        (the debtor's by default): what the visitor's browser receives when the route refuses it."""
        with mute_logger("odoo.http"):
            return self._make_json_rpc_request(
                self._transaction_route(invoices, path), self._prepare_transaction_values(amount, **overrides)
            )

    def _transactions(self, invoices):
        return self.env["payment.transaction"].search([("invoice_ids", "in", invoices.ids)])
