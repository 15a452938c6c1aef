from odoo import api, fields, models
from odoo.exceptions import UserError

# A line's claim and what it charges: the run, the review of a proposal and the dispatch set them, nobody else.
DUNNING_LINE_LOCKED_FIELDS = frozenset(
    {
        "reminder_id",
        "move_id",
        "level_id",
        "is_escalation",
        "amount_residual",
        "amount_credit",
        "amount_fee",
        "includes_compensation",
        "amount_interest",
        "interest_date_from",
        "interest_date_to",
        "charge_move_id",
    }
)
# A sent reminder is the debtor's history, a cancelled one may be sent again: their lines stay as they were.
DUNNING_CLOSED_STATES = ("sent", "cancelled")


class DunningReminderLine(models.Model):
    """One invoice listed in a reminder, with the level that invoice reached and what it was charged.

    A line, not a many2many, because each invoice of a reminder carries its own level, days late and
    charges, and because the history of an invoice is read from these lines.
    """

    _name = "dunning.reminder.line"
    _description = "Dunning Reminder Line"
    _order = "reminder_id, date_due, id"
    _check_company_auto = True

    reminder_id = fields.Many2one("dunning.reminder", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="reminder_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="reminder_id.currency_id")
    partner_id = fields.Many2one(related="reminder_id.partner_id", store=True)
    state = fields.Selection(related="reminder_id.state", store=True)
    channel = fields.Selection(related="reminder_id.channel", store=True)
    date_scheduled = fields.Date(related="reminder_id.date_scheduled", store=True)
    move_id = fields.Many2one(
        "account.move",
        string="Invoice",
        required=True,
        index=True,
        ondelete="cascade",
        check_company=True,
        domain=[("move_type", "=", "out_invoice")],
    )
    level_id = fields.Many2one(
        "dunning.level",
        index=True,
        check_company=True,
        ondelete="restrict",
        help="The level of the invoice in this reminder; empty for an overdue invoice that has not reached a level.",
    )
    is_escalation = fields.Boolean(
        string="Escalation",
        readonly=True,
        copy=False,
        help="This reminder moves the invoice to this level: the claim that makes every level of an invoice go "
        "out once per channel, and the only line that carries the level's fee.",
    )
    date_due = fields.Date(string="Due Date")
    days_overdue = fields.Integer(string="Days Late")
    amount_residual = fields.Monetary(string="Amount Due")
    amount_credit = fields.Monetary(
        string="Credits Applied", help="The part of the amount due the debtor's credits cover when reminded."
    )
    amount_fee = fields.Monetary(string="Fee", help="The level's fixed fee, plus the statutory compensation.")
    includes_compensation = fields.Boolean(
        readonly=True, help="The fee includes the statutory compensation, which an invoice is charged once."
    )
    charge_move_id = fields.Many2one(
        "account.move", string="Charges Invoice", readonly=True, copy=False, index="btree_not_null"
    )
    amount_interest = fields.Monetary(string="Interest")
    interest_date_from = fields.Date(help="Interest is charged for the days after this date ...")
    interest_date_to = fields.Date(help="... up to and including this one.")

    # Exactly once: a second run, or a second worker, cannot claim the same invoice, level and channel again.
    _escalation_uniq = models.UniqueIndex(
        "(move_id, level_id, channel) WHERE is_escalation AND state IS DISTINCT FROM 'cancelled'"
    )

    # === CRUD METHODS === #
    # Lines are written by the module's own code only: the run inserts them with SQL, the review of a proposal
    # re-levels them (``dunning.reminder._relevel_lines``) and the dispatch links the charges invoice, both as
    # superuser. Over RPC nobody changes what a reminder claims or charges, and the lines of a sent or cancelled
    # reminder are neither added, changed nor removed. A reviewer may still add or remove invoices of a reminder
    # that is not sent yet.

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            reminder_ids = [vals["reminder_id"] for vals in vals_list if vals.get("reminder_id")]
            if closed := self._closed_reminder(self.env["dunning.reminder"].browse(reminder_ids)):
                raise UserError(
                    self.env._("Reminder %(reminder)s is %(state)s: no invoice can be added to it.", **closed)
                )
            if any(vals.get("charge_move_id") for vals in vals_list):
                raise UserError(self.env._("Only the dispatch of a reminder links its charges invoice."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            self._check_editable(vals)
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_closed(self):
        if not self.env.su and (closed := self._closed_reminder(self.reminder_id)):
            raise UserError(self.env._("Reminder %(reminder)s is %(state)s: its invoices cannot be removed.", **closed))

    @api.model
    def _closed_reminder(self, reminders):
        """The first of ``reminders`` that is sent or cancelled, as ``reminder`` and ``state`` message values."""
        closed = reminders.filtered(lambda reminder: reminder.state in DUNNING_CLOSED_STATES)[:1]
        if not closed:
            return {}
        state = dict(closed._fields["state"]._description_selection(self.env))[closed.state]
        return {"reminder": closed.name, "state": state.lower()}

    def _check_editable(self, vals):
        """Refuse a write that comes from outside the module's own code paths.

        :param dict vals: the values being written
        :raise UserError: on any line of a sent or cancelled reminder, or on what a line claims or charges
        """
        if closed := self._closed_reminder(self.reminder_id):
            raise UserError(
                self.env._(
                    "Reminder %(reminder)s is %(state)s: its invoices, amounts and charges can no longer change.",
                    **closed,
                )
            )
        locked = DUNNING_LINE_LOCKED_FIELDS.intersection(vals)
        if locked:
            raise UserError(
                self.env._(
                    "The invoices of a reminder keep the level and charges dunning gave them (%(fields)s): change "
                    "the level of the proposed reminder, or remove the invoice from it, instead.",
                    fields=", ".join(self._fields[name]._description_string(self.env) for name in sorted(locked)),
                )
            )
