from odoo import Command, api, fields, models
from odoo.exceptions import UserError


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
    charge_state = fields.Selection(
        [
            ("to_pay", "To Pay"),
            ("scheduled", "Scheduled Charge"),
            ("pending", "Charge in Progress"),
            ("paid", "Paid"),
            ("failed", "Charge Failed"),
        ],
        string="Status",
        required=True,
        default="to_pay",
        copy=False,
        index=True,
        help="To Pay: the debtor pays it. Scheduled Charge: the plan's saved payment method is charged on its date. "
        "Charge Failed: the charge was refused; this instalment alone is dunned again until it is paid.",
    )
    transaction_ids = fields.One2many(
        "payment.transaction", "dunning_plan_line_id", string="Payments", readonly=True, copy=False
    )
    notice_sent = fields.Boolean(
        string="Charge Announced", copy=False, help="The debtor was told by email of the coming charge."
    )

    _amount_positive = models.Constraint("CHECK(amount > 0)", "An instalment must be positive.")

    @api.depends("plan_id.line_ids.amount", "plan_id.line_ids.date", "plan_id.line_ids.sequence")
    def _compute_amount_cumulative(self):
        for plan in self.plan_id:
            running = 0.0
            for line in plan.line_ids.sorted(lambda line: (line.date, line.sequence, line.id)):
                running += line.amount
                line.amount_cumulative = running

    # === BUSINESS METHODS === #

    def _amount_to_charge(self):
        """What charging this instalment takes now: the instalment, or what is left of the plan when less."""
        self.ensure_one()
        plan = self.plan_id
        return plan.currency_id.round(min(self.amount, max(plan.amount_total - plan.amount_paid, 0.0)))

    def _reference_prefix(self):
        """The prefix of the references of this instalment's payments: one per instalment, so that a payment
        found under it tells that the instalment was charged already."""
        self.ensure_one()
        return f"PLAN{self.plan_id.id}-{self.id}"

    def _create_charge(self):
        """The payment that charges this instalment to its plan's saved method, in draft: the caller commits it,
        then sends it (``_charge_with_token``).

        sudo: the cron's charge writes payments, which only payment administrators may.

        :raise UserError: the instalment was charged already, or is being charged
        :return: the ``payment.transaction``, or an empty one when nothing is left to charge (then paid)
        """
        self.ensure_one()
        if self.transaction_ids.filtered(lambda tx: tx.state in ("draft", "pending", "authorized", "done")):
            raise UserError(
                self.env._(
                    "The instalment of %(date)s of plan %(plan)s is charged already (field Payments).",
                    date=self.date,
                    plan=self.plan_id.name,
                )
            )
        plan = self.plan_id
        amount = self._amount_to_charge()
        Transaction = self.env["payment.transaction"].sudo()
        if plan.currency_id.is_zero(amount):
            self.charge_state = "paid"
            return Transaction
        token = plan.payment_token_id.sudo()
        transaction = Transaction.create(
            {
                "provider_id": token.provider_id.id,
                "payment_method_id": token.payment_method_id.id,
                "reference": Transaction._compute_reference(token.provider_id.code, prefix=self._reference_prefix()),
                "amount": amount,
                "currency_id": plan.currency_id.id,
                "partner_id": plan.partner_id.id,
                "token_id": token.id,
                "operation": "offline",
                "invoice_ids": [
                    Command.set(plan.move_ids.filtered(lambda move: move.payment_state in ("not_paid", "partial")).ids)
                ],
                "dunning_plan_line_id": self.id,
            }
        )
        self.charge_state = "pending"
        return transaction
