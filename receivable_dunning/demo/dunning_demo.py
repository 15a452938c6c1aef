"""Demo data: a company full of debtors at every level, generated when the module is installed with demo data.

Kept out of the production models, as ``account`` keeps its demo generation in ``account/demo/``.
"""

import random

from odoo import Command, api, fields, models


class DunningDemo(models.AbstractModel):
    """Generates the demo data of the module; called once, by demo/dunning_demo.xml."""

    _name = "dunning.demo"
    _description = "Dunning Demo Data"

    @api.model
    def _generate(self, company_id):
        """Fill the company with 30 customers in three languages and about 200 invoices of varied age.

        Deterministic (fixed seed) and relative to today, so that a fresh database always shows debtors at every
        level, some paid and partly paid invoices, a customer on hold and a few contacts that cannot be reached.

        :param int company_id: the ``res.company`` to fill
        """
        company = self.env["res.company"].browse(company_id)
        if not company.chart_template:
            self.env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
        self._activate_languages(["fr_FR", "es_ES"])
        rng = random.Random(20261123)
        env = self.env(context=dict(self.env.context, allowed_company_ids=company.ids))
        customers = env["res.partner"].create(self._customer_values(rng))
        admin = env.ref("base.user_admin")
        customers[::3].with_company(company).write({"dunning_collector_id": admin.id})
        customers[4].dunning_hold_until = fields.Date.add(fields.Date.context_today(self), days=10)
        invoices = env["account.move"].create(self._invoice_values(rng, customers))
        invoices.action_post()
        self._register_payments(rng, invoices)
        invoices[5::40].write({"no_followup": True})
        self._set_levels(invoices)
        self._plans_and_disputes(company, customers)
        self._sent_run(company)
        self._payer_risk(company, customers)
        self._collector_day(company, customers)

    @api.model
    def _sent_run(self, company):
        """A completed run, as the daily one leaves it: reminders sent by every channel, one that failed with its
        reason (a new customer whose email address is wrong), one still queued, one cancelled, and the debtors it
        skipped, so that every screen has something to show."""
        today = fields.Date.context_today(self)
        unreachable = self.env["res.partner"].create(
            {"name": "Pinewood Crafts", "is_company": True, "email": "billing(at)pinewood.example.com"}
        )
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": unreachable.id,
                "invoice_date": fields.Date.subtract(today, days=40),
                "invoice_date_due": fields.Date.subtract(today, days=12),
                "invoice_line_ids": [
                    Command.create({"name": "Installation", "quantity": 1, "price_unit": 480.0, "tax_ids": []})
                ],
            }
        )
        invoice.action_post()
        run = self.env["dunning.run"].with_company(company).create({"company_id": company.id, "mode": "send"})
        run.action_execute()
        others = run.reminder_ids.filtered(lambda reminder: reminder.partner_id != unreachable).sorted("id")
        others[-1:].action_cancel()
        # What the dispatch cron does, without waiting for it: emails go to the outgoing queue, the unreachable
        # customer's reminder fails with its reason; one reminder stays queued for the next pass.
        (run.reminder_ids - others[-2:])._dispatch()

    @api.model
    def _collector_day(self, company, customers):
        """A collector (login ``collector``, password ``collector``) whose Today list shows every kind of work: the
        run left calls to make, debtors past the last level and a failed reminder, the debtors a dispute and a plan;
        here come a promise due today, a broken promise, and a debtor past the last level whose call is made."""
        today = fields.Date.context_today(self)
        collector = self.env["res.users"].create(
            {
                "name": "Casey Collector",
                "login": "collector",
                "password": "collector",
                "email": "collector@yourcompany.example.com",
                "company_id": company.id,
                "company_ids": [Command.set(company.ids)],
                "group_ids": [Command.link(self.env.ref("receivable_dunning.group_dunning_user").id)],
                "action_id": self.env.ref("receivable_dunning.dunning_today_action").id,
            }
        )
        disputed = self.env["dunning.dispute"].search([("company_id", "=", company.id)]).partner_id
        planned = self.env["dunning.plan"].search([("company_id", "=", company.id)]).partner_id
        (customers[1::3] | disputed | planned).with_company(company).write({"dunning_collector_id": collector.id})
        Statement = self.env["dunning.statement"]
        debtors = customers[1::3].filtered(
            lambda customer: Statement._open_invoices(customer, company).filtered(
                lambda move: move.invoice_date_due < today
            )
        )
        Promise = self.env["dunning.promise"].with_company(company)
        arrangements = [(debtors[:1], today), (debtors[1:2], fields.Date.subtract(today, days=2))]
        for debtor, date in arrangements:
            if not debtor:
                continue
            invoice = Statement._open_invoices(debtor, company)[:1]
            promise = Promise.create(
                {
                    "partner_id": debtor.id,
                    "company_id": company.id,
                    "currency_id": invoice.currency_id.id,
                    "move_ids": [Command.set(invoice.ids)],
                    "date_promised": date,
                    "amount": invoice.currency_id.round(invoice.amount_residual / 2),
                }
            )
            if date < today:  # the promise of two days ago is broken by now; today's is still pending
                promise._settle_pending(today)
        promised = debtors[:2]
        self.env["dunning.payer.profile"]._recompute(partners=promised, companies=company)
        called = self.env["dunning.today"].with_user(collector).search([("kind", "=", "call")], limit=1).partner_id
        self.env["dunning.call.log"].with_user(collector)._log(
            called, company, "reached", note="Will discuss the invoices with their manager."
        )

    @api.model
    def _plans_and_disputes(self, company, customers):
        """A dispute to resolve and an instalment plan to approve, as debtors raise them from their statement."""
        today = fields.Date.context_today(self)
        Statement = self.env["dunning.statement"]
        debtors = [
            customer
            # Customers 1 and 2 pay all their overdue invoices in _payer_risk(): their plan would be paid at once.
            for customer in customers - customers[1:3]
            if sum(Statement._open_invoices(customer, company)[:2].mapped("amount_residual")) >= 300
            and len(Statement._open_invoices(customer, company)) >= 2
        ]
        if len(debtors) < 2:
            return
        disputed_invoice = Statement._open_invoices(debtors[0], company)[:1]
        Statement._raise_dispute(
            debtors[0], company, disputed_invoice.id, "defective", "Two of the ten chairs delivered have a broken leg."
        )
        planned = Statement._open_invoices(debtors[1], company)[:2]
        self.env["dunning.plan"]._propose(
            debtors[1], company, planned, 3, fields.Date.add(today, days=7), note="Our season starts next month."
        )

    @api.model
    def _payer_risk(self, company, customers):
        """Payer profiles of every class: the random histories give C and D payers; a customer that pays on its
        due dates is an A, one that pays about a fortnight late a B."""
        today = fields.Date.context_today(self)
        for customer, days_late in ((customers[1], 0), (customers[2], 14)):
            overdue = self.env["account.move"].search(
                [
                    ("partner_id", "=", customer.id),
                    ("move_type", "=", "out_invoice"),
                    ("state", "=", "posted"),
                    ("payment_state", "in", ("not_paid", "partial")),
                    ("invoice_date_due", "<=", fields.Date.subtract(today, days=days_late)),
                ]
            )
            for invoice in overdue:
                self.env["account.payment.register"].with_context(
                    active_model="account.move", active_ids=invoice.ids
                ).create({"payment_date": fields.Date.add(invoice.invoice_date_due, days=days_late)})._create_payments()
        self.env["dunning.payer.profile"]._recompute(companies=company)

    @api.model
    def _activate_languages(self, codes):
        """Activate the languages with the translations of the installed modules and of this one, which Odoo loads
        only after its demo data: the reminders the demo sends would otherwise be in English for every debtor."""
        langs = self.env["res.lang"].with_context(active_test=False).search([("code", "in", codes)])
        langs.active = True
        modules = self.env["ir.module.module"].search(
            ["|", ("state", "=", "installed"), ("name", "=", "receivable_dunning")]
        )
        modules._update_translations(codes)

    @api.model
    def _customer_values(self, rng):
        names = {
            "en_US": [
                "Acme Industries",
                "Blue Harbor Ltd",
                "Crestview Supplies",
                "Delta Freight",
                "Evergreen Foods",
                "Falcon Tools",
                "Granite Works",
                "Harbor Lights Inc",
                "Ironclad Systems",
                "Juniper Studio",
            ],
            "fr_FR": [
                "Boulangerie Martin",
                "Atelier Dubois",
                "Transports Leroy",
                "Cave Moreau",
                "Garage Lefèvre",
                "Imprimerie Roux",
                "Fromagerie Girard",
                "Menuiserie Petit",
                "Librairie Fournier",
                "Optique Lambert",
            ],
            "es_ES": [
                "Construcciones García",
                "Panadería López",
                "Talleres Martínez",
                "Bodegas Sánchez",
                "Ferretería Romero",
                "Editorial Navarro",
                "Hostal Torres",
                "Muebles Ruiz",
                "Óptica Díaz",
                "Frutas Moreno",
            ],
        }
        countries = {"en_US": "base.us", "fr_FR": "base.fr", "es_ES": "base.es"}
        phones = {"en_US": "+1 202 555 01{:02d}", "fr_FR": "+33 6 12 34 56 {:02d}", "es_ES": "+34 612 34 56 {:02d}"}
        values = []
        for lang, lang_names in names.items():
            for index, name in enumerate(lang_names):
                slug = "".join(char for char in name.lower() if char.isalnum())[:16]
                values.append(
                    {
                        "name": name,
                        "is_company": True,
                        "lang": lang,
                        "email": f"billing@{slug}.example.com",
                        "phone": phones[lang].format(10 + index),
                        "street": f"{rng.randint(1, 200)} Main Street",
                        "city": {"en_US": "Springfield", "fr_FR": "Lyon", "es_ES": "Valencia"}[lang],
                        "zip": str(rng.randint(10000, 99999)),
                        "country_id": self.env.ref(countries[lang]).id,
                        "customer_rank": 1,
                    }
                )
        # Contacts that cannot be reached, so that failed reminders show up.
        values[7]["email"] = "accounts-at-harborlights.example.com"
        values[17]["phone"] = "12"
        # A dunning contact and an invoice address, so that the recipient chain shows.
        values[0]["child_ids"] = [
            Command.create(
                {"name": "Mary Payable", "email": "payable@acmeindustries.example.com", "dunning_contact": True}
            ),
        ]
        values[10]["child_ids"] = [
            Command.create(
                {"name": "Service comptable", "type": "invoice", "email": "compta@boulangeriemartin.example.com"}
            ),
        ]
        return values

    @api.model
    def _invoice_values(self, rng, customers):
        today = fields.Date.context_today(self)
        # The demo runs as the superuser: without a salesperson, disputes and plans would go to OdooBot.
        salesperson = self.env.ref("base.user_admin")
        products = ["Consulting hours", "Maintenance contract", "Spare parts", "Installation", "Training day"]
        values = []
        for index in range(200):
            customer = customers[index % len(customers)]
            invoice_date = fields.Date.subtract(today, days=rng.randint(0, 120))
            values.append(
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_user_id": salesperson.id,
                    "invoice_date": invoice_date,
                    "invoice_date_due": fields.Date.add(invoice_date, days=rng.choice([0, 15, 30, 30, 45])),
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": rng.choice(products),
                                "quantity": rng.randint(1, 10),
                                "price_unit": round(rng.uniform(50, 1000), 2),
                                "tax_ids": [Command.clear()],
                            }
                        )
                        for _line in range(rng.randint(1, 3))
                    ],
                }
            )
        return values

    @api.model
    def _register_payments(self, rng, invoices):
        to_pay = invoices.filtered(lambda move: rng.random() < 0.3)
        partial = to_pay[:10]
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=(to_pay - partial).ids
        ).create({"group_payment": False})._create_payments()
        for invoice in partial:
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"amount": round(invoice.amount_residual / 2, 2)})._create_payments()

    @api.model
    def _set_levels(self, invoices):
        """Put the open invoices at the level their age gives, as if dunning had run for weeks."""
        today = fields.Date.context_today(self)
        open_invoices = invoices.filtered(
            lambda move: move.payment_state in ("not_paid", "partial") and not move.no_followup
        )
        levels = [
            (50, "receivable_dunning.dunning_level_formal"),
            (30, "receivable_dunning.dunning_level_second"),
            (10, "receivable_dunning.dunning_level_first"),
        ]
        remaining = open_invoices
        for min_days, xmlid in levels:
            level = self.env.ref(xmlid, raise_if_not_found=False)
            late = remaining.filtered(lambda move, days=min_days: (today - move.invoice_date_due).days >= days)
            if level and late:
                late.write({"dunning_level_id": level.id, "dunning_last_date": fields.Date.subtract(today, days=6)})
            remaining -= late
