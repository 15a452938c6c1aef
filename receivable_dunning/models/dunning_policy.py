from itertools import pairwise

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class DunningPolicy(models.Model):
    """A ladder of reminder levels that a company applies to its overdue customer invoices."""

    _name = "dunning.policy"
    _description = "Dunning Policy"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    level_ids = fields.One2many("dunning.level", "policy_id", string="Levels", copy=True)
    level_count = fields.Integer(compute="_compute_level_count")
    is_company_default = fields.Boolean(
        string="Default of the Company",
        compute="_compute_is_company_default",
        inverse="_inverse_is_company_default",
        help="Applied to every customer of the company that has no policy of its own.",
    )
    escalation_mode = fields.Selection(
        [
            ("step", "One step at a time"),
            ("catch_up", "Catch up"),
        ],
        required=True,
        default="step",
        help="One step at a time: an invoice never skips a level, even when it is long overdue the first time.\n"
        "Catch up: an invoice goes straight to the level its days overdue give.",
    )
    grace_days = fields.Integer(
        help="Days added to every level's delay before a reminder goes out, to leave time for payments on their way."
    )
    min_interval_days = fields.Integer(
        string="Minimum Interval (days)",
        default=5,
        help="Minimum number of days between two reminders to the same debtor, whatever the levels say.",
    )
    charge_rule_id = fields.Many2one(
        "dunning.charge.rule",
        string="Statutory Charges",
        help="Country rule for late interest (reference rate plus margin, by period) and the fixed compensation "
        "per invoice. Leave empty to use the custom rate below.",
    )
    invoice_charges = fields.Boolean(
        string="Invoice the Charges",
        help="Issue one invoice per debtor and run for the fees and interest of the reminders sent.",
    )
    interest_rate = fields.Float(
        string="Late Interest (% per year)",
        digits=(6, 3),
        help="Annual rate of the late interest charged, per day late on the residual, by the levels that "
        "apply charges, when no statutory rule is chosen.",
    )
    send_thanks = fields.Boolean(
        string="Thank-you Message", default=True, help="Email the debtor when an invoice that was dunned gets paid."
    )
    review_before_sending = fields.Boolean(
        help="The daily scheduled run proposes the reminders of this policy instead of sending them, and gives the "
        "dunning managers an activity: a manager sends them from the run. Manual runs are not affected.",
    )
    note = fields.Html(translate=True)
    statement_link_days = fields.Integer(
        string="Statement Link Validity (days)",
        default=60,
        help="How long the statement link of a reminder opens the debtor's page after it is sent; 0 for no limit.",
    )
    statement_deduct_credits = fields.Boolean(
        string="Deduct Credits Online",
        default=True,
        help="The debtor's open credit notes and unmatched payments are deducted from what the debtor pays online, "
        "as the statement's balance shows, and reconciled with the paid invoices.",
    )
    plan_max_instalments = fields.Integer(
        string="Maximum Instalments",
        default=6,
        help="Debtors may propose to pay in up to this many instalments from their statement page; "
        "below 2, they cannot propose plans.",
    )
    plan_min_amount = fields.Monetary(
        string="Minimum Instalment",
        default=50.0,
        help="The smallest instalment a debtor may propose, in the company's currency.",
    )
    plan_max_days = fields.Integer(
        string="Maximum Plan Span (days)",
        default=180,
        help="The last instalment of a plan must fall within this many days of the proposal.",
    )
    plan_auto_approve = fields.Boolean(
        string="Approve Plans Automatically",
        help="Plans proposed within the limits above are approved at once; otherwise an accountant decides.",
    )
    promise_max_days = fields.Integer(
        string="Maximum Promise Delay (days)",
        default=30,
        help="Debtors may promise from their statement page to pay within this many days; 0: they cannot promise.",
    )
    claim_pause_days = fields.Integer(
        string="Pause on Payment Claimed (days)",
        default=10,
        help="When a debtor says it already paid, its invoices are not dunned for this many days while the payment "
        "is looked for among the bank lines.",
    )
    plan_charge_notice_days = fields.Integer(
        string="Charge Notice (days)",
        default=3,
        help="Debtors whose plan instalments are charged to a saved payment method are emailed this many days "
        "before each charge.",
    )

    _name_company_uniq = models.Constraint(
        "UNIQUE(name, company_id)",
        "A dunning policy with this name already exists in this company.",
    )
    _min_interval_positive = models.Constraint(
        "CHECK(min_interval_days >= 0 AND grace_days >= 0 AND interest_rate >= 0)",
        "The grace days, the minimum interval between reminders and the interest rate cannot be negative.",
    )
    _portal_delays_positive = models.Constraint(
        "CHECK(promise_max_days >= 0 AND claim_pause_days >= 0)",
        "The maximum promise delay and the pause on a payment claimed cannot be negative.",
    )
    _plan_limits_positive = models.Constraint(
        "CHECK(statement_link_days >= 0 AND plan_max_instalments >= 0 AND plan_min_amount >= 0 AND plan_max_days >= 0)",
        "The statement link validity and the instalment plan limits cannot be negative.",
    )
    _plan_charge_notice_days_positive = models.Constraint(
        "CHECK(plan_charge_notice_days >= 0)", "The notice before an instalment's charge cannot be negative."
    )

    # === COMPUTE METHODS === #

    @api.depends("level_ids")
    def _compute_level_count(self):
        for policy in self:
            policy.level_count = len(policy.level_ids)

    @api.depends("company_id.dunning_policy_id")
    def _compute_is_company_default(self):
        for policy in self:
            policy.is_company_default = policy.company_id.dunning_policy_id == policy

    def _inverse_is_company_default(self):
        for policy in self:
            if policy.is_company_default:
                policy.company_id.dunning_policy_id = policy
            elif policy.company_id.dunning_policy_id == policy:
                policy.company_id.dunning_policy_id = False

    # === CONSTRAINT METHODS === #

    @api.constrains("level_ids")
    def _check_level_delays(self):
        """Levels, read in their order, must have strictly increasing delays."""
        for policy in self:
            levels = policy.level_ids.sorted()
            for previous, level in pairwise(levels):
                if level.delay_days <= previous.delay_days:
                    raise ValidationError(
                        self.env._(
                            "Policy %(policy)s: level %(level)s (%(delay)s days) must come later than "
                            "level %(previous)s (%(previous_delay)s days). Order the levels by "
                            "increasing delay.",
                            policy=policy.display_name,
                            level=level.name,
                            delay=level.delay_days,
                            previous=previous.name,
                            previous_delay=previous.delay_days,
                        )
                    )
