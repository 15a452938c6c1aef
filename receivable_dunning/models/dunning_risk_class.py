from itertools import pairwise

from odoo import api, fields, models
from odoo.exceptions import ValidationError

# The classes every company starts with: code, lowest score, stop supply (named in _create_for_companies).
DEFAULT_RISK_CLASSES = (("A", 75, False), ("B", 50, False), ("C", 25, False), ("D", 0, True))


class DunningRiskClass(models.Model):
    """A class of payers by score, per company: A for the safest, D for the riskiest.

    A debtor belongs to the class with the highest minimum score its own score reaches. The class proposes the
    dunning policy of its debtors (they follow it when they change class, unless their policy is pinned), a
    credit limit, and whether to stop supplying them.
    """

    _name = "dunning.risk.class"
    _description = "Payer Risk Class"
    _order = "company_id, code"
    _check_company_auto = True

    code = fields.Selection([("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")], required=True, readonly=True)
    name = fields.Char(required=True, translate=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    min_score = fields.Integer(
        string="Minimum Score", required=True, help="Debtors whose score (0 to 100, 100 the safest) reaches it."
    )
    policy_id = fields.Many2one(
        "dunning.policy",
        string="Dunning Policy",
        check_company=True,
        help="The policy a debtor gets when it moves into this class, unless its policy is pinned. Empty: the "
        "debtor keeps its policy.",
    )
    credit_limit = fields.Monetary(
        string="Proposed Credit Limit", help="The credit limit proposed for the debtors of this class."
    )
    stop_supply = fields.Boolean(help="Stop supplying the debtors that move into this class.")
    profile_count = fields.Integer(string="Debtors", compute="_compute_profile_count")

    _code_per_company = models.Constraint("UNIQUE(company_id, code)", "Each company has one class of each code.")
    _score_range = models.Constraint(
        "CHECK(min_score >= 0 AND min_score <= 100)", "A minimum score lies between 0 and 100."
    )

    # === COMPUTE METHODS === #

    def _compute_profile_count(self):
        counts = dict(
            self.env["dunning.payer.profile"]._read_group(
                [("risk_class_id", "in", self.ids)], groupby=["risk_class_id"], aggregates=["__count"]
            )
        )
        for risk_class in self:
            risk_class.profile_count = counts.get(risk_class, 0)

    @api.depends("code", "name")
    def _compute_display_name(self):
        for risk_class in self:
            risk_class.display_name = f"{risk_class.code} - {risk_class.name}" if risk_class.code else risk_class.name

    # === CONSTRAINT METHODS === #

    @api.constrains("min_score", "code")
    def _check_min_score_order(self):
        """A better class asks for a higher score: A > B > C > D, with D starting at 0 so that every score has a
        class."""
        field_name = self._fields["min_score"]._description_string(self.env)
        for company in self.company_id:
            classes = self.search([("company_id", "=", company.id)]).sorted("code")
            for better, worse in pairwise(classes):
                if better.min_score <= worse.min_score:
                    raise ValidationError(
                        self.env._(
                            "%(field)s of class %(better)s (%(better_score)s) must be higher than that of class "
                            "%(worse)s (%(worse_score)s) in %(company)s.",
                            field=field_name,
                            better=better.display_name,
                            better_score=better.min_score,
                            worse=worse.display_name,
                            worse_score=worse.min_score,
                            company=company.name,
                        )
                    )
            lowest = classes[-1:]
            if lowest and lowest.min_score != 0:
                raise ValidationError(
                    self.env._(
                        "%(field)s of class %(risk_class)s must be 0 in %(company)s: every score needs a class.",
                        field=field_name,
                        risk_class=lowest.display_name,
                        company=company.name,
                    )
                )

    # === CRUD METHODS === #

    def write(self, vals):
        res = super().write(vals)
        if "min_score" in vals:
            # New thresholds: the debtors of these companies move to the classes their scores now reach.
            self.env["dunning.payer.profile"]._recompute(companies=self.company_id)
        return res

    # === BUSINESS METHODS === #

    @api.model
    def _create_missing(self):
        """Give every company without classes the default ones: at install and at each update of the module
        (data/dunning_risk_class_data.xml), for the companies that existed before."""
        self._create_for_companies(self.env["res.company"].search([]))

    @api.model
    def _create_for_companies(self, companies):
        """Give each of ``companies`` without classes the four default classes, named in English and in every
        other installed language."""
        # sudo: whoever creates a company gets its classes, as it gets its default policy.
        existing = self.sudo().search([("company_id", "in", companies.ids)]).company_id
        names = self.with_context(lang="en_US")._default_names()
        classes = (
            self.sudo()
            .with_context(lang="en_US")
            .create(
                [
                    {
                        "company_id": company.id,
                        "code": code,
                        "name": names[code],
                        "min_score": min_score,
                        "stop_supply": stop,
                    }
                    for company in companies - existing
                    for code, min_score, stop in DEFAULT_RISK_CLASSES
                ]
            )
        )
        languages = [code for code, _name in self.env["res.lang"].get_installed() if code != "en_US"]
        translated = {lang: self.with_context(lang=lang)._default_names() for lang in languages}
        for risk_class in classes:
            risk_class.update_field_translations(
                "name", {lang: translated[lang][risk_class.code] for lang in languages}
            )

    @api.model
    def _default_names(self):
        """The default classes' names in the environment's language, by code."""
        return {
            "A": self.env._("Reliable"),
            "B": self.env._("Watch"),
            "C": self.env._("At Risk"),
            "D": self.env._("Critical"),
        }
