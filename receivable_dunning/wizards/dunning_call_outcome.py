from odoo import api, fields, models
from odoo.exceptions import ValidationError


class DunningCallOutcome(models.TransientModel):
    """The outcome of a call to a debtor in one click: reached, no answer, wrong number; or what the debtor asked
    for (a promise to pay, a dispute, an instalment plan), recorded through the paths of those models.

    Every outcome is logged (``dunning.call.log``) and written on the debtor's timeline.
    """

    _name = "dunning.call.outcome"
    _description = "Dunning: Call Outcome"
    _check_company_auto = True

    partner_id = fields.Many2one(
        "res.partner", string="Debtor", required=True, check_company=True, domain=[("is_company", "=", True)]
    )
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one("res.currency", compute="_compute_open_moves")
    phone = fields.Char(compute="_compute_phone")
    phone_wrong = fields.Boolean(compute="_compute_phone")
    step = fields.Selection(
        [("outcome", "Outcome"), ("promise", "Promise to pay"), ("dispute", "Dispute"), ("plan", "Plan")],
        default="outcome",
        required=True,
    )
    note = fields.Text(help="Written on the debtor's timeline with the outcome.")
    open_move_ids = fields.Many2many("account.move", compute="_compute_open_moves")
    promise_move_ids = fields.Many2many(
        "account.move",
        relation="dunning_call_outcome_promise_move_rel",
        string="Promised Invoices",
        compute="_compute_arranged_moves",
        store=True,
        readonly=False,
    )
    promise_date = fields.Date(string="Promised Date")
    promise_amount = fields.Monetary(
        string="Promised Amount", compute="_compute_promise_amount", store=True, readonly=False
    )
    dispute_move_id = fields.Many2one("account.move", string="Disputed Invoice")
    dispute_reason = fields.Selection(selection=lambda self: self.env["dunning.dispute"]._fields["reason"].selection)
    dispute_description = fields.Text(string="Debtor's Explanation")
    plan_move_ids = fields.Many2many(
        "account.move",
        relation="dunning_call_outcome_plan_move_rel",
        string="Invoices to Plan",
        compute="_compute_arranged_moves",
        store=True,
        readonly=False,
    )
    plan_count = fields.Integer(string="Number of Instalments", default=3)
    plan_first_date = fields.Date(
        string="First Payment", default=lambda self: fields.Date.add(fields.Date.context_today(self), days=7)
    )
    plan_frequency = fields.Selection(
        selection=lambda self: self.env["dunning.plan"]._frequency_labels(), default="monthly"
    )

    @api.depends("partner_id")
    def _compute_phone(self):
        for wizard in self:
            called = wizard.partner_id._dunning_call_contact() if wizard.partner_id else wizard.partner_id
            wizard.phone = called.phone
            wizard.phone_wrong = called.dunning_phone_wrong

    @api.depends("partner_id", "company_id")
    def _compute_open_moves(self):
        for wizard in self:
            wizard.open_move_ids, _overdue, wizard.currency_id = wizard._debtor_invoices()

    @api.depends("partner_id", "company_id")
    def _compute_arranged_moves(self):
        for wizard in self:
            _open_moves, overdue, currency = wizard._debtor_invoices()
            # A promise is of one amount in one currency: the invoices in the currency of the oldest overdue one.
            wizard.promise_move_ids = overdue.filtered(lambda move, currency=currency: move.currency_id == currency)
            wizard.plan_move_ids = wizard.promise_move_ids

    @api.depends("promise_move_ids")
    def _compute_promise_amount(self):
        for wizard in self:
            wizard.promise_amount = wizard.currency_id.round(sum(wizard.promise_move_ids.mapped("amount_residual")))

    def _debtor_invoices(self):
        """The debtor's open invoices, the overdue ones (all of them when none is), and the currency of the oldest.

        :return: tuple (open ``account.move``, overdue ``account.move``, ``res.currency``)
        """
        self.ensure_one()
        if not self.partner_id:
            return self.env["account.move"], self.env["account.move"], self.company_id.currency_id
        today = fields.Date.context_today(self)
        open_moves = self.env["dunning.statement"]._open_invoices(self.partner_id, self.company_id)
        overdue = open_moves.filtered(lambda move: move.invoice_date_due < today) or open_moves
        return open_moves, overdue, overdue[:1].currency_id or self.company_id.currency_id

    # === ACTION METHODS === #

    def action_reached(self):
        return self._log("reached")

    def action_no_answer(self):
        return self._log("no_answer")

    def action_wrong_number(self):
        self.ensure_one()
        self.partner_id._dunning_call_contact()._dunning_report_wrong_phone()
        return self._log("wrong_number")

    def action_promise(self):
        return self._show_step("promise")

    def action_dispute(self):
        return self._show_step("dispute")

    def action_plan(self):
        return self._show_step("plan")

    def action_back(self):
        return self._show_step("outcome")

    def action_confirm(self):
        """Record what the debtor asked for, then log the call."""
        self.ensure_one()
        record = getattr(self, f"_create_{self.step}")()
        return self._log(self.step, record.display_name)

    # === BUSINESS METHODS === #

    def _show_step(self, step):
        self.ensure_one()
        self.step = step
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Call %(debtor)s", debtor=self.partner_id.name),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    def _log(self, outcome, result=False):
        self.ensure_one()
        note = "\n".join(text for text in (result, self.note) if text) or False
        self.env["dunning.call.log"]._log(self.partner_id, self.company_id, outcome, note)
        return {"type": "ir.actions.act_window_close"}

    def _create_promise(self):
        if not self.promise_move_ids:
            raise ValidationError(self.env._("The debtor has no open invoice to promise to pay (field Invoices)."))
        if not self.promise_date or self.promise_date < fields.Date.context_today(self):
            raise ValidationError(self.env._("The promised date cannot be in the past (field Promised Date)."))
        if self.currency_id.compare_amounts(self.promise_amount, 0) <= 0:
            raise ValidationError(self.env._("Enter the amount the debtor promised (field Promised Amount)."))
        return self.env["dunning.promise"].create(
            {
                "partner_id": self.partner_id.id,
                "company_id": self.company_id.id,
                "currency_id": self.currency_id.id,
                "move_ids": [fields.Command.set(self.promise_move_ids.ids)],
                "date_promised": self.promise_date,
                "amount": self.promise_amount,
            }
        )

    def _create_dispute(self):
        if not self.dispute_move_id:
            raise ValidationError(self.env._("Choose the disputed invoice (field Disputed Invoice)."))
        return self.env["dunning.dispute"]._open_on_invoice(
            self.partner_id,
            self.company_id,
            self.dispute_move_id,
            self.dispute_reason,
            self.dispute_description,
            source="collector",
        )

    def _create_plan(self):
        return self.env["dunning.plan"]._propose(
            self.partner_id,
            self.company_id,
            self.plan_move_ids,
            self.plan_count,
            self.plan_first_date,
            frequency=self.plan_frequency,
            note=self.note,
            source="collector",
        )
