import logging

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.tools import SQL, float_round

_logger = logging.getLogger(__name__)

# Points taken off 100 per factor: (points per unit, at most). The table of readme/USAGE.md, "Payer risk".
PENALTIES = {
    "avg_days_late": (1.0, 30),  # per day late on average, weighted by amount
    "late_share": (0.2, 20),  # per percent of invoices paid late
    "max_days_late": (0.2, 10),  # per day of the longest delay beyond 30 days
    "broken_promise_count": (10.0, 20),  # per broken promise
    "dispute_count": (2.0, 6),  # per dispute opened
    "dispute_rejected_count": (5.0, 10),  # per dispute rejected: the invoice was owed
    "missed_instalment_count": (10.0, 20),  # per missed instalment
    "overdue_share": (0.2, 20),  # per percent of the open balance overdue
    "overdue_share_rise": (0.25, 10),  # per point the overdue share rose in a month
}
# Beyond this many days, the longest delay costs points on top of the average.
LONGEST_DELAY_GRACE_DAYS = 30
# Points of overdue share the trend must move by to count as better or worse.
TREND_POINTS = 5
TREND_SELECTION = [("better", "Better"), ("stable", "Stable"), ("worse", "Worse")]


class DunningPayerProfile(models.Model):
    """How a debtor pays, per company: the factors of the last 12 months, a score and a risk class.

    One row per debtor (commercial partner) and company that has a posted customer invoice dated in the last
    12 months or still open. Recomputed set-based by ``_recompute`` (nightly, and for the debtors a payment or a
    reconciliation touches); the factors and the score are written by one SQL statement, never by the ORM.
    """

    _name = "dunning.payer.profile"
    _description = "Payer Risk Profile"
    _order = "score, overdue_amount desc, id"
    _rec_name = "partner_id"
    _check_company_auto = True

    partner_id = fields.Many2one("res.partner", string="Debtor", required=True, readonly=True, index=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    score = fields.Integer(readonly=True, aggregator="avg", help="0 to 100: 100 for the safest payer.")
    risk_class_id = fields.Many2one("dunning.risk.class", readonly=True, index=True, group_expand="_expand_classes")
    previous_class_id = fields.Many2one("dunning.risk.class", readonly=True)
    class_changed_date = fields.Date(string="Class Changed On", readonly=True)
    class_worsened = fields.Boolean(
        string="Moved to a Worse Class", readonly=True, help="The last change of class was to a worse one."
    )
    explanation = fields.Char(compute="_compute_explanation", help="The factors that made the score.")
    level_id = fields.Many2one("dunning.level", string="Highest Level", readonly=True)
    # The factors, over the last 12 months.
    invoice_count = fields.Integer(
        string="Invoices Measured", readonly=True, help="Invoices paid, or open and past due: those a delay is known."
    )
    late_invoice_count = fields.Integer(string="Invoices Paid Late", readonly=True)
    late_share = fields.Float(string="Share Paid Late (%)", readonly=True, digits=(5, 1), aggregator="avg")
    avg_days_late = fields.Float(
        string="Average Days Late",
        readonly=True,
        digits=(16, 1),
        aggregator="avg",
        help="Days between the due date and the payment (today for an invoice still overdue), weighted by amount.",
    )
    max_days_late = fields.Integer(string="Longest Delay (Days)", readonly=True, aggregator="max")
    broken_promise_count = fields.Integer(string="Broken Promises", readonly=True)
    dispute_count = fields.Integer(string="Disputes Opened", readonly=True)
    dispute_rejected_count = fields.Integer(string="Disputes Rejected", readonly=True)
    missed_instalment_count = fields.Integer(string="Missed Instalments", readonly=True)
    open_amount = fields.Monetary(string="Open Balance", readonly=True)
    overdue_amount = fields.Monetary(readonly=True)
    overdue_share = fields.Float(string="Overdue Share (%)", readonly=True, digits=(5, 1), aggregator="avg")
    overdue_share_last_month = fields.Float(
        string="Overdue Share a Month Ago (%)", readonly=True, digits=(5, 1), aggregator="avg"
    )
    trend = fields.Selection(
        TREND_SELECTION,
        readonly=True,
        help="How the overdue share of the open balance moved since a month ago.",
    )
    last_payment_date = fields.Date(string="Last Payment", readonly=True, aggregator="max")
    # The debtor's own history of paid invoices: what the company's average delay is weighted by.
    paid_amount = fields.Monetary(string="Amount Paid", readonly=True)
    paid_delay_days = fields.Float(string="Average Delay of Paid Invoices", readonly=True, digits=(16, 1))
    expected_delay_days = fields.Float(
        string="Expected Delay (Days)",
        readonly=True,
        digits=(16, 1),
        aggregator="avg",
        help="Days after the due date this debtor is expected to pay: its own average over the invoices it paid "
        "in the last 12 months, else the company's.",
    )
    credit_limit = fields.Monetary(related="risk_class_id.credit_limit", string="Proposed Credit Limit")

    _partner_company_uniq = models.Constraint(
        "UNIQUE(partner_id, company_id)", "A debtor has one payer profile per company."
    )

    # === COMPUTE METHODS === #

    @api.depends_context("lang")
    @api.depends(
        "invoice_count",
        "late_invoice_count",
        "avg_days_late",
        "late_share",
        "max_days_late",
        "broken_promise_count",
        "dispute_count",
        "dispute_rejected_count",
        "missed_instalment_count",
        "overdue_amount",
        "overdue_share",
        "trend",
    )
    def _compute_explanation(self):
        def rounded(value):
            return int(float_round(value, precision_digits=0))

        for profile in self:
            if not profile.invoice_count:
                profile.explanation = self.env._("no invoice due in the last 12 months")
                continue
            parts = []
            if rounded(profile.avg_days_late) >= 1:
                parts.append(self.env._("pays %(days)s days late on average", days=rounded(profile.avg_days_late)))
            else:
                parts.append(self.env._("pays on time"))
            if profile.late_invoice_count:
                parts.append(self.env._("%(share)s%% of invoices paid late", share=rounded(profile.late_share)))
            if profile.max_days_late > LONGEST_DELAY_GRACE_DAYS:
                parts.append(self.env._("longest delay %(days)s days", days=profile.max_days_late))
            if profile.broken_promise_count:
                parts.append(self.env._("%(count)s broken promises", count=profile.broken_promise_count))
            if profile.dispute_count:
                parts.append(
                    self.env._(
                        "%(count)s disputes (%(rejected)s rejected)",
                        count=profile.dispute_count,
                        rejected=profile.dispute_rejected_count,
                    )
                )
            if profile.missed_instalment_count:
                parts.append(self.env._("%(count)s missed instalments", count=profile.missed_instalment_count))
            if profile.overdue_amount:
                parts.append(
                    self.env._("%(share)s%% of the open balance overdue", share=rounded(profile.overdue_share))
                )
            if profile.trend == "worse":
                parts.append(self.env._("getting worse this month"))
            profile.explanation = "; ".join(parts)

    @api.model
    def _expand_classes(self, classes, domain):
        """Every class of the allowed companies as a kanban column, even an empty one."""
        return self.env["dunning.risk.class"].search([("company_id", "in", self.env.companies.ids)])

    # === BUSINESS METHODS === #

    @api.model
    def _cron_recompute(self):
        """Nightly: recompute the profiles of every company, one company per transaction."""
        companies = self.env["res.company"].search([])
        for index, company in enumerate(companies, start=1):
            # Only the nightly review stops supply: a class change found after a payment or a call must not block
            # the invoicing of the day (see _apply_class_change).
            self.with_context(dunning_class_stops_supply=True)._recompute(companies=company)
            if not self.env["ir.cron"]._commit_progress(1, remaining=len(companies) - index):
                break

    @api.model
    def _recompute(self, partners=None, companies=None):
        """Recompute the profiles of the debtors ``partners`` in ``companies`` (None: all) in one SQL statement,
        then apply the changes of class: in a number of queries that does not grow with the number of debtors.

        A debtor with nothing left in the 12-month window loses its profile.

        :param partners: ``res.partner`` records (their commercial partners are profiled)
        :param companies: ``res.company`` records
        """
        if (partners is not None and not partners) or (companies is not None and not companies):
            return
        self.env.flush_all()
        today = fields.Date.context_today(self)
        params = {
            "today": today,
            "cutoff": today - relativedelta(years=1),
            "month_ago": today - relativedelta(months=1),
        }
        partner_ids = tuple(partners.commercial_partner_id.ids) if partners is not None else None
        company_ids = tuple(companies.ids) if companies is not None else None
        self.env.cr.execute(self._recompute_query(partner_ids, company_ids, params))
        changes = self.env.cr.fetchall()
        self.invalidate_model()
        if not changes:
            return
        # The changed profiles and their classes read once for all the moves, not once per pair of classes.
        profiles = self.browse(profile_id for profile_id, _old, _new in changes)
        classes = self.env["dunning.risk.class"].browse(
            {class_id for _profile, *class_ids in changes for class_id in class_ids if class_id}
        )
        moves = {}
        for profile_id, old_class_id, new_class_id in changes:
            moves.setdefault((old_class_id, new_class_id), []).append(profile_id)
        for (old_class_id, new_class_id), profile_ids in moves.items():
            self.browse(profile_ids).with_prefetch(profiles._prefetch_ids)._apply_class_change(
                classes.browse(old_class_id).with_prefetch(classes._prefetch_ids),
                classes.browse(new_class_id).with_prefetch(classes._prefetch_ids),
            )

    def _apply_class_change(self, old, new):
        """The debtors of these profiles moved from class ``old`` (empty for a new profile) to class ``new``:
        their policy follows the new class's unless it is pinned, and the move is noted on each debtor. At the
        nightly review (context ``dunning_class_stops_supply``), a debtor moving into a class that stops supply is
        put on stop supply. Not after a payment or a call, which must not block the invoicing of the day, nor at a
        debtor's first classification (at installation that would block the invoicing of every class D customer
        at once: the dashboard's Class D filter lists them for a manager's decision).

        sudo: the recomputation follows payments made by users without dunning rights (portal, bank matching).
        """
        if not old and not new.policy_id:
            return  # a first class without a policy changes nothing on the debtors (not even read)
        company = new.company_id or old.company_id
        # One read of the debtors of every changed profile (they share their prefetch), not one per pair.
        partners = self.partner_id.with_company(company).sudo()
        if new.policy_id:
            following = partners.filtered(
                lambda partner: not partner.dunning_policy_pinned and partner.dunning_policy_id != new.policy_id
            )
            following.with_context(dunning_policy_from_class=True).write({"dunning_policy_id": new.policy_id.id})
        if old:
            stopping = None
            if new.stop_supply and self.env.context.get("dunning_class_stops_supply"):
                stopping = partners.filtered(lambda partner: not partner.dunning_stop_supply)
            bodies = {}
            for profile in self:
                bodies[profile.partner_id.id] = self.env._(
                    "Payer risk class changed from %(old)s to %(new)s (score %(score)s: %(explanation)s).",
                    old=old.display_name,
                    new=new.display_name or "-",
                    score=profile.score,
                    explanation=profile.explanation,
                )
                if stopping and profile.partner_id in stopping:
                    bodies[profile.partner_id.id] += " " + self.env._("Supply stopped by the class.")
            if stopping:
                stopping.write(
                    {
                        "dunning_stop_supply": True,
                        "dunning_stop_supply_reason": self.env._(
                            "Risk class %(risk_class)s", risk_class=new.display_name
                        ),
                    }
                )
            partners._message_log_batch(bodies=bodies)

    @api.model
    def _recompute_query(self, partner_ids, company_ids, params):
        """The statement that upserts the profiles in scope, deletes those without invoices left in the window,
        and returns ``(profile id, old class id, new class id)`` for each profile whose class changed (old class
        None for a new profile)."""

        def scope(partner_column, company_column):
            conditions = [SQL("TRUE")]
            if partner_ids is not None:
                conditions.append(SQL("%s IN %s", SQL.identifier(*partner_column), partner_ids))
            if company_ids is not None:
                conditions.append(SQL("%s IN %s", SQL.identifier(*company_column), company_ids))
            return SQL(" AND ").join(conditions)

        def penalty(factor, amount):
            points, cap = PENALTIES[factor]
            return SQL("LEAST(%s, %s * (%s))", cap, points, amount)

        score = SQL(
            "GREATEST(0, ROUND(100 - %s))::integer",
            SQL(" - ").join(
                [
                    penalty("avg_days_late", SQL("avg_days_late")),
                    penalty("late_share", SQL("late_share")),
                    penalty("max_days_late", SQL("GREATEST(max_days_late - %s, 0)", LONGEST_DELAY_GRACE_DAYS)),
                    penalty("broken_promise_count", SQL("broken_promise_count")),
                    penalty("dispute_count", SQL("dispute_count")),
                    penalty("dispute_rejected_count", SQL("dispute_rejected_count")),
                    penalty("missed_instalment_count", SQL("missed_instalment_count")),
                    penalty("overdue_share", SQL("overdue_share")),
                    penalty("overdue_share_rise", SQL("GREATEST(overdue_share - overdue_share_last_month, 0)")),
                ]
            ),
        )

        def share(part, total):
            return SQL("CASE WHEN %s > 0 THEN 100.0 * %s / %s ELSE 0 END", total, part, total)

        return SQL(
            """
            WITH invoice_lines AS (
                -- The receivable lines of the debtors' invoices dated in the window or still open.
                SELECT move.commercial_partner_id AS partner_id,
                       move.company_id,
                       move.id AS move_id,
                       move.date AS move_date,
                       move.dunning_level_id,
                       aml.id AS line_id,
                       aml.balance AS amount,
                       aml.amount_residual AS residual,
                       aml.date_maturity
                  FROM account_move move
                  JOIN account_move_line aml ON aml.move_id = move.id AND aml.display_type = 'payment_term'
                 WHERE move.move_type = 'out_invoice'
                   AND move.state = 'posted'
                   AND (move.invoice_date >= %(cutoff)s OR move.payment_state IN ('not_paid', 'partial'))
                   AND %(invoice_scope)s
            ),
            reconciled AS (
                -- A line is paid on the date of its last reconciliation.
                SELECT line.line_id,
                       MAX(partial.max_date) AS paid_date,
                       SUM(partial.amount) FILTER (WHERE partial.max_date <= %(month_ago)s) AS paid_by_month_ago
                  FROM invoice_lines line
                  JOIN account_partial_reconcile partial ON partial.debit_move_id = line.line_id
              GROUP BY line.line_id
            ),
            measured AS (
                SELECT line.*,
                       reconciled.paid_date,
                       -- Days late: paid lines by their payment, open ones past due by today; NULL for the others.
                       CASE WHEN line.residual <= 0 THEN reconciled.paid_date - line.date_maturity
                            WHEN line.date_maturity < %(today)s THEN %(today)s - line.date_maturity
                        END AS delay,
                       CASE WHEN line.residual <= 0 THEN TRUE ELSE FALSE END AS paid,
                       -- What was left of the line a month ago, if it existed then.
                       CASE WHEN line.move_date <= %(month_ago)s
                            THEN line.amount - COALESCE(reconciled.paid_by_month_ago, 0) ELSE 0
                        END AS residual_month_ago
                  FROM invoice_lines line
             LEFT JOIN reconciled ON reconciled.line_id = line.line_id
            ),
            debtors AS (
                SELECT measured.partner_id,
                       measured.company_id,
                       COUNT(DISTINCT measured.move_id) FILTER (WHERE delay IS NOT NULL) AS invoice_count,
                       COUNT(DISTINCT measured.move_id) FILTER (WHERE delay > 0) AS late_invoice_count,
                       COALESCE(SUM(amount * GREATEST(delay, 0)) FILTER (WHERE delay IS NOT NULL)
                                / NULLIF(SUM(amount) FILTER (WHERE delay IS NOT NULL), 0), 0) AS avg_days_late,
                       GREATEST(COALESCE(MAX(delay), 0), 0) AS max_days_late,
                       COALESCE(SUM(amount) FILTER (WHERE paid AND delay IS NOT NULL), 0) AS paid_amount,
                       COALESCE(SUM(amount * delay) FILTER (WHERE paid AND delay IS NOT NULL)
                                / NULLIF(SUM(amount) FILTER (WHERE paid AND delay IS NOT NULL), 0), 0)
                           AS paid_delay_days,
                       COALESCE(SUM(residual) FILTER (WHERE residual > 0), 0) AS open_amount,
                       COALESCE(SUM(residual) FILTER (WHERE residual > 0 AND date_maturity < %(today)s), 0)
                           AS overdue_amount,
                       COALESCE(SUM(residual_month_ago) FILTER (WHERE residual_month_ago > 0), 0)
                           AS open_amount_month_ago,
                       COALESCE(SUM(residual_month_ago) FILTER (
                           WHERE residual_month_ago > 0 AND date_maturity < %(month_ago)s), 0)
                           AS overdue_amount_month_ago,
                       MAX(paid_date) AS last_payment_date,
                       -- The highest level in the level order of dunning.level._order_key: delay, then sequence.
                       (ARRAY_AGG(level.id ORDER BY level.delay_days DESC, level.sequence DESC)
                           FILTER (WHERE residual > 0 AND level.id IS NOT NULL))[1] AS level_id
                  FROM measured
             LEFT JOIN dunning_level level ON level.id = measured.dunning_level_id
              GROUP BY measured.partner_id, measured.company_id
            ),
            promises AS (
                SELECT partner.commercial_partner_id AS partner_id, promise.company_id,
                       COUNT(*) AS broken_promise_count
                  FROM dunning_promise promise
                  JOIN res_partner partner ON partner.id = promise.partner_id
                 WHERE promise.state = 'broken' AND promise.date_promised >= %(cutoff)s AND %(promise_scope)s
              GROUP BY partner.commercial_partner_id, promise.company_id
            ),
            disputes AS (
                SELECT partner.commercial_partner_id AS partner_id, dispute.company_id,
                       COUNT(*) AS dispute_count,
                       COUNT(*) FILTER (WHERE dispute.state = 'rejected') AS dispute_rejected_count
                  FROM dunning_dispute dispute
                  JOIN res_partner partner ON partner.id = dispute.partner_id
                 WHERE dispute.create_date >= %(cutoff)s AND %(dispute_scope)s
              GROUP BY partner.commercial_partner_id, dispute.company_id
            ),
            plans_paid AS (
                -- What the approved plans' invoices had paid since the plan, as dunning.plan amount_paid.
                SELECT plan.id AS plan_id,
                       partner.commercial_partner_id AS partner_id,
                       plan.company_id,
                       currency.rounding,
                       GREATEST(plan.amount_total - COALESCE(SUM(move.amount_residual), 0), 0) AS amount_paid
                  FROM dunning_plan plan
                  JOIN res_partner partner ON partner.id = plan.partner_id
                  JOIN res_currency currency ON currency.id = plan.currency_id
             LEFT JOIN account_move_dunning_plan_rel rel ON rel.dunning_plan_id = plan.id
             LEFT JOIN account_move move ON move.id = rel.account_move_id
                 WHERE plan.state = 'approved' AND %(plan_scope)s
              GROUP BY plan.id, partner.commercial_partner_id, currency.rounding
            ),
            missed AS (
                -- Instalments whose date passed without what was due by then paid.
                SELECT plans_paid.partner_id, plans_paid.company_id, COUNT(*) AS missed_instalment_count
                  FROM plans_paid
                  JOIN dunning_plan_line line ON line.plan_id = plans_paid.plan_id
                 WHERE line.date < %(today)s AND line.date >= %(cutoff)s
                   AND line.amount_cumulative - plans_paid.amount_paid >= plans_paid.rounding / 2
              GROUP BY plans_paid.partner_id, plans_paid.company_id
            ),
            factors AS (
                SELECT debtors.*,
                       COALESCE(promises.broken_promise_count, 0) AS broken_promise_count,
                       COALESCE(disputes.dispute_count, 0) AS dispute_count,
                       COALESCE(disputes.dispute_rejected_count, 0) AS dispute_rejected_count,
                       COALESCE(missed.missed_instalment_count, 0) AS missed_instalment_count,
                       %(late_share)s AS late_share,
                       %(overdue_share)s AS overdue_share,
                       %(overdue_share_last_month)s AS overdue_share_last_month
                  FROM debtors
             LEFT JOIN promises USING (partner_id, company_id)
             LEFT JOIN disputes USING (partner_id, company_id)
             LEFT JOIN missed USING (partner_id, company_id)
            ),
            scored AS (
                SELECT factors.*, %(score)s AS score FROM factors
            ),
            company_delay AS (
                -- The company's average delay of paid invoices, weighted by amount: the fresh figures of the
                -- debtors in scope with the stored ones of the others.
                SELECT history.company_id,
                       SUM(history.paid_delay_days * history.paid_amount) / NULLIF(SUM(history.paid_amount), 0)
                           AS delay
                  FROM (
                        SELECT company_id, paid_delay_days, paid_amount FROM debtors WHERE paid_amount > 0
                         UNION ALL
                        SELECT profile.company_id, profile.paid_delay_days, profile.paid_amount
                          FROM dunning_payer_profile profile
                         WHERE profile.paid_amount > 0
                           AND profile.company_id IN (SELECT company_id FROM debtors)
                           AND NOT EXISTS (
                               SELECT 1 FROM debtors
                                WHERE debtors.partner_id = profile.partner_id
                                  AND debtors.company_id = profile.company_id)
                       ) history
              GROUP BY history.company_id
            ),
            class_ranges AS (
                -- Each class holds the scores from its minimum up to the next class's.
                SELECT id, company_id, min_score,
                       COALESCE(LEAD(min_score) OVER (PARTITION BY company_id ORDER BY min_score), 101) AS max_score
                  FROM dunning_risk_class
            ),
            previous AS (
                SELECT partner_id, company_id, risk_class_id FROM dunning_payer_profile profile
                 WHERE %(profile_scope)s
            ),
            removed AS (
                DELETE FROM dunning_payer_profile profile
                 WHERE %(profile_scope)s
                   AND NOT EXISTS (
                       SELECT 1 FROM debtors
                        WHERE debtors.partner_id = profile.partner_id AND debtors.company_id = profile.company_id)
            ),
            upserted AS (
                INSERT INTO dunning_payer_profile (
                    partner_id, company_id, score, risk_class_id, level_id, invoice_count, late_invoice_count,
                    late_share, avg_days_late, max_days_late, broken_promise_count, dispute_count,
                    dispute_rejected_count, missed_instalment_count, open_amount, overdue_amount, overdue_share,
                    overdue_share_last_month, trend, last_payment_date, paid_amount, paid_delay_days,
                    expected_delay_days, create_uid, create_date, write_uid, write_date
                )
                SELECT scored.partner_id, scored.company_id, scored.score, risk_class.id, scored.level_id,
                       scored.invoice_count, scored.late_invoice_count, scored.late_share, scored.avg_days_late,
                       scored.max_days_late, scored.broken_promise_count, scored.dispute_count,
                       scored.dispute_rejected_count, scored.missed_instalment_count, scored.open_amount,
                       scored.overdue_amount, scored.overdue_share, scored.overdue_share_last_month,
                       CASE WHEN scored.overdue_share - scored.overdue_share_last_month > %(trend_points)s
                                THEN 'worse'
                            WHEN scored.overdue_share_last_month - scored.overdue_share > %(trend_points)s
                                THEN 'better'
                            ELSE 'stable'
                        END,
                       scored.last_payment_date, scored.paid_amount, scored.paid_delay_days,
                       CASE WHEN scored.paid_amount > 0 THEN scored.paid_delay_days
                            ELSE COALESCE(company_delay.delay, 0)
                        END,
                       %(uid)s, NOW() AT TIME ZONE 'UTC', %(uid)s, NOW() AT TIME ZONE 'UTC'
                  FROM scored
             LEFT JOIN company_delay ON company_delay.company_id = scored.company_id
             LEFT JOIN class_ranges risk_class
                    ON risk_class.company_id = scored.company_id
                   AND scored.score >= risk_class.min_score AND scored.score < risk_class.max_score
                ON CONFLICT (partner_id, company_id) DO UPDATE SET
                    previous_class_id = CASE
                        WHEN dunning_payer_profile.risk_class_id IS DISTINCT FROM EXCLUDED.risk_class_id
                        THEN dunning_payer_profile.risk_class_id
                        ELSE dunning_payer_profile.previous_class_id END,
                    class_changed_date = CASE
                        WHEN dunning_payer_profile.risk_class_id IS DISTINCT FROM EXCLUDED.risk_class_id
                        THEN %(today)s
                        ELSE dunning_payer_profile.class_changed_date END,
                    class_worsened = CASE
                        WHEN dunning_payer_profile.risk_class_id IS DISTINCT FROM EXCLUDED.risk_class_id
                        THEN (SELECT code FROM dunning_risk_class WHERE id = EXCLUDED.risk_class_id)
                             > (SELECT code FROM dunning_risk_class WHERE id = dunning_payer_profile.risk_class_id)
                        ELSE dunning_payer_profile.class_worsened END,
                    score = EXCLUDED.score,
                    risk_class_id = EXCLUDED.risk_class_id,
                    level_id = EXCLUDED.level_id,
                    invoice_count = EXCLUDED.invoice_count,
                    late_invoice_count = EXCLUDED.late_invoice_count,
                    late_share = EXCLUDED.late_share,
                    avg_days_late = EXCLUDED.avg_days_late,
                    max_days_late = EXCLUDED.max_days_late,
                    broken_promise_count = EXCLUDED.broken_promise_count,
                    dispute_count = EXCLUDED.dispute_count,
                    dispute_rejected_count = EXCLUDED.dispute_rejected_count,
                    missed_instalment_count = EXCLUDED.missed_instalment_count,
                    open_amount = EXCLUDED.open_amount,
                    overdue_amount = EXCLUDED.overdue_amount,
                    overdue_share = EXCLUDED.overdue_share,
                    overdue_share_last_month = EXCLUDED.overdue_share_last_month,
                    trend = EXCLUDED.trend,
                    last_payment_date = EXCLUDED.last_payment_date,
                    paid_amount = EXCLUDED.paid_amount,
                    paid_delay_days = EXCLUDED.paid_delay_days,
                    expected_delay_days = EXCLUDED.expected_delay_days,
                    write_uid = EXCLUDED.write_uid,
                    write_date = EXCLUDED.write_date
             RETURNING id, partner_id, company_id, risk_class_id
            )
            SELECT upserted.id, previous.risk_class_id, upserted.risk_class_id
              FROM upserted
         LEFT JOIN previous USING (partner_id, company_id)
             WHERE previous.risk_class_id IS DISTINCT FROM upserted.risk_class_id
            """,
            **params,
            uid=self.env.uid,
            trend_points=TREND_POINTS,
            score=score,
            late_share=share(SQL.identifier("late_invoice_count"), SQL.identifier("invoice_count")),
            overdue_share=share(SQL.identifier("overdue_amount"), SQL.identifier("open_amount")),
            overdue_share_last_month=share(
                SQL.identifier("overdue_amount_month_ago"), SQL.identifier("open_amount_month_ago")
            ),
            invoice_scope=scope(("move", "commercial_partner_id"), ("move", "company_id")),
            promise_scope=scope(("partner", "commercial_partner_id"), ("promise", "company_id")),
            dispute_scope=scope(("partner", "commercial_partner_id"), ("dispute", "company_id")),
            plan_scope=scope(("partner", "commercial_partner_id"), ("plan", "company_id")),
            profile_scope=scope(("profile", "partner_id"), ("profile", "company_id")),
        )
