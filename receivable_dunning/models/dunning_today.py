from odoo import api, fields, models
from odoo.tools import SQL

from .dunning_call_log import CALL_DONE_OUTCOMES
from .dunning_debtor import DunningDebtor

# The kinds of work, with the code that ends a row's id: rows of different kinds built on the same record (a
# debtor's call and its last level) never share an id.
TODAY_KINDS = {
    "call": 1,
    "promise_due": 2,
    "promise_broken": 3,
    "dispute": 4,
    "plan": 5,
    "failed": 6,
    "past_last_level": 7,
}


class DunningToday(models.Model):
    """What collectors have to do today, one row per thing to do, the most at stake first.

    A read-only SQL view over the debtors (``dunning.debtor``) and what waits on them: calls to make, promises due
    or broken, disputes and plans waiting for an answer, failed reminders, debtors past the last automatic level.
    A row goes away when its cause is dealt with: a call outcome logged (after "no answer", until tomorrow), a
    promise settled, a dispute resolved, a plan approved or rejected, a reminder retried or cancelled.
    """

    _name = "dunning.today"
    _description = "Dunning: Today's Work"
    _auto = False
    _order = "priority desc, id"
    _rec_name = "partner_id"
    # The ORM flushes these fields before querying the view, so that it reflects writes of the same transaction.
    _depends = {
        **DunningDebtor._depends,
        "res.partner": [
            "dunning_collector_id",
            "dunning_hold_until",
            "dunning_contact",
            "dunning_wrong_phone",
            "phone",
            "phone_sanitized",
            "commercial_partner_id",
        ],
        "dunning.level": ["delay_days", "sequence", "create_call", "is_last_auto_step"],
        "dunning.payer.profile": ["partner_id", "company_id", "score"],
        "dunning.handover": ["partner_id", "company_id", "state"],
        "dunning.reminder": [
            "partner_id",
            "company_id",
            "channel",
            "state",
            "date_scheduled",
            "activity_id",
            "fallback_reminder_id",
            "level_id",
        ],
        "dunning.promise": ["partner_id", "company_id", "state", "date_promised"],
        "dunning.dispute": ["partner_id", "company_id", "state"],
        "dunning.plan": ["partner_id", "company_id", "state"],
        "dunning.call.log": ["partner_id", "company_id", "date", "outcome"],
        "mail.activity": ["res_model", "res_id", "active"],
    }

    kind = fields.Selection(
        [
            ("call", "Call to make"),
            ("promise_due", "Promise due"),
            ("promise_broken", "Promise broken"),
            ("dispute", "Dispute to answer"),
            ("plan", "Plan to approve"),
            ("failed", "Failed reminder"),
            ("past_last_level", "Past the last level"),
        ],
        string="To Do",
        readonly=True,
    )
    partner_id = fields.Many2one("res.partner", string="Debtor", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    collector_id = fields.Many2one("res.users", readonly=True)
    phone = fields.Char(readonly=True, help="The phone of the debtor's dunning contact, else the debtor's own.")
    phone_wrong = fields.Boolean(string="Wrong Number", readonly=True, help="A collector reported this number wrong.")
    amount = fields.Monetary(
        string="Amount at Stake", readonly=True, help="The debtor's overdue amount, in the company currency."
    )
    level_id = fields.Many2one("dunning.level", readonly=True)
    days_overdue = fields.Integer(readonly=True, aggregator="max")
    last_contact_date = fields.Date(
        string="Last Contact", readonly=True, aggregator="max", help="The last reminder sent or call outcome logged."
    )
    date_promised = fields.Date(
        string="Promised Date", readonly=True, help="The promise of the row, else the debtor's latest open promise."
    )
    source_ref = fields.Reference(
        selection=[
            ("res.partner", "Debtor"),
            ("dunning.reminder", "Reminder"),
            ("dunning.promise", "Promise to Pay"),
            ("dunning.dispute", "Dispute"),
            ("dunning.plan", "Instalment Plan"),
        ],
        string="Source",
        readonly=True,
    )
    priority = fields.Float(
        readonly=True, aggregator="sum", help="The amount at stake weighted by the debtor's payment risk."
    )

    @property
    def _table_query(self):
        debtor_query = self.env["dunning.debtor"]._table_query
        rows = SQL(" UNION ALL ").join(
            [
                self._call_rows(),
                self._promise_due_rows(),
                self._promise_broken_rows(),
                self._dispute_rows(),
                self._plan_rows(),
                self._failed_rows(),
                self._past_last_level_rows(),
            ]
        )
        return SQL(
            """
            WITH debtor AS MATERIALIZED (%(debtor_query)s),
                 call_log AS (
                     SELECT partner_id, company_id,
                            MAX(date) AS last_date,
                            MAX(date) FILTER (WHERE outcome IN %(done_outcomes)s) AS last_done_date
                       FROM dunning_call_log
                   GROUP BY partner_id, company_id
                 ),
                 open_promise AS (
                     SELECT partner_id, company_id, MAX(date_promised) AS date_promised
                       FROM dunning_promise
                      WHERE state IN ('pending', 'broken')
                   GROUP BY partner_id, company_id
                 ),
                 pending_call AS (
                     -- Call reminders to make: queued, or sent with their call activity still open.
                     SELECT DISTINCT ON (reminder.partner_id, reminder.company_id)
                            reminder.partner_id, reminder.company_id, reminder.id
                       FROM dunning_reminder reminder
                  LEFT JOIN mail_activity activity ON activity.id = reminder.activity_id
                      WHERE reminder.channel = 'call'
                        AND reminder.date_scheduled <= CURRENT_DATE
                        AND (reminder.state = 'queued' OR (reminder.state = 'sent' AND activity.active))
                   ORDER BY reminder.partner_id, reminder.company_id, reminder.date_scheduled DESC, reminder.id DESC
                 ),
                 to_call AS (%(to_call)s),
                 todo AS (%(rows)s)
            SELECT todo.id,
                   todo.kind,
                   todo.partner_id,
                   todo.company_id,
                   company.currency_id,
                   (partner.dunning_collector_id ->> todo.company_id::text)::integer AS collector_id,
                   COALESCE(contact.phone, partner.phone) AS phone,
                   COALESCE(
                       called.dunning_wrong_phone IN (called.phone_sanitized, called.phone), FALSE
                   ) AS phone_wrong,
                   COALESCE(debtor.amount_overdue, 0.0) AS amount,
                   COALESCE(debtor.level_id, todo.level_id) AS level_id,
                   debtor.max_days_overdue AS days_overdue,
                   GREATEST(debtor.last_reminder_date, call_log.last_date) AS last_contact_date,
                   COALESCE(todo.date_promised, open_promise.date_promised) AS date_promised,
                   todo.source_ref,
                   COALESCE(debtor.amount_overdue, 0.0) * %(risk_weight)s AS priority
              FROM todo
              JOIN res_partner partner ON partner.id = todo.partner_id
              JOIN res_company company ON company.id = todo.company_id
         LEFT JOIN debtor ON debtor.partner_id = todo.partner_id AND debtor.company_id = todo.company_id
         LEFT JOIN call_log ON call_log.partner_id = todo.partner_id AND call_log.company_id = todo.company_id
         LEFT JOIN open_promise
                ON open_promise.partner_id = todo.partner_id AND open_promise.company_id = todo.company_id
         LEFT JOIN LATERAL (
                   SELECT contact.id, contact.phone
                     FROM res_partner contact
                    WHERE contact.commercial_partner_id = todo.partner_id
                      AND contact.id != todo.partner_id
                      AND contact.dunning_contact
                      AND contact.active
                      AND contact.phone IS NOT NULL
                 ORDER BY contact.id
                    LIMIT 1
                   ) contact ON TRUE
              JOIN res_partner called ON called.id = COALESCE(contact.id, partner.id)
            """,
            debtor_query=debtor_query,
            done_outcomes=CALL_DONE_OUTCOMES,
            to_call=self._to_call_sql(),
            rows=rows,
            risk_weight=self._risk_weight_sql(SQL("todo.partner_id"), SQL("todo.company_id")),
        )

    @api.model
    def _risk_weight_sql(self, partner, company):
        """The debtor's payment risk as a factor of the amount at stake: ``(100 - score) / 100`` of its payer
        profile in the company (see ``dunning.payer.profile``), 0.5 for a debtor without a profile yet.

        :param SQL partner: the expression of the debtor's id in the row
        :param SQL company: the expression of the company's id in the row
        :return: an ``SQL`` numeric expression
        """
        return SQL(
            """COALESCE((SELECT (100 - profile.score) / 100.0
                           FROM dunning_payer_profile profile
                          WHERE profile.partner_id = %s AND profile.company_id = %s), 0.5)""",
            partner,
            company,
        )

    @api.model
    def _not_handed_over_sql(self, partner, company):
        """Whether the debtor is still dunned by the company, not handed over to an agency or to legal.

        :param SQL partner: the expression of the debtor's id
        :param SQL company: the expression of the company's id
        :return: an ``SQL`` boolean expression
        """
        return SQL(
            """NOT EXISTS (SELECT 1
                             FROM dunning_handover handover
                            WHERE handover.partner_id = %s AND handover.company_id = %s
                              AND handover.state = 'handed_over')""",
            partner,
            company,
        )

    def _row_id(self, kind, key):
        return SQL("%s * 10 + %s", key, TODAY_KINDS[kind])

    def _row(self, kind, key, partner, company, source_model, source_id, level=None, date_promised=None):
        """The columns every kind of row gives, in the order of the union."""
        return SQL(
            "%s AS id, %s AS kind, %s AS partner_id, %s AS company_id, %s AS level_id, %s AS date_promised, "
            "%s || ',' || %s AS source_ref",
            self._row_id(kind, key),
            kind,
            partner,
            company,
            level or SQL("NULL::integer"),
            date_promised or SQL("NULL::date"),
            source_model,
            source_id,
        )

    def _to_call_sql(self):
        """The debtors whose call is still to make: their current level asks for a call not yet made, or a call
        reminder waits for them. A call is made once an outcome other than "no answer" is logged on or after the day
        the level was reached."""
        return SQL(
            """
            SELECT debtor.id, pending_call.id AS reminder_id
              FROM debtor
              JOIN dunning_level level ON level.id = debtor.level_id
         LEFT JOIN pending_call ON pending_call.partner_id = debtor.partner_id
                               AND pending_call.company_id = debtor.company_id
         LEFT JOIN call_log ON call_log.partner_id = debtor.partner_id AND call_log.company_id = debtor.company_id
             WHERE (debtor.hold_until IS NULL OR debtor.hold_until <= CURRENT_DATE)
               AND (
                       pending_call.id IS NOT NULL
                    OR (level.create_call AND (
                           call_log.last_done_date IS NULL
                        OR call_log.last_done_date < COALESCE(debtor.last_reminder_date, '-infinity'::date)
                       ))
                   )
            """
        )

    def _call_rows(self):
        """Calls to make, but for the debtors with an outcome logged today: after "no answer", they come back
        tomorrow."""
        return SQL(
            """
            SELECT %(columns)s
              FROM to_call
              JOIN debtor ON debtor.id = to_call.id
         LEFT JOIN call_log ON call_log.partner_id = debtor.partner_id AND call_log.company_id = debtor.company_id
             WHERE call_log.last_date IS NULL OR call_log.last_date < CURRENT_DATE
            """,
            columns=self._row(
                "call",
                SQL("debtor.id"),
                SQL("debtor.partner_id"),
                SQL("debtor.company_id"),
                SQL("CASE WHEN to_call.reminder_id IS NULL THEN 'res.partner' ELSE 'dunning.reminder' END"),
                SQL("COALESCE(to_call.reminder_id, debtor.partner_id)"),
            ),
        )

    def _promise_due_rows(self):
        """Pending promises whose date has come: the run settles them the day after."""
        return SQL(
            """
            SELECT %(columns)s
              FROM dunning_promise promise
             WHERE promise.state = 'pending'
               AND promise.date_promised <= CURRENT_DATE
            """,
            columns=self._promise_columns("promise_due"),
        )

    def _promise_broken_rows(self):
        """Broken promises whose call activity is still open: it is done when the collector logs a call outcome
        (or marks it done); after "no answer" the promise comes back tomorrow."""
        return SQL(
            """
            SELECT %(columns)s
              FROM dunning_promise promise
         LEFT JOIN call_log ON call_log.partner_id = promise.partner_id AND call_log.company_id = promise.company_id
             WHERE promise.state = 'broken'
               AND (call_log.last_date IS NULL OR call_log.last_date < CURRENT_DATE)
               AND EXISTS (
                       SELECT 1
                         FROM mail_activity activity
                        WHERE activity.res_model = 'dunning.promise'
                          AND activity.res_id = promise.id
                          AND activity.active
                   )
            """,
            columns=self._promise_columns("promise_broken"),
        )

    def _promise_columns(self, kind):
        return self._row(
            kind,
            SQL("promise.id"),
            SQL("promise.partner_id"),
            SQL("promise.company_id"),
            SQL("'dunning.promise'"),
            SQL("promise.id"),
            date_promised=SQL("promise.date_promised"),
        )

    def _dispute_rows(self):
        """Open disputes, waiting for the collector to accept or reject them."""
        return SQL(
            "SELECT %s FROM dunning_dispute dispute WHERE dispute.state = 'open'",
            self._row(
                "dispute",
                SQL("dispute.id"),
                SQL("dispute.partner_id"),
                SQL("dispute.company_id"),
                SQL("'dunning.dispute'"),
                SQL("dispute.id"),
            ),
        )

    def _plan_rows(self):
        """Instalment plans the debtors proposed, waiting for approval."""
        return SQL(
            "SELECT %s FROM dunning_plan plan WHERE plan.state = 'proposed'",
            self._row(
                "plan",
                SQL("plan.id"),
                SQL("plan.partner_id"),
                SQL("plan.company_id"),
                SQL("'dunning.plan'"),
                SQL("plan.id"),
            ),
        )

    def _failed_rows(self):
        """Failed reminders that no fallback on another channel replaced: a contact to fix, then retry."""
        return SQL(
            """
            SELECT %s
              FROM dunning_reminder reminder
             WHERE reminder.state = 'failed'
               AND reminder.fallback_reminder_id IS NULL
            """,
            self._row(
                "failed",
                SQL("reminder.id"),
                SQL("reminder.partner_id"),
                SQL("reminder.company_id"),
                SQL("'dunning.reminder'"),
                SQL("reminder.id"),
                level=SQL("reminder.level_id"),
            ),
        )

    def _past_last_level_rows(self):
        """Overdue debtors at the last automatic level of their policy, not on hold and not handed over: no reminder
        will follow, a person decides what comes next. Not before the call of the level is made (the call row
        comes first), nor while a promise not yet due pauses the debtor."""
        return SQL(
            """
            SELECT %(columns)s
              FROM debtor
              JOIN dunning_level level ON level.id = debtor.level_id
             WHERE level.is_last_auto_step
               AND (debtor.hold_until IS NULL OR debtor.hold_until <= CURRENT_DATE)
               AND NOT EXISTS (SELECT 1 FROM to_call WHERE to_call.id = debtor.id)
               AND NOT EXISTS (
                       SELECT 1
                         FROM dunning_promise promise
                        WHERE promise.partner_id = debtor.partner_id
                          AND promise.company_id = debtor.company_id
                          AND promise.state = 'pending'
                          AND promise.date_promised >= CURRENT_DATE
                   )
               AND %(not_handed_over)s
            """,
            columns=self._row(
                "past_last_level",
                SQL("debtor.id"),
                SQL("debtor.partner_id"),
                SQL("debtor.company_id"),
                SQL("'res.partner'"),
                SQL("debtor.partner_id"),
            ),
            not_handed_over=self._not_handed_over_sql(SQL("debtor.partner_id"), SQL("debtor.company_id")),
        )

    # === ACTION METHODS === #

    def action_open_source(self):
        """Open what the row is about: the reminder, promise, dispute or plan, else the debtor."""
        self.ensure_one()
        record = self.source_ref
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }

    def action_log_call(self):
        """Log the outcome of a call to the row's debtor."""
        self.ensure_one()
        return self.partner_id.with_company(self.company_id).action_dunning_log_call()
