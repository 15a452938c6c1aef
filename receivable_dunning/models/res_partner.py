import secrets
from datetime import datetime

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import consteq, format_amount, format_date, hmac

STATEMENT_TOKEN_SCOPE = "receivable_dunning.statement"
# The collectors' decisions on a customer, which only dunning users may change: any user who edits customers
# could otherwise put one on hold or change its policy, over RPC or an import.
DUNNING_COLLECTOR_FIELDS = frozenset(
    {"dunning_policy_id", "dunning_collector_id", "dunning_hold_until", "dunning_contact", "dunning_statement_revoked"}
)


def statement_path(company_id, partner_id, token):
    """The path of a debtor's statement page (see controllers/portal.py for its routes)."""
    return f"/dunning/statement/{company_id}/{partner_id}/{token}"


STATEMENT_INVOICE_FIELDS = [
    "name",
    "invoice_date_due",
    "amount_residual",
    "amount_total",
    "currency_id",
    "state",
    "move_type",
    "payment_state",
    "dunning_level_id",
    "dunning_plan_id",
]


class ResPartner(models.Model):
    _inherit = "res.partner"

    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        company_dependent=True,
        copy=False,
        help="Overrides the company's default dunning policy for this customer.",
    )
    dunning_collector_id = fields.Many2one(
        "res.users",
        string="Collector",
        company_dependent=True,
        copy=False,
        help="Who follows up this customer's unpaid invoices and makes the calls.",
    )
    dunning_contact = fields.Boolean(
        copy=False,
        help="Reminders of the company go to this contact first, before its invoice address.",
    )
    dunning_promise_ids = fields.One2many("dunning.promise", "partner_id", string="Promises to Pay", readonly=True)
    dunning_hold_until = fields.Date(
        string="Dunning on Hold Until", copy=False, help="No reminder is sent to this customer before this date."
    )
    dunning_overdue_amount = fields.Monetary(
        string="Overdue Amount",
        compute="_compute_dunning_overdue",
        currency_field="dunning_currency_id",
        help="Overdue receivables of posted customer invoices in the current company, excluding the "
        "invoices marked 'No Follow-Up'.",
    )
    dunning_overdue_count = fields.Integer(string="Overdue Invoices", compute="_compute_dunning_overdue")
    dunning_currency_id = fields.Many2one("res.currency", compute="_compute_dunning_overdue")
    dunning_level_id = fields.Many2one(
        "dunning.level",
        string="Highest Dunning Level",
        compute="_compute_dunning_level_id",
        help="The highest level reached by the customer's open invoices in the current company.",
    )
    dunning_reminder_ids = fields.One2many("dunning.reminder", "partner_id", string="Reminders", readonly=True)
    dunning_reminder_count = fields.Integer(compute="_compute_dunning_reminder_count")
    dunning_plan_ids = fields.One2many("dunning.plan", "partner_id", string="Instalment Plans", readonly=True)
    dunning_dispute_ids = fields.One2many("dunning.dispute", "partner_id", string="Disputes", readonly=True)
    dunning_statement_revoked = fields.Boolean(
        string="Statement Links Revoked",
        copy=False,
        help="The debtor's statement links are refused and reminders carry none, until a new link is issued.",
    )
    # Mixed into every statement token: replacing it revokes every link given out before.
    dunning_statement_seed = fields.Char(copy=False, groups="base.group_system")

    # === COMPUTE METHODS === #

    @api.model
    def _dunning_overdue_line_domain(self):
        """Open receivable items of posted customer invoices that are past due and may be dunned."""
        return Domain(
            [
                ("company_id", "=", self.env.company.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("move_id.move_type", "=", "out_invoice"),
                ("reconciled", "=", False),
                ("amount_residual", ">", 0),
                ("no_followup", "=", False),
                ("date_maturity", "<", fields.Date.context_today(self)),
            ]
        )

    @api.depends_context("company", "date")
    def _compute_dunning_overdue(self):
        # _origin: in a form the partners are new records, which owe what their saved record owes (nothing if unsaved).
        commercial = self.commercial_partner_id._origin
        groups = self.env["account.move.line"]._read_group(
            self._dunning_overdue_line_domain() & Domain("partner_id", "in", commercial.ids),
            groupby=["partner_id"],
            aggregates=["amount_residual:sum", "move_id:count_distinct"],
        )
        totals = {partner: (amount, count) for partner, amount, count in groups}
        for partner in self:
            amount, count = totals.get(partner.commercial_partner_id._origin, (0.0, 0))
            partner.dunning_overdue_amount = amount
            partner.dunning_overdue_count = count
            partner.dunning_currency_id = self.env.company.currency_id

    @api.depends_context("company")
    def _compute_dunning_level_id(self):
        commercial = self.commercial_partner_id._origin
        Move = self.env["account.move"]
        groups = Move._read_group(
            Move._dunning_open_invoice_domain(commercial, self.env.company) & Domain("dunning_level_id", "!=", False),
            groupby=["commercial_partner_id", "dunning_level_id"],
        )
        highest = {}
        for partner, level in groups:
            if level._is_after(highest.get(partner)):
                highest[partner] = level
        for partner in self:
            partner.dunning_level_id = highest.get(partner.commercial_partner_id._origin, False)

    def _compute_dunning_reminder_count(self):
        counts = dict(
            self.env["dunning.reminder"]._read_group(
                [("partner_id", "in", self._origin.ids)], groupby=["partner_id"], aggregates=["__count"]
            )
        )
        for partner in self:
            partner.dunning_reminder_count = counts.get(partner._origin, 0)

    # === CONSTRAINT METHODS === #

    @api.constrains("dunning_policy_id")
    def _check_dunning_policy_company(self):
        """A customer's policy in a company is one of that company's policies: the run of a company applies it to
        the company's invoices. The value is company-dependent: it is set for the current company."""
        company = self.env.company
        for partner in self:
            policy = partner.dunning_policy_id
            if policy and policy.company_id != company:
                raise ValidationError(
                    self.env._(
                        "%(field)s of %(debtor)s in %(company)s cannot be %(policy)s, a policy of %(policy_company)s.",
                        field=self._fields["dunning_policy_id"]._description_string(self.env),
                        debtor=partner.display_name,
                        company=company.name,
                        policy=policy.name,
                        policy_company=policy.company_id.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        # An import creates through here too (load), and so does copy() with its default values.
        if not self._dunning_is_collector():
            # Values given, or defaults from the context (default_*) for the fields not given; the fields' own
            # defaults are empty, and the web client sends them on every new contact: empty values do not count.
            set_names = {
                name
                for vals in vals_list
                for name in DUNNING_COLLECTOR_FIELDS
                if vals.get(name, self.env.context.get(f"default_{name}"))
            }
            if set_names:
                names = [vals.get("name") or self.env._("a new contact") for vals in vals_list]
                self._dunning_raise_not_collector(", ".join(names), set_names)
        return super().create(vals_list)

    def write(self, vals):
        changed = DUNNING_COLLECTOR_FIELDS.intersection(vals)
        if changed and not self._dunning_is_collector():
            self._dunning_raise_not_collector(", ".join(self.mapped("display_name")), changed)
        return super().write(vals)

    def _dunning_raise_not_collector(self, debtors, field_names):
        raise AccessError(
            self.env._(
                "Only dunning users may change how %(debtor)s is dunned (%(fields)s).",
                debtor=debtors,
                fields=", ".join(self._fields[name]._description_string(self.env) for name in sorted(field_names)),
            )
        )

    # === ACTION METHODS === #

    def action_view_dunning_reminders(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_reminder_action")
        action["domain"] = [("partner_id", "=", self.commercial_partner_id.id)]
        action["context"] = {"create": False}
        return action

    def action_dunning_revoke_statement(self):
        """Revoke the statement links of these debtors: old links answer 'not found', reminders carry none."""
        self._dunning_check_statement_rights()
        self._dunning_reset_statement_seed()
        self.commercial_partner_id.dunning_statement_revoked = True

    def action_dunning_new_statement_link(self):
        """Issue new statement links: the old ones stop working, the next reminders carry the new one."""
        self._dunning_check_statement_rights()
        self._dunning_reset_statement_seed()
        self.commercial_partner_id.dunning_statement_revoked = False

    def action_dunning_open_statement(self):
        """Open the debtor's statement page as the debtor sees it, with a link valid for the policy's validity.

        Over RPC, integrators get the link in the action's ``url``.
        """
        self.ensure_one()
        self._dunning_check_statement_rights()
        partner = self.commercial_partner_id
        if partner.dunning_statement_revoked:
            raise UserError(
                self.env._("%(debtor)s's statement links are revoked: issue a new link first.", debtor=partner.name)
            )
        days = partner._dunning_get_policy().statement_link_days
        valid_until = fields.Date.add(fields.Date.context_today(self), days=days) if days else False
        return {
            "type": "ir.actions.act_url",
            "url": partner._dunning_statement_url(self.env.company, valid_until),
            "target": "new",
        }

    def _dunning_is_collector(self):
        return self.env.su or self.env.user.has_group("receivable_dunning.group_dunning_user")

    def _dunning_check_statement_rights(self):
        """Only dunning users hand out or revoke statement links: a link shows the debtor's invoices to whoever
        holds it, and these actions can be called over RPC by any user who may read customers."""
        if not self._dunning_is_collector():
            raise AccessError(
                self.env._(
                    "Only dunning users may open, issue or revoke the statement links of %(debtor)s.",
                    debtor=", ".join(self.commercial_partner_id.mapped("name")),
                )
            )

    def _dunning_reset_statement_seed(self):
        # sudo: the seed is a secret no one reads, not even accountants; changing it is what revokes links.
        for partner_sudo in self.commercial_partner_id.sudo():
            partner_sudo.dunning_statement_seed = secrets.token_urlsafe(24)

    # === BUSINESS METHODS === #

    def _dunning_responsible(self, company, moves=None):
        """Who follows up this debtor in ``company``: its collector, else the invoices' salesperson, else the
        administrator."""
        self.ensure_one()
        collector = self.commercial_partner_id.with_company(company).dunning_collector_id
        salesperson = moves.invoice_user_id[:1] if moves else self.env["res.users"]
        return collector or salesperson or self.env.ref("base.user_admin")

    def _dunning_statement_token(self, company, valid_until=False):
        """The access token of this debtor's statement page in ``company``.

        An HMAC (database secret) of debtor, company, expiry and the debtor's seed; the expiry is part of the
        token, so it cannot be extended by hand.

        :param company: the ``res.company`` whose invoices the page lists
        :param date valid_until: the last day the link works, or False for a link that does not expire
        :return: ``<YYYYMMDD or 0>-<hex digest>``
        """
        self.ensure_one()
        expiry = valid_until.strftime("%Y%m%d") if valid_until else "0"
        # sudo: the seed is readable by the system group only (see the field).
        seed = self.sudo().dunning_statement_seed or ""
        digest = hmac(self.env(su=True), STATEMENT_TOKEN_SCOPE, (self.id, company.id, expiry, seed))
        return f"{expiry}-{digest}"

    def _dunning_check_statement_token(self, company, token):
        """Whether ``token`` opens this debtor's statement in ``company`` today: right, unexpired, not revoked.

        Compared in constant time; callers answer 'not found' on False without saying why.
        """
        self.ensure_one()
        # isascii: consteq refuses to compare other strings, and no token of ours has any other character.
        if not token or not token.isascii() or self.dunning_statement_revoked or self != self.commercial_partner_id:
            return False
        expiry = token.partition("-")[0]
        valid_until = False
        if expiry != "0":
            try:
                valid_until = datetime.strptime(expiry, "%Y%m%d").date()
            except ValueError:
                return False
            if valid_until < fields.Date.context_today(self):
                return False
        return consteq(self._dunning_statement_token(company, valid_until), token)

    def _dunning_statement_url(self, company=None, valid_until=False):
        """The absolute URL of this debtor's statement page, or False when its links are revoked.

        :param company: the company whose invoices are listed; the current one by default
        :param date valid_until: the last day the link works; False for no expiry
        """
        self.ensure_one()
        path = self._dunning_statement_relative_url(company or self.env.company, valid_until)
        return path and f"{self.get_base_url()}{path}"

    def _dunning_statement_relative_url(self, company, valid_until=False):
        """The path of this debtor's statement page in ``company``, or False when its links are revoked."""
        self.ensure_one()
        partner = self.commercial_partner_id
        if partner.dunning_statement_revoked:
            return False
        return statement_path(company.id, partner.id, partner._dunning_statement_token(company, valid_until))

    def _dunning_statement_links(self, valid_until):
        """(company, path) of this debtor's statement in every company it owes something to.

        sudo: a portal user owes companies that are not among its allowed ones.
        """
        self.ensure_one()
        partner = self.commercial_partner_id
        Move = self.env["account.move"].sudo()
        companies_sudo = Move.search(Move._dunning_open_invoice_domain(partner)).company_id
        links = [
            (company, partner.sudo()._dunning_statement_relative_url(company, valid_until))
            for company in companies_sudo
        ]
        return [(company, path) for company, path in links if path]

    def _dunning_is_debtor_user(self, user):
        """Whether ``user`` logs in for this debtor (its commercial partner is the debtor).

        Only such users may use or save the debtor's payment methods: anyone else holding a statement link,
        logged in or not, may pay but must not touch the debtor's saved cards.
        """
        self.ensure_one()
        return not user._is_public() and user.partner_id.commercial_partner_id == self.commercial_partner_id

    def _dunning_overdue_invoice_count(self):
        """How many posted customer invoices of this debtor are past due, as far as the current user may see."""
        self.ensure_one()
        Move = self.env["account.move"]
        if not Move.has_access("read"):
            return 0
        return Move.search_count(
            Move._dunning_open_invoice_domain(self.commercial_partner_id)
            & Domain("invoice_date_due", "<", fields.Date.context_today(self))
        )

    def _dunning_open_invoices(self, company):
        """The debtor's posted customer invoices with something left to pay in ``company``, oldest due first."""
        self.ensure_one()
        # search_fetch: the statement page reads these columns of every invoice, and only these.
        Move = self.env["account.move"]
        return Move.search_fetch(
            Move._dunning_open_invoice_domain(self.commercial_partner_id, company) & Domain("amount_residual", ">", 0),
            STATEMENT_INVOICE_FIELDS,
            order="invoice_date_due, id",
        )

    def _dunning_statement_values(self, company):
        """Everything the debtor's statement page shows, computed once here; the controller only renders it.

        :param company: the company whose invoices are listed
        :return: dict with ``invoices`` (one dict per open invoice), totals, the transfer reference, the bank
            account, disputes and plans
        """
        self.ensure_one()
        partner = self.commercial_partner_id
        today = fields.Date.context_today(self)
        invoices = partner._dunning_open_invoices(company)
        charges = {
            move: (fee, interest)
            for move, fee, interest in self.env["dunning.reminder.line"]._read_group(
                [
                    ("move_id", "in", invoices.ids),
                    ("state", "=", "sent"),
                    ("charge_move_id", "=", False),
                ],
                groupby=["move_id"],
                aggregates=["amount_fee:sum", "amount_interest:sum"],
            )
        }
        disputed = {dispute.move_id: dispute for dispute in invoices._dunning_open_disputes()}
        rows = []
        for move in invoices:
            fee, interest = charges.get(move, (0.0, 0.0))
            rows.append(
                {
                    "move": move,
                    # Formatted here once: QWeb's date and monetary widgets cost more than the rest of the page.
                    "date_due_text": format_date(self.env, move.invoice_date_due),
                    "residual_text": format_amount(self.env, move.amount_residual, move.currency_id),
                    "days_late": max((today - move.invoice_date_due).days, 0) if move.invoice_date_due else 0,
                    "charges": fee + interest,
                    "charges_text": format_amount(self.env, fee + interest, move.currency_id) if fee + interest else "",
                    "dispute": disputed.get(move),
                    "plan": move.dunning_plan_id,
                    "payable": move not in disputed and move._has_to_be_paid(),
                }
            )
        currency = invoices[:1].currency_id or company.currency_id
        last_reminder = self.env["dunning.reminder"].search(
            [
                ("partner_id", "=", partner.id),
                ("company_id", "=", company.id),
                ("reminder_type", "=", "reminder"),
                ("state", "=", "sent"),
            ],
            order="date_done desc, id desc",
            limit=1,
        )
        amount_total = currency.round(sum(invoices.mapped("amount_residual")))
        credits = partner._dunning_open_credits(company, currency)
        amount_credits = currency.round(sum(credit["amount"] for credit in credits))
        # The reminder's RF settles its invoices, net of the credits it listed, at once in bank matching: offer it
        # only when it covers exactly what is open today, for the balance.
        total_reference = (
            last_reminder.payment_reference
            if last_reminder
            and set(last_reminder.line_ids.move_id.ids) == set(invoices.ids)
            and set(last_reminder.credit_line_ids.ids) == {credit["line_id"] for credit in credits}
            else False
        )
        bank_account = company.partner_id.bank_ids[:1]
        qr_code = (
            bank_account.build_qr_code_base64(
                amount_total - amount_credits, total_reference, total_reference, currency, partner, silent_errors=True
            )
            if bank_account and total_reference
            else False
        )
        policy = partner.with_company(company)._dunning_get_policy()
        amount_charges = currency.round(sum(row["charges"] for row in rows))
        return {
            "partner": partner,
            "company": company,
            "today": today,
            "currency": currency,
            "invoices": rows,
            "credits": credits,
            "balance_text": format_amount(self.env, amount_total - amount_credits, currency),
            "amount_total": amount_total,
            "amount_total_text": format_amount(self.env, amount_total, currency),
            "amount_charges": amount_charges,
            "amount_charges_text": format_amount(self.env, amount_charges, currency),
            "mixed_currencies": len(invoices.currency_id) > 1,
            "total_reference": total_reference,
            "bank_account": bank_account,
            "qr_code": qr_code,
            "policy": policy,
            "plans_allowed": bool(policy.plan_max_instalments > 1 and invoices),
            "plans": self.env["dunning.plan"].search(
                [
                    ("partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                    ("state", "in", ("proposed", "approved")),
                ]
            ),
        }

    def _dunning_open_credits(self, company, currency):
        """What the company owes this debtor back in ``currency``: open credit notes and payments not yet matched
        to an invoice, as they reduce the balance of the statement; an item against the debtor that is no invoice
        (a refund paid out, not yet matched) counts negatively.

        :return: list of dicts with ``line_id``, ``name``, ``date`` (text), ``amount`` (positive for a credit) and
            ``amount_text`` (the item as the ledger signs it: negative for a credit)
        """
        self.ensure_one()
        lines = self.env["account.move.line"].search_fetch(
            self._dunning_open_credit_domain(company, currency),
            ["move_name", "date", "amount_residual_currency", "currency_id"],
            order="date, id",
        )
        return [
            {
                "line_id": line.id,
                "name": line.move_name,
                "date": format_date(self.env, line.date),
                "amount": -line.amount_residual_currency,
                "amount_text": format_amount(self.env, line.amount_residual_currency, currency),
            }
            for line in lines
        ]

    def _dunning_open_credit_domain(self, company, currency):
        """The open receivable items of this debtor in ``company`` and ``currency`` that are no customer invoice:
        credit notes and payments in its favour, and what stands against it besides invoices (a refund paid out
        and not yet matched, a receivable booked by hand), as the dunning run sets them against the invoices."""
        return Domain(
            [
                ("company_id", "=", company.id),
                ("partner_id", "child_of", self.commercial_partner_id.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("reconciled", "=", False),
                ("amount_residual", "!=", 0),
                ("move_id.move_type", "!=", "out_invoice"),
                ("currency_id", "=", currency.id),
            ]
        )

    def _dunning_statement_invoice(self, company, move_id):
        """The debtor's posted customer invoice ``move_id`` in ``company``, or an empty recordset."""
        self.ensure_one()
        return self.env["account.move"].search(
            [
                ("id", "=", move_id),
                ("company_id", "=", company.id),
                ("commercial_partner_id", "=", self.commercial_partner_id.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
            ]
        )

    def _dunning_selected_open_invoices(self, company, invoice_ids):
        """The open invoices of this debtor among ``invoice_ids``.

        :raise AccessError: when an id is not an invoice of this debtor in ``company`` (callers answer 404)
        :raise ValidationError: when one of them is no longer open, or none is selected
        """
        self.ensure_one()
        wanted = set(invoice_ids)
        owned = self.env["account.move"].search(
            [
                ("id", "in", list(wanted)),
                ("company_id", "=", company.id),
                ("commercial_partner_id", "=", self.commercial_partner_id.id),
                ("move_type", "=", "out_invoice"),
            ]
        )
        if len(owned) != len(wanted):
            raise AccessError(self.env._("These invoices are not yours."))
        if not owned:
            raise ValidationError(self.env._("Select at least one invoice (field Invoices)."))
        closed = owned - self.commercial_partner_id._dunning_open_invoices(company)
        if closed:
            raise ValidationError(
                self.env._("Invoice %(invoice)s has nothing left to pay (field Invoices).", invoice=closed[0].name)
            )
        return owned.sorted(lambda move: (move.invoice_date_due or fields.Date.today(), move.id))

    def _dunning_payable_invoices(self, company, invoice_ids):
        """The invoices of ``invoice_ids`` that this debtor may pay now in ``company``.

        Amounts are always taken from these records, never from the request.

        :raise AccessError: an id is not the debtor's
        :raise ValidationError: naming the invoice that cannot be paid
        """
        selected = self._dunning_selected_open_invoices(company, invoice_ids)
        if len(selected.currency_id) > 1:
            raise ValidationError(
                self.env._("Invoices in different currencies must be paid separately (field Invoices).")
            )
        disputed = selected._dunning_open_disputes()
        if disputed:
            raise ValidationError(
                self.env._(
                    "Invoice %(invoice)s is disputed and cannot be paid until the dispute is closed (field Invoices).",
                    invoice=disputed[0].move_id.name,
                )
            )
        self.env["payment.transaction"]._dunning_check_online_payment(selected)
        return selected

    def _dunning_propose_plan(self, company, invoice_ids, count, first_date, frequency, note=False):
        """The debtor proposes to pay ``invoice_ids`` in ``count`` instalments (see ``dunning.plan``).

        :param str|date first_date: the first instalment's date, as typed in a form (YYYY-MM-DD) or a date
        :raise AccessError: an id is not the debtor's
        :raise ValidationError: a limit or a field is wrong, named in the message
        """
        self.ensure_one()
        moves = self._dunning_selected_open_invoices(company, invoice_ids)
        try:
            first = fields.Date.to_date(first_date) if first_date else False
        except ValueError as error:
            raise ValidationError(self.env._("Enter the first payment as a date (field First payment).")) from error
        # PostgreSQL stores no NUL character: a form that sends one must not end in a server error.
        note = note.replace("\x00", "") if isinstance(note, str) else note
        return self.env["dunning.plan"]._propose(
            self.commercial_partner_id, company, moves, count, first, frequency=frequency, note=note
        )

    def _dunning_raise_dispute(self, company, move_id, reason, description=False, attachments=None):
        """The debtor disputes invoice ``move_id`` (see ``dunning.dispute._open_on_invoice``).

        :raise AccessError: the invoice is not the debtor's
        """
        self.ensure_one()
        move = self._dunning_statement_invoice(company, move_id)
        if not move:
            raise AccessError(self.env._("This invoice is not yours."))
        return self.env["dunning.dispute"]._open_on_invoice(
            self.commercial_partner_id, company, move, reason, description, attachments
        )

    def _dunning_recent_transactions(self, company):
        """The debtor's online payments of the last day for invoices of ``company``, newest first."""
        self.ensure_one()
        return self.env["payment.transaction"].search(
            [
                ("partner_id", "=", self.commercial_partner_id.id),
                ("company_id", "=", company.id),
                ("invoice_ids", "!=", False),
                ("create_date", ">=", fields.Datetime.subtract(fields.Datetime.now(), days=1)),
            ],
            order="id desc",
            limit=5,
        )

    def _dunning_get_policy(self):
        """Return the dunning policy of this customer in the current company: its own, else the company's.

        :return: a ``dunning.policy`` record, possibly empty
        """
        self.ensure_one()
        partner = self.commercial_partner_id
        return partner.dunning_policy_id or self.env.company.dunning_policy_id
