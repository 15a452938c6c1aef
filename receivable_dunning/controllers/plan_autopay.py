from werkzeug.exceptions import NotFound

from odoo import Command, http
from odoo.exceptions import AccessError, ValidationError
from odoo.http import request

from ..models.dunning_statement import statement_path
from .portal import MAX_FORM_BYTES, STATEMENT_POST, STATEMENT_ROUTE, DunningPortal

PLAN_ROUTE = STATEMENT_ROUTE + "/plan/<int:plan_id>"


class DunningPlanAutopay(DunningPortal):
    """A plan's page on the debtor's statement: its schedule and each instalment's status, the consent to
    automatic charges, and the payment of an instalment, the first one saving the method charged for the others.

    The debtor's saved methods are shown and used only for its own users, logged in; anyone else holding the link
    may pay, and may save a method for this plan only, after ticking the consent whose text states the amounts and
    dates.
    """

    def _dunning_plan_sudo(self, statement_company_id, statement_partner_id, statement_token, plan_id):
        """The statement service, the debtor, the company and the running plan the link opens, sudoed, or
        NotFound (see ``_dunning_debtor_sudo``)."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        plan_sudo = partner_sudo.env["dunning.plan"]._debtor_plan(partner_sudo, company_sudo, plan_id)
        if not plan_sudo:
            raise NotFound()
        return statement_sudo, partner_sudo, company_sudo, plan_sudo

    @http.route(PLAN_ROUTE, type="http", auth="public", methods=["GET"], website=True, sitemap=False)
    def dunning_statement_plan_page(
        self, statement_company_id, statement_partner_id, statement_token, plan_id, **kwargs
    ):
        statement_sudo, partner_sudo, company_sudo, plan_sudo = self._dunning_plan_sudo(
            statement_company_id, statement_partner_id, statement_token, plan_id
        )
        return self._dunning_render_plan(
            statement_sudo,
            partner_sudo,
            company_sudo,
            plan_sudo,
            statement_token,
            instalment_id=self._dunning_parse_int(kwargs.get("instalment", "")),
            notice=kwargs.get("notice") if kwargs.get("notice") in ("consented", "paid") else False,
        )

    def _dunning_render_plan(
        self, statement_sudo, partner_sudo, company_sudo, plan_sudo, token, instalment_id=0, **extra
    ):
        base_path = statement_path(company_sudo.id, partner_sudo.id, token)
        plan_path = f"{base_path}/plan/{plan_sudo.id}"
        if instalment_id and instalment_id not in plan_sudo.line_ids.ids:
            raise NotFound()
        try:
            instalment_sudo = plan_sudo._payable_instalment(instalment_id)
        except ValidationError as error:
            instalment_sudo, extra["error"] = plan_sudo.line_ids.browse(), error.args[0]
        # A method is saved once the debtor agreed, and only until the plan has one.
        saving = bool(plan_sudo.autopay_consent_date and not plan_sudo.payment_token_id)
        format_amount, format_date = statement_sudo._formatters()
        values = {
            "page_name": "dunning_statement",
            "partner": partner_sudo,
            "company": company_sudo,
            "plan": plan_sudo,
            "instalment": instalment_sudo,
            "saving": saving,
            "consent_text": plan_sudo._autopay_consent_text(),
            "format_amount": format_amount,
            "format_date": format_date,
            "base_path": base_path,
            "plan_path": plan_path,
            "is_debtor_user": statement_sudo._is_debtor_user(partner_sudo, request.env.user),
            **extra,
        }
        if instalment_sudo:
            amount = instalment_sudo._amount_to_charge()
            values.update(
                self._get_common_page_view_values(
                    invoices_data={
                        "partner": partner_sudo,
                        "company": company_sudo,
                        "total_amount": amount,
                        "currency": plan_sudo.currency_id,
                        "amount_residual": amount,
                        "landing_route": f"{plan_path}?notice=paid",
                        "transaction_route": f"{plan_path}/transaction/{instalment_sudo.id}",
                    },
                    access_token=token,
                    force_tokenization=saving,
                ),
                amount=amount,
            )
            if saving:
                values["payment_methods_sudo"] = values["payment_methods_sudo"].filtered("support_tokenization")
            # The saving is the consent's, made here on the server: the form offers no box of its own.
            values["show_tokenize_input_mapping"] = dict.fromkeys(values["providers_sudo"].ids, False)
            if values["is_debtor_user"]:
                # sudo: as account_payment for the user's own tokens; the debtor's are its company's.
                values["tokens_sudo"] |= (
                    request.env["payment.token"]
                    .sudo()
                    ._get_available_tokens(values["providers_sudo"].ids, partner_sudo.id)
                )
            else:
                values["tokens_sudo"] = request.env["payment.token"].sudo()
        return request.render("receivable_dunning.portal_dunning_plan", values)

    @http.route(PLAN_ROUTE + "/consent", max_content_length=MAX_FORM_BYTES, **STATEMENT_POST)
    def dunning_statement_plan_consent(
        self, statement_company_id, statement_partner_id, statement_token, plan_id, **post
    ):
        """The debtor agrees that the plan's instalments be charged to the method it saves next."""
        statement_sudo, partner_sudo, company_sudo, plan_sudo = self._dunning_plan_sudo(
            statement_company_id, statement_partner_id, statement_token, plan_id
        )
        try:
            if post.get("consent") != "on":
                raise ValidationError(request.env._("Tick the box to agree to automatic charges (field Consent)."))
            plan_sudo._record_autopay_consent(request.httprequest.remote_addr)
        except ValidationError as error:
            return self._dunning_render_plan(
                statement_sudo, partner_sudo, company_sudo, plan_sudo, statement_token, error=error.args[0]
            )
        base_path = statement_path(statement_company_id, statement_partner_id, statement_token)
        return request.redirect(f"{base_path}/plan/{plan_sudo.id}?notice=consented")

    @http.route(PLAN_ROUTE + "/transaction/<int:instalment_id>", type="jsonrpc", auth="public")
    def dunning_statement_plan_transaction(
        self,
        statement_company_id,
        statement_partner_id,
        statement_token,
        plan_id,
        instalment_id,
        access_token=None,
        **kwargs,
    ):
        """Create the payment of an instalment; the amount, the landing page and the saving are set here.

        Any error answers its message only (see ``_dunning_json_error``).
        """
        try:
            return self._dunning_plan_transaction(
                statement_company_id, statement_partner_id, statement_token, plan_id, instalment_id, **kwargs
            )
        except Exception as error:
            error.error_response = self._dunning_json_error(error)
            raise

    def _dunning_plan_transaction(
        self, statement_company_id, statement_partner_id, statement_token, plan_id, instalment_id, **kwargs
    ):
        statement_sudo, partner_sudo, _company_sudo, plan_sudo = self._dunning_plan_sudo(
            statement_company_id, statement_partner_id, statement_token, plan_id
        )
        if instalment_id not in plan_sudo.line_ids.ids:
            raise NotFound()
        instalment_sudo = plan_sudo._payable_instalment(instalment_id)
        if instalment_sudo.transaction_ids.filtered(lambda tx: tx.state in ("pending", "authorized", "done")):
            raise ValidationError(
                request.env._(
                    "A payment of the instalment of %(date)s is already being processed (field Instalment).",
                    date=instalment_sudo.date,
                )
            )
        invoices_sudo = plan_sudo.move_ids.filtered(lambda move: move.payment_state in ("not_paid", "partial"))
        partner_sudo.env["payment.transaction"]._dunning_check_online_payment(invoices_sudo)
        amount = instalment_sudo._amount_to_charge()
        currency = plan_sudo.currency_id
        if currency.compare_amounts(self._cast_as_float(kwargs.get("amount")) or 0.0, amount):
            raise ValidationError(
                request.env._(
                    "The amount to pay is %(amount)s: reload the page (field Amount).", amount=currency.format(amount)
                )
            )
        self._validate_transaction_kwargs(kwargs)
        is_debtor_user = statement_sudo._is_debtor_user(partner_sudo, request.env.user)
        if (kwargs.get("token_id") or kwargs.get("flow") == "token") and not is_debtor_user:
            # Nothing tells a link holder whether the debtor has saved methods.
            raise NotFound()
        saving = bool(plan_sudo.autopay_consent_date and not plan_sudo.payment_token_id)
        provider_sudo = (
            request.env["payment.provider"].sudo().browse(self._dunning_parse_int(kwargs.get("provider_id")))
        )
        method_sudo = (
            request.env["payment.method"].sudo().browse(self._dunning_parse_int(kwargs.get("payment_method_id")))
        )
        if (
            saving
            and kwargs.get("flow") != "token"
            and not (provider_sudo.allow_tokenization and method_sudo.support_tokenization)
        ):
            raise ValidationError(
                request.env._("This payment method cannot be saved for the next instalments (field Payment method).")
            )
        kwargs.update(
            amount=amount,
            landing_route=f"{statement_path(statement_company_id, statement_partner_id, statement_token)}"
            f"/plan/{plan_sudo.id}?notice=paid",
            is_validation=False,
            currency_id=currency.id,
            partner_id=partner_sudo.id,
            reference_prefix=instalment_sudo._reference_prefix(),
        )
        custom_create_values = {
            "invoice_ids": [Command.set(invoices_sudo.ids)],
            "dunning_plan_line_id": instalment_sudo.id,
            # Saved only with the consent, and then whatever the form says: the consent is the request.
            "tokenize": saving and kwargs.get("flow") != "token",
        }
        try:
            tx_sudo = self._create_transaction(custom_create_values=custom_create_values, **kwargs)
        except AccessError as error:
            raise NotFound() from error
        return tx_sudo._get_processing_values()
