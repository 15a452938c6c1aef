from odoo import api, fields, models
from odoo.exceptions import ValidationError


class DunningLevel(models.Model):
    """One step of a dunning policy: when it is reached and how the debtor is reminded."""

    _name = "dunning.level"
    _description = "Dunning Level"
    _order = "policy_id, sequence, delay_days, id"

    name = fields.Char(required=True, translate=True)
    policy_id = fields.Many2one("dunning.policy", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="policy_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="policy_id.currency_id")
    sequence = fields.Integer(default=10)
    # Settings of each level, not quantities: a list grouped by policy adds none of them up.
    delay_days = fields.Integer(
        string="Delay (days)",
        required=True,
        aggregator=None,
        help="Days after the due date when this level is reached; negative for a courtesy reminder "
        "sent before the due date.",
    )
    send_email = fields.Boolean(string="Email", default=True)
    send_sms = fields.Boolean(string="SMS")
    send_letter = fields.Boolean(string="Letter", help="Print a reminder letter (PDF) to post.")
    create_call = fields.Boolean(
        string="Phone Call", help="Schedule a call activity for the collector, due on the day of the reminder."
    )
    mail_template_id = fields.Many2one(
        "mail.template",
        string="Email Template",
        domain=[("model", "=", "dunning.reminder")],
        help="Rendered in the debtor's language for every reminder sent by email at this level.",
    )
    sms_template_id = fields.Many2one(
        "sms.template", string="SMS Template", domain=[("model", "=", "dunning.reminder")]
    )
    fee_amount = fields.Monetary(
        string="Fixed Fee",
        aggregator=None,
        help="Recovery fee charged once per invoice when it reaches this level (for example the EU "
        "Directive 2011/7 compensation of 40 EUR).",
    )
    apply_interest = fields.Boolean(
        string="Late-Payment Charges",
        help="Charge late interest on the invoices reminded at this level, and the policy's statutory "
        "compensation once per invoice.",
    )
    activity_type_id = fields.Many2one(
        "mail.activity.type",
        default=lambda self: self.env.ref("mail.mail_activity_data_call", raise_if_not_found=False),
        help="Activity scheduled for the phone call.",
    )
    activity_user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        help="Who makes the call; the debtor's collector when empty, else the salesperson of the invoice.",
    )
    min_amount = fields.Monetary(
        string="Minimum Overdue Amount",
        aggregator=None,
        help="The debtor reaches this level only when its overdue amount (in the company currency, converted for "
        "other currencies) is at least this much; otherwise it stays at the previous level.",
    )
    min_share = fields.Float(
        string="Minimum Share (%)",
        aggregator=None,
        help="The debtor reaches this level only when its overdue amount is at least this share of all it owes.",
    )
    cc_mode = fields.Selection(
        [("none", "Nobody"), ("salesperson", "Salesperson"), ("collector", "Collector")],
        string="Copy To",
        default="none",
        required=True,
        help="Who receives a copy of the reminder emails of this level.",
    )
    attach_invoices = fields.Boolean(help="Attach the PDF of every listed invoice to the reminder email.")
    is_last_auto_step = fields.Boolean(
        string="Last Automatic Step",
        help="After this level no automatic reminder is sent: the debtor is handed over to a person.",
    )
    channel_summary = fields.Char(string="Channels", compute="_compute_channel_summary")

    _policy_sequence_uniq = models.Constraint(
        "UNIQUE(policy_id, sequence)",
        "Two levels of the same policy cannot have the same sequence.",
    )
    _fee_positive = models.Constraint(
        "CHECK(fee_amount >= 0 AND min_amount >= 0 AND min_share >= 0 AND min_share <= 100)",
        "A level's fixed fee and minimum amount cannot be negative, and its minimum share lies between 0 and 100%.",
    )

    # === COMPUTE METHODS === #

    @api.depends(lambda self: [field for field, _channel in self._channel_fields()])
    def _compute_channel_summary(self):
        labels = dict(self._channel_fields())
        for level in self:
            level.channel_summary = ", ".join(
                self._fields[field].get_description(self.env)["string"] for field in labels if level[field]
            )

    # === CONSTRAINT METHODS === #

    @api.constrains("sequence", "delay_days", "policy_id")
    def _check_delay_order(self):
        self.policy_id._check_level_delays()

    @api.constrains(lambda self: [*(field for field, _channel in self._channel_fields()), "is_last_auto_step"])
    def _check_has_channel(self):
        for level in self:
            if not level.is_last_auto_step and not level._enabled_channels():
                raise ValidationError(
                    self.env._(
                        "Level %(level)s of policy %(policy)s has no channel: choose at least one of %(channels)s.",
                        level=level.name,
                        policy=level.policy_id.display_name,
                        channels=", ".join(
                            self._fields[field].get_description(self.env)["string"]
                            for field, _channel in self._channel_fields()
                        ),
                    )
                )

    # === BUSINESS METHODS === #

    @api.model
    def _channel_fields(self):
        """Map each channel code to the boolean field that enables it, in dispatch order (the reminder's channel
        registry)."""
        return [(channel.level_field, code) for code, channel in self.env["dunning.reminder"]._channels().items()]

    def _enabled_channels(self, refused=()):
        """Return the channel codes enabled on this level, in dispatch order, but those in ``refused``.

        :param refused: channel codes a debtor refuses (``res.partner._dunning_refused_channels``)
        """
        self.ensure_one()
        return [channel for field, channel in self._channel_fields() if self[field] and channel not in refused]

    # === BUSINESS METHODS - LEVEL ORDER, WHEN A LEVEL IS REACHED, FEE === #

    def _order_key(self):
        """The level order: by delay, then by sequence (levels of two policies may have the same delay).

        Every comparison of levels goes through this key; ``dunning.debtor`` orders by the same columns in SQL.
        Within a policy it is the order of the levels' sequence (``dunning.policy._check_level_delays``).
        """
        self.ensure_one()
        return (self.delay_days, self.sequence)

    def _is_after(self, other):
        """Whether this level comes after ``other`` in the level order; every level comes after no level.

        :param other: a ``dunning.level`` (possibly of another policy), an empty one or None
        """
        return not other or self._order_key() > other._order_key()

    def _is_courtesy(self):
        """Whether this level reminds the debtor before the invoice is late (a delay of zero days or less)."""
        return self.delay_days <= 0

    def _reach_delay(self):
        """Days after the due date when this level is reached: its delay, plus the policy's grace for a level
        after the due date (grace leaves time for payments on their way; it never delays a courtesy reminder)."""
        return self.delay_days + (0 if self._is_courtesy() else self.policy_id.grace_days)

    def _is_reached(self, days_overdue):
        """Whether an invoice ``days_overdue`` days past its due date (negative before it) has reached this level.

        A courtesy level is reached only until the due date: once the invoice is late it makes no sense.
        """
        return days_overdue >= self._reach_delay() and (not self._is_courtesy() or days_overdue <= 0)

    def _date_reached(self, date_due):
        """The day an invoice due on ``date_due`` reaches this level."""
        return fields.Date.add(date_due, days=self._reach_delay())

    def _fee_in(self, currency, date):
        """This level's fixed fee converted into ``currency`` at ``date``; 0 without a fee (or a level).

        :param currency: the currency of the reminder that charges it
        """
        if not self.fee_amount:
            return 0.0
        return self.currency_id._convert(self.fee_amount, currency, self.company_id, date)
