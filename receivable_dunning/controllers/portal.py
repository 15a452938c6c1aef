from werkzeug.exceptions import HTTPException, NotFound

from odoo import Command, fields, http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.http import request

from odoo.addons.account_payment.controllers.portal import PortalAccount

from ..models.dunning_dispute import MAX_ATTACHMENT_BYTES, MAX_DISPUTE_REQUEST_BYTES
from ..models.dunning_statement import statement_path

STATEMENT_PARTNER_FIELDS = [
    "name",
    "lang",
    "commercial_partner_id",
    "dunning_statement_revoked",
    "dunning_statement_seed",
    "dunning_policy_id",
]
# Path arguments are prefixed so that no request parameter (partner_id, company_id...) can shadow them.
STATEMENT_ROUTE = "/dunning/statement/<int:statement_company_id>/<int:statement_partner_id>/<string:statement_token>"
# The statement's forms: posted by anonymous link holders, each route with the size its form may have.
STATEMENT_POST = {"type": "http", "auth": "public", "methods": ["POST"], "website": True, "sitemap": False}
# The forms on their own pages: shown (GET) from the statement, posted (POST) by anonymous link holders; the POST is
# checked for its CSRF token as every form of Odoo's.
STATEMENT_FORM = {**STATEMENT_POST, "methods": ["GET", "POST"]}
# Ids are PostgreSQL integers: a larger number is no record of ours.
MAX_ID = 2**31 - 1
# The plan and settle forms carry ids and a short note, never a file: a larger request is refused (413) from its
# Content-Length, before its body is read.
MAX_FORM_BYTES = 256 * 1024


