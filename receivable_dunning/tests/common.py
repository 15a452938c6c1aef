from contextlib import contextmanager
from datetime import date, timedelta

from odoo import Command, fields
from odoo.sql_db import db_connect
from odoo.tests.common import new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

# The scenarios' calendar: an invoice falls due on DUE and is dunned on the days after it, ``on(11)`` being the
# day 11 days after it. A file whose scenario needs another due date names it and passes it: ``on(11, due=...)``.
DUE = date(2026, 3, 1)


def on(days, due=DUE):
    """The day ``days`` after ``due`` (before it when ``days`` is negative)."""
    return due + timedelta(days=days)


@contextmanager
def committed_connections(env, count, cleanup):
    """``count`` cursors on the test's database outside the test's transaction, for what only committed rows and
    other transactions show (row locks between workers). ``cleanup`` is the SQL that deletes what the test
    committed, run whatever happens."""
    cursors = [db_connect(env.cr.dbname).cursor() for _connection in range(count)]
    try:
        yield cursors
    finally:
        for cr in cursors:
            cr.rollback()
        cursors[-1].execute(cleanup)
        cursors[-1].commit()
        for cr in cursors:
            cr.close()


def days_ago(days):
    """The day ``days`` before today, frozen or not."""
    return date.today() - timedelta(days=days)


def in_days(days):
    """The day ``days`` after today, frozen or not."""
    return date.today() + timedelta(days=days)


class DunningCommon(AccountTestInvoicingCommon):
    """A company with a chart of accounts, a four-step dunning policy and helpers to build debtors and invoices."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.email = "billing@company.example.com"
        cls.policy = cls._create_policy("Test policy", cls.company)
        cls.company.dunning_policy_id = cls.policy
        cls.courtesy, cls.level_1, cls.level_2, cls.level_3 = cls.policy.level_ids.sorted("delay_days")
        cls.debtor = cls._create_debtor("Debtor One", email="debtor.one@example.com")

    @classmethod
    def _create_policy(cls, name, company, **values):
        """A policy with a courtesy email 3 days before the due date and levels at 10, 20 and 30 days."""
        return cls.env["dunning.policy"].create(
            {
                "name": name,
                "company_id": company.id,
                "level_ids": [
                    Command.create({"sequence": 1, "name": "Courtesy", "delay_days": -3}),
                    Command.create({"sequence": 2, "name": "Level 1", "delay_days": 10}),
                    Command.create({"sequence": 3, "name": "Level 2", "delay_days": 20, "send_sms": True}),
                    Command.create(
                        {"sequence": 4, "name": "Level 3", "delay_days": 30, "fee_amount": 40.0, "apply_interest": True}
                    ),
                ],
                **values,
            }
        )

    @classmethod
    def _create_debtor(cls, name, **values):
        return cls.env["res.partner"].create(
            {
                "name": name,
                "is_company": True,
                "street": "1 Main Street",
                "city": "Brussels",
                "country_id": cls.env.ref("base.be").id,
                **values,
            }
        )

    @classmethod
    def _create_invoice_due(cls, partner, amount, date_due, post=True, company=None, currency=None):
        """An invoice of ``amount`` without tax, due exactly on ``date_due``."""
        company = company or cls.env.company
        invoice = (
            cls.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "currency_id": (currency or company.currency_id).id,
                    "invoice_date": min(date_due, fields.Date.today()),
                    "invoice_date_due": date_due,
                    "invoice_line_ids": [
                        Command.create({"name": "Service", "quantity": 1, "price_unit": amount, "tax_ids": []})
                    ],
                }
            )
        )
        if post:
            invoice.action_post()
            invoice.invoice_date_due = date_due
        return invoice

    @classmethod
    def _create_user(cls, login, groups, company=None):
        company = company or cls.env.company
        return new_test_user(
            cls.env,
            login=login,
            groups=groups,
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )

    @classmethod
    def _create_collector(cls, login):
        """A dunning user, in charge of the debtor."""
        collector = cls._create_user(login, "receivable_dunning.group_dunning_user")
        cls.debtor.dunning_collector_id = collector
        return collector

    def _register_payment(self, invoices, **values):
        """Pay ``invoices`` with the payment wizard: in full, unless ``values`` say otherwise."""
        return (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoices.ids)
            .create(values)
            ._create_payments()
        )
