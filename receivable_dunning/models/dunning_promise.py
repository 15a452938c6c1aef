from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import ValidationError


class DunningPromise(models.Model):
    """A debtor's promise to pay an amount by a date: it pauses dunning of its invoices until then.

    Kept when the invoices' residual went down by at least the promised amount by the promised date, broken
    otherwise; a broken promise moves the debtor to the next level at once and gives the collector a call.
    """

    _name = "dunning.promise"
    _description = "Promise to Pay"
    _inherit = ["dunning.debtor.invoices.mixin", "mail.thread", "mail.activity.mixin"]
    _check_company_auto = True
    _order = "date_promised desc, id desc"

    name = fields.Char(compute="_compute_name", store=True)
    date_promised = fields.Date(string="Promised Date", required=True, tracking=True)
    amount = fields.Monetary(string="Promised Amount", required=True, tracking=True)
    amount_residual_start = fields.Monetary(
        string="Owed When Promised", readonly=True, help="The invoices' residual when the promise was recorded."
    )
    amount_paid = fields.Monetary(string="Paid Since", compute="_compute_amount_paid")
    source = fields.Selection(
        [("collector", "Collector"), ("portal", "Debtor (portal)")], required=True, default="collector"
    )
    state = fields.Selection(
        [("pending", "Pending"), ("kept", "Kept"), ("broken", "Broken"), ("cancelled", "Cancelled")],
        required=True,
        default="pending",
        index=True,
        tracking=True,
    )
    escalated = fields.Boolean(
        readonly=True, help="The broken promise has already moved the debtor to the next dunning level."
    )

    _amount_positive = models.Constraint("CHECK(amount > 0)", "A promised amount must be positive.")

    # === COMPUTE METHODS === #

    @api.depends("partner_id", "date_promised", "amount", "currency_id")
    def _compute_name(self):
        for promise in self:
            promise.name = self.env._(
                "%(debtor)s: %(amount)s by %(date)s",
                debtor=promise.partner_id.name or "",
                amount=promise.currency_id.format(promise.amount) if promise.currency_id else promise.amount,
                date=promise.date_promised or "",
            )

    @api.depends("move_ids.amount_residual", "amount_residual_start")
    def _compute_amount_paid(self):
        for promise in self:
            promise.amount_paid = max(
                promise.currency_id.round(
                    promise.amount_residual_start - sum(promise.move_ids.mapped("amount_residual"))
                ),
                0,
            )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        promises = super().create(vals_list)
        for promise in promises:
            promise.amount_residual_start = promise.currency_id.round(sum(promise.move_ids.mapped("amount_residual")))
        return promises

    # === ACTION METHODS === #

    def action_cancel(self):
        self.filtered(lambda promise: promise.state == "pending").state = "cancelled"

    # === BUSINESS METHODS === #

    @api.model
    def _promise_from_portal(self, partner, company, moves, date_promised, amount):
        """The debtor promises from its statement page to pay ``amount`` on ``moves`` by ``date_promised``.

        :param partner: the debtor (commercial partner)
        :param company: the company of the invoices
        :param moves: open invoices of the debtor in ``company`` (see ``dunning.statement._selected_open_invoices``)
        :param date date_promised: from today to the policy's ``promise_max_days`` ahead
        :param float amount: more than zero and at most what the invoices leave to pay
        :raise ValidationError: naming the field at fault
        :return: the new ``dunning.promise``
        """
        partner = partner.commercial_partner_id
        today = fields.Date.context_today(self)
        policy = partner.with_company(company)._dunning_get_policy()
        if not policy.promise_max_days:
            raise ValidationError(self.env._("Promises to pay are not accepted here (field Promised date)."))
        latest = today + timedelta(days=policy.promise_max_days)
        if not date_promised or not today <= date_promised <= latest:
            raise ValidationError(
                self.env._(
                    "Choose a date from today to %(latest)s (field Promised date).",
                    latest=fields.Date.to_string(latest),
                )
            )
        moves._dunning_check_open_arrangements()
        currency = moves.currency_id
        if len(currency) != 1:
            raise ValidationError(
                self.env._("Invoices in different currencies must be promised separately (field Invoices).")
            )
        owed = currency.round(sum(moves.mapped("amount_residual")))
        if currency.compare_amounts(amount, 0) <= 0 or currency.compare_amounts(amount, owed) > 0:
            raise ValidationError(
                self.env._(
                    "Enter an amount above zero and at most %(owed)s (field Amount).", owed=currency.format(owed)
                )
            )
        promise = self.create(
            {
                "company_id": company.id,
                "currency_id": currency.id,
                "partner_id": partner.id,
                "move_ids": [Command.set(moves.ids)],
                "date_promised": date_promised,
                "amount": amount,
                "source": "portal",
            }
        )
        moves._dunning_withdraw_from_pending()
        return promise

    def _settle_pending(self, today=None):
        """Settle pending promises: kept as soon as enough was paid, broken once the date passed without it.

        :param date today: the date to judge by (the run's date)
        :return: the promises that broke
        """
        today = today or fields.Date.context_today(self)
        pending = self.filtered(lambda promise: promise.state == "pending")
        kept = pending.filtered(
            lambda promise: promise.currency_id.compare_amounts(promise.amount_paid, promise.amount) >= 0
        )
        kept.state = "kept"
        broken = (pending - kept).filtered(lambda promise: promise.date_promised < today)
        broken.state = "broken"
        for promise in broken:
            collector = promise.partner_id.with_company(promise.company_id).dunning_collector_id
            promise.activity_schedule(
                "mail.mail_activity_data_call",
                date_deadline=today,
                summary=self.env._("Promise to pay broken: call %(debtor)s", debtor=promise.partner_id.name),
                user_id=promise._responsible(collector).id,
            )
        return broken

    def _responsible(self, collector):
        """Who calls the debtor of this broken promise: its collector, else the collector who recorded it; a promise
        the debtor made on the statement page goes to the debtor's responsible."""
        self.ensure_one()
        if collector:
            return collector
        if self.source == "portal":
            return self.partner_id._dunning_responsible(self.company_id, self.move_ids)
        return self.create_uid or self.env.user
