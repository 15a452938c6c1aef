from odoo import api, fields, models


class DunningPlanLine(models.Model):
    """One instalment of a plan: what should have been paid in all by its date."""

    _name = "dunning.plan.line"
    _description = "Instalment"
    _order = "plan_id, sequence, date, id"

    plan_id = fields.Many2one("dunning.plan", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="plan_id.company_id", store=True)
    currency_id = fields.Many2one(related="plan_id.currency_id")
    sequence = fields.Integer()
    date = fields.Date(required=True)
    amount = fields.Monetary(required=True)
    amount_cumulative = fields.Monetary(
        string="Due in All by Then",
        compute="_compute_amount_cumulative",
        store=True,
        help="The sum of this instalment and the ones before: what the debtor must have paid by its date.",
    )

    _amount_positive = models.Constraint("CHECK(amount > 0)", "An instalment must be positive.")

    @api.depends("plan_id.line_ids.amount", "plan_id.line_ids.date", "plan_id.line_ids.sequence")
    def _compute_amount_cumulative(self):
        for plan in self.plan_id:
            running = 0.0
            for line in plan.line_ids.sorted(lambda line: (line.date, line.sequence, line.id)):
                running += line.amount
                line.amount_cumulative = running
