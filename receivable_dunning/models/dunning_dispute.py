from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools.mimetypes import guess_mimetype

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# The whole dispute form: the attachment plus the other fields and the multipart envelope. A larger request is
# refused from its Content-Length, before its body is read (see the /dispute route).
MAX_DISPUTE_REQUEST_BYTES = MAX_ATTACHMENT_BYTES + 256 * 1024
# What a debtor may join to a dispute, as recognised from the file's content (never from its name): PDF, images
# that browsers cannot run (no SVG), office documents.
ALLOWED_ATTACHMENT_MIMETYPES = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/tiff",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)


class DunningDispute(models.Model):
    """A debtor contests an invoice: while the dispute is open, the invoice is left out of every reminder."""

    _name = "dunning.dispute"
    _description = "Invoice Dispute"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "state, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    partner_id = fields.Many2one("res.partner", string="Debtor", required=True, index=True, check_company=True)
    move_id = fields.Many2one(
        "account.move",
        string="Invoice",
        required=True,
        index=True,
        ondelete="cascade",
        check_company=True,
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted'), "
        "('commercial_partner_id', '=', partner_id)]",
    )
    currency_id = fields.Many2one(related="move_id.currency_id")
    amount_residual = fields.Monetary(related="move_id.amount_residual", string="Amount Due")
    reason = fields.Selection(
        [
            ("not_received", "Goods or service not received"),
            ("defective", "Defective or not as ordered"),
            ("wrong_amount", "Wrong price or quantity"),
            ("already_paid", "Already paid"),
            ("other", "Other"),
        ],
        required=True,
        tracking=True,
    )
    description = fields.Text(string="Debtor's Explanation")
    source = fields.Selection(
        [("collector", "Collector"), ("portal", "Debtor (portal)")], required=True, default="collector"
    )
    state = fields.Selection(
        [("open", "Open"), ("accepted", "Accepted"), ("rejected", "Rejected")],
        required=True,
        default="open",
        index=True,
        tracking=True,
        help="Open: the invoice is left out of reminders. Accepted: the debtor was right (credit note, "
        "correction). Rejected: the invoice is owed as it stands and dunning resumes.",
    )
    resolution = fields.Text(tracking=True)
    user_id = fields.Many2one("res.users", string="Collector", tracking=True)
    amount_disputed = fields.Monetary(
        string="Disputed Amount",
        compute="_compute_amount_disputed",
        store=True,
        readonly=False,
        help="What the debtor contests, the invoice's residual by default: the credit note of an accepted dispute "
        "is of this amount.",
    )
    credit_note_id = fields.Many2one(
        "account.move", readonly=True, copy=False, check_company=True, index="btree_not_null"
    )

    # === COMPUTE METHODS === #

    @api.depends("move_id.name", "reason")
    def _compute_name(self):
        reasons = dict(self._fields["reason"]._description_selection(self.env))
        for dispute in self:
            dispute.name = f"{dispute.move_id.name or ''}: {reasons.get(dispute.reason, '')}"

    @api.depends("move_id")
    def _compute_amount_disputed(self):
        for dispute in self:
            dispute.amount_disputed = dispute.move_id.amount_residual

    # === ACTION METHODS === #

    def action_accept(self):
        self._resolve("accepted")

    def action_accept_with_credit_note(self):
        """Accept the disputes and draft a credit note of each one's disputed amount, for an accountant to post."""
        disputes = self.filtered(lambda dispute: dispute.state == "open")
        for dispute in disputes:
            if dispute.currency_id.compare_amounts(dispute.amount_disputed, 0) <= 0:
                raise UserError(
                    self.env._("%(dispute)s: enter the amount to credit (field Disputed Amount).", dispute=dispute.name)
                )
        disputes._create_credit_notes()
        disputes._resolve("accepted")

    def action_reject(self):
        self._resolve("rejected")

    # === BUSINESS METHODS === #

    def _resolve(self, state):
        disputes = self.filtered(lambda dispute: dispute.state == "open")
        disputes.state = state
        disputes.activity_feedback(["mail.mail_activity_data_todo"])
        label = dict(self._fields["state"]._description_selection(self.env))[state]
        for dispute in disputes:
            dispute.move_id.message_post(
                body=self.env._("Dispute %(dispute)s closed: %(outcome)s.", dispute=dispute.name, outcome=label)
            )
        # The debtor hears of the outcome, in its language.
        template = self.env.ref(f"receivable_dunning.mail_template_dunning_dispute_{state}")
        if disputes:
            template.send_mail_batch(disputes.ids)

    def _create_credit_notes(self):
        """Draft a credit note of each dispute's disputed amount against its invoice, on the invoice's income
        account and without taxes (the disputed amount is what the debtor owes, taxes included): the accountant
        checks it before posting.

        :return: the credit notes
        """
        credit_notes = self.env["account.move"].create(
            [
                {
                    "move_type": "out_refund",
                    "company_id": dispute.company_id.id,
                    "partner_id": dispute.move_id.partner_id.id,
                    "currency_id": dispute.currency_id.id,
                    "journal_id": dispute.move_id.journal_id.id,
                    "reversed_entry_id": dispute.move_id.id,
                    "ref": self.env._("Dispute %(dispute)s", dispute=dispute.name),
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": dispute.name,
                                "quantity": 1,
                                "price_unit": dispute.amount_disputed,
                                "account_id": dispute.move_id.invoice_line_ids.account_id[:1].id,
                                "tax_ids": [Command.clear()],
                            }
                        )
                    ],
                }
                for dispute in self
            ]
        )
        for dispute, credit_note in zip(self, credit_notes, strict=True):
            dispute.credit_note_id = credit_note
        return credit_notes

    @api.model
    def _open_on_invoice(self, partner, company, move, reason, description=False, attachments=None, source="portal"):
        """Record a dispute the debtor raises on an invoice and take the invoice out of dunning.

        :param partner: the debtor (commercial partner)
        :param company: the company of the invoice
        :param move: the disputed ``account.move``, which must be an open invoice of the debtor
        :param str reason: a key of the ``reason`` selection
        :param str description: the debtor's explanation
        :param attachments: list of (file name, bytes) the debtor joined: PDF, images or office documents of
            ``MAX_ATTACHMENT_BYTES`` at most
        :param str source: who records it, a key of the ``source`` selection: the debtor, or a collector on a call
        :raise ValidationError: naming the field at fault
        :return: the new ``dunning.dispute``
        """
        partner = partner.commercial_partner_id
        # PostgreSQL stores no NUL character: a form that sends one must not end in a server error.
        description = (description or "").replace("\x00", "") or False
        if move not in self.env["dunning.statement"]._open_invoices(partner, company):
            raise ValidationError(self.env._("Choose one of your open invoices (field Invoice)."))
        if reason not in dict(self._fields["reason"].selection):
            raise ValidationError(self.env._("Choose a reason (field Reason)."))
        if reason == "other" and not (description or "").strip():
            raise ValidationError(self.env._("Explain what is wrong (field Explanation)."))
        if move._dunning_open_disputes():
            raise ValidationError(
                self.env._("Invoice %(invoice)s is already disputed (field Invoice).", invoice=move.name)
            )
        attachments = [((name or "").replace("\x00", ""), data) for name, data in attachments or [] if data]
        for name, data in attachments:
            if len(data) > MAX_ATTACHMENT_BYTES:
                raise ValidationError(self.env._("%(file)s is larger than 10 MB (field Attachment).", file=name))
            if guess_mimetype(data) not in ALLOWED_ATTACHMENT_MIMETYPES:
                raise ValidationError(
                    self.env._("%(file)s is not a PDF, an image or an office document (field Attachment).", file=name)
                )
        responsible = partner._dunning_responsible(company, move)
        dispute = self.create(
            {
                "company_id": company.id,
                "partner_id": partner.id,
                "move_id": move.id,
                "reason": reason,
                "description": description,
                "source": source,
                "user_id": responsible.id,
            }
        )
        attachment_records = self.env["ir.attachment"].create(
            [{"name": name, "raw": data, "res_model": self._name, "res_id": dispute.id} for name, data in attachments]
        )
        summary = self.env._(
            "Invoice disputed: %(reason)s", reason=dict(self._fields["reason"]._description_selection(self.env))[reason]
        )
        body = Markup("<p>%s</p>") % summary
        if description:
            body += Markup("<p>%s</p>") % description
        dispute.message_post(body=body, attachment_ids=attachment_records.ids)
        move.message_post(body=body, attachment_ids=attachment_records.ids)
        dispute.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._(
                "Resolve the dispute of %(debtor)s on %(invoice)s", debtor=partner.name, invoice=move.name
            ),
            note=description,
            user_id=responsible.id,
        )
        move._dunning_withdraw_from_pending()
        return dispute
