import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import float_round
from odoo.tools.misc import formatLang

_logger = logging.getLogger(__name__)


class AccountMove(models.Model):
    _inherit = "account.move"

    dunning_level_id = fields.Many2one(
        "dunning.level",
        copy=False,
        readonly=True,
        index="btree_not_null",
        tracking=True,
        help="The last level this invoice was reminded at.",
    )
    dunning_last_date = fields.Date(string="Last Reminder", copy=False, readonly=True)
    dunning_next_date = fields.Date(
        string="Next Reminder",
        compute="_compute_dunning_next_date",
        help="When this invoice reaches its next dunning level, at the earliest.",
    )
    dunning_days_overdue = fields.Integer(string="Days Overdue", compute="_compute_dunning_days_overdue")
    dunning_hold_until = fields.Date(
        string="Dunning on Hold Until", copy=False, help="No reminder lists this invoice before this date."
    )
    dunning_policy_id = fields.Many2one("dunning.policy", compute="_compute_dunning_policy_id")
    dunning_reminder_line_ids = fields.One2many(
        "dunning.reminder.line", "move_id", string="Dunning History", readonly=True, copy=False
    )
    dunning_reminder_count = fields.Integer(compute="_compute_dunning_reminder_count")
    dunning_plan_id = fields.Many2one(
        "dunning.plan",
        string="Instalment Plan",
        copy=False,
        readonly=True,
        index="btree_not_null",
        help="The approved plan this invoice is paid by: its instalment dates replace the due date for dunning.",
    )
    dunning_dispute_ids = fields.One2many("dunning.dispute", "move_id", string="Disputes", readonly=True)
    dunning_stop_supply = fields.Boolean(
        string="Debtor on Stop Supply",
        compute="_compute_dunning_stop_supply",
        help="The customer is on stop supply in the invoice's company: the invoice cannot be posted, unless a "
        "dunning manager overrides it.",
    )
    dunning_expected_payment_date = fields.Date(
        string="Expected Payment",
        compute="_compute_dunning_expected_payment_date",
        help="The due date plus the days late this customer pays on average (the company's average for a customer "
        "without a history): when the invoice is likely to be paid.",
    )
    dunning_request_ref = fields.Char(
        string="External Reference",
        copy=False,
        readonly=True,
        help="The reference of this payment request in the system it was imported from: importing the same "
        "reference again updates or leaves the request, never creates a second one.",
    )

    # Odoo does not index commercial_partner_id: without this, one debtor's open invoices (statement page, debtor
    # status, plans) are found by scanning every move of the database.
    _dunning_open_by_debtor_idx = models.Index(
        "(commercial_partner_id, company_id) WHERE move_type = 'out_invoice' AND state = 'posted' "
        "AND payment_state IN ('not_paid', 'partial')"
    )
    # The payer profile of one debtor after a payment reads its posted invoices, paid ones included: without this,
    # each payment would scan every move of the database.
    _dunning_invoices_by_debtor_idx = models.Index(
        "(commercial_partner_id, company_id) WHERE move_type = 'out_invoice' AND state = 'posted'"
    )
    # One current request per external reference and company: a crashed import run again, or two imports of the
    # same file at once, cannot create a second one (an amended request gives its reference to its replacement).
    _dunning_request_ref_uniq = models.UniqueIndex(
        "(company_id, dunning_request_ref) WHERE dunning_request_ref IS NOT NULL",
        "A payment request with this external reference already exists in this company.",
    )

    # === COMPUTE METHODS === #

    @api.model
    def _dunning_open_invoice_domain(self, partners, company=None):
        """Posted customer invoices of the debtors ``partners`` (commercial partners) with something left to pay;
        the predicate the partial index ``_dunning_open_by_debtor_idx`` covers.

        :param company: restrict to this company; all companies when None
        """
        domain = Domain(
            [
                ("commercial_partner_id", "in", partners.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
            ]
        )
        return domain & Domain("company_id", "=", company.id) if company else domain

    def _dunning_is_open_receivable(self):
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state in ("not_paid", "partial")
            and bool(self.invoice_date_due)
        )

    @api.depends("invoice_date_due", "state", "payment_state")
    @api.depends_context("date")
    def _compute_dunning_days_overdue(self):
        today = fields.Date.context_today(self)
        for move in self:
            is_open = move._dunning_is_open_receivable()
            move.dunning_days_overdue = (today - move.invoice_date_due).days if is_open else 0

    @api.depends("invoice_date_due", "state", "payment_state", "commercial_partner_id", "company_id")
    def _compute_dunning_expected_payment_date(self):
        self.dunning_expected_payment_date = False
        invoices = self.filtered(lambda move: move._dunning_is_open_receivable() and move.commercial_partner_id)
        if not invoices:
            return
        # sudo: whoever reads the invoice sees when it is likely paid; the profile itself is for dunning users.
        profiles = (
            self.env["dunning.payer.profile"]
            .sudo()
            .search(
                [
                    ("partner_id", "in", invoices.commercial_partner_id._origin.ids),
                    ("company_id", "in", invoices.company_id.ids),
                ]
            )
        )
        delays = {(profile.partner_id.id, profile.company_id.id): profile.expected_delay_days for profile in profiles}
        for move in invoices:
            delay = delays.get((move.commercial_partner_id._origin.id, move.company_id.id), 0.0)
            days = int(float_round(delay, precision_digits=0))
            move.dunning_expected_payment_date = fields.Date.add(move.invoice_date_due, days=days)

    @api.depends("move_type", "commercial_partner_id", "company_id")
    def _compute_dunning_policy_id(self):
        """The policy that duns a customer invoice. Other moves have none, and neither has an invoice whose
        customer is not chosen yet: the web client computes this on a new invoice before anything is filled in."""
        self.dunning_policy_id = False
        invoices = self.filtered(lambda move: move.move_type == "out_invoice" and move.commercial_partner_id)
        for company, company_moves in invoices.grouped("company_id").items():
            debtors = company_moves.commercial_partner_id.with_company(company or self.env.company)
            # One read per company of what _dunning_get_policy reads, not one per debtor.
            debtors.fetch(["commercial_partner_id", "dunning_policy_id"])
            for partner, moves in company_moves.grouped("commercial_partner_id").items():
                moves.dunning_policy_id = partner.with_company(company or self.env.company)._dunning_get_policy()

    @api.depends("dunning_level_id", "dunning_last_date", "invoice_date_due", "no_followup", "dunning_hold_until")
    def _compute_dunning_next_date(self):
        for move in self:
            policy = move.dunning_policy_id
            if not (policy and move._dunning_is_open_receivable()) or move.no_followup:
                move.dunning_next_date = False
                continue
            current = move.dunning_level_id
            # The first level after the current one: also right after a change of policy.
            next_level = policy.level_ids.filtered(lambda level, current=current: level._is_after(current)).sorted(
                lambda level: level._order_key()
            )[:1]
            if not next_level or current.is_last_auto_step:
                move.dunning_next_date = False
                continue
            candidates = [next_level._date_reached(move.invoice_date_due)]
            if move.dunning_last_date:
                candidates.append(fields.Date.add(move.dunning_last_date, days=policy.min_interval_days))
            if move.dunning_hold_until:
                candidates.append(move.dunning_hold_until)
            move.dunning_next_date = max(candidates)

    @api.depends("move_type", "commercial_partner_id", "company_id")
    def _compute_dunning_stop_supply(self):
        stopped = self._dunning_stopped_invoices()
        for move in self:
            move.dunning_stop_supply = move in stopped

    def _dunning_stopped_invoices(self):
        """The customer invoices among these moves whose debtor is on stop supply in the invoice's company, with one
        read of the debtors per company. Credit notes, vendor bills and moves without customer are never stopped."""
        invoices = self.filtered(lambda move: move.move_type == "out_invoice" and move.commercial_partner_id)
        stopped = self.browse()
        for company, company_invoices in invoices.grouped("company_id").items():
            debtors = company_invoices.commercial_partner_id.with_company(company or self.env.company)
            debtors.fetch(["dunning_stop_supply"])
            stopped_debtors = debtors.filtered("dunning_stop_supply")
            stopped |= company_invoices.filtered(
                lambda move, stopped_debtors=stopped_debtors: move.commercial_partner_id in stopped_debtors
            )
        return stopped

    def _compute_dunning_reminder_count(self):
        # _origin: in a form the moves are new records, whose history is their saved record's (none when unsaved).
        counts = dict(
            self.env["dunning.reminder.line"]._read_group(
                [("move_id", "in", self._origin.ids)], groupby=["move_id"], aggregates=["__count"]
            )
        )
        for move in self:
            move.dunning_reminder_count = counts.get(move._origin, 0)

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        # Imports (load) and copy() create through here. Empty values do not count: the field's own default is
        # empty; a default from the context (default_dunning_hold_until) does.
        context_hold = self.env.context.get("default_dunning_hold_until")
        if any(vals.get("dunning_hold_until", context_hold) for vals in vals_list):
            self._dunning_check_hold_rights()
        return super().create(vals_list)

    def write(self, vals):
        if "dunning_hold_until" in vals:
            self._dunning_check_hold_rights()
        return super().write(vals)

    def _dunning_check_hold_rights(self):
        """Only dunning users put invoices on hold or release them: a hold takes an invoice out of the reminders,
        and anyone who edits invoices could otherwise set one, over RPC or an import."""
        if not (self.env.su or self.env.user.has_group("receivable_dunning.group_dunning_user")):
            raise AccessError(
                self.env._(
                    "Only dunning users may put %(invoices)s on hold or release it (%(field)s).",
                    invoices=", ".join(self.mapped("display_name")) or self.env._("a new invoice"),
                    field=self._fields["dunning_hold_until"]._description_string(self.env),
                )
            )

    # === BUSINESS METHODS === #

    def _post(self, soft=True):
        overridden = self._dunning_check_stop_supply()
        posted = super()._post(soft=soft)
        self._dunning_log_notes(self._dunning_override_notes(posted & overridden))
        self._dunning_log_notes(self._dunning_over_credit_limit_notes(posted))
        # A payment may have come before its invoice: the auto-reconcile cron looks again at the statement lines
        # that may pay these invoices (their debtors' lines, and lines without partner that mention them).
        self.env["account.bank.statement.line"]._dunning_auto_match_again_for_invoices(
            posted.filtered(lambda move: move.move_type == "out_invoice")
        )
        return posted

    def _dunning_check_stop_supply(self):
        """Refuse to post customer invoices of debtors on stop supply, unless a dunning manager overrides it (the
        context key ``dunning_stop_supply_override``, set by the 'Post Despite Stop Supply' button).

        :return: the stopped invoices the manager's override lets through
        :raise UserError: naming the stopped debtors, when there is no override
        """
        stopped = self._dunning_stopped_invoices()
        if not stopped:
            return stopped
        if self.env.context.get("dunning_stop_supply_override") and self.env["res.partner"]._dunning_is_manager():
            return stopped
        raise UserError(
            self.env._(
                "%(debtors)s is on %(field)s: %(invoices)s cannot be posted. A dunning manager can post it with "
                "'Post Despite Stop Supply', or lift the stop on the customer's Dunning tab.",
                debtors=", ".join(stopped.commercial_partner_id.mapped("display_name")),
                field=self.env["res.partner"]._fields["dunning_stop_supply"]._description_string(self.env),
                invoices=", ".join(stopped.mapped("display_name")),
            )
        )

    def _dunning_log_notes(self, notes):
        """Log ``notes`` (dict move -> text) on the moves' chatter, in one batch."""
        if notes:
            moves = self.browse([move.id for move in notes])
            moves._message_log_batch(bodies={move.id: Markup("<p>%s</p>") % text for move, text in notes.items()})

    def _dunning_override_notes(self, moves):
        return {
            move: self.env._(
                "Posted despite the stop supply of %(debtor)s, by %(user)s.",
                debtor=move.commercial_partner_id.display_name,
                user=self.env.user.name,
            )
            for move in moves
        }

    def _dunning_over_credit_limit_notes(self, moves):
        """The notes for the customer invoices just posted that leave their debtor over its credit limit, in the
        companies that use credit limits: the limit and the new open balance, in the company currency. Posting is
        not blocked."""
        invoices = moves.filtered(
            lambda move: (
                move.move_type == "out_invoice"
                and move.commercial_partner_id
                and move.company_id.account_use_credit_limit
            )
        )
        notes = {}
        for company, company_invoices in invoices.grouped("company_id").items():
            debtors = company_invoices.commercial_partner_id.with_company(company)
            # The balance computed before posting (the draft's credit warning) is stale now.
            debtors.invalidate_recordset(["credit"])
            # Iterating the debtors computes Odoo's 'credit' for all of them in one query.
            figures = {debtor: (debtor.credit, debtor.credit_limit) for debtor in debtors}
            for invoice in company_invoices:
                balance, limit = figures[invoice.commercial_partner_id]
                if limit and company.currency_id.compare_amounts(balance, limit) > 0:
                    notes[invoice] = self.env._(
                        "Posted over the credit limit of %(debtor)s: limit %(limit)s, open balance now %(balance)s.",
                        debtor=invoice.commercial_partner_id.display_name,
                        limit=formatLang(self.env, limit, currency_obj=company.currency_id),
                        balance=formatLang(self.env, balance, currency_obj=company.currency_id),
                    )
        return notes

    @api.depends("dunning_stop_supply")
    def _compute_alerts(self):
        return super()._compute_alerts()

    def _get_alerts(self):
        alerts = super()._get_alerts()
        if self.state == "draft" and self.dunning_stop_supply:
            debtor = self.commercial_partner_id.with_company(self.company_id)
            message = self.env._(
                "%(debtor)s is on stop supply: this invoice cannot be posted without a dunning manager's override.",
                debtor=debtor.display_name,
            )
            if debtor.dunning_stop_supply_reason:
                message += " " + self.env._("Reason: %(reason)s", reason=debtor.dunning_stop_supply_reason)
            alerts["receivable_dunning_stop_supply"] = {"level": "danger", "message": message}
        return alerts

    def _invoice_paid_hook(self):
        res = super()._invoice_paid_hook()
        self._dunning_on_paid()
        return res

    def _dunning_withdraw_from_pending(self):
        """Take these invoices out of the reminders not yet sent; reminders left empty are cancelled.

        sudo: the invoice may leave dunning through a user without dunning rights (a portal payment, a dispute
        raised by the debtor, a bank reconciliation), and the reminders must follow it whoever acted.
        """
        pending_lines = (
            self.env["dunning.reminder.line"]
            .sudo()
            .search([("move_id", "in", self.ids), ("state", "in", ("draft", "queued", "failed"))])
        )
        pending_reminders = pending_lines.reminder_id
        pending_lines.unlink()
        still_listing = (
            self.env["dunning.reminder.line"]
            .sudo()
            ._read_group([("reminder_id", "in", pending_reminders.ids)], groupby=["reminder_id"])
        )
        (pending_reminders - self.env["dunning.reminder"].union(*(r for (r,) in still_listing)))._update_state(
            ("draft", "queued", "failed"), "cancelled"
        )

    def _dunning_on_paid(self):
        """Step 7: a paid invoice leaves the reminders not yet sent, and its debtor is thanked if it was dunned.

        Idempotent: an invoice paid again (unreconciled then reconciled, or in payment then paid) is thanked once.
        Isolated: each part runs in a savepoint and a failure is logged, never blocking the payment or the
        reconciliation that called it; only a concurrency error goes up, for Odoo to retry the whole transaction.

        sudo: the payment may come from a user without dunning rights (portal payment, bank reconciliation).
        """
        invoices = self.filtered(lambda move: move.move_type == "out_invoice")
        if not invoices:
            return
        try:
            with self.env.cr.savepoint():
                invoices._dunning_withdraw_from_pending()
                # The approved plans follow their invoices; a plan still to approve only lists them.
                plans = invoices.sudo().dunning_plan_id | self.env["dunning.plan"].sudo().search(
                    [("move_ids", "in", invoices.ids), ("state", "=", "proposed")]
                )
                plans._check_paid()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception:  # the payment goes through even when the reminders could not follow
            _logger.exception("dunning: pending reminders of paid invoices %s not withdrawn", invoices.ids)
        dunned = invoices.filtered(lambda move: move.dunning_level_id and move.dunning_policy_id.send_thanks).sudo()
        if not dunned:
            return
        thanked = (
            self.env["dunning.reminder.line"]
            .sudo()
            .search(
                [
                    ("move_id", "in", dunned.ids),
                    ("reminder_id.reminder_type", "=", "thanks"),
                    ("state", "!=", "cancelled"),
                ]
            )
            .move_id
        )
        to_thank = dunned - thanked
        thanks_vals = [
            {
                "company_id": company.id,
                "currency_id": currency.id,
                "partner_id": partner.id,
                "level_id": moves.dunning_level_id.sorted(lambda level: level._order_key())[-1:].id,
                "reminder_type": "thanks",
                "channel": "email",
                "trigger": "payment",
                "line_ids": [
                    fields.Command.create(
                        {"move_id": move.id, "level_id": move.dunning_level_id.id, "date_due": move.invoice_date_due}
                    )
                    for move in moves
                ],
            }
            for (partner, company, currency), moves in to_thank.grouped(
                lambda move: (move.commercial_partner_id, move.company_id, move.currency_id)
            ).items()
        ]
        if not thanks_vals:
            return
        Reminder = self.env["dunning.reminder"].sudo()
        try:
            with self.env.cr.savepoint():
                Reminder.with_context(tracking_disable=True, mail_create_nolog=True).create(thanks_vals)
                Reminder._trigger_dispatch()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception:  # a thank-you never blocks a payment
            _logger.exception("dunning: thank-you for paid invoices %s not queued", to_thank.ids)

    def _dunning_recompute_profiles(self):
        """The payer profiles of these invoices' debtors, after a payment or a reconciliation: one recomputation
        for the whole batch. Isolated as the other effects of a payment: a failure is logged, never blocking it.

        sudo: the payment may come from a user without dunning rights (portal payment, bank reconciliation).
        """
        try:
            with self.env.cr.savepoint():
                self.env["dunning.payer.profile"].sudo()._recompute(
                    partners=self.commercial_partner_id, companies=self.company_id
                )
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception:  # the payment goes through even when the profiles could not follow
            _logger.exception("dunning: payer profiles of the debtors of invoices %s not recomputed", self.ids)

    def _dunning_amount_to_pay(self, expected=None):
        """What paying these invoices online costs: their residual less the debtor's credits the policy deducts,
        whatever a request says.

        :param float expected: the amount the debtor's page showed; a different one means the page is stale
        :return: ``(amount, credits)``: the amount to pay, and the credit lines (``account.move.line``) to
            reconcile with these invoices once it is paid
        :raise ValidationError: when ``expected`` differs from the amount due now
        """
        total = sum(self.mapped("amount_residual"))
        credits = self._dunning_online_credits()
        amount = max(self.currency_id.round(total + sum(credits.mapped("amount_residual_currency"))), 0.0)
        if expected is not None and self.currency_id.compare_amounts(expected, amount):
            raise ValidationError(
                self.env._("The amount to pay has changed since the page was opened: reload the page.")
            )
        return amount, credits

    def _dunning_online_credits(self):
        """The debtor's open credits an online payment of these invoices uses, oldest first: credit notes and
        unmatched payments of the same company, receivable account and currency, when the policy deducts them.
        Credits that a payment under way deducted already are reserved to it and left out."""
        partner = self.commercial_partner_id
        policy = partner.with_company(self.company_id)._dunning_get_policy() if len(partner) == 1 else None
        if not (policy and policy.statement_deduct_credits and len(self.currency_id) == 1):
            return self.env["account.move.line"]
        receivable_accounts = self.line_ids.filtered(lambda line: line.display_type == "payment_term").account_id
        credits = self.env["account.move.line"].search(
            self.env["account.move.line"]._dunning_open_credit_domain(partner, self.company_id)
            & Domain("currency_id", "=", self.currency_id.id)
            & Domain("account_id", "in", receivable_accounts.ids),
            order="date, id",
        )
        return credits - self.env["payment.transaction"]._dunning_reserved_credits(credits)

    def _dunning_settle_with_credits(self):
        """Settle these invoices with the debtor's credits, which must cover them all (the statement page's
        'Settle with my credits').

        :raise ValidationError: when the credits do not cover the invoices, or the policy does not deduct them
        """
        amount, credits = self._dunning_amount_to_pay()
        if not credits or not self.currency_id.is_zero(amount):
            raise ValidationError(
                self.env._("Your credits do not cover the selected invoices: pay them online (field Invoices).")
            )
        self._dunning_apply_credits(credits)

    def _dunning_apply_credits(self, credits):
        """Reconcile these invoices with the debtor's credits that are still open (after an online payment)."""
        credits = credits.filtered(lambda line: not line.reconciled)
        receivables = self.line_ids.filtered(
            lambda line: (
                line.display_type == "payment_term" and not line.reconciled and line.account_id in credits.account_id
            )
        )
        if credits and receivables:
            (receivables + credits).reconcile()

    def _dunning_open_disputes(self):
        """The disputes still open on these invoices: while one is, the invoice is neither dunned nor payable."""
        return self.env["dunning.dispute"].search([("move_id", "in", self.ids), ("state", "=", "open")])

    def _dunning_portal_status(self):
        """What the debtor's invoice page says about dunning: level, last reminder, open dispute, plan."""
        self.ensure_one()
        return {
            "level": self.dunning_level_id,
            "last_date": self.dunning_last_date,
            "dispute": self._dunning_open_disputes()[:1],
            "plan": self.dunning_plan_id,
        }

    # === ACTION METHODS === #

    def action_post_despite_stop_supply(self):
        """Post customer invoices of debtors on stop supply: dunning managers only; the invoice's chatter says who."""
        if not self.env["res.partner"]._dunning_is_manager():
            raise AccessError(self.env._("Only dunning managers may post an invoice despite a stop supply."))
        return self.with_context(dunning_stop_supply_override=True).action_post()

    def action_view_dunning_reminders(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("receivable_dunning.dunning_reminder_action")
        action["domain"] = [("line_ids.move_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    # === DEBTOR'S ARRANGEMENTS === #

    def _dunning_check_open_arrangements(self):
        """One arrangement at a time per invoice: none of these invoices may be disputed, under a pending promise or
        under a payment claim still open, before the debtor promises or claims anew.

        :raise ValidationError: naming the first invoice at fault
        """
        disputed = self._dunning_open_disputes()
        if disputed:
            raise ValidationError(
                self.env._("Invoice %(invoice)s is disputed (field Invoices).", invoice=disputed[0].move_id.name)
            )
        promised = self.env["dunning.promise"].search(
            [("move_ids", "in", self.ids), ("state", "=", "pending")], limit=1
        )
        if promised:
            raise ValidationError(
                self.env._(
                    "Invoice %(invoice)s is already under a promise to pay (field Invoices).",
                    invoice=(promised.move_ids & self)[0].name,
                )
            )
        claimed = self.env["dunning.payment.claim"].search(
            [("move_ids", "in", self.ids), ("state", "in", ("searching", "proposed"))], limit=1
        )
        if claimed:
            raise ValidationError(
                self.env._(
                    "Invoice %(invoice)s is already said to be paid: we are looking for the payment (field Invoices).",
                    invoice=(claimed.move_ids & self)[0].name,
                )
            )
