import logging

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

_logger = logging.getLogger(__name__)

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
    payment_token_id = fields.Many2one(
        "payment.token",
        string="Saved Payment Method",
        readonly=True,
        copy=False,
        help="The payment method the debtor saved for this plan: it is charged on each instalment's date, for this "
        "plan's instalments only.",
    )
    autopay_url = fields.Char(
        string="Plan Link",
        compute="_compute_autopay_url",
        help="The plan's page on the debtor's statement: its schedule, the consent to automatic charges and the "
        "payment of an instalment.",
    )
    autopay_consent_date = fields.Datetime(
        string="Charges Agreed On",
        readonly=True,
        copy=False,
        help="When the debtor agreed that the instalments be charged to the saved payment method; the text agreed "
        "to is in the chatter.",
    )

    # === COMPUTE METHODS === #

    @api.depends("partner_id", "line_ids")
    def _compute_name(self):
        for plan in self:
            plan.name = self.env._(
                "%(debtor)s: %(count)s instalments", debtor=plan.partner_id.name or "", count=len(plan.line_ids)
            )

    @api.depends(
        "move_ids.amount_residual",
        "amount_total",
        "line_ids.amount_cumulative",
        "line_ids.date",
        "line_ids.charge_state",
    )
    @api.depends_context("date")
    def _compute_progress(self):
        today = fields.Date.context_today(self)
        for plan in self:
            plan.amount_paid = max(
                plan.currency_id.round(plan.amount_total - sum(plan.move_ids.mapped("amount_residual"))), 0.0
            )
            # A failed charge is dunned alone (see dunning.run._plan_failed_amount): it does not make the plan missed.
            failed = plan.line_ids.filtered(lambda line: line.charge_state == "failed")
            missed = plan.line_ids.filtered(
                lambda line, plan=plan, failed=failed: (
                    line.date < today
                    and line.charge_state != "failed"
                    and plan.currency_id.compare_amounts(
                        line.amount_cumulative
                        - sum(failed.filtered(lambda earlier: earlier.date <= line.date).mapped("amount")),
                        plan.amount_paid,
                    )
                    > 0
                )
            )
            plan.date_missed = plan.state == "approved" and min(missed.mapped("date"), default=False)

    @api.depends("partner_id", "company_id")
    def _compute_autopay_url(self):
        for plan in self:
            # _origin: a plan being created in a form has no page yet.
            plan.autopay_url = (plan._origin.id and plan.partner_id and plan._origin._autopay_url()) or False

    # === ACTION METHODS === #

    def action_approve(self):
        """Approve the plans and tell their debtors."""
        plans = self.filtered(lambda plan: plan.state == "proposed")
        plans._approve()
        plans._send_debtor_mail("receivable_dunning.mail_template_dunning_plan_approved")

    def _approve(self):
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
        """Reject the proposed plans and tell their debtors."""
        plans = self.filtered(lambda plan: plan.state == "proposed")
        plans.state = "rejected"
        plans._send_debtor_mail("receivable_dunning.mail_template_dunning_plan_rejected")

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
        """Mark the plans whose invoices are all paid as paid, and free their invoices. A plan still to approve is
        paid too: there is nothing left to approve, and its page must not ask for instalments already paid."""
        done = self.filtered(
            lambda plan: (
                plan.state in ("proposed", "approved")
                and all(move.payment_state in ("paid", "in_payment", "reversed") for move in plan.move_ids)
            )
        )
        done.filtered(lambda plan: plan.state == "proposed").activity_unlink(["mail.mail_activity_data_todo"])
        done.state = "done"
        done._release_invoices()
        self._mark_paid_instalments()

    def _mark_paid_instalments(self):
        """The instalments that the debtor paid by other means (a transfer, a payment of the invoices) are paid,
        oldest first: the cron does not charge them and a failed one is no longer dunned.

        What the instalments paid online brought is theirs already; the rest of what was paid covers the others.
        """
        for plan in self.filtered(lambda plan: plan.state in ("approved", "done")):
            lines = plan.line_ids.sorted(lambda line: (line.date, line.sequence, line.id))
            unallocated = plan.amount_paid - sum(
                lines.filtered(lambda line: line.charge_state == "paid").mapped("amount")
            )
            for line in lines.filtered(lambda line: line.charge_state in ("to_pay", "scheduled", "failed")):
                if plan.state != "done" and plan.currency_id.compare_amounts(line.amount, unallocated) > 0:
                    break
                unallocated -= line.amount
                line.charge_state = "paid"

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
            # The debtor sees the approval on the page: no email for it.
            plan._approve()
        else:
            plan.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Instalment plan to approve for %(debtor)s", debtor=partner.name),
                user_id=partner._dunning_responsible(company, moves).id,
            )
        return plan

    # === AUTOMATIC CHARGES === #

    def _statement_link_validity(self):
        """The last day a link sent today about the plan works, as the policy sets it for reminders."""
        self.ensure_one()
        policy = self.partner_id.with_company(self.company_id)._dunning_get_policy()
        if not policy.statement_link_days:
            return False
        return fields.Date.add(fields.Date.context_today(self), days=policy.statement_link_days)

    def _autopay_path(self):
        """The path of the plan's page on the debtor's statement: its schedule, the consent to automatic charges
        and the payment of the next instalment; False when the debtor's links are revoked."""
        self.ensure_one()
        statement = self.env["dunning.statement"]._relative_url(
            self.partner_id, self.company_id, self._statement_link_validity()
        )
        return statement and f"{statement}/plan/{self.id}"

    def _autopay_url(self):
        """The absolute URL of :meth:`_autopay_path`, for the emails; empty when the links are revoked."""
        self.ensure_one()
        path = self._autopay_path()
        return f"{self.partner_id.get_base_url()}{path}" if path else ""

    def _autopay_consent_text(self):
        """What the debtor agrees to by ticking the consent box: who charges what, when, for which plan.

        In the environment's language: the debtor's, on the statement page.
        """
        self.ensure_one()
        format_amount, format_date = self.env["dunning.statement"]._formatters()
        schedule = "; ".join(
            self.env._(
                "%(amount)s on %(date)s",
                amount=format_amount(line.amount, self.currency_id),
                date=format_date(line.date),
            )
            for line in self.line_ids.filtered(lambda line: line.charge_state != "paid")
        )
        return self.env._(
            "I authorise %(company)s to charge the payment method I save now for the instalments of my plan "
            "(%(invoices)s), without further action from me: %(schedule)s. This method is used for this plan only.",
            company=self.company_id.name,
            invoices=", ".join(self.move_ids.mapped("name")),
            schedule=schedule,
        )

    @api.model
    def _debtor_plan(self, partner, company, plan_id):
        """The running plan ``plan_id`` of the debtor in ``company``, or an empty recordset."""
        return self.search(
            [
                ("id", "=", plan_id),
                ("partner_id", "=", partner.commercial_partner_id.id),
                ("company_id", "=", company.id),
                ("state", "in", ("proposed", "approved")),
            ]
        )

    def _payable_instalment(self, instalment_id=False):
        """The instalment the debtor pays online now: ``instalment_id``, or the first refused charge, else the
        first one to pay; empty when none is left.

        :raise ValidationError: ``instalment_id`` is paid or being charged
        """
        self.ensure_one()
        open_lines = self.line_ids.filtered(lambda line: line.charge_state in ("to_pay", "scheduled", "failed"))
        if instalment_id:
            instalment = self.line_ids.filtered(lambda line: line.id == instalment_id)
            if instalment not in open_lines:
                raise ValidationError(
                    self.env._(
                        "The instalment of %(date)s of plan %(plan)s is paid or being charged (field Instalment).",
                        date=instalment.date,
                        plan=self.name,
                    )
                )
            return instalment
        return open_lines.filtered(lambda line: line.charge_state == "failed")[:1] or open_lines[:1]

    def _record_autopay_consent(self, ip_address):
        """Record that the debtor agreed to automatic charges: the date here, the text and address in the
        chatter (the proof of the consent).

        :param str ip_address: the address the consent was posted from
        :raise ValidationError: the plan is no longer running
        """
        self.ensure_one()
        if self.state not in ("proposed", "approved"):
            raise ValidationError(self.env._("Plan %(plan)s is no longer running (field Status).", plan=self.name))
        self.autopay_consent_date = fields.Datetime.now()
        self.message_post(
            body=self.env._(
                "The debtor agreed to automatic charges on %(date)s (UTC) from address %(ip)s: “%(text)s”",
                date=fields.Datetime.to_string(self.autopay_consent_date),
                ip=ip_address or "?",
                text=self._autopay_consent_text(),
            )
        )

    def _set_payment_token(self, token):
        """Charge the instalments still to pay to ``token`` from now on (saved with the debtor's consent)."""
        self.ensure_one()
        self.payment_token_id = token
        self.line_ids.filtered(lambda line: line.charge_state == "to_pay").charge_state = "scheduled"
        self.message_post(
            body=self.env._(
                "Payment method %(method)s saved: the next instalments are charged to it on their dates.",
                method=token.display_name,
            )
        )

    def _send_debtor_mail(self, template_xmlid, instalments=None):
        """Email the debtors of the plans (or of ``instalments``) with a template of the plan (or of the instalment).

        sudo: the approval, the charges and the portal run for users who may not read mail templates.
        """
        template = self.env.ref(template_xmlid).sudo()
        for record in instalments if instalments is not None else self:
            template.send_mail(record.id)

    @api.model
    def _cron_charge_instalments(self):
        """Daily: announce the charges to come, then charge the instalments due with their plan's saved method,
        one instalment per transaction.

        A charge is never made twice: its payment is created and committed before the provider is asked, and an
        instalment with a payment under way or done is not charged again. One instalment's failure is logged and
        spares the others.
        """
        today = fields.Date.context_today(self)
        self._send_charge_notices(today)
        due = self.env["dunning.plan.line"].search(
            [
                ("charge_state", "=", "scheduled"),
                ("date", "<=", today),
                ("plan_id.state", "=", "approved"),
                ("plan_id.payment_token_id", "!=", False),
            ],
            order="date, id",
        )
        due.plan_id._mark_paid_instalments()
        due = due.filtered(lambda line: line.charge_state == "scheduled")
        for index, instalment in enumerate(due, start=1):
            try:
                with self.env.cr.savepoint():
                    transaction = instalment._create_charge()
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                raise
            except Exception:  # one plan's failure must spare the others
                _logger.exception("Instalment %s of plan %s not charged", instalment.id, instalment.plan_id.id)
                continue
            # Committed before the provider is asked: a crash after it leaves a payment that is never sent twice.
            self.env["ir.cron"]._commit_progress(0)
            if not transaction:  # paid meanwhile
                continue
            try:
                with self.env.cr.savepoint():
                    transaction._charge_with_token()
                    if transaction.state in ("done", "error", "cancel"):
                        transaction._post_process()
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                raise
            except Exception:
                _logger.exception("Charge %s of instalment %s failed", transaction.reference, instalment.id)
            if not self.env["ir.cron"]._commit_progress(1, remaining=len(due) - index):
                break

    @api.model
    def _send_charge_notices(self, today):
        """Email the debtors whose instalments are charged within their policy's notice days."""
        policies = self.env["dunning.policy"].search([])
        longest = max([0, *policies.mapped("plan_charge_notice_days")])
        coming = self.env["dunning.plan.line"].search(
            [
                ("charge_state", "=", "scheduled"),
                ("notice_sent", "=", False),
                ("date", ">", today),
                ("date", "<=", fields.Date.add(today, days=longest)),
                ("plan_id.state", "=", "approved"),
                ("plan_id.payment_token_id", "!=", False),
            ]
        )
        to_announce = coming.filtered(
            lambda line: (
                line.date
                <= fields.Date.add(
                    today,
                    days=line.plan_id.partner_id.with_company(line.company_id)
                    ._dunning_get_policy()
                    .plan_charge_notice_days,
                )
            )
        )
        if to_announce:
            self._send_debtor_mail("receivable_dunning.mail_template_dunning_plan_charge_notice", to_announce)
            to_announce.notice_sent = True
