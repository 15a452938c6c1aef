from odoo import fields, models


class DunningEventLine(models.Model):
    """One invoice listed in a reminder, with the level that invoice reached and what it was charged.

    A line, not a many2many, because each invoice of a reminder carries its own level, days late and
    charges, and because the history of an invoice is read from these lines.
    """

    _name = "dunning.event.line"
    _description = "Dunning Reminder Line"
    _order = "event_id, date_due, id"
    _check_company_auto = True

    event_id = fields.Many2one("dunning.event", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="event_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="event_id.currency_id")
    partner_id = fields.Many2one(related="event_id.partner_id", store=True)
    state = fields.Selection(related="event_id.state", store=True)
    channel = fields.Selection(related="event_id.channel", store=True)
    date_scheduled = fields.Date(related="event_id.date_scheduled", store=True)
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