class DunningPortal(PortalAccount):
    """The debtor's statement page: see, pay, plan and dispute open invoices, with or without a login.

    Every route checks the statement token first and answers 404 on any doubt; amounts, plans and disputes are
    computed and validated by the models.
    """

    # === HELPERS === #

    def _dunning_debtor_sudo(self, company_id, partner_id, token):
        """The statement service, the debtor and the company a statement token opens, sudoed, or NotFound.

        sudo: visitors of a tokenized link are not logged in; the token is the access check, made here before
        anything is read.

        :return: (``dunning.statement``, ``res.partner``, ``res.company``), all sudoed, with the statement's
            company as the current one, in the debtor's language for a visitor who is not logged in
        """
        if not (0 < company_id <= MAX_ID and 0 < partner_id <= MAX_ID):
            raise NotFound()
        # The company's whole row, which the page's layout reads anyway: in the query that tells it exists.
        company_sudo = (
            request.env["res.company"].sudo().with_context(active_test=False).search_fetch([("id", "=", company_id)])
        )
        # Read only what the page needs of the debtor: a partner row is wide, and this runs on every request.
        partner_sudo = (
            request.env["res.partner"]
            .sudo()
            .with_company(company_sudo)
            .search_fetch([("id", "=", partner_id)], STATEMENT_PARTNER_FIELDS)
        )
        if not (
            partner_sudo
            and company_sudo
            and partner_sudo.env["dunning.statement"]._check_token(partner_sudo, company_sudo, token)
        ):
            raise NotFound()
        if request.env.user._is_public() and partner_sudo.lang in dict(request.env["res.lang"].get_installed()):
            # The link was sent to the debtor: show the page in the debtor's language, as the reminder was.
            request.update_context(lang=partner_sudo.lang)
            partner_sudo = partner_sudo.with_context(lang=partner_sudo.lang)
        return partner_sudo.env["dunning.statement"], partner_sudo, company_sudo

    @staticmethod
    def _dunning_parse_int(raw):
        """``raw`` (a form or path value) as a positive id or count, else 0.

        ASCII digits only: ``str.isdigit()`` also accepts '²', which ``int()`` refuses, and Arabic digits.
        """
        raw = str(raw)
        value = int(raw) if raw.isascii() and raw.isdigit() else 0
        return value if value <= MAX_ID else 0

    @classmethod
    def _dunning_parse_ids(cls, raw_ids):
        """Invoice ids from a form (list of strings) or a path part (``1-2-3``); malformed ones are dropped."""
        if isinstance(raw_ids, str):
            raw_ids = raw_ids.replace(",", "-").split("-")
        return [value for value in map(cls._dunning_parse_int, raw_ids or []) if value]

    def _dunning_json_error(self, error):
        """The JSON-RPC error answered for ``error``: its message only, never the traceback Odoo adds, as the
        visitors of a statement link are not logged in (payment's form shows ``data.message``)."""
        if isinstance(error, UserError):
            code, message = 0, str(error.args[0])
        elif isinstance(error, NotFound):
            # The same answer for any wrong token, debtor or invoice: nothing tells which one exists.
            code, message = 404, "404: Not Found"
        elif isinstance(error, HTTPException):
            code, message = error.code, error.description
        else:
            code = 0
            try:
                message = request.env._("The payment could not be started: please try again later.")
            except Exception:  # a broken transaction may not translate: the visitor still gets a message
                message = "The payment could not be started: please try again later."
        return request.make_json_response(
            {
                "jsonrpc": "2.0",
                "id": getattr(request.dispatcher, "request_id", None),
                "error": {
                    "code": code,
                    "message": message,
                    "data": {
                        "name": f"{type(error).__module__}.{type(error).__name__}",
                        "message": message,
                        "arguments": [message],
                        "context": {},
                    },
                },
            }
        )

    def _dunning_selected_invoices(self, statement_sudo, partner_sudo, company_sudo, invoice_ids):
        """The debtor's invoices to pay: NotFound if an id is not the debtor's, ValidationError if not payable."""
        try:
            return statement_sudo._payable_invoices(partner_sudo, company_sudo, invoice_ids)
        except AccessError as error:
            raise NotFound() from error

    def _dunning_render_statement(self, statement_sudo, partner_sudo, company_sudo, token, **extra):
        values = statement_sudo._values(partner_sudo, company_sudo)
        values.update(
            page_name="dunning_statement",
            token=token,
            base_path=statement_path(company_sudo.id, partner_sudo.id, token),
            **extra,
        )
        return request.render("receivable_dunning.portal_dunning_statement", values)

    def _dunning_render_plan_proposal(self, statement_sudo, partner_sudo, company_sudo, token, ids, **extra):
        """The plan proposal page: the invoices ``ids`` ticked (every one a plan may take when none is given),
        or NotFound when an id is not the debtor's."""
        try:
            invoices_sudo = statement_sudo._plan_invoices(partner_sudo, company_sudo, ids)
        except AccessError as error:
            raise NotFound() from error
        except ValidationError as error:
            # A selected invoice is no longer open: the page says so and lists the others.
            extra.setdefault("error", error.args[0])
            invoices_sudo, ids = statement_sudo._plan_invoices(partner_sudo, company_sudo, []), []
        values = {
            "page_name": "dunning_statement",
            "partner": partner_sudo,
            "company": company_sudo,
            "base_path": statement_path(company_sudo.id, partner_sudo.id, token),
            "invoices": invoices_sudo,
            "selected_ids": set(ids or invoices_sudo.ids),
            "policy": partner_sudo.with_company(company_sudo)._dunning_get_policy(),
            "frequencies": request.env["dunning.plan"]._frequency_labels(),
            "today": fields.Date.to_string(statement_sudo._today()),
            **extra,
        }
        return request.render("receivable_dunning.portal_dunning_plan_proposal", values)

    def _dunning_render_dispute(self, statement_sudo, partner_sudo, company_sudo, token, move_id, **extra):
        """The dispute page: the debtor's open invoices not disputed yet, ``move_id`` chosen."""
        invoices_sudo = statement_sudo._open_invoices(partner_sudo, company_sudo)
        values = {
            "page_name": "dunning_statement",
            "partner": partner_sudo,
            "company": company_sudo,
            "base_path": statement_path(company_sudo.id, partner_sudo.id, token),
            "invoices": invoices_sudo - invoices_sudo._dunning_open_disputes().move_id,
            "dispute_move_id": move_id,
            "dispute_reasons": request.env["dunning.dispute"]._fields["reason"]._description_selection(request.env),
            **extra,
        }
        return request.render("receivable_dunning.portal_dunning_dispute", values)

    # === /my === #

    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        if "dunning_overdue_count" in counters:
            # request.env, not env.user's superuser environment: count only what the portal user may see.
            values["dunning_overdue_count"] = request.env["dunning.statement"]._overdue_invoice_count(
                request.env.user.partner_id
            )
        return values

    @http.route("/my/dunning", type="http", auth="user", methods=["GET"], website=True, sitemap=False)
    def portal_my_dunning(self, **kwargs):
        """A logged-in debtor's statements: straight to the page when one company has open invoices."""
        tomorrow = fields.Date.add(fields.Date.context_today(request.env.user), days=1)
        links = request.env["dunning.statement"]._links(request.env.user.partner_id, tomorrow)
        if len(links) == 1:
            return request.redirect(links[0][1])
        return request.render(
            "receivable_dunning.portal_my_dunning", {"page_name": "dunning_statement", "statement_links": links}
        )

    # === STATEMENT PAGE === #

    @http.route(STATEMENT_ROUTE, type="http", auth="public", methods=["GET"], website=True, sitemap=False)
    def dunning_statement(self, statement_company_id, statement_partner_id, statement_token, **kwargs):
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        if kwargs.get("dispute"):
            # The link of "Something wrong?" before the dispute form had its own page.
            base_path = statement_path(statement_company_id, statement_partner_id, statement_token)
            dispute_move_id = self._dunning_parse_int(kwargs["dispute"])
            return request.redirect(f"{base_path}/dispute?move_id={dispute_move_id}")
        return self._dunning_render_statement(
            statement_sudo,
            partner_sudo,
            company_sudo,
            statement_token,
            notice=kwargs.get("notice")
            if kwargs.get("notice") in ("plan_proposed", "plan_approved", "disputed", "settled", "promised", "claimed")
            else False,
        )

    @http.route(STATEMENT_ROUTE + "/invoice/<int:move_id>", type="http", auth="public", methods=["GET"], sitemap=False)
    def dunning_statement_invoice_pdf(
        self, statement_company_id, statement_partner_id, statement_token, move_id, **kwargs
    ):
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        invoice_sudo = statement_sudo._invoice(partner_sudo, company_sudo, move_id)
        if not invoice_sudo:
            raise NotFound()
        return self._show_report(
            model=invoice_sudo, report_type="pdf", report_ref="account.account_invoices", download=True
        )

    # === PAYMENT === #

    @http.route(STATEMENT_ROUTE + "/pay", type="http", auth="public", methods=["GET"], website=True, sitemap=False)
    def dunning_statement_pay(
        self, statement_company_id, statement_partner_id, statement_token, invoice_ids=None, **kwargs
    ):
        """The payment form for the selected invoices, for the total computed here."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        ids = self._dunning_parse_ids(request.httprequest.args.getlist("invoice_ids"))
        try:
            invoices_sudo = self._dunning_selected_invoices(statement_sudo, partner_sudo, company_sudo, ids)
        except ValidationError as error:
            return self._dunning_render_statement(
                statement_sudo, partner_sudo, company_sudo, statement_token, error=error.args[0]
            )
        base_path = statement_path(statement_company_id, statement_partner_id, statement_token)
        amount, credits_sudo = invoices_sudo._dunning_amount_to_pay()
        currency = invoices_sudo.currency_id
        values = self._get_common_page_view_values(
            invoices_data={
                "partner": partner_sudo,
                "company": company_sudo,
                "total_amount": amount,
                "currency": currency,
                "amount_residual": amount,
                "landing_route": f"{base_path}/thanks",
                "transaction_route": f"{base_path}/transaction/{'-'.join(map(str, invoices_sudo.ids))}",
            },
            access_token=statement_token,
        )
        if not statement_sudo._is_debtor_user(partner_sudo, request.env.user):
            # A link may be forwarded, or opened by another customer logged in: its holder must neither use the
            # debtor's saved cards nor save a card of its own on the debtor.
            values["tokens_sudo"] = request.env["payment.token"].sudo()
            values["show_tokenize_input_mapping"] = dict.fromkeys(values["providers_sudo"].ids, False)
        else:
            # sudo: as account_payment for the user's own tokens; the debtor's are those saved from this page.
            values["tokens_sudo"] |= (
                request.env["payment.token"].sudo()._get_available_tokens(values["providers_sudo"].ids, partner_sudo.id)
            )
        values.update(
            page_name="dunning_statement",
            partner=partner_sudo,
            company=company_sudo,
            invoices=invoices_sudo,
            amount=amount,
            credits=credits_sudo,
            settled_by_credits=currency.is_zero(amount),
            base_path=base_path,
        )
        return request.render("receivable_dunning.portal_dunning_pay", values)

    @http.route(STATEMENT_ROUTE + "/transaction/<string:invoice_ids>", type="jsonrpc", auth="public")
    def dunning_statement_transaction(
        self, statement_company_id, statement_partner_id, statement_token, invoice_ids, access_token=None, **kwargs
    ):
        """Create the transaction for the selected invoices; the amount and the landing page are set here.

        Any error answers its message only (see ``_dunning_json_error``); Odoo still logs it and rolls back.
        """
        try:
            return self._dunning_statement_transaction(
                statement_company_id, statement_partner_id, statement_token, invoice_ids, **kwargs
            )
        except Exception as error:
            error.error_response = self._dunning_json_error(error)
            raise

    def _dunning_statement_transaction(
        self, statement_company_id, statement_partner_id, statement_token, invoice_ids, **kwargs
    ):
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        invoices_sudo = self._dunning_selected_invoices(
            statement_sudo, partner_sudo, company_sudo, self._dunning_parse_ids(invoice_ids)
        )
        amount, credits_sudo = invoices_sudo._dunning_amount_to_pay(expected=self._cast_as_float(kwargs.get("amount")))
        if invoices_sudo.currency_id.is_zero(amount):
            raise ValidationError(request.env._("Your credits cover these invoices: there is nothing to pay."))
        self._validate_transaction_kwargs(kwargs)
        kwargs.update(
            amount=amount,
            landing_route=statement_path(statement_company_id, statement_partner_id, statement_token) + "/thanks",
            is_validation=False,
            currency_id=invoices_sudo.currency_id.id,
            partner_id=partner_sudo.id,
            reference_prefix=False,
        )
        is_debtor_user = statement_sudo._is_debtor_user(partner_sudo, request.env.user)
        if not is_debtor_user and (
            kwargs.get("token_id") or kwargs.get("tokenization_requested") or kwargs.get("flow") == "token"
        ):
            raise ValidationError(
                request.env._(
                    "Only %(debtor)s's users, logged in, may use or save its payment methods (field Payment method).",
                    debtor=partner_sudo.name,
                )
            )
        # As account_payment's _process_transaction, plus the credits the payment deducts.
        custom_create_values = {
            "invoice_ids": [Command.set(invoices_sudo.ids)],
            "dunning_credit_line_ids": [Command.set(credits_sudo.ids)],
        }
        if not is_debtor_user:
            # Even when a provider requires it, no card is saved on the debtor by someone else.
            custom_create_values["tokenize"] = False
        tx_sudo = self._create_transaction(custom_create_values=custom_create_values, **kwargs)
        return tx_sudo._get_processing_values()

    @http.route(STATEMENT_ROUTE + "/settle", max_content_length=MAX_FORM_BYTES, **STATEMENT_POST)
    def dunning_statement_settle(self, statement_company_id, statement_partner_id, statement_token, **post):
        """Settle the selected invoices with the debtor's credits, when they cover them all."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        ids = self._dunning_parse_ids(request.httprequest.form.getlist("invoice_ids"))
        try:
            invoices_sudo = self._dunning_selected_invoices(statement_sudo, partner_sudo, company_sudo, ids)
            invoices_sudo._dunning_settle_with_credits()
        except ValidationError as error:
            return self._dunning_render_statement(
                statement_sudo, partner_sudo, company_sudo, statement_token, error=error.args[0]
            )
        base_path = statement_path(statement_company_id, statement_partner_id, statement_token)
        return request.redirect(f"{base_path}?notice=settled")

    @http.route(STATEMENT_ROUTE + "/thanks", type="http", auth="public", methods=["GET"], website=True, sitemap=False)
    def dunning_statement_thanks(self, statement_company_id, statement_partner_id, statement_token, **kwargs):
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        values = statement_sudo._values(partner_sudo, company_sudo)
        values.update(
            page_name="dunning_statement",
            base_path=statement_path(statement_company_id, statement_partner_id, statement_token),
            transactions=statement_sudo._recent_transactions(partner_sudo, company_sudo),
        )
        return request.render("receivable_dunning.portal_dunning_thanks", values)

    # === PLANS AND DISPUTES === #

    @http.route(STATEMENT_ROUTE + "/plan", max_content_length=MAX_FORM_BYTES, **STATEMENT_FORM)
    def dunning_statement_plan(self, statement_company_id, statement_partner_id, statement_token, **post):
        """The instalment plan proposal, on its own page (the statement's selection ticked), and its post."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        if request.httprequest.method == "GET":
            ids = self._dunning_parse_ids(request.httprequest.args.getlist("invoice_ids"))
            return self._dunning_render_plan_proposal(statement_sudo, partner_sudo, company_sudo, statement_token, ids)
        ids = self._dunning_parse_ids(request.httprequest.form.getlist("invoice_ids"))
        try:
            plan_sudo = statement_sudo._propose_plan(
                partner_sudo,
                company_sudo,
                ids,
                count=self._dunning_parse_int(post.get("count", "")),
                first_date=post.get("first_date"),
                frequency=post.get("frequency"),
                note=post.get("note"),
            )
        except AccessError as error:
            raise NotFound() from error
        except ValidationError as error:
            return self._dunning_render_plan_proposal(
                statement_sudo, partner_sudo, company_sudo, statement_token, ids, error=error.args[0]
            )
        notice = "plan_approved" if plan_sudo.state == "approved" else "plan_proposed"
        base_path = statement_path(statement_company_id, statement_partner_id, statement_token)
        return request.redirect(f"{base_path}?notice={notice}")

    # max_content_length: a request larger than an attachment and the form is refused (413) from its
    # Content-Length, before its body is read, for any link.
    @http.route(STATEMENT_ROUTE + "/dispute", max_content_length=MAX_DISPUTE_REQUEST_BYTES, **STATEMENT_FORM)
    def dunning_statement_dispute(self, statement_company_id, statement_partner_id, statement_token, **post):
        """The dispute form, on its own page, and its post. "Something wrong?" on the statement chooses the first
        invoice of the table's selection; ``move_id`` an invoice, from older links."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        if request.httprequest.method == "GET":
            args = request.httprequest.args
            move_id = self._dunning_parse_int(args.get("move_id", "")) or next(
                iter(self._dunning_parse_ids(args.getlist("invoice_ids"))), 0
            )
            return self._dunning_render_dispute(statement_sudo, partner_sudo, company_sudo, statement_token, move_id)
        upload = request.httprequest.files.get("attachment")
        # One byte more than allowed is enough for the model to refuse a file too large.
        attachments = [(upload.filename, upload.read(MAX_ATTACHMENT_BYTES + 1))] if upload and upload.filename else []
        move_id = self._dunning_parse_int(post.get("move_id", ""))
        try:
            statement_sudo._raise_dispute(
                partner_sudo, company_sudo, move_id, post.get("reason"), post.get("description"), attachments
            )
        except AccessError as error:
            raise NotFound() from error
        except ValidationError as error:
            return self._dunning_render_dispute(
                statement_sudo, partner_sudo, company_sudo, statement_token, move_id, error=error.args[0]
            )
        base_path = statement_path(statement_company_id, statement_partner_id, statement_token)
        return request.redirect(f"{base_path}?notice=disputed")

    # === INVOICE PAGE === #

    def _invoice_get_page_view_values(self, invoice, access_token, payment=False, amount=None, **kwargs):
        values = super()._invoice_get_page_view_values(invoice, access_token, payment=payment, amount=amount, **kwargs)
        if invoice.move_type == "out_invoice":
            values["dunning_status"] = invoice._dunning_portal_status()
        return values
