import secrets

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain
from odoo.tools.query import Query

# The collectors' decisions on a customer, which only dunning users may change: any user who edits customers
# could otherwise put one on hold or change its policy, over RPC or an import.
DUNNING_COLLECTOR_FIELDS = frozenset(
    {
        "dunning_policy_id",
        "dunning_collector_id",
        "dunning_hold_until",
        "dunning_contact",
        "dunning_statement_revoked",
        "dunning_channel_preference",
        "dunning_hold_reason",
        "dunning_hold_note",
        "dunning_policy_pinned",
        "dunning_wrong_phone",
    }
)
# Whether the company keeps trading with a customer: a manager's decision, not a collector's.
DUNNING_MANAGER_FIELDS = frozenset({"dunning_stop_supply", "dunning_stop_supply_reason"})
HOLD_REASONS = [
    ("dispute", "Dispute"),
    ("promise", "Promise to Pay"),
    ("negotiation", "Negotiation"),
    ("customer_request", "Customer Request"),
    ("other", "Other"),
]


# Who sees the payer risk of a customer.
PROFILE_GROUPS = "receivable_dunning.group_dunning_user,account.group_account_readonly"


class ResPartner(models.Model):
    _inherit = "res.partner"

    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        company_dependent=True,
        copy=False,
        help="Overrides the company's default dunning policy for this customer.",
    )
    dunning_policy_pinned = fields.Boolean(
        string="Policy Pinned",
        company_dependent=True,
        copy=False,
        help="The policy stays when the customer changes risk class. Set when a user chooses the policy by hand.",
    )
    dunning_collector_id = fields.Many2one(
        "res.users",
        string="Collector",
        company_dependent=True,
        copy=False,
        help="Who follows up this customer's unpaid invoices and makes the calls.",
    )
    dunning_contact = fields.Boolean(
        copy=False,
        help="Reminders of the company go to this contact first, before its invoice address.",
    )
    # The debtor's own wish, whichever company reminds it: not company-dependent, as the hold.
    dunning_channel_preference = fields.Selection(
        [("email", "Email only"), ("no_sms", "No SMS"), ("letter", "Post only")],
        string="Reminder Channels",
        copy=False,
        help="Which of the level's channels may remind this customer; all of them when empty. The collector's call "
        "is not a message to the customer and is kept. A number on the SMS blacklist receives no reminder SMS.",
    )
    dunning_promise_ids = fields.One2many("dunning.promise", "partner_id", string="Promises to Pay", readonly=True)
    dunning_hold_until = fields.Date(
        string="Dunning on Hold Until", copy=False, help="No reminder is sent to this customer before this date."
    )
    # The hold's why, as the hold itself: not company-dependent.
    dunning_hold_reason = fields.Selection(HOLD_REASONS, string="Hold Reason", copy=False)
    dunning_hold_note = fields.Text(string="Hold Note", copy=False)
    dunning_overdue_amount = fields.Monetary(
        string="Overdue Amount",
        compute="_compute_dunning_overdue",
        currency_field="dunning_currency_id",
        help="Overdue receivables of posted customer invoices in the current company, excluding the "
        "invoices marked 'No Follow-Up'.",
    )
    dunning_overdue_count = fields.Integer(string="Overdue Invoices", compute="_compute_dunning_overdue")
    dunning_currency_id = fields.Many2one("res.currency", compute="_compute_dunning_overdue")
    dunning_level_id = fields.Many2one(
        "dunning.level",
        string="Highest Dunning Level",
        compute="_compute_dunning_level_id",
        help="The highest level reached by the customer's open invoices in the current company.",
    )
    dunning_reminder_ids = fields.One2many("dunning.reminder", "partner_id", string="Reminders", readonly=True)
    dunning_reminder_count = fields.Integer(compute="_compute_dunning_reminder_count")
    dunning_plan_ids = fields.One2many("dunning.plan", "partner_id", string="Instalment Plans", readonly=True)
    dunning_dispute_ids = fields.One2many("dunning.dispute", "partner_id", string="Disputes", readonly=True)
    dunning_statement_revoked = fields.Boolean(
        string="Statement Links Revoked",
        copy=False,
        help="The debtor's statement links are refused and reminders carry none, until a new link is issued.",
    )
    dunning_stop_supply = fields.Boolean(
        string="Stop Supply",
        company_dependent=True,
        copy=False,
        help="No new customer invoice of this debtor can be posted in this company, unless a dunning manager "
        "overrides it on the invoice. Credit notes are not blocked.",
    )
    dunning_stop_supply_reason = fields.Char(string="Stop Supply Reason", company_dependent=True, copy=False)
    dunning_credit_open = fields.Monetary(
        string="Open Balance",
        compute="_compute_dunning_credit",
        currency_field="dunning_currency_id",
        help="What the debtor owes the company and its branches (Total Receivable), in the company currency.",
    )
    dunning_credit_left = fields.Monetary(
        string="Credit Left",
        compute="_compute_dunning_credit",
        currency_field="dunning_currency_id",
        help="The credit limit less the open balance; negative when the debtor is over its limit.",
    )
    dunning_handover_ids = fields.One2many("dunning.handover", "partner_id", string="Hand-overs", readonly=True)
    dunning_handover_count = fields.Integer(compute="_compute_dunning_handover_count")
    # The payer profile in the current company, and what the customer form shows of it.
    dunning_profile_id = fields.Many2one(
        "dunning.payer.profile",
        string="Payer Profile",
        compute="_compute_dunning_profile",
        search="_search_dunning_profile",
        groups=PROFILE_GROUPS,
    )
    dunning_risk_score = fields.Integer(related="dunning_profile_id.score", string="Payer Score", groups=PROFILE_GROUPS)
    dunning_risk_class_id = fields.Many2one(related="dunning_profile_id.risk_class_id", groups=PROFILE_GROUPS)
    dunning_risk_explanation = fields.Char(
        related="dunning_profile_id.explanation", string="Payer Risk", groups=PROFILE_GROUPS
    )
    dunning_risk_trend = fields.Selection(related="dunning_profile_id.trend", groups=PROFILE_GROUPS)
    dunning_last_payment_date = fields.Date(related="dunning_profile_id.last_payment_date", groups=PROFILE_GROUPS)
    dunning_expected_delay_days = fields.Float(
        related="dunning_profile_id.expected_delay_days",
        string="Expected Delay (Days)",
        groups=PROFILE_GROUPS,
        help="Days after the due date this customer is expected to pay.",
    )
    dunning_proposed_credit_limit = fields.Monetary(
        related="dunning_profile_id.credit_limit",
        string="Proposed Credit Limit",
        currency_field="dunning_currency_id",
        groups=PROFILE_GROUPS,
        help="The credit limit its risk class proposes.",
    )
    dunning_wrong_phone = fields.Char(
        string="Number Reported Wrong",
        copy=False,
        readonly=True,
        help="The phone number a collector reported wrong after calling it: SMS and call reminders to it fail "
        "until the phone number changes.",
    )
    dunning_phone_wrong = fields.Boolean(
        string="Wrong Number",
        compute="_compute_dunning_phone_wrong",
        help="A collector reported this phone number wrong: SMS and call reminders to it fail until it changes.",
    )
    # Mixed into every statement token: replacing it revokes every link given out before.
    dunning_statement_seed = fields.Char(copy=False, groups="base.group_system")

    # === COMPUTE METHODS === #

    @api.model
    def _dunning_overdue_line_domain(self):
        """Open receivable items of posted customer invoices that are past due and may be dunned."""
        return Domain(
            [
                ("company_id", "=", self.env.company.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("move_id.move_type", "=", "out_invoice"),
                ("reconciled", "=", False),
                ("amount_residual", ">", 0),
                ("no_followup", "=", False),
                ("date_maturity", "<", fields.Date.context_today(self)),
            ]
        )

    @api.depends_context("company", "date")
    def _compute_dunning_overdue(self):
        # _origin: in a form the partners are new records, which owe what their saved record owes (nothing if unsaved).
        commercial = self.commercial_partner_id._origin
        groups = self.env["account.move.line"]._read_group(
            self._dunning_overdue_line_domain() & Domain("partner_id", "in", commercial.ids),
            groupby=["partner_id"],
            aggregates=["amount_residual:sum", "move_id:count_distinct"],
        )
        totals = {partner: (amount, count) for partner, amount, count in groups}
        for partner in self:
            amount, count = totals.get(partner.commercial_partner_id._origin, (0.0, 0))
            partner.dunning_overdue_amount = amount
            partner.dunning_overdue_count = count
            partner.dunning_currency_id = self.env.company.currency_id

    @api.depends_context("company")
    def _compute_dunning_level_id(self):
        commercial = self.commercial_partner_id._origin
        Move = self.env["account.move"]
        groups = Move._read_group(
            Move._dunning_open_invoice_domain(commercial, self.env.company) & Domain("dunning_level_id", "!=", False),
            groupby=["commercial_partner_id", "dunning_level_id"],
        )
        highest = {}
        for partner, level in groups:
            if level._is_after(highest.get(partner)):
                highest[partner] = level
        for partner in self:
            partner.dunning_level_id = highest.get(partner.commercial_partner_id._origin, False)

    @api.depends_context("company")
    def _compute_dunning_profile(self):
        commercial = self.commercial_partner_id._origin
        profiles = self.env["dunning.payer.profile"].search(
            [("partner_id", "in", commercial.ids), ("company_id", "=", self.env.company.id)]
        )
        by_partner = {profile.partner_id: profile for profile in profiles}
        for partner in self:
            profile = by_partner.get(partner.commercial_partner_id._origin, profiles.browse())
            partner.dunning_profile_id = profile

    def _search_dunning_profile(self, operator, value):
        """Partners by their profile in the current company, as the compute finds it: the related score, class and
        trend are searched through it, and the ORM finds through it whose cached values a profile's change drops."""
        if operator not in ("in", "any"):
            return NotImplemented
        Profile = self.env["dunning.payer.profile"]

        def debtors_with(profile_domain):
            profiles = Profile._search(profile_domain & Domain("company_id", "=", self.env.company.id))
            return Domain("commercial_partner_id", "in", profiles.subselect("partner_id"))

        if operator == "any":
            return debtors_with(Domain("id", "in", value) if isinstance(value, Query) else Domain(value))
        domain = Domain.FALSE
        if profile_ids := [profile_id for profile_id in value if profile_id]:
            domain |= debtors_with(Domain("id", "in", profile_ids))
        if False in value:
            domain |= ~debtors_with(Domain.TRUE)
        return domain

    def _compute_dunning_reminder_count(self):
        counts = dict(
            self.env["dunning.reminder"]._read_group(
                [("partner_id", "in", self._origin.ids)], groupby=["partner_id"], aggregates=["__count"]
            )
        )
        for partner in self:
            partner.dunning_reminder_count = counts.get(partner._origin, 0)

    @api.depends_context("company")
    def _compute_dunning_credit(self):
        # Odoo's own figures: iterating the debtors computes 'credit' (Total Receivable) for all of them in one
        # query. _origin: an unsaved partner owes nothing.
        figures = {debtor: (debtor.credit, debtor.credit_limit) for debtor in self.commercial_partner_id._origin}
        for partner in self:
            open_balance, limit = figures.get(partner.commercial_partner_id._origin, (0.0, 0.0))
            partner.dunning_credit_open = open_balance
            partner.dunning_credit_left = limit - open_balance

    def _compute_dunning_handover_count(self):
        counts = dict(
            self.env["dunning.handover"]._read_group(
                [("partner_id", "in", self._origin.ids)], groupby=["partner_id"], aggregates=["__count"]
            )
        )
        for partner in self:
            partner.dunning_handover_count = counts.get(partner._origin, 0)

    @api.depends("dunning_wrong_phone", "phone", "phone_sanitized")
    def _compute_dunning_phone_wrong(self):
        for partner in self:
            partner.dunning_phone_wrong = bool(partner.dunning_wrong_phone) and partner.dunning_wrong_phone in (
                partner.phone_sanitized,
                partner.phone,
            )

    # === CONSTRAINT METHODS === #

    @api.constrains("dunning_policy_id")
    def _check_dunning_policy_company(self):
        """A customer's policy in a company is one of that company's policies: the run of a company applies it to
        the company's invoices. The value is company-dependent: it is set for the current company."""
        company = self.env.company
        for partner in self:
            policy = partner.dunning_policy_id
            if policy and policy.company_id != company:
                raise ValidationError(
                    self.env._(
                        "%(field)s of %(debtor)s in %(company)s cannot be %(policy)s, a policy of %(policy_company)s.",
                        field=self._fields["dunning_policy_id"]._description_string(self.env),
                        debtor=partner.display_name,
                        company=company.name,
                        policy=policy.name,
                        policy_company=policy.company_id.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        return super().create(self._dunning_prepare_create_vals(vals_list))

    @api.model
    def _dunning_prepare_create_vals(self, vals_list):
        """The values of new contacts as this module creates them (a policy chosen by hand pinned), after checking
        that the user may set the dunning fields they give; also used by the payment request import, which inserts
        its new debtors without ``create``.

        :raise AccessError: a collector's or manager's field set by a user who is not one
        """
        # An import creates through here too (load), and so does copy() with its default values.
        manager_set = {name for vals in vals_list for name in DUNNING_MANAGER_FIELDS if vals.get(name)}
        if manager_set and not self._dunning_is_manager():
            names = [vals.get("name") or self.env._("a new contact") for vals in vals_list]
            self._dunning_raise_not_manager(", ".join(names), manager_set)
        if not self._dunning_is_collector():
            # Values given, or defaults from the context (default_*) for the fields not given; the fields' own
            # defaults are empty, and the web client sends them on every new contact: empty values do not count.
            set_names = {
                name
                for vals in vals_list
                for name in DUNNING_COLLECTOR_FIELDS
                if vals.get(name, self.env.context.get(f"default_{name}"))
            }
            if set_names:
                names = [vals.get("name") or self.env._("a new contact") for vals in vals_list]
                self._dunning_raise_not_collector(", ".join(names), set_names)
        return [self._dunning_pin_policy(vals) for vals in vals_list]

    def write(self, vals):
        changed = DUNNING_COLLECTOR_FIELDS.intersection(vals)
        if changed and not self._dunning_is_collector():
            self._dunning_raise_not_collector(", ".join(self.mapped("display_name")), changed)
        manager_changed = DUNNING_MANAGER_FIELDS.intersection(vals)
        if manager_changed and not self._dunning_is_manager():
            self._dunning_raise_not_manager(", ".join(self.mapped("display_name")), manager_changed)
        if "dunning_hold_until" in vals and not vals["dunning_hold_until"]:
            # A released hold has no reason left.
            vals = {**vals, "dunning_hold_reason": False, "dunning_hold_note": False}
        return super().write(self._dunning_pin_policy(vals))

    def _dunning_pin_policy(self, vals):
        """A policy chosen by hand is pinned: it stays when the customer changes risk class. The class mechanism
        writes the policy with ``dunning_policy_from_class`` in the context; a user may unpin in the same write."""
        if (
            vals.get("dunning_policy_id")
            and "dunning_policy_pinned" not in vals
            and not self.env.context.get("dunning_policy_from_class")
        ):
            return {**vals, "dunning_policy_pinned": True}
        return vals

    def _dunning_raise_not_manager(self, debtors, field_names):
        raise AccessError(
            self.env._(
                "Only dunning managers may change whether the company keeps supplying %(debtor)s (%(fields)s).",
                debtor=debtors,
                fields=", ".join(self._fields[name]._description_string(self.env) for name in sorted(field_names)),
            )
        )

    def _dunning_raise_not_collector(self, debtors, field_names):
        raise AccessError(
            self.env._(
                "Only dunning users may change how %(debtor)s is dunned (%(fields)s).",
                debtor=debtors,
                fields=", ".join(self._fields[name]._description_string(self.env) for name in sorted(field_names)),
            )
        )

    # === ACTION METHODS === #

    def action_view_dunning_reminders(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_reminder_action")
        action["domain"] = [("partner_id", "=", self.commercial_partner_id.id)]
        action["context"] = {"create": False}
        return action

    def action_view_dunning_profile(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "dunning.payer.profile",
            "res_id": self.dunning_profile_id.id,
            "view_mode": "form",
        }

    def action_dunning_revoke_statement(self):
        """Revoke the statement links of these debtors: old links answer 'not found', reminders carry none."""
        self._dunning_check_statement_rights()
        self._dunning_reset_statement_seed()
        self.commercial_partner_id.dunning_statement_revoked = True

    def action_dunning_new_statement_link(self):
        """Issue new statement links: the old ones stop working, the next reminders carry the new one."""
        self._dunning_check_statement_rights()
        self._dunning_reset_statement_seed()
        self.commercial_partner_id.dunning_statement_revoked = False

    def action_dunning_open_statement(self):
        """Open the debtor's statement page as the debtor sees it, with a link valid for the policy's validity.

        Over RPC, integrators get the link in the action's ``url``.
        """
        self.ensure_one()
        self._dunning_check_statement_rights()
        partner = self.commercial_partner_id
        if partner.dunning_statement_revoked:
            raise UserError(
                self.env._("%(debtor)s's statement links are revoked: issue a new link first.", debtor=partner.name)
            )
        days = partner._dunning_get_policy().statement_link_days
        valid_until = fields.Date.add(fields.Date.context_today(self), days=days) if days else False
        return {
            "type": "ir.actions.act_url",
            "url": self.env["dunning.statement"]._url(partner, self.env.company, valid_until),
            "target": "new",
        }

    def action_dunning_sms_opt_out(self):
        """Put the customer's phone number on Odoo's SMS blacklist: it receives no reminder SMS, nor any other SMS
        that honours the blacklist (SMS marketing, the mass SMS composer). Only an administrator takes a number
        off the blacklist, with the button next to the phone number."""
        if not self._dunning_is_collector():
            self._dunning_raise_not_collector(", ".join(self.mapped("display_name")), {"phone_sanitized_blacklisted"})
        numbers = []
        for partner in self.commercial_partner_id:
            if not partner.phone_sanitized:
                raise UserError(
                    self.env._(
                        "%(debtor)s has no phone number to opt out of SMS (field %(field)s).",
                        debtor=partner.display_name,
                        field=self._fields["phone"]._description_string(self.env),
                    )
                )
            numbers.append(partner.phone_sanitized)
        # sudo: only administrators write the blacklist; a collector records the customer's opt-out there.
        self.env["phone.blacklist"].sudo()._add(
            numbers, message=self.env._("Opted out of SMS reminders, recorded by %(user)s.", user=self.env.user.name)
        )
        self.commercial_partner_id.invalidate_recordset(["phone_sanitized_blacklisted", "phone_blacklisted"])

    def action_dunning_log_call(self):
        """Log the outcome of a call to this debtor, in one click (see ``dunning.call.outcome``)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Call %(debtor)s", debtor=self.commercial_partner_id.name),
            "res_model": "dunning.call.outcome",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_partner_id": self.commercial_partner_id.id,
                "default_company_id": self.env.company.id,
            },
        }

    def _dunning_is_collector(self):
        return self.env.su or self.env.user.has_group("receivable_dunning.group_dunning_user")

    def _dunning_is_manager(self):
        return self.env.su or self.env.user.has_group("receivable_dunning.group_dunning_manager")

    def action_dunning_put_on_hold(self):
        """The 'Put on Hold' wizard for these debtors: end date, reason and note together."""
        return self.env["dunning.hold.wizard"]._action_open(self.commercial_partner_id)

    def action_dunning_stop_supply(self):
        """The 'Stop Supply' wizard for these debtors (dunning managers)."""
        return self.env["dunning.stop.supply.wizard"]._action_open(self.commercial_partner_id)

    def action_dunning_hand_over(self):
        """The 'Hand Over' wizard for this debtor (dunning managers)."""
        self.ensure_one()
        return self.env["dunning.handover.wizard"]._action_open(self.commercial_partner_id)

    def action_view_dunning_handovers(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_handover_action")
        action["domain"] = [("partner_id", "=", self.commercial_partner_id.id)]
        action["context"] = {"create": False}
        return action

    def _dunning_check_statement_rights(self):
        """Only dunning users hand out or revoke statement links: a link shows the debtor's invoices to whoever
        holds it, and these actions can be called over RPC by any user who may read customers."""
        if not self._dunning_is_collector():
            raise AccessError(
                self.env._(
                    "Only dunning users may open, issue or revoke the statement links of %(debtor)s.",
                    debtor=", ".join(self.commercial_partner_id.mapped("name")),
                )
            )

    def _dunning_reset_statement_seed(self):
        # sudo: the seed is a secret no one reads, not even accountants; changing it is what revokes links.
        for partner_sudo in self.commercial_partner_id.sudo():
            partner_sudo.dunning_statement_seed = secrets.token_urlsafe(24)

    # === BUSINESS METHODS === #

    def _dunning_responsible(self, company, moves=None):
        """Who follows up this debtor in ``company``: its collector, else the invoices' salesperson, else the
        administrator; an archived user (OdooBot, a salesperson who left) or a portal user is passed over."""
        self.ensure_one()
        collector = self.commercial_partner_id.with_company(company).dunning_collector_id
        salespeople = moves.invoice_user_id if moves else self.env["res.users"]
        candidates = (collector | salespeople).filtered(lambda user: user.active and not user.share)
        return candidates[:1] or self.env.ref("base.user_admin")

    def _dunning_call_contact(self):
        """Whom a collector calls about this debtor's invoices: its first dunning contact with a phone number, else
        the debtor itself (the Today list shows the same number)."""
        self.ensure_one()
        partner = self.commercial_partner_id
        contact = self.search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("id", "!=", partner.id),
                ("dunning_contact", "=", True),
                ("phone", "!=", False),
            ],
            order="id",
            limit=1,
        )
        return contact or partner

    def _dunning_report_wrong_phone(self):
        """Flag the number a collector called as wrong: SMS and call reminders to it fail until it changes."""
        for partner in self:
            partner.dunning_wrong_phone = partner.phone_sanitized or partner.phone

    def _dunning_get_policy(self):
        """Return the dunning policy of this customer in the current company: its own, else the company's.

        :return: a ``dunning.policy`` record, possibly empty
        """
        self.ensure_one()
        partner = self.commercial_partner_id
        return partner.dunning_policy_id or self.env.company.dunning_policy_id

    @api.model
    def _dunning_refused_channels(self, recipients):
        """The reminder channels each debtor refuses: those its preference leaves out, and SMS when its own number
        or the number its reminders go to is on Odoo's SMS blacklist. Internal channels (the collector's call)
        are never refused. In a constant number of queries.

        :param dict recipients: debtor (commercial partner) id -> ``res.partner`` its reminders are addressed to
        :return: dict debtor id -> set of channel codes
        """
        Reminder = self.env["dunning.reminder"]
        message_channels = set(Reminder._channels()) - Reminder._internal_channels()
        kept_by = {"email": {"email"}, "letter": {"letter"}, "no_sms": message_channels - {"sms"}}
        debtors = self.browse(list(recipients))
        blacklisted = (debtors | self.union(*recipients.values())).filtered("phone_sanitized_blacklisted")
        refused = {}
        for debtor in debtors:
            refused[debtor.id] = message_channels - kept_by.get(debtor.dunning_channel_preference, message_channels)
            if debtor in blacklisted or recipients[debtor.id] in blacklisted:
                refused[debtor.id].add("sms")
        return refused
