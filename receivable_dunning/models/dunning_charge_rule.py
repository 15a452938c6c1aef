from odoo import fields, models

from ..tools.interest import late_interest, round_amount


class DunningChargeRule(models.Model):
    """Statutory late-payment charges of a country: a reference rate plus a margin, and a fixed compensation.

    Shipped as editable data (France, Spain, Germany); a policy picks one, or sets its own rate and fee.
    """

    _name = "dunning.charge.rule"
    _description = "Late-Payment Charge Rule"
    _order = "country_id, name"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    country_id = fields.Many2one("res.country")
    currency_id = fields.Many2one("res.currency", required=True, default=lambda self: self.env.ref("base.EUR"))
    reference_rate_id = fields.Many2one(
        "dunning.charge.rate.table",
        required=True,
        help="Dated table of the reference rate (e.g. the ECB main refinancing rate by half-year).",
    )
    margin_business = fields.Float(
        string="Margin, Businesses (points)", digits=(6, 3), help="Points added to the reference rate for companies."
    )
    margin_consumer = fields.Float(
        string="Margin, Consumers (points)",
        digits=(6, 3),
        help="Points added to the reference rate for private persons.",
    )
    fee_business = fields.Monetary(
        string="Compensation per Invoice, Businesses",
        help="Fixed recovery compensation charged once per invoice to a company (EU Directive 2011/7: 40 EUR).",
    )
    fee_consumer = fields.Monetary(string="Compensation per Invoice, Consumers")
    note = fields.Text(translate=True, help="Legal basis, to quote in reminders.")

    # === BUSINESS METHODS === #

    def _rate_changes(self):
        """Dated annual rates (reference + margin) of these rules per debtor kind, read once for a whole run.

        :return: {(rule_id, is_business): [(date_from, annual rate percent), ...]} ordered by date
        """
        changes = {}
        for rule in self:
            table = rule.reference_rate_id.line_ids.sorted("date_from")
            for is_business, margin in ((True, rule.margin_business), (False, rule.margin_consumer)):
                changes[rule.id, is_business] = [(line.date_from, line.rate + margin) for line in table]
        return changes

    def _compensation(self, is_business, currency, company, date):
        """The fixed recovery compensation this rule grants per invoice, converted into ``currency`` at ``date``.

        :param bool is_business: the debtor is a company, else a private person
        :return: the amount, 0 when the rule sets none (or without a rule)
        """
        amount = self.fee_business if is_business else self.fee_consumer
        return self.currency_id._convert(amount, currency, company, date) if amount else 0.0

    def _late_interest(self, amount, date_from, date_to, currency, is_business, rates, custom_rate):
        """Late interest on ``amount`` for the days after ``date_from`` up to ``date_to``: at this rule's dated
        reference rate plus the margin of the debtor's kind, or at ``custom_rate`` without a rule (empty ``self``).

        :param date date_from: the last day already charged (the due date the first time)
        :param bool is_business: the debtor is a company, else a private person
        :param dict rates: the output of :meth:`_rate_changes`, read once for a whole run
        :param float custom_rate: the policy's own annual rate (percent)
        :return: the interest rounded in ``currency``, None when nothing accrues (no day, rate or amount); an
            amount that rounds to 0 is still returned, so that its days count as charged
        """
        if self:
            rate, rate_changes = 0.0, rates[self.id, is_business]
        else:
            rate, rate_changes = custom_rate, ()
        interest = late_interest(amount, rate, date_from, date_to, rate_changes)
        return round_amount(interest, currency.decimal_places) if interest else None
