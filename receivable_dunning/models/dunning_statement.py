import ast
import math
import re
from datetime import datetime

import babel.dates

from odoo import fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, consteq, float_round, hmac, str2bool
from odoo.tools.misc import babel_locale_parse, get_lang, posix_to_ldml

from odoo.addons.base.models.res_lang import intersperse

STATEMENT_TOKEN_SCOPE = "receivable_dunning.statement"
# strftime directives that print numbers only, the same in every language.
NUMERIC_DATE_DIRECTIVE = re.compile(r"%[dmYy]")
# account_payment's setting: whether customers may pay their invoices online.
PORTAL_PAYMENT_PARAM = "account_payment.enable_portal_payment"
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


def statement_path(company_id, partner_id, token):
    """The path of a debtor's statement page (see controllers/portal.py for its routes)."""
    return f"/dunning/statement/{company_id}/{partner_id}/{token}"


class DunningStatement(models.AbstractModel):
    """The debtor's statement: its link, what its page shows, and what the debtor may do from it (pay, propose a
    plan, dispute an invoice).

    The debtor is a ``res.partner`` (its commercial partner is the one that owes), the company the one whose
    invoices are listed. The methods read and write in the environment they are called in: the portal controller
    calls them sudoed, once the token is checked (see ``controllers/portal.py``).
    """

    _name = "dunning.statement"
    _description = "Debtor Statement"

    # === TOKEN AND LINKS === #

    def _token(self, partner, company, valid_until=False):
        """The access token of the debtor's statement page in ``company``.

        An HMAC (database secret) of debtor, company, expiry and the debtor's seed; the expiry is part of the
        token, so it cannot be extended by hand.

        :param partner: the debtor (``res.partner``)
        :param company: the ``res.company`` whose invoices the page lists
        :param date valid_until: the last day the link works, or False for a link that does not expire
        :return: ``<YYYYMMDD or 0>-<hex digest>``
        """
        partner.ensure_one()
        expiry = valid_until.strftime("%Y%m%d") if valid_until else "0"
        # sudo: the seed is readable by the system group only (see the field).
        seed = partner.sudo().dunning_statement_seed or ""
        digest = hmac(self.env(su=True), STATEMENT_TOKEN_SCOPE, (partner.id, company.id, expiry, seed))
        return f"{expiry}-{digest}"

    def _check_token(self, partner, company, token):
        """Whether ``token`` opens the debtor's statement in ``company`` today: right, unexpired, not revoked.

        Compared in constant time; callers answer 'not found' on False without saying why.
        """
        partner.ensure_one()
        # isascii: consteq refuses to compare other strings, and no token of ours has any other character.
        if (
            not token
            or not token.isascii()
            or partner.dunning_statement_revoked
            or partner != partner.commercial_partner_id
        ):
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
        return consteq(self._token(partner, company, valid_until), token)

    def _url(self, partner, company=None, valid_until=False):
        """The absolute URL of the debtor's statement page, or False when its links are revoked.

        :param company: the company whose invoices are listed; the current one by default
        :param date valid_until: the last day the link works; False for no expiry
        """
        partner.ensure_one()
        path = self._relative_url(partner, company or self.env.company, valid_until)
        return path and f"{partner.get_base_url()}{path}"

    def _relative_url(self, partner, company, valid_until=False):
        """The path of the debtor's statement page in ``company``, or False when its links are revoked."""
        partner = partner.commercial_partner_id
        partner.ensure_one()
        if partner.dunning_statement_revoked:
            return False
        return statement_path(company.id, partner.id, self._token(partner, company, valid_until))

    def _links(self, partner, valid_until):
        """(company, path) of the debtor's statement in every company it owes something to.

        sudo: a portal user owes companies that are not among its allowed ones.
        """
        partner = partner.commercial_partner_id
        partner.ensure_one()
        Move = self.env["account.move"].sudo()
        companies_sudo = Move.search(Move._dunning_open_invoice_domain(partner)).company_id
        links = [(company, self._relative_url(partner.sudo(), company, valid_until)) for company in companies_sudo]
        return [(company, path) for company, path in links if path]

    def _is_debtor_user(self, partner, user):
        """Whether ``user`` logs in for the debtor (its commercial partner is the debtor).

        Only such users may use or save the debtor's payment methods: anyone else holding a statement link,
        logged in or not, may pay but must not touch the debtor's saved cards.
        """
        partner.ensure_one()
        return not user._is_public() and user.partner_id.commercial_partner_id == partner.commercial_partner_id

    # === PAGE VALUES === #

    def _overdue_invoice_count(self, partner):
        """How many posted customer invoices of the debtor are past due, as far as the current user may see."""
        partner.ensure_one()
        Move = self.env["account.move"]
        if not Move.has_access("read"):
            return 0
        return Move.search_count(
            Move._dunning_open_invoice_domain(partner.commercial_partner_id)
            & Domain("invoice_date_due", "<", fields.Date.context_today(self))
        )

    def _open_invoices(self, partner, company):
        """The debtor's posted customer invoices with something left to pay in ``company``, oldest due first."""
        partner.ensure_one()
        # search_fetch: the statement page reads these columns of every invoice, and only these.
        return self.env["account.move"].search_fetch(
            self._open_invoice_domain(partner, company), STATEMENT_INVOICE_FIELDS, order="invoice_date_due, id"
        )

    def _open_invoice_domain(self, partner, company):
        """The domain of :meth:`_open_invoices`."""
        Move = self.env["account.move"]
        return Move._dunning_open_invoice_domain(partner.commercial_partner_id, company) & Domain(
            "amount_residual", ">", 0
        )

    def _values(self, partner, company):
        """Everything the debtor's statement page shows, computed once here; the controller only renders it.

        :param partner: the debtor
        :param company: the company whose invoices are listed
        :return: dict with ``invoices`` (one dict per open invoice, see :meth:`_invoice_rows`), ``credits``
            (see :meth:`_open_credits`), totals, how to pay (see :meth:`_payment_information`), whether a plan
            may be asked for (``plans_allowed``), and the plans, promises and payment claims under way (see
            :meth:`_lookups`)
        """
        partner = partner.commercial_partner_id
        partner.ensure_one()
        today = self._today()
        rows = self._invoice_rows(partner, company, today)
        invoices = self.env["account.move"].browse(row["id"] for row in rows)
        currency = rows[0]["currency"] if rows else company.currency_id
        amount_total = currency.round(sum(row["amount_residual"] for row in rows))
        credits = self._open_credits(partner, company, currency)
        amount_credits = currency.round(sum(credit["amount"] for credit in credits))
        amount_charges = currency.round(sum(row["charges"] for row in rows))
        format_amount, format_date = self._formatters()
        lookups = self._lookups(partner, company)
        return {
            "partner": partner,
            "company": company,
            "today": today,
            "today_text": format_date(today),
            "currency": currency,
            "invoices": rows,
            "credits": credits,
            "balance_text": format_amount(amount_total - amount_credits, currency),
            "amount_total": amount_total,
            "amount_total_text": format_amount(amount_total, currency),
            "amount_charges": amount_charges,
            "amount_charges_text": format_amount(amount_charges, currency),
            "mixed_currencies": len({row["currency"] for row in rows}) > 1,
            **self._payment_information(
                partner, company, lookups["bank_account"], invoices, credits, amount_total - amount_credits, currency
            ),
            "plans_allowed": bool(invoices and lookups["plans_offered"]),
            "plans": lookups["plans"],
            "promises": lookups["promises"],
            "payment_claims": lookups["payment_claims"],
        }

    def _today(self):
        """Today in the visitor's time zone, as ``fields.Date.context_today`` gives it.

        Without a time zone in the context, that is the user's: its partner's ``tz`` is read alone here, not with
        the whole partner row the ORM would fetch for it (the public user's, on every visit of the page).
        """
        if not self.env.context.get("tz"):
            self.env.user.partner_id.fetch(["tz"])
        return fields.Date.context_today(self)

    def _invoice_rows(self, partner, company, today):
        """One row per open invoice of the debtor in ``company`` (see :meth:`_open_invoices`), oldest due first:
        its due date and residual as text, the days it is late, its level, the charges reminders claimed on it and
        not yet invoiced, whether it is disputed or in a plan, and whether it may be paid online.

        Read in one query and assembled here: the page lists 50 invoices and more, and reading invoices, levels,
        charges, disputes and transactions through the ORM cost more than the rest of the page.

        :param date today: the visitor's today (see :meth:`_today`), which the days late count to
        :return: list of dicts with ``id``, ``name``, ``level_name``, ``date_due_text``, ``amount_residual``,
            ``residual_text``, ``currency`` (``res.currency``), ``days_late``, ``charges``, ``charges_text``,
            ``dispute`` and ``plan`` (whether the invoice has an open dispute, a plan) and ``payable``
        """
        query = self.env["account.move"]._search(
            self._open_invoice_domain(partner, company), order="invoice_date_due, id"
        )
        level_alias = query.left_join(query.table, "dunning_level_id", "dunning_level", "id", "dunning_level_id")
        move_id = SQL.identifier(query.table, "id")
        rows = self.env.execute_query(
            query.select(
                move_id,
                *(
                    SQL.identifier(query.table, column)
                    for column in ("name", "invoice_date_due", "amount_residual", "amount_total", "currency_id")
                ),
                SQL("%s IS NOT NULL", SQL.identifier(query.table, "dunning_plan_id")),
                self.env["dunning.level"]._field_to_sql(level_alias, "name", query),
                # The charges reminders claimed on the invoice and no charge invoice billed yet.
                SQL(
                    """COALESCE((SELECT SUM(COALESCE(line.amount_fee, 0) + COALESCE(line.amount_interest, 0))
                                   FROM dunning_reminder_line line
                                  WHERE line.move_id = %s AND line.state = 'sent'
                                    AND line.charge_move_id IS NULL), 0)""",
                    move_id,
                ),
                # An open dispute (see account.move._dunning_open_disputes): the invoice is not payable.
                SQL(
                    """EXISTS(SELECT 1 FROM dunning_dispute dispute
                               WHERE dispute.move_id = %s AND dispute.state = 'open')""",
                    move_id,
                ),
                # A payment under way, which account_payment's _has_to_be_paid does not start again.
                SQL(
                    """EXISTS(SELECT 1
                                FROM account_invoice_transaction_rel rel
                                JOIN payment_transaction tx ON tx.id = rel.transaction_id
                                JOIN payment_provider provider ON provider.id = tx.provider_id
                               WHERE rel.invoice_id = %s AND tx.state IN ('pending', 'authorized')
                                 AND provider.code NOT IN ('none', 'custom'))""",
                    move_id,
                ),
            )
        )
        # account_payment's _has_to_be_paid on the values read above, the invoices being posted customer invoices
        # with a residual (see _open_invoice_domain: a stored residual is rounded to its currency, so one above zero
        # is not zero for it); the pay routes still call it before taking a payment.
        # sudo: a setting, which account_payment reads the same way for any visitor.
        online_payment = str2bool(self.env["ir.config_parameter"].sudo().get_param(PORTAL_PAYMENT_PARAM))
        format_amount, format_date = self._formatters()
        Currency = self.env["res.currency"]
        currencies = {}
        invoice_rows = []
        for (
            invoice_id,
            name,
            date_due,
            residual,
            total,
            currency_id,
            planned,
            level_name,
            charges,
            disputed,
            busy,
        ) in rows:
            currency = currencies.get(currency_id) or currencies.setdefault(currency_id, Currency.browse(currency_id))
            invoice_rows.append(
                {
                    "id": invoice_id,
                    "name": name,
                    "level_name": level_name or "",
                    "date_due_text": format_date(date_due),
                    "amount_residual": residual,
                    "residual_text": format_amount(residual, currency),
                    "currency": currency,
                    "days_late": max((today - date_due).days, 0) if date_due else 0,
                    "charges": charges,
                    "charges_text": format_amount(charges, currency) if charges else "",
                    "dispute": disputed,
                    "plan": planned,
                    "payable": bool(online_payment and not disputed and not busy and total),
                }
            )
        return invoice_rows

    def _open_credits(self, partner, company, currency):
        """What the company owes the debtor back in ``currency``: open credit notes and payments not yet matched
        to an invoice, as they reduce the balance of the statement; an item against the debtor that is no invoice
        (a refund paid out, not yet matched) counts negatively (see
        ``account.move.line._dunning_open_credit_domain``).

        :return: list of dicts with ``line_id``, ``name``, ``date`` (text), ``amount`` (positive for a credit) and
            ``amount_text`` (the item as the ledger signs it: negative for a credit)
        """
        partner.ensure_one()
        Line = self.env["account.move.line"]
        query = Line._search(
            Line._dunning_open_credit_domain(partner.commercial_partner_id, company)
            & Domain("currency_id", "=", currency.id),
            order="date, id",
        )
        # Read as SQL, not fetched into records: the page shows three columns of each, formatted here.
        lines = self.env.execute_query(
            query.select(
                *(
                    SQL.identifier(query.table, column)
                    for column in ("id", "move_name", "date", "amount_residual_currency")
                )
            )
        )
        format_amount, format_date = self._formatters()
        return [
            {
                "line_id": line_id,
                "name": move_name,
                "date": format_date(date),
                "amount": -residual,
                "amount_text": format_amount(residual, currency),
            }
            for line_id, move_name, date, residual in lines
        ]

    def _formatters(self):
        """``format_amount(amount, currency)`` and ``format_date(date)`` for the many amounts and dates of a page:
        the same text as ``odoo.tools.format_amount`` and ``format_date`` in the environment's language, which
        those look up again for every value (a third of the cost of the page's rows, with 50 invoices).
        """
        lang = get_lang(self.env)
        locale = babel_locale_parse(lang.code)
        date_pattern = posix_to_ldml(lang.date_format, locale=locale)
        # A date format of numbers only (%d/%m/%Y and the like) reads the same through strftime as through babel,
        # which costs ten times more per date; month and day names need babel's translations.
        numeric_dates = "%" not in NUMERIC_DATE_DIRECTIVE.sub("", lang.date_format)
        grouping = ast.literal_eval(lang.grouping)
        thousands_sep, decimal_point = lang.thousands_sep or "", lang.decimal_point
        # Groups of three, as most languages have: Python's own grouping, then the language's separators.
        separators = str.maketrans({",": thousands_sep, ".": decimal_point}) if grouping in ([3, 0], [3]) else None
        dates = {}
        # Each currency's rounding, decimals, symbol and position, read once rather than for every amount.
        currency_formats = {}

        def format_amount(amount, currency):
            if currency.id not in currency_formats:
                # These columns only: a currency's whole row (its labels in every language) costs more to read.
                currency.fetch(["rounding", "decimal_places", "symbol", "position"])
                currency_formats[currency.id] = (
                    currency.rounding,
                    currency.decimal_places,
                    currency.symbol or "",
                    currency.position == "before",
                )
            rounding, decimal_places, symbol, before = currency_formats[currency.id]
            rounded = float_round(amount, precision_rounding=rounding)
            if separators:
                number = format(rounded, f",.{decimal_places}f").translate(separators)
            else:
                integer, point, decimals = (f"%.{decimal_places}f" % rounded).partition(".")
                number = intersperse(integer, grouping, thousands_sep)[0] + (decimal_point + decimals if point else "")
            number = number.replace(" ", "\N{NO-BREAK SPACE}").replace("-", "-\N{ZERO WIDTH NO-BREAK SPACE}")
            if before:
                return f"{symbol}\N{NO-BREAK SPACE}{number}"
            return f"{number}\N{NO-BREAK SPACE}{symbol}"

        def format_date(date):
            if not date:
                return ""
            if date not in dates:
                dates[date] = (
                    date.strftime(lang.date_format)
                    if numeric_dates
                    else babel.dates.format_date(date, format=date_pattern, locale=locale)
                )
            return dates[date]

        return format_amount, format_date

    def _payment_information(self, partner, company, bank_account, invoices, credits, balance, currency):
        """How to pay the balance by transfer: the reference to give, the company's bank account and a QR code.

        :param bank_account: the company's bank account (``res.partner.bank``, possibly empty, see :meth:`_lookups`)
        :param invoices: the open invoices of the page
        :param list credits: the credits of the page (see :meth:`_open_credits`)
        :param float balance: what is left to pay in ``currency``, invoices less credits
        :return: dict with ``total_reference`` (False when no reference settles the balance, or there is no bank
            account or nothing to pay), ``bank_account`` (``res.partner.bank``, possibly empty) and ``qr_code``
            (base64 image, or False)
        """
        if not (bank_account and invoices):
            # The reference is given with the account it is paid to, and only for something to pay.
            return {"total_reference": False, "bank_account": bank_account, "qr_code": False}
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
        # The reminder's RF settles its invoices, net of the credits it listed, at once in bank matching: offer it
        # only when it covers exactly what is open today, for the balance.
        total_reference = (
            last_reminder.payment_reference
            if last_reminder
            and set(last_reminder.line_ids.move_id.ids) == set(invoices.ids)
            and set(last_reminder.credit_line_ids.ids) == {credit["line_id"] for credit in credits}
            else False
        )
        qr_code = (
            bank_account.build_qr_code_base64(
                balance, total_reference, total_reference, currency, partner, silent_errors=True
            )
            if total_reference
            else False
        )
        return {"total_reference": total_reference, "bank_account": bank_account, "qr_code": qr_code}

    def _recent_transactions(self, partner, company):
        """The debtor's online payments of the last day for invoices of ``company``, newest first."""
        partner.ensure_one()
        return self.env["payment.transaction"].search(
            [
                ("partner_id", "=", partner.commercial_partner_id.id),
                ("company_id", "=", company.id),
                ("invoice_ids", "!=", False),
                ("create_date", ">=", fields.Datetime.subtract(fields.Datetime.now(), days=1)),
            ],
            order="id desc",
            limit=5,
        )

    # === DEBTOR'S REQUESTS === #

    def _invoice(self, partner, company, move_id):
        """The debtor's posted customer invoice ``move_id`` in ``company``, or an empty recordset."""
        partner.ensure_one()
        return self.env["account.move"].search(
            [
                ("id", "=", move_id),
                ("company_id", "=", company.id),
                ("commercial_partner_id", "=", partner.commercial_partner_id.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
            ]
        )

    def _selected_open_invoices(self, partner, company, invoice_ids):
        """The open invoices of the debtor among ``invoice_ids``.

        :raise AccessError: when an id is not an invoice of the debtor in ``company`` (callers answer 404)
        :raise ValidationError: when one of them is no longer open, or none is selected
        """
        partner = partner.commercial_partner_id
        partner.ensure_one()
        wanted = set(invoice_ids)
        owned = self.env["account.move"].search(
            [
                ("id", "in", list(wanted)),
                ("company_id", "=", company.id),
                ("commercial_partner_id", "=", partner.id),
                ("move_type", "=", "out_invoice"),
            ]
        )
        if len(owned) != len(wanted):
            raise AccessError(self.env._("These invoices are not yours."))
        if not owned:
            raise ValidationError(self.env._("Select at least one invoice (field Invoices)."))
        closed = owned - self._open_invoices(partner, company)
        if closed:
            raise ValidationError(
                self.env._("Invoice %(invoice)s has nothing left to pay (field Invoices).", invoice=closed[0].name)
            )
        return owned.sorted(lambda move: (move.invoice_date_due or fields.Date.today(), move.id))

    def _payable_invoices(self, partner, company, invoice_ids):
        """The invoices of ``invoice_ids`` that the debtor may pay now in ``company``.

        Amounts are always taken from these records, never from the request.

        :raise AccessError: an id is not the debtor's
        :raise ValidationError: naming the invoice that cannot be paid
        """
        selected = self._selected_open_invoices(partner, company, invoice_ids)
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

    def _propose_plan(self, partner, company, invoice_ids, count, first_date, frequency, note=False):
        """The debtor proposes to pay ``invoice_ids`` in ``count`` instalments (see ``dunning.plan``).

        :param str|date first_date: the first instalment's date, as typed in a form (YYYY-MM-DD) or a date
        :raise AccessError: an id is not the debtor's
        :raise ValidationError: a limit or a field is wrong, named in the message
        """
        moves = self._selected_open_invoices(partner, company, invoice_ids)
        try:
            first = fields.Date.to_date(first_date) if first_date else False
        except ValueError as error:
            raise ValidationError(self.env._("Enter the first payment as a date (field First payment).")) from error
        # PostgreSQL stores no NUL character: a form that sends one must not end in a server error.
        note = note.replace("\x00", "") if isinstance(note, str) else note
        return self.env["dunning.plan"]._propose(
            partner.commercial_partner_id, company, moves, count, first, frequency=frequency, note=note
        )

    def _raise_dispute(self, partner, company, move_id, reason, description=False, attachments=None):
        """The debtor disputes invoice ``move_id`` (see ``dunning.dispute._open_on_invoice``).

        :raise AccessError: the invoice is not the debtor's
        """
        move = self._invoice(partner, company, move_id)
        if not move:
            raise AccessError(self.env._("This invoice is not yours."))
        return self.env["dunning.dispute"]._open_on_invoice(
            partner.commercial_partner_id, company, move, reason, description, attachments
        )

    # === PROMISES AND PAYMENTS CLAIMED === #

    def _plan_invoices(self, partner, company, invoice_ids):
        """The invoices the plan proposal form lists: those of ``invoice_ids``, or every open invoice neither
        disputed nor in a plan when none is given.

        :raise AccessError: an id is not the debtor's
        """
        invoices = self._arrangement_invoices(partner, company, invoice_ids)
        return invoices if invoice_ids else invoices.filtered(lambda move: not move.dunning_plan_id)

    def _arrangement_invoices(self, partner, company, invoice_ids):
        """The invoices a promise or a payment claim form lists: those of ``invoice_ids``, or every open invoice
        not disputed when none is given.

        :raise AccessError: an id is not the debtor's
        """
        if invoice_ids:
            return self._selected_open_invoices(partner, company, invoice_ids)
        invoices = self._open_invoices(partner, company)
        return invoices - invoices._dunning_open_disputes().move_id

    def _promise_to_pay(self, partner, company, invoice_ids, date_promised, amount):
        """The debtor promises to pay ``invoice_ids`` (see ``dunning.promise._promise_from_portal``).

        :param str date_promised: as typed in a form (YYYY-MM-DD)
        :param str amount: as typed in a form
        :raise AccessError: an id is not the debtor's
        :raise ValidationError: naming the field at fault
        """
        moves = self._selected_open_invoices(partner, company, invoice_ids)
        return self.env["dunning.promise"]._promise_from_portal(
            partner.commercial_partner_id,
            company,
            moves,
            self._form_date(date_promised, self.env._("Enter the promised date as a date (field Promised date).")),
            self._form_amount(amount),
        )

    def _claim_payment(self, partner, company, invoice_ids, date_paid, amount, payment_reference, proof=None):
        """The debtor says it already paid ``invoice_ids`` (see ``dunning.payment.claim._open_from_portal``).

        :param str date_paid: as typed in a form (YYYY-MM-DD)
        :param str amount: as typed in a form
        :param proof: (file name, bytes) or None
        :raise AccessError: an id is not the debtor's
        :raise ValidationError: naming the field at fault
        """
        moves = self._selected_open_invoices(partner, company, invoice_ids)
        return self.env["dunning.payment.claim"]._open_from_portal(
            partner.commercial_partner_id,
            company,
            moves,
            self._form_date(date_paid, self.env._("Enter the day you paid as a date (field Paid on).")),
            self._form_amount(amount),
            payment_reference,
            proof,
        )

    def _form_date(self, value, message):
        """``value`` typed in a form as a date, or ValidationError(``message``)."""
        try:
            return fields.Date.to_date(value) if value else False
        except ValueError as error:
            raise ValidationError(message) from error

    def _form_amount(self, value):
        """``value`` typed in a form as an amount (a comma taken for a decimal point), or ValidationError."""
        try:
            amount = float(str(value or "").strip().replace(",", "."))
        except ValueError:
            amount = math.nan
        if not math.isfinite(amount):
            raise ValidationError(self.env._("Enter the amount as a number (field Amount)."))
        return amount

    def _lookups(self, partner, company):
        """What the statement page looks up besides the debtor's invoices and credits, in one query, as the page
        runs it on every visit and most of it finds nothing: the company's bank account to pay by transfer,
        whether the debtor's policy offers instalment plans, and what the debtor asked or told us from the page
        and what became of it: its instalment plans proposed or under way, its pending promises (ten) and its
        payment claims open or closed in the last 30 days (ten), newest first.

        Read without record rules (the page is sudoed once its token is checked).

        :return: dict with ``bank_account`` (``res.partner.bank``, possibly empty), ``plans_offered`` (bool),
            ``plans`` (``dunning.plan``), ``promises`` (``dunning.promise``) and ``payment_claims``
            (``dunning.payment.claim``)
        """
        Bank, Plan = self.env["res.partner.bank"], self.env["dunning.plan"]
        Promise, Claim = self.env["dunning.promise"], self.env["dunning.payment.claim"]
        policy = partner.with_company(company)._dunning_get_policy()
        Bank.flush_model(["partner_id", "active", "sequence"])
        policy.flush_recordset(["plan_max_instalments"])
        Plan.flush_model(["partner_id", "company_id", "state"])
        Promise.flush_model(["partner_id", "company_id", "state", "date_promised"])
        Claim.flush_model(["partner_id", "company_id", "state", "write_date"])
        rows = self.env.execute_query(
            SQL(
                """(SELECT 'bank', id FROM res_partner_bank
                     WHERE partner_id = %(company_partner)s AND active
                  ORDER BY sequence, id LIMIT 1)
                   UNION ALL
                   (SELECT 'plan_max_instalments', plan_max_instalments FROM dunning_policy WHERE id = %(policy)s)
                   UNION ALL
                   (SELECT 'plan', id FROM dunning_plan
                     WHERE partner_id = %(partner)s AND company_id = %(company)s
                       AND state IN ('proposed', 'approved')
                  ORDER BY id DESC)
                   UNION ALL
                   (SELECT 'promise', id FROM dunning_promise
                     WHERE partner_id = %(partner)s AND company_id = %(company)s AND state = 'pending'
                  ORDER BY date_promised DESC, id DESC LIMIT 10)
                   UNION ALL
                   (SELECT 'claim', id FROM dunning_payment_claim
                     WHERE partner_id = %(partner)s AND company_id = %(company)s
                       AND (state IN ('searching', 'proposed') OR write_date >= %(since)s)
                  ORDER BY id DESC LIMIT 10)""",
                company_partner=company.partner_id.id,
                # No policy: no row, and no plan offered.
                policy=policy.id or None,
                partner=partner.commercial_partner_id.id,
                company=company.id,
                since=fields.Datetime.subtract(fields.Datetime.now(), days=30),
            )
        )
        found = {}
        for kind, value in rows:
            found.setdefault(kind, []).append(value)
        return {
            "bank_account": Bank.browse(found.get("bank", [])),
            "plans_offered": (found.get("plan_max_instalments") or [0])[0] > 1,
            "plans": Plan.browse(found.get("plan", [])),
            "promises": Promise.browse(found.get("promise", [])),
            "payment_claims": Claim.browse(found.get("claim", [])),
        }
