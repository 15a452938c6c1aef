from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

FREQUENCY_STEPS = {
    "weekly": relativedelta(weeks=1),
    "biweekly": relativedelta(weeks=2),
    "monthly": relativedelta(months=1),
}


class DunningPlan(models.Model):
    """An instalment plan: the debtor pays some invoices in parts on agreed dates instead of their due dates.

    While an approved plan is kept, its invoices are not dunned; from the first missed instalment on, they are
    dunned again with that instalment's date as their due date.
    """

    _name = "dunning.plan"
    _description = "Instalment Plan"
    _inherit = ["dunning.debtor.invoices.mixin", "mail.thread", "mail.activity.mixin"]
    _check_company_auto = True
    _order = "id desc"

    name = fields.Char(compute="_compute_name", store=True)
    line_ids = fields.One2many("dunning.plan.line", "plan_id", string="Instalments", copy=True)
    state = fields.Selection(
        [
            ("proposed", "To Approve"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("cancelled", "Cancelled"),
            ("done", "Paid"),
        ],
        required=True,
        default="proposed",
        index=True,
        tracking=True,
    )
    source = fields.Selection(
        [("collector", "Collector"), ("portal", "Debtor (portal)")], required=True, default="collector"
    )
    amount_total = fields.Monetary(
        string="Amount Planned", readonly=True, help="What the invoices had left to pay when the plan was made."
    )
    amount_paid = fields.Monetary(string="Paid Since", compute="_compute_progress")
    date_missed = fields.Date(
        string="Missed Instalment",
        compute="_compute_progress",
        help="The first instalment date that passed without enough paid: dunning resumes from it.",
    )
    note = fields.Text(string="Debtor's Message")

    # === COMPUTE METHODS === #

    @api.depends("partner_id", "line_ids")
    def _compute_name(self):
        for plan in self:
            plan.name = self.env._(
                "%(debtor)s: %(count)s instalments", debtor=plan.partner_id.name or "", count=len(plan.line_ids)
            )

    @api.depends("move_ids.amount_residual", "amount_total", "line_ids.amount_cumulative", "line_ids.date")
    @api.depends_context("date")
    def _compute_progress(self):
        today = fields.Date.context_today(self)
        for plan in self:
            plan.amount_paid = max(
                plan.currency_id.round(plan.amount_total - sum(plan.move_ids.mapped("amount_residual"))), 0.0
            )
            missed = plan.line_ids.filtered(
                lambda line, plan=plan: (
                    line.date < today and plan.currency_id.compare_amounts(line.amount_cumulative, plan.amount_paid) > 0
                )
            )
            plan.date_missed = plan.state == "approved" and min(missed.mapped("date"), default=False)

    # === ACTION METHODS === #

    def action_approve(self):
        """Approve the plans: their invoices follow the plan and leave the reminders not yet sent."""
        plans = self.filtered(lambda plan: plan.state == "proposed")
        busy = self.env["account.move"].search(
            [("id", "in", plans.move_ids.ids), ("dunning_plan_id", "not in", [False, *plans.ids])]
        )
        if busy:
            raise UserError(
                self.env._(
                    "Invoice %(invoice)s already follows another approved plan (%(plan)s).",
                    invoice=busy[0].name,
                    plan=busy[0].dunning_plan_id.name,
                )
            )
        plans.state = "approved"
        for plan in plans:
            plan.move_ids.dunning_plan_id = plan
        plans.move_ids._dunning_withdraw_from_pending()
        for plan in plans:
            plan.message_post(body=self.env._("Plan approved: dunning follows the instalment dates."))

    def action_reject(self):
        self.filtered(lambda plan: plan.state == "proposed").state = "rejected"

    def action_cancel(self):
        """Cancel the plans: their invoices are dunned from their own due dates again."""
        plans = self.filtered(lambda plan: plan.state in ("proposed", "approved"))
        plans.state = "cancelled"
        plans._release_invoices()

    # === BUSINESS METHODS === #

    def _release_invoices(self):
        # sudo: a plan may end by a payment made by a user who cannot write invoices (portal, bank matching).
        self.env["account.move"].sudo().search([("dunning_plan_id", "in", self.ids)]).dunning_plan_id = False

    def _check_paid(self):
        """Mark the approved plans whose invoices are all paid as paid, and free their invoices."""
        done = self.filtered(
            lambda plan: (
                plan.state == "approved"
                and all(move.payment_state in ("paid", "in_payment", "reversed") for move in plan.move_ids)
            )
        )
        done.state = "done"
        done._release_invoices()

    @api.model
    def _frequency_labels(self):
        return [
            ("monthly", self.env._("Every month")),
            ("biweekly", self.env._("Every two weeks")),
            ("weekly", self.env._("Every week")),
        ]

    @api.model
    def _split_instalments(self, amount, currency, count, first_date, frequency):
        """Split ``amount`` into ``count`` instalments from ``first_date`` on: equal parts, the rest on the last.

        :return: list of (date, amount) pairs
        """
        part = currency.round(amount / count)
        step = FREQUENCY_STEPS[frequency]
        dates = [first_date + step * index for index in range(count)]
        amounts = [part] * (count - 1) + [currency.round(amount - part * (count - 1))]
        return list(zip(dates, amounts, strict=True))

    @api.model
    def _propose(self, partner, company, moves, count, first_date, frequency="monthly", note=False, source="portal"):
        """Create a plan the debtor proposes, after checking it against the policy's limits.

        Approved at once when the policy approves plans within limits; otherwise the collector gets an
        activity to approve or reject it.

        :param partner: the debtor (commercial partner)
        :param company: the company of the invoices
        :param moves: the invoices to pay in instalments (``account.move``)
        :param int count: the number of instalments
        :param date first_date: the date of the first instalment
        :param str frequency: ``weekly``, ``biweekly`` or ``monthly``
        :param str source: who records it, a key of the ``source`` selection: the debtor, or a collector on a call
        :raise ValidationError: naming the field that breaks a limit
        :return: the new ``dunning.plan``
        """
        partner = partner.commercial_partner_id
        policy = partner.with_company(company)._dunning_get_policy()
        today = fields.Date.context_today(self)
        open_invoices = self.env["dunning.statement"]._open_invoices(partner, company)
        if not moves or moves - open_invoices:
            raise ValidationError(
                self.env._("Select at least one of your open invoices for the plan (field Invoices).")
            )
        if len(moves.currency_id) > 1:
            raise ValidationError(self.env._("Invoices in different currencies need separate plans (field Invoices)."))
        taken = (
            moves.filtered("dunning_plan_id")
            | self.search([("move_ids", "in", moves.ids), ("state", "=", "proposed")]).move_ids & moves
        )
        if taken:
            raise ValidationError(
                self.env._(
                    "Invoice %(invoice)s already has an instalment plan (field Invoices).", invoice=taken[0].name
                )
            )
        if frequency not in FREQUENCY_STEPS:
            raise ValidationError(self.env._("Choose how often you pay (field Frequency)."))
        if not policy or policy.plan_max_instalments < 2:
            raise ValidationError(self.env._("%(company)s does not offer instalment plans.", company=company.name))
        if not 2 <= count <= policy.plan_max_instalments:
            raise ValidationError(
                self.env._(
                    "Choose between 2 and %(max)s instalments (field Number of instalments).",
                    max=policy.plan_max_instalments,
                )
            )
        if not first_date or first_date < today:
            raise ValidationError(self.env._("The first instalment cannot be in the past (field First payment)."))
        currency = moves.currency_id
        amount = currency.round(sum(moves.mapped("amount_residual")))
        schedule = self._split_instalments(amount, currency, count, first_date, frequency)
        last_allowed = fields.Date.add(today, days=policy.plan_max_days)
        if schedule[-1][0] > last_allowed:
            raise ValidationError(
                self.env._(
                    "The last instalment would fall on %(date)s, after %(limit)s (field First payment or Number of "
                    "instalments).",
                    date=schedule[-1][0],
                    limit=last_allowed,
                )
            )
        minimum = company.currency_id._convert(policy.plan_min_amount, currency, company, today)
        if currency.compare_amounts(min(part for _date, part in schedule), minimum) < 0:
            raise ValidationError(
                self.env._(
                    "Each instalment must be at least %(minimum)s (field Number of instalments).",
                    minimum=currency.format(minimum),
                )
            )
        plan = self.create(
            {
                "company_id": company.id,
                "currency_id": currency.id,
                "partner_id": partner.id,
                "move_ids": [fields.Command.set(moves.ids)],
                "source": source,
                "amount_total": amount,
                "note": note,
                "line_ids": [
                    fields.Command.create({"date": date, "amount": part, "sequence": index})
                    for index, (date, part) in enumerate(schedule)
                ],
            }
        )
        if policy.plan_auto_approve:
            plan.action_approve()
        else:
            plan.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Instalment plan to approve for %(debtor)s", debtor=partner.name),
                user_id=partner._dunning_responsible(company, moves).id,
            )
        return plan
