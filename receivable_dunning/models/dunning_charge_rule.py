from odoo import api, fields, models


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

    @api.model
    def _rate_changes(self, rule_ids):
        """Dated annual rates (reference + margin) per rule and debtor kind, read once for a whole run.

        :param rule_ids: ids of ``dunning.charge.rule``
        :return: {(rule_id, is_business): [(date_from, annual rate percent), ...]} ordered by date
        """
        changes = {}
        for rule in self.browse(rule_ids):
            table = rule.reference_rate_id.line_ids.sorted("date_from")
            for is_business, margin in ((True, rule.margin_business), (False, rule.margin_consumer)):
                changes[rule.id, is_business] = [(line.date_from, line.rate + margin) for line in table]
        return changes
