from datetime import timedelta

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools.mimetypes import guess_mimetype

from ..tools.references import normalize

# A proof of payment is a bank's receipt or a screenshot of it: a PDF or an image of 5 MB at most.
MAX_PROOF_BYTES = 5 * 1024 * 1024
# The whole claim form: the proof plus the other fields and the multipart envelope. A larger request is refused
# from its Content-Length, before its body is read (see the /paid route).
MAX_CLAIM_REQUEST_BYTES = MAX_PROOF_BYTES + 256 * 1024
ALLOWED_PROOF_MIMETYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp"})
# A debtor remembers the day of its transfer roughly, and the bank books it a few days later: a statement line
# dated from this many days before the date given may be the payment.
CLAIM_DATE_TOLERANCE_DAYS = 7
# A reference or bank name longer than this is no reference.
MAX_REFERENCE_LENGTH = 200
# A reference shorter than this, once reformatted, is found in too many labels to say anything.
MIN_REFERENCE_LENGTH = 4


class DunningPaymentClaim(models.Model):
    """A debtor says it already paid some invoices: the claim looks for the money among the company's bank lines.

    While the claim is searching, its invoices are left out of the reminders until ``pause_until``. A statement
    line that surely is the payment is proposed to an accountant, whose one click reconciles it; when the pause
    ends without the money, the debtor is told, the collector gets a task and dunning resumes.
    """

    _name = "dunning.payment.claim"
    _description = "Payment Claimed by a Debtor"
    _inherit = ["dunning.debtor.invoices.mixin", "mail.thread", "mail.activity.mixin"]
    _check_company_auto = True
    _order = "id desc"

    name = fields.Char(compute="_compute_name", store=True)
    date_paid = fields.Date(string="Paid On", required=True, help="When the debtor says it paid.")
    amount = fields.Monetary(string="Amount Paid", required=True, help="What the debtor says it paid.")
    payment_reference = fields.Char(
        string="Reference or Bank", required=True, help="The reference the debtor quoted, or the bank it paid from."
    )
    state = fields.Selection(
        [
            ("searching", "Searching"),
            ("proposed", "Payment Found"),
            ("confirmed", "Confirmed"),
            ("not_found", "Not Found"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="searching",
        index=True,
        tracking=True,
        help="Searching: the bank lines are searched as they arrive, and the invoices are not dunned until the "
        "pause ends. Payment Found: an accountant confirms the bank line found. Not Found: the pause ended without "
        "the money, and dunning resumed.",
    )
    pause_until = fields.Date(
        string="Dunning Paused Until", readonly=True, help="No reminder lists the invoices before this date."
    )
    statement_line_id = fields.Many2one(
        "account.bank.statement.line",
        string="Bank Line Found",
        readonly=True,
        check_company=True,
        index="btree_not_null",
        tracking=True,
    )
    user_id = fields.Many2one("res.users", string="Collector", tracking=True)

    _amount_positive = models.Constraint("CHECK(amount > 0)", "A claimed payment must be positive.")

    # === COMPUTE METHODS === #

    @api.depends("partner_id", "date_paid", "amount", "currency_id")
    def _compute_name(self):
        for claim in self:
            claim.name = self.env._(
                "%(debtor)s: paid %(amount)s on %(date)s",
                debtor=claim.partner_id.name or "",
                amount=claim.currency_id.format(claim.amount) if claim.currency_id else claim.amount,
                date=claim.date_paid or "",
            )

    # === ACTION METHODS === #

    def action_confirm_payment(self):
        """Reconcile the bank line found with the claim's invoices, close the claim and tell the debtor."""
        for claim in self:
            if claim.state != "proposed" or not claim.statement_line_id:
                raise UserError(
                    self.env._("%(claim)s has no bank line to confirm (field Bank Line Found).", claim=claim.name)
                )
            if claim.statement_line_id.is_reconciled:
                raise UserError(
                    self.env._(
                        "%(claim)s: bank line %(line)s is already reconciled (field Bank Line Found).",
                        claim=claim.name,
                        line=claim.statement_line_id.display_name,
                    )
                )
            claim.statement_line_id._dunning_reconcile_with(claim._open_receivable_lines())
        self._confirm()

    def action_reject_proposal(self):
        """The bank line found is not the debtor's payment: search again until the pause ends."""
        proposed = self.filtered(lambda claim: claim.state == "proposed")
        proposed.write({"state": "searching", "statement_line_id": False})
        proposed.activity_unlink(["mail.mail_activity_data_todo"])
        proposed._schedule_search_task()

    def action_cancel(self):
        open_claims = self.filtered(lambda claim: claim.state in ("searching", "proposed"))
        open_claims.write({"state": "cancelled", "pause_until": False})
        open_claims.activity_unlink(["mail.mail_activity_data_todo"])

    # === BUSINESS METHODS === #

    @api.model
    def _open_from_portal(self, partner, company, moves, date_paid, amount, payment_reference, proof=None):
        """Record that the debtor paid ``moves`` and look for the money at once.

        :param partner: the debtor (commercial partner)
        :param company: the company of the invoices
        :param moves: open invoices of the debtor in ``company`` (see ``dunning.statement._selected_open_invoices``)
        :param date date_paid: when the debtor paid; not in the future
        :param float amount: what it paid, more than zero and at most what the invoices leave to pay
        :param str payment_reference: the reference it quoted or the bank it paid from
        :param proof: (file name, bytes) of a PDF or an image of ``MAX_PROOF_BYTES`` at most, or None
        :raise ValidationError: naming the field at fault
        :return: the new ``dunning.payment.claim``
        """
        partner = partner.commercial_partner_id
        today = fields.Date.context_today(self)
        payment_reference = (payment_reference or "").replace("\x00", "").strip()
        if not date_paid or date_paid > today:
            raise ValidationError(self.env._("Enter the day you paid, today at the latest (field Paid on)."))
        if not payment_reference or len(payment_reference) > MAX_REFERENCE_LENGTH:
            raise ValidationError(
                self.env._(
                    "Enter the reference you quoted or the bank you paid from, in %(length)s characters at most "
                    "(field Reference or bank).",
                    length=MAX_REFERENCE_LENGTH,
                )
            )
        moves._dunning_check_open_arrangements()
        currency = moves.currency_id
        if len(currency) != 1:
            raise ValidationError(
                self.env._("Invoices in different currencies must be claimed separately (field Invoices).")
            )
        owed = currency.round(sum(moves.mapped("amount_residual")))
        if currency.compare_amounts(amount, 0) <= 0 or currency.compare_amounts(amount, owed) > 0:
            raise ValidationError(
                self.env._(
                    "Enter an amount above zero and at most %(owed)s (field Amount).", owed=currency.format(owed)
                )
            )
        name, data = proof if proof and proof[1] else (None, None)
        if data:
            name = (name or "").replace("\x00", "")
            if len(data) > MAX_PROOF_BYTES:
                raise ValidationError(self.env._("%(file)s is larger than 5 MB (field Proof).", file=name))
            if guess_mimetype(data) not in ALLOWED_PROOF_MIMETYPES:
                raise ValidationError(self.env._("%(file)s is not a PDF or an image (field Proof).", file=name))
        policy = partner.with_company(company)._dunning_get_policy()
        claim = self.create(
            {
                "company_id": company.id,
                "currency_id": currency.id,
                "partner_id": partner.id,
                "move_ids": [Command.set(moves.ids)],
                "date_paid": date_paid,
                "amount": amount,
                "payment_reference": payment_reference,
                "pause_until": today + timedelta(days=policy.claim_pause_days),
                "user_id": partner._dunning_responsible(company, moves).id,
            }
        )
        attachments = self.env["ir.attachment"]
        if data:
            attachments = attachments.create({"name": name, "raw": data, "res_model": self._name, "res_id": claim.id})
        body = Markup("<p>%s</p>") % self.env._(
            "%(debtor)s says it paid %(amount)s on %(date)s for %(invoices)s (reference or bank: %(reference)s).",
            debtor=partner.name,
            amount=currency.format(amount),
            date=date_paid,
            invoices=", ".join(moves.mapped("name")),
            reference=payment_reference,
        )
        claim.message_post(body=body, attachment_ids=attachments.ids)
        moves._dunning_withdraw_from_pending()
        claim._search_payment()
        if claim.state == "searching":
            claim._schedule_search_task()
        return claim

    def _search_payment(self):
        """Look for each searching claim's payment among its company's open bank lines; a claim whose invoices
        were paid meanwhile (a reconciliation, an online payment) is confirmed.

        A bank line is the payment when it is of the claimed amount, in the claim's currency, dated at most
        ``CLAIM_DATE_TOLERANCE_DAYS`` before the day given, not proposed for another claim, and either the module's
        matcher pays the claim's invoices with it (its reference, its IBAN, its partner), or, the matcher finding
        nothing, its label quotes the claim's reference and no other partner paid it. Only a single such line is
        proposed: two are left to the collector.

        :return: the claims a bank line was proposed for
        """
        searching = self.filtered(lambda claim: claim.state == "searching")
        paid = searching.filtered(lambda claim: not any(claim.move_ids.mapped("amount_residual")))
        paid._confirm()
        proposed = self.browse()
        for (company, currency), claims in (
            (searching - paid).grouped(lambda claim: (claim.company_id, claim.currency_id)).items()
        ):
            Line = self.env["account.bank.statement.line"]
            amount_field = "amount" if currency == company.currency_id else "amount_currency"
            lines = Line.search(
                [
                    ("company_id", "=", company.id),
                    ("is_reconciled", "=", False),
                    (amount_field, "in", list(set(claims.mapped("amount")))),
                    ("date", ">=", min(claims.mapped("date_paid")) - timedelta(days=CLAIM_DATE_TOLERANCE_DAYS)),
                    ("id", "not in", self._lines_proposed(company).ids),
                ]
            ).filtered(lambda line, currency=currency: (line.foreign_currency_id or line.currency_id) == currency)
            if not lines:
                continue
            proposals = dict(zip(lines, lines._dunning_match_proposals(), strict=True))
            for claim in claims:
                found = [
                    line
                    for line in lines
                    if claim._is_paid_by(line, proposals[line], amount_field) and line not in proposed.statement_line_id
                ]
                if len(found) == 1:
                    claim._propose(found[0])
                    proposed |= claim
        return proposed

    def _is_paid_by(self, line, proposal, amount_field):
        """Whether statement ``line``, with its matcher ``proposal``, is this claim's payment (see
        :meth:`_search_payment`)."""
        self.ensure_one()
        if self.currency_id.compare_amounts(
            line[amount_field], self.amount
        ) != 0 or line.date < self.date_paid - timedelta(days=CLAIM_DATE_TOLERANCE_DAYS):
            return False
        if proposal.items:
            claimed_moves = set(self.move_ids.ids)
            return not proposal.ambiguous and all(item.move_id in claimed_moves for item in proposal.items)
        reference = normalize(self.payment_reference)
        label = normalize(" ".join(filter(None, (line.payment_ref, line.ref, line.narration and str(line.narration)))))
        payer = line.partner_id.commercial_partner_id
        # The debtor's reference in the label of a line that no other partner paid.
        return len(reference) >= MIN_REFERENCE_LENGTH and reference in label and (not payer or payer == self.partner_id)

    def _lines_proposed(self, company):
        """The statement lines already proposed for a claim of ``company``."""
        return self.search([("company_id", "=", company.id), ("state", "=", "proposed")]).statement_line_id

    def _propose(self, statement_line):
        """Propose ``statement_line`` as this claim's payment: an accountant's one click confirms it."""
        self.ensure_one()
        self.write({"state": "proposed", "statement_line_id": statement_line.id})
        self.activity_unlink(["mail.mail_activity_data_todo"])
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._("Confirm the payment of %(debtor)s", debtor=self.partner_id.name),
            note=self.env._(
                "Bank line %(line)s of %(amount)s on %(date)s pays %(invoices)s: open the claim and click "
                "Confirm and reconcile.",
                line=statement_line.display_name,
                amount=self.currency_id.format(self.amount),
                date=statement_line.date,
                invoices=", ".join(self.move_ids.mapped("name")),
            ),
            user_id=self._accountant().id,
        )

    def _accountant(self):
        """Who confirms a bank line found: the claim's collector if an accountant, else the administrator."""
        self.ensure_one()
        if self.user_id.has_group("account.group_account_user"):
            return self.user_id
        return self.env.ref("base.user_admin")

    def _schedule_search_task(self):
        for claim in self:
            claim.activity_schedule(
                "mail.mail_activity_data_todo",
                date_deadline=claim.pause_until,
                summary=self.env._("Find the payment %(debtor)s says it made", debtor=claim.partner_id.name),
                note=self.env._(
                    "%(amount)s on %(date)s, reference or bank: %(reference)s. No bank line matches it yet.",
                    amount=claim.currency_id.format(claim.amount),
                    date=claim.date_paid,
                    reference=claim.payment_reference,
                ),
                user_id=(claim.user_id or self.env.ref("base.user_admin")).id,
            )

    def _confirm(self):
        """The money arrived: close the claims, their tasks done, and thank the debtors."""
        self.write({"state": "confirmed", "pause_until": False})
        self.activity_feedback(["mail.mail_activity_data_todo"])
        self._notify_debtor("receivable_dunning.mail_template_dunning_claim_confirmed")

    def _expire(self, today=None):
        """Searching claims whose pause ended without the money: the debtor is told, the collector gets a task,
        dunning resumes.

        :return: the claims that expired
        """
        today = today or fields.Date.context_today(self)
        expired = self.filtered(lambda claim: claim.state == "searching" and claim.pause_until <= today)
        expired.state = "not_found"
        expired.activity_unlink(["mail.mail_activity_data_todo"])
        for claim in expired:
            claim.activity_schedule(
                "mail.mail_activity_data_call",
                date_deadline=today,
                summary=self.env._("Payment claimed by %(debtor)s not found: call", debtor=claim.partner_id.name),
                user_id=(claim.user_id or self.env.ref("base.user_admin")).id,
            )
        expired._notify_debtor("receivable_dunning.mail_template_dunning_claim_not_found")
        return expired

    def _notify_debtor(self, template_xmlid):
        """Email the debtors of these claims with ``template_xmlid``, each in its language."""
        if self:
            self.env.ref(template_xmlid).send_mail_batch(self.ids)

    def _open_receivable_lines(self):
        """The open receivable items of the claim's invoices, which its payment settles."""
        self.ensure_one()
        return self.move_ids.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable" and not line.reconciled
        )

    @api.model
    def _search_payment_in(self, companies):
        """Look for the money of the searching claims of ``companies``, as new bank lines came in."""
        self.search(Domain("state", "=", "searching") & Domain("company_id", "in", companies.ids))._search_payment()

    @api.model
    def _cron_dunning_payment_claims(self):
        """Look again for the money of searching claims (bank lines arrived since), then expire those whose pause
        ended."""
        claims = self.search(Domain("state", "=", "searching"))
        claims._search_payment()
        claims._expire()
