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
    level_id = fields.Many2one("dunning.level", required=True, index=True, check_company=True, ondelete="restrict")
    date_due = fields.Date(string="Due Date")
    days_overdue = fields.Integer(string="Days Late")
    amount_residual = fields.Monetary(string="Amount Due")
    amount_fee = fields.Monetary(string="Fee")
    amount_interest = fields.Monetary(string="Interest")
