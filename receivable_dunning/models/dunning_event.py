import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)


class DunningEvent(models.Model):
    """One reminder to one debtor through one channel: recorded before it is sent, then sent or failed.

    The invoices it reminds of are its lines (``dunning.event.line``), one per invoice, each with the level
    that invoice reached.
    """

    _name = "dunning.event"
    _description = "Dunning Reminder"
    _inherit = ["mail.thread"]
    _order = "date_scheduled desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default=lambda self: self.env._("New")
    )
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one("res.currency", required=True, default=lambda self: self.env.company.currency_id)
    partner_id = fields.Many2one(
        "res.partner",
        string="Debtor",
        required=True,
        index=True,
        check_company=True,
        help="The commercial partner who owes the invoices.",
    )
    recipient_id = fields.Many2one(
        "res.partner", string="Recipient", check_company=True, help="The contact the reminder is addressed to."
    )
    level_id = fields.Many2one("dunning.level", required=True, index=True, check_company=True, ondelete="restrict")
    policy_id = fields.Many2one(related="level_id.policy_id", store=True)
    channel = fields.Selection(
        [("email", "Email"), ("sms", "SMS"), ("letter", "Letter"), ("call", "Phone Call"), ("thanks", "Thank-you")],
        required=True,
        default="email",
    )
    state = fields.Selection(
        [("queued", "Queued"), ("sent", "Sent"), ("failed", "Failed"), ("cancelled", "Cancelled")],
        required=True,
        default="queued",
        index=True,
        tracking=True,
        copy=False,
    )
    trigger = fields.Selection(
        [("scheduled", "Scheduled Action"), ("manual", "Manual"), ("payment", "Payment")],
        required=True,
        default="manual",
        help="What created the reminder: the daily scheduled action, a person, or a payment (thank-you).",
    )
    user_id = fields.Many2one(
        "res.users", string="Triggered By", default=lambda self: self.env.user, help="Who created the reminder."
    )
    date_scheduled = fields.Date(default=fields.Date.context_today, required=True, index=True)
    date_done = fields.Datetime(string="Sent On", readonly=True, copy=False)
    line_ids = fields.One2many("dunning.event.line", "event_id", string="Invoices", copy=True)
    move_ids = fields.Many2many(
        "account.move", string="Reminded Invoices", compute="_compute_move_ids", search="_search_move_ids"
    )
    invoice_count = fields.Integer(compute="_compute_amounts", store=True)
    amount_residual = fields.Monetary(string="Amount Due", compute="_compute_amounts", store=True)
    amount_fee = fields.Monetary(string="Fees", compute="_compute_amounts", store=True)
    amount_interest = fields.Monetary(string="Interest", compute="_compute_amounts", store=True)
    amount_total = fields.Monetary(string="Total Claimed", compute="_compute_amounts", store=True)
    mail_message_id = fields.Many2one("mail.message", string="Email Message", readonly=True, copy=False)
    sms_id = fields.Many2one("sms.sms", string="SMS", readonly=True, copy=False, index="btree_not_null")
    activity_id = fields.Many2one("mail.activity", string="Call Activity", readonly=True, copy=False)
    letter_attachment_id = fields.Many2one("ir.attachment", string="Letter", readonly=True, copy=False)
    error_message = fields.Text(string="Error", readonly=True, copy=False)
    attempt_count = fields.Integer(string="Attempts", readonly=True, copy=False)

    # Queued and failed events are the dispatch queue: keep that scan small.
    _dispatch_idx = models.Index("(company_id, date_scheduled) WHERE state IN ('queued', 'failed')")

    # === COMPUTE METHODS === #

    @api.depends("line_ids.move_id")
    def _compute_move_ids(self):
        for event in self:
            event.move_ids = event.line_ids.move_id

    def _search_move_ids(self, operator, value):
        return [("line_ids.move_id", operator, value)]

    @api.depends("line_ids.amount_residual", "line_ids.amount_fee", "line_ids.amount_interest")
    def _compute_amounts(self):
        for event in self:
            lines = event.line_ids
            event.invoice_count = len(lines)
            event.amount_residual = sum(lines.mapped("amount_residual"))
            event.amount_fee = sum(lines.mapped("amount_fee"))
            event.amount_interest = sum(lines.mapped("amount_interest"))
            event.amount_total = event.amount_residual + event.amount_fee + event.amount_interest

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", self.env._("New")) == self.env._("New"):
                vals["name"] = self.env["ir.sequence"].next_by_code("dunning.event") or "/"
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_sent(self):
        if any(event.state == "sent" for event in self):
            raise UserError(
                self.env._("A sent reminder is part of the debtor's history and cannot be deleted; cancel it instead.")
            )

    # === ACTION METHODS === #

    def action_cancel(self):
        """Cancel reminders that have not been delivered yet."""
        self._update_state(("queued", "failed"), "cancelled")

    def action_retry(self):
        """Put failed or cancelled reminders back in the queue."""
        self._update_state(("failed", "cancelled"), "queued", extra_vals={"error_message": False})

    # === BUSINESS METHODS === #

    def _update_state(self, allowed_states, target_state, extra_vals=None):
        """Move the events that are in an allowed state to the target state in one write.

        Events already in the target state are left alone (logged at INFO); events in any other state refuse
        the transition (logged at WARNING).

        :param tuple allowed_states: the states from which the transition is allowed
        :param str target_state: the new state
        :param dict extra_vals: further values written with the state
        :return: the events that moved
        :rtype: recordset of ``dunning.event``
        """
        movable = self.filtered(lambda event: event.state in allowed_states)
        for event in self - movable:
            if event.state == target_state:
                _logger.info("dunning event %s already in state %s", event.name, target_state)
            else:
                _logger.warning(
                    "dunning event %s: refused transition from %s to %s", event.name, event.state, target_state
                )
        if movable:
            movable.write({"state": target_state, **(extra_vals or {})})
        return movable
