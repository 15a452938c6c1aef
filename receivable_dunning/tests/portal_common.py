from urllib.parse import urlsplit

from odoo import Command, fields
from odoo.tests import HttpCase

from .common import days_ago
from .engine_common import DunningEngineCommon


class DunningPortalCommon(DunningEngineCommon, HttpCase):
    """A debtor with three open invoices, another debtor, a demo payment provider, and URL helpers.

    Only for tests of the statement page's routes (see payment's ``http_common`` for the same split).
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = cls._enable_demo_provider(cls.company)
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

    @staticmethod
    def _path(url):
        """The path of an absolute URL, to call it on the test server."""
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _statement_path(self, partner=None, company=None, valid_until=False):
        partner = partner or self.debtor
        return self._path(self.env["dunning.statement"]._url(partner, company or self.company, valid_until))
