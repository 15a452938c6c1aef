from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import AccessError, ValidationError
from odoo.http import request

from ..models.dunning_payment_claim import MAX_CLAIM_REQUEST_BYTES, MAX_PROOF_BYTES
from ..models.dunning_statement import statement_path
from .portal import MAX_FORM_BYTES, STATEMENT_FORM, STATEMENT_ROUTE, DunningPortal


class DunningPortalClaims(DunningPortal):
    """The debtor's promises to pay and payments it says it made, each on its own page reached from the
    statement's selection: the statement page renders no form of theirs."""

    def _dunning_arrangement_page(self, template, statement_sudo, partner_sudo, company_sudo, token, ids, **values):
        """Render the promise or payment claim page ``template`` for the invoices ``ids`` (all open ones when
        empty), or NotFound when an id is not the debtor's."""
        try:
            invoices_sudo = statement_sudo._arrangement_invoices(partner_sudo, company_sudo, ids)
        except AccessError as error:
            raise NotFound() from error
        except ValidationError as error:
            values.setdefault("error", error.args[0])
            invoices_sudo = statement_sudo._arrangement_invoices(partner_sudo, company_sudo, [])
        selected_ids = set(ids) if ids else set(invoices_sudo.ids)
        currency = invoices_sudo.currency_id[:1] or company_sudo.currency_id
        owed = sum(invoices_sudo.filtered(lambda move: move.id in selected_ids).mapped("amount_residual"))
        values.update(
            page_name="dunning_statement",
            # What the selection leaves to pay, as the amount field shows it by default.
            amount=f"{currency.round(owed):.{currency.decimal_places}f}",
            partner=partner_sudo,
            company=company_sudo,
            today=fields.Date.to_string(statement_sudo._today()),
            invoices=invoices_sudo,
            selected_ids=selected_ids,
            base_path=statement_path(company_sudo.id, partner_sudo.id, token),
        )
        return request.render(template, values)

    @http.route(STATEMENT_ROUTE + "/promise", max_content_length=MAX_FORM_BYTES, **STATEMENT_FORM)
    def dunning_statement_promise(self, statement_company_id, statement_partner_id, statement_token, **post):
        """The debtor promises to pay the selected invoices by a date."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        policy_sudo = partner_sudo.with_company(company_sudo)._dunning_get_policy()
        latest = fields.Date.add(statement_sudo._today(), days=policy_sudo.promise_max_days)
        page = ("receivable_dunning.portal_dunning_promise", statement_sudo, partner_sudo, company_sudo)
        if request.httprequest.method == "GET":
            ids = self._dunning_parse_ids(request.httprequest.args.getlist("invoice_ids"))
            return self._dunning_arrangement_page(*page, statement_token, ids, latest=latest)
        ids = self._dunning_parse_ids(request.httprequest.form.getlist("invoice_ids"))
        try:
            statement_sudo._promise_to_pay(
                partner_sudo, company_sudo, ids, post.get("date_promised"), post.get("amount")
            )
        except AccessError as error:
            raise NotFound() from error
        except ValidationError as error:
            return self._dunning_arrangement_page(*page, statement_token, ids, latest=latest, error=error.args[0])
        return request.redirect(f"{statement_path(company_sudo.id, partner_sudo.id, statement_token)}?notice=promised")

    # max_content_length: a request larger than a proof and the form is refused (413) from its Content-Length,
    # before its body is read, for any link.
    @http.route(STATEMENT_ROUTE + "/paid", max_content_length=MAX_CLAIM_REQUEST_BYTES, **STATEMENT_FORM)
    def dunning_statement_paid(self, statement_company_id, statement_partner_id, statement_token, **post):
        """The debtor says it already paid the selected invoices: the money is looked for at once."""
        statement_sudo, partner_sudo, company_sudo = self._dunning_debtor_sudo(
            statement_company_id, statement_partner_id, statement_token
        )
        page = ("receivable_dunning.portal_dunning_paid", statement_sudo, partner_sudo, company_sudo)
        if request.httprequest.method == "GET":
            ids = self._dunning_parse_ids(request.httprequest.args.getlist("invoice_ids"))
            return self._dunning_arrangement_page(*page, statement_token, ids)
        ids = self._dunning_parse_ids(request.httprequest.form.getlist("invoice_ids"))
        upload = request.httprequest.files.get("proof")
        # One byte more than allowed is enough for the model to refuse a file too large.
        proof = (upload.filename, upload.read(MAX_PROOF_BYTES + 1)) if upload and upload.filename else None
        try:
            statement_sudo._claim_payment(
                partner_sudo,
                company_sudo,
                ids,
                post.get("date_paid"),
                post.get("amount"),
                post.get("payment_reference"),
                proof,
            )
        except AccessError as error:
            raise NotFound() from error
        except ValidationError as error:
            return self._dunning_arrangement_page(*page, statement_token, ids, error=error.args[0])
        return request.redirect(f"{statement_path(company_sudo.id, partner_sudo.id, statement_token)}?notice=claimed")
