import logging
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize, split_every

from odoo.addons.account.tools.structured_reference import format_structured_reference_iso

from ..tools.phone import InvalidPhoneNumber, to_e164

_logger = logging.getLogger(__name__)

INSERT_BATCH = 1000
# A table of fewer pages is read whole faster than through an index: no need to analyze it after an insert.
ANALYZE_MIN_PAGES = 8
# What mail.template.send_mail_batch renders of a template for its mails.
TEMPLATE_MAIL_FIELDS = (
    "attachment_ids",
    "auto_delete",
    "body_html",
    "email_cc",
    "email_from",
    "email_to",
    "mail_server_id",
    "model",
    "partner_to",
    "reply_to",
    "report_template_ids",
    "res_id",
    "scheduled_date",
    "subject",
)
# The columns :meth:`DunningReminder._bulk_create` writes: a stored field of a reminder or of its lines is
# listed here, and given its value there.
REMINDER_COLUMNS = (
    "id",
    "name",
    "run_id",
    "company_id",
    "currency_id",
    "partner_id",
    "recipient_id",
    "reminder_type",
    "level_id",
    "policy_id",
    "channel",
    "state",
    "trigger",
    "user_id",
    "date_scheduled",
    "payment_reference",
    "invoice_count",
    "amount_residual",
    "amount_fee",
    "amount_interest",
    "amount_credit",
    "amount_total",
    "attempt_count",
    "create_uid",
    "create_date",
    "write_uid",
    "write_date",
)
REMINDER_LINE_COLUMNS = (
    "reminder_id",
    "company_id",
    "partner_id",
    "state",
    "channel",
    "date_scheduled",
    "move_id",
    "level_id",
    "is_escalation",
    "date_due",
    "days_overdue",
    "amount_residual",
    "amount_credit",
    "amount_fee",
    "includes_compensation",
    "amount_interest",
    "interest_date_from",
    "interest_date_to",
    "create_uid",
    "create_date",
    "write_uid",
    "write_date",
)


# Failures of the creditor's own transport (mail server down, sender refused, no SMS credit, an error nobody
# named): they say nothing of the debtor's contact, so the reminder is retried as it is, with no fallback.
TRANSPORT_FAILURES = frozenset(
    {
        "unknown",
        "mail_smtp",
        "mail_from_invalid",
        "mail_from_missing",
        "mail_spam",
        "sms_credit",
        "sms_acc",
        "sms_server",
        "sms_registration_needed",
    }
)


def reminder_name(date_scheduled, reminder_id):
    """A reminder's reference, from its id: unique and increasing without a sequence call per reminder."""
    return f"DUN/{date_scheduled.year}/{reminder_id:06d}"


def reminder_payment_reference(reminder_id):
    """The ISO 11649 (RF) reference a transfer quotes to pay all the invoices of reminder ``reminder_id``."""
    return format_structured_reference_iso(f"9{reminder_id:08d}")


def reminder_amounts(rounded, residual, credit, fee, interest):
    """A reminder's stored totals from the sums of its lines' amounts, each rounded in the reminder's currency.

    The one formula of the total, shared by :meth:`DunningReminder._compute_amounts` and
    :meth:`DunningReminder._bulk_create`: amount due, less the credits, plus fees and interest.

    :param rounded: the currency's ``round``
    :return: dict with ``amount_residual``, ``amount_credit``, ``amount_fee``, ``amount_interest``, ``amount_total``
    """
    amounts = {
        "amount_residual": rounded(residual),
        "amount_credit": rounded(credit),
        "amount_fee": rounded(fee),
        "amount_interest": rounded(interest),
    }
    amounts["amount_total"] = rounded(
        amounts["amount_residual"] - amounts["amount_credit"] + amounts["amount_fee"] + amounts["amount_interest"]
    )
    return amounts


@dataclass(frozen=True)
class DunningChannel:
    """One entry of the channel registry (see :class:`DunningReminder`): the names of what makes a channel, methods
    of ``dunning.reminder`` looked up when used, so that an add-on overriding one of them is heard."""

    level_field: str  # the ``dunning.level`` boolean that enables the channel at that level
    send: str  # ``reminder.<send>()`` delivers one reminder whose contact passed the check; raising fails it
    contact_problem: str | None = None  # ``<contact_problem>(recipient)``: why it cannot be reached, or False
    delivery_failures: str | None = None  # ``<delivery_failures>(report)``: {reminder: reason} of a transport report


def _mimetype(report_type):
    """The mimetype of a report rendered as ``report_type``: PDF, or HTML in tests without forced rendering."""
    return "application/pdf" if report_type == "pdf" else "text/html"


def _insert_rows(cr, table, columns, rows):
    """``INSERT`` ``rows`` (tuples in the order of ``columns``) into ``table``, a thousand at a time."""
    head = SQL("INSERT INTO %s (%s) VALUES ", SQL.identifier(table), SQL(", ").join(map(SQL.identifier, columns)))
    for batch in split_every(INSERT_BATCH, rows):
        # One parameter per row: a tuple, which the driver writes as (value, ...).
        cr.execute(SQL("%s%s", head, SQL(", ").join(tuple(row) for row in batch)))


def analyze_grown_tables(cr, tables):
    """``ANALYZE`` those of ``tables`` that now take more than twice the pages their statistics counted: tables
    analysed (nearly) empty that a bulk insert of this transaction filled.

    PostgreSQL checks a foreign key with a plan it prepares once per connection and keeps until the statistics of
    the table referred to change. Prepared while that table was nearly empty, the plan reads the whole table for
    each row referring to it, and a transaction that inserts tens of thousands of rows on both sides turns
    quadratic: 73 s instead of 3 s for the reminder lines of a 50,000-row import in one transaction. Analyzing the
    table replaces the plan. At most one ``ANALYZE`` per doubling of the table; ``SKIP_LOCKED`` leaves a table that
    another transaction is analyzing rather than waiting for it.
    """
    cr.execute(
        SQL(
            """SELECT relname FROM pg_class
                WHERE oid = ANY(%s::regclass[])
                  AND pg_relation_size(oid) / current_setting('block_size')::int > GREATEST(2 * relpages, %s)""",
            list(tables),
            ANALYZE_MIN_PAGES,
        )
    )
    grown = [name for (name,) in cr.fetchall()]
    if grown:
        cr.execute(SQL("ANALYZE (SKIP_LOCKED) %s", SQL(", ").join(map(SQL.identifier, grown))))


class DunningReminder(models.Model):
    """One reminder to one debtor through one channel: recorded before it is sent, then sent or failed.

    The invoices it reminds of are its lines (``dunning.reminder.line``), one per invoice, each with the level
    that invoice reached.

    Channels are a registry, :meth:`_channels`: each code of the ``channel`` selection maps to a
    :class:`DunningChannel` naming in one place the level's boolean that enables the channel and the reminder's
    methods that send through it (``_send_<code>``), tell why a contact cannot be reached by it
    (``_contact_problem_<code>``) and read its transport's reports of messages not delivered
    (``_delivery_failures_<code>``). An explicit map rather than names built from the code: each method is found by
    grep, and a channel may go without a contact check (call) or without delivery reports (letter, call). The run
    queues one reminder per channel enabled on the level; the dispatch checks the contact and sends; a transport's
    report, handed to :meth:`_report_delivery_failures`, fails the reminders it concerns. Adding a channel (WhatsApp,
    a postal service) is a ``selection_add`` on ``channel``, a boolean on ``dunning.level``, those methods and an
    entry added to :meth:`_channels`.
    """

    _name = "dunning.reminder"
    _description = "Dunning Reminder"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date_scheduled desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default=lambda self: self.env._("New")
    )
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    currency_id = fields.Many2one("res.currency", required=True, default=lambda self: self.env.company.currency_id)
    partner_id = fields.Many2one(
        "res.partner",
        string="Debtor",
        required=True,
        index=True,
        check_company=True,
        help="The commercial partner who owes the invoices.",
    )
    recipient_id = fields.Many2one("res.partner", check_company=True, help="The contact the reminder is addressed to.")
    run_id = fields.Many2one("dunning.run", index="btree_not_null", ondelete="set null", readonly=True, copy=False)
    reminder_type = fields.Selection(
        [("reminder", "Reminder"), ("thanks", "Thank-you"), ("request", "Payment Request")],
        string="Type",
        required=True,
        default="reminder",
        help="Thank-you messages go to debtors whose dunned invoices got paid; payment requests carry an imported "
        "request to its debtor for the first time.",
    )
    level_id = fields.Many2one("dunning.level", index=True, check_company=True, ondelete="restrict")
    policy_id = fields.Many2one(related="level_id.policy_id", store=True)
    channel = fields.Selection(
        [("email", "Email"), ("sms", "SMS"), ("letter", "Letter"), ("call", "Phone Call")],
        required=True,
        default="email",
    )
    state = fields.Selection(
        [
            ("draft", "Proposed"),
            ("queued", "Queued"),
            ("sent", "Sent"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="queued",
        index=True,
        tracking=True,
        copy=False,
    )
    trigger = fields.Selection(
        [("scheduled", "Scheduled Action"), ("manual", "Manual"), ("payment", "Payment"), ("import", "Import")],
        required=True,
        default="manual",
        help="What created the reminder: the daily scheduled action, a person, a payment (thank-you) or an import "
        "of payment requests.",
    )
    user_id = fields.Many2one(
        "res.users", string="Triggered By", default=lambda self: self.env.user, help="Who created the reminder."
    )
    date_scheduled = fields.Date(default=fields.Date.context_today, required=True, index=True)
    date_done = fields.Datetime(string="Sent On", readonly=True, copy=False)
    line_ids = fields.One2many("dunning.reminder.line", "reminder_id", string="Invoices", copy=True)
    move_ids = fields.Many2many(
        "account.move", string="Reminded Invoices", compute="_compute_move_ids", search="_search_move_ids"
    )
    payment_reference = fields.Char(
        compute="_compute_payment_reference",
        store=True,
        index="btree_not_null",
        help="ISO 11649 creditor reference for the total of this reminder: a transfer quoting it pays every "
        "invoice listed.",
    )
    statement_url = fields.Char(
        string="Statement Link",
        compute="_compute_statement_url",
        # A link opens the debtor's invoices and payment page to whoever holds it: only collectors hand them out.
        groups="receivable_dunning.group_dunning_user",
        help="The debtor's statement page, where the invoices can be paid, disputed or planned; the link "
        "expires after the policy's validity.",
    )
    invoice_count = fields.Integer(compute="_compute_amounts", store=True)
    amount_residual = fields.Monetary(string="Amount Due", compute="_compute_amounts", store=True)
    amount_fee = fields.Monetary(string="Fees", compute="_compute_amounts", store=True)
    amount_interest = fields.Monetary(string="Interest", compute="_compute_amounts", store=True)
    amount_credit = fields.Monetary(
        string="Credits Applied",
        compute="_compute_amounts",
        store=True,
        help="The part of the listed invoices the debtor's credits (credit notes, payments not yet matched) cover.",
    )
    amount_total = fields.Monetary(
        string="Total Claimed",
        compute="_compute_amounts",
        store=True,
        help="What the reminder asks for: the invoices listed, less the credits set against them, plus charges.",
    )
    credit_line_ids = fields.Many2many(
        "account.move.line",
        relation="dunning_reminder_credit_line_rel",
        column1="reminder_id",
        column2="move_line_id",
        string="Credits",
        readonly=True,
        copy=False,
        help="The debtor's open credits when the reminder was prepared: credit notes and payments not yet matched.",
    )
    mail_id = fields.Many2one(
        "mail.mail", string="Email", readonly=True, copy=False, index="btree_not_null", ondelete="set null"
    )
    # The message that carried the reminder (email or SMS): delivery failures reported later find the reminder by it.
    mail_message_id = fields.Many2one(
        "mail.message", string="Sent Message", readonly=True, copy=False, index="btree_not_null"
    )
    email_body = fields.Html(
        string="Email as Sent",
        compute="_compute_email_body",
        sanitize=True,
        help="The email as the mail queue sends it to the debtor.",
    )
    sms_id = fields.Many2one("sms.sms", string="SMS", readonly=True, copy=False, index="btree_not_null")
    activity_id = fields.Many2one("mail.activity", string="Call Activity", readonly=True, copy=False)
    letter_attachment_id = fields.Many2one("ir.attachment", string="Letter", readonly=True, copy=False)
    error_message = fields.Text(string="Error", readonly=True, copy=False)
    attempt_count = fields.Integer(string="Attempts", readonly=True, copy=False)
    charge_state = fields.Selection(
        [("invoiced", "Invoiced"), ("failed", "Failed")],
        string="Charges Invoice Status",
        readonly=True,
        copy=False,
        help="Whether the fees and interest of this sent reminder were invoiced; empty when there was nothing to "
        "invoice. A failed charges invoice leaves the reminder sent and gives the collector an activity.",
    )
    charge_error = fields.Text(string="Charges Error", readonly=True, copy=False)
    fallback_of_id = fields.Many2one(
        "dunning.reminder",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        help="The reminder that could not be delivered and that this one replaces on another channel.",
    )
    fallback_reminder_id = fields.Many2one(
        "dunning.reminder",
        string="Fallback",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The reminder queued on another channel when this one could not be delivered; it replaces the retry.",
    )

    # Queued and failed reminders are the dispatch queue: keep that scan small.
    _dispatch_idx = models.Index("(company_id, date_scheduled) WHERE state IN ('queued', 'failed')")
    # Once: a second report of the same failure, or a second worker, cannot queue a second fallback.
    _fallback_uniq = models.UniqueIndex("(fallback_of_id) WHERE fallback_of_id IS NOT NULL")

    # === COMPUTE METHODS === #

    @api.depends("line_ids.move_id")
    def _compute_move_ids(self):
        for reminder in self:
            reminder.move_ids = reminder.line_ids.move_id

    def _search_move_ids(self, operator, value):
        return [("line_ids.move_id", operator, value)]

    @api.depends("reminder_type")
    def _compute_payment_reference(self):
        for reminder in self:
            is_reminder = reminder.id and reminder.reminder_type == "reminder"
            reminder.payment_reference = reminder_payment_reference(reminder.id) if is_reminder else False

    @api.depends("mail_id")
    def _compute_email_body(self):
        # Mails are readable by administrators only; whoever reads the reminder may read what it sent. The
        # field sanitizes the HTML when it is computed.
        for reminder in self:
            reminder.email_body = reminder.mail_id.sudo().body_html or False

    @api.depends("partner_id", "company_id", "date_done", "policy_id.statement_link_days")
    def _compute_statement_url(self):
        if not self.env["res.partner"]._dunning_is_collector():
            # Links are minted for dunning users (and the dispatch, as superuser) only, however this is reached.
            self.statement_url = False
            return
        today = fields.Date.context_today(self)
        for reminder in self:
            days = (
                reminder.policy_id or reminder.partner_id.with_company(reminder.company_id)._dunning_get_policy()
            ).statement_link_days
            start = fields.Date.context_today(reminder, reminder.date_done) if reminder.date_done else today
            valid_until = fields.Date.add(start, days=days) if days else False
            reminder.statement_url = reminder.partner_id and self.env["dunning.statement"]._url(
                reminder.partner_id, reminder.company_id, valid_until
            )

    @api.depends(
        "line_ids.amount_residual", "line_ids.amount_credit", "line_ids.amount_fee", "line_ids.amount_interest"
    )
    def _compute_amounts(self):
        for reminder in self:
            lines = reminder.line_ids
            reminder.invoice_count = len(lines)
            reminder.update(
                reminder_amounts(
                    reminder.currency_id.round,
                    sum(lines.mapped("amount_residual")),
                    sum(lines.mapped("amount_credit")),
                    sum(lines.mapped("amount_fee")),
                    sum(lines.mapped("amount_interest")),
                )
            )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        reminders = super().create(vals_list)
        # Named after their id, not an ir.sequence: a run inserts thousands at once, and a sequence costs queries
        # per reminder. The id is unique and increasing, which is all a reminder reference needs.
        for reminder in reminders.filtered(lambda e: e.name == self.env._("New")):
            reminder.name = reminder_name(reminder.date_scheduled, reminder.id)
        return reminders

    @api.model
    def _bulk_create(self, vals_list):
        """Create reminders and their lines with SQL, in batches: the dunning run's queue step.

        The ORM's create costs about a millisecond per line (company checks, related fields, one2many
        bookkeeping) and a run queues tens of thousands of lines. These values are complete and consistent by
        construction: one company, debtors and invoices from the selection's query, levels of the company's
        policies; that is what the ORM's checks would verify, so the caller must guarantee it. The stored computed
        fields (reference, RF payment reference, amounts, the lines' copies of the reminder's fields) are set here
        as the models compute them; reminders are created with tracking and followers off, as before.

        :param list vals_list: one dict per reminder (``run_id``, ``company_id``, ``currency_id``, ``partner_id``,
            ``recipient_id``, ``level_id`` (empty for a payment request), ``channel``, ``state``, ``trigger``,
            ``date_scheduled``, optionally ``reminder_type``: ``reminder`` unless said), with
            ``line_ids`` a list of line dicts and ``credit_line_ids`` a list of ``account.move.line`` ids
        :return: the created reminders
        """
        if not vals_list:
            return self.browse()
        Line = self.env["dunning.reminder.line"]
        self.flush_model()
        Line.flush_model()
        levels = self.env["dunning.level"].browse({vals["level_id"] for vals in vals_list if vals["level_id"]})
        policy_of = {level.id: level.policy_id.id for level in levels}
        currencies = self.env["res.currency"].browse({vals["currency_id"] for vals in vals_list})
        round_of = {currency.id: currency.round for currency in currencies}
        reminder_ids = [
            reminder_id
            for (reminder_id,) in self.env.execute_query(
                SQL("SELECT nextval('dunning_reminder_id_seq') FROM generate_series(1, %s)", len(vals_list))
            )
        ]
        now = fields.Datetime.now()
        audit = (self.env.uid, now, self.env.uid, now)
        reminder_rows, line_rows, credit_rows = [], [], []
        for reminder_id, vals in zip(reminder_ids, vals_list, strict=True):
            rounded = round_of[vals["currency_id"]]
            lines = vals["line_ids"]
            amounts = reminder_amounts(
                rounded,
                sum(line["amount_residual"] for line in lines),
                sum(line.get("amount_credit", 0.0) for line in lines),
                sum(line.get("amount_fee", 0.0) for line in lines),
                sum(line.get("amount_interest", 0.0) for line in lines),
            )
            credit_rows.extend((reminder_id, line_id) for line_id in vals.get("credit_line_ids", ()))
            reminder_type = vals.get("reminder_type", "reminder")
            reminder_rows.append(
                (
                    reminder_id,
                    reminder_name(vals["date_scheduled"], reminder_id),
                    vals["run_id"],
                    vals["company_id"],
                    vals["currency_id"],
                    vals["partner_id"],
                    vals["recipient_id"] or None,
                    reminder_type,
                    vals["level_id"] or None,
                    policy_of.get(vals["level_id"]),
                    vals["channel"],
                    vals["state"],
                    vals["trigger"],
                    self.env.uid,
                    vals["date_scheduled"],
                    reminder_payment_reference(reminder_id) if reminder_type == "reminder" else None,
                    len(lines),
                    amounts["amount_residual"],
                    amounts["amount_fee"],
                    amounts["amount_interest"],
                    amounts["amount_credit"],
                    amounts["amount_total"],
                    0,
                    *audit,
                )
            )
            line_rows.extend(
                (
                    reminder_id,
                    vals["company_id"],
                    vals["partner_id"],
                    vals["state"],
                    vals["channel"],
                    vals["date_scheduled"],
                    line["move_id"],
                    line["level_id"] or None,
                    line["is_escalation"],
                    line["date_due"],
                    line["days_overdue"],
                    rounded(line["amount_residual"]),
                    rounded(line.get("amount_credit", 0.0)),
                    rounded(line.get("amount_fee", 0.0)),
                    bool(line.get("includes_compensation")),
                    rounded(line.get("amount_interest", 0.0)),
                    line.get("interest_date_from"),
                    line.get("interest_date_to"),
                    *audit,
                )
                for line in lines
            )
        cr = self.env.cr
        _insert_rows(cr, "dunning_reminder", REMINDER_COLUMNS, reminder_rows)
        analyze_grown_tables(cr, ["dunning_reminder"])  # the lines' foreign key checks read it
        _insert_rows(cr, "dunning_reminder_line", REMINDER_LINE_COLUMNS, line_rows)
        _insert_rows(cr, "dunning_reminder_credit_line_rel", ("reminder_id", "move_line_id"), credit_rows)
        self.env.invalidate_all()
        return self.browse(reminder_ids)

    def write(self, vals):
        if "level_id" in vals and any(reminder.state != "draft" for reminder in self):
            raise UserError(self.env._("Only a proposed reminder can change level; cancel it and run dunning again."))
        # A sent reminder stays sent (only a delivery failure reported later fails it): reopening it would let its
        # lines, the debtor's history, be changed or removed.
        if vals.get("state", "sent") not in ("sent", "failed") and not self.env.su:
            sent = self.filtered(lambda reminder: reminder.state == "sent")[:1]
            if sent:
                raise UserError(
                    self.env._(
                        "Reminder %(reminder)s was sent: send it again instead of reopening it.", reminder=sent.name
                    )
                )
        # What the effectiveness report stores of a reminder changes when it is sent, or fails after being sent.
        outcome_changes = {"state", "date_done", "reminder_type"} & vals.keys()
        was_sent = self.filtered(lambda reminder: reminder.state == "sent") if outcome_changes else self.browse()
        res = super().write(vals)
        if "level_id" in vals:
            self._relevel_lines()
        if outcome_changes:
            sent = was_sent | self.filtered(lambda reminder: reminder.state == "sent")
            if sent:
                self.env["dunning.reminder.outcome"]._refresh(sent.line_ids.move_id)
        return res

    def _relevel_lines(self):
        """A reviewer changed the level of proposed reminders: their escalations follow, with that level's fee.

        The statutory compensation an escalation carries stays: it belongs to the invoice, not to the level.
        """
        for reminder in self:
            currency, date = reminder.currency_id, reminder.date_scheduled
            new_fee = reminder.level_id._fee_in(currency, date)
            for line in reminder.line_ids.filtered("is_escalation"):
                old_fee = line.level_id._fee_in(currency, date)
                compensation = line.amount_fee - old_fee if line.includes_compensation else 0.0
                # sudo: lines keep their level and fee against any other write (see dunning.reminder.line); this is the
                # review of a proposal, checked by write() above: the reviewer may change the reminder's level.
                line.sudo().write({"level_id": reminder.level_id.id, "amount_fee": new_fee + compensation})

    @api.ondelete(at_uninstall=False)
    def _unlink_except_sent(self):
        if any(reminder.state == "sent" for reminder in self):
            raise UserError(
                self.env._("A sent reminder is part of the debtor's history and cannot be deleted; cancel it instead.")
            )

    # === ACTION METHODS === #

    def action_cancel(self):
        """Cancel reminders that have not been delivered yet (proposed, queued or failed)."""
        self._update_state(("draft", "queued", "failed"), "cancelled")

    def action_retry(self):
        """Put failed or cancelled reminders back in the queue."""
        self._update_state(("failed", "cancelled"), "queued", extra_vals={"error_message": False})
        self._trigger_dispatch()

    def action_invoice_charges(self):
        """Invoice again the charges of sent reminders whose charges invoice could not be posted."""
        self.filtered(
            lambda reminder: reminder.state == "sent" and reminder.charge_state == "failed"
        )._invoice_charges()
        return True

    def action_send_now(self):
        """Send the selected proposed or queued reminders now instead of waiting for the dispatcher."""
        self._update_state(("draft",), "queued")
        self.filtered(lambda reminder: reminder.state == "queued")._dispatch()

    def action_resend(self):
        """Send a sent reminder again, as a new reminder with the same invoices and no new charge."""
        copies = self.browse()
        for reminder in self.filtered(lambda e: e.state == "sent"):
            copies |= reminder.copy(
                {
                    "trigger": "manual",
                    "user_id": self.env.user.id,
                    "date_scheduled": fields.Date.context_today(self),
                    "line_ids": [
                        fields.Command.create(
                            {
                                **line.copy_data()[0],
                                "is_escalation": False,
                                "amount_fee": 0.0,
                                "amount_interest": 0.0,
                                "interest_date_from": False,
                                "interest_date_to": False,
                            }
                        )
                        for line in reminder.line_ids
                    ],
                }
            )
        copies._dispatch()
        return copies

    def action_record_promise(self):
        """Record the debtor's promise to pay, typically during the collector's call."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Promise to Pay"),
            "res_model": "dunning.promise",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_partner_id": self.partner_id.id,
                "default_company_id": self.company_id.id,
                "default_currency_id": self.currency_id.id,
                "default_move_ids": [fields.Command.set(self.line_ids.move_id.ids)],
                "default_amount": self.amount_residual,
            },
        }

    # === CRON === #

    @api.model
    def _cron_dunning_dispatch(self):
        """Send a batch of queued reminders, claimed with ``FOR UPDATE SKIP LOCKED`` in the query that finds them.

        Several workers (the dispatch action copied per cron worker, or on several servers) share the queue: each
        claims the first reminders no other worker holds, and holds them until its batch commits. A search followed
        by ``try_lock_for_update()`` would give every worker the same first batch, of which all but one keep nothing.
        Reminders retried after a failure come after the fresh ones (fewest attempts first): a reminder that fails
        every time never fills the batch ahead of the queue behind it.
        """
        batch_size = int(
            self.env["ir.config_parameter"].sudo().get_param("receivable_dunning.dispatch_batch_size", 100)
        )
        reminders = self._claim_queued(batch_size)
        if not reminders:
            return
        reminders._dispatch()
        remaining = self.search_count(self._queued_domain()) if len(reminders) == batch_size else 0
        self.env["ir.cron"]._commit_progress(len(reminders), remaining=remaining)

    @api.model
    def _queued_domain(self):
        return [("state", "=", "queued"), ("date_scheduled", "<=", fields.Date.context_today(self))]

    @api.model
    def _claim_queued(self, limit):
        """The first ``limit`` reminders due for dispatch that no other transaction holds, locked until this one
        ends."""
        query = self._search(self._queued_domain(), limit=limit, order="attempt_count, id")
        claimed = self.env.execute_query(
            SQL("%s FOR UPDATE OF %s SKIP LOCKED", query.select(), SQL.identifier(self._table))
        )
        return self.browse(reminder_id for (reminder_id,) in claimed)

    @api.model
    def _trigger_dispatch(self):
        self.env.ref("receivable_dunning.ir_cron_dunning_dispatch")._trigger()

    # === BUSINESS METHODS - DISPATCH === #

    @api.model
    def _channels(self):
        """The channel registry: channel code -> :class:`DunningChannel`, in dispatch order; add-ons extend it."""
        return {
            "email": DunningChannel(
                level_field="send_email",
                send="_send_email",
                contact_problem="_contact_problem_email",
                delivery_failures="_delivery_failures_email",
            ),
            "sms": DunningChannel(
                level_field="send_sms",
                send="_send_sms",
                contact_problem="_contact_problem_sms",
                delivery_failures="_delivery_failures_sms",
            ),
            "letter": DunningChannel(
                level_field="send_letter", send="_send_letter", contact_problem="_contact_problem_letter"
            ),
            "call": DunningChannel(
                level_field="create_call", send="_send_call", contact_problem="_contact_problem_call"
            ),
        }

    def _dispatch(self):
        """Steps 5 and 6: deliver these reminders through their channels and apply their effects, a channel's
        reminders together.

        Reminders whose contact cannot receive them fail at once with the reason. The others are sent per channel
        as one batch (one rendering per template and language, mails, states and effects written together) in one
        savepoint. When anything in a batch fails, the batch is rolled back and its reminders are sent again one
        at a time, each in its own savepoint: the reminder at fault is marked failed with the reason and retried by
        the next run; the others go on. A charges invoice that cannot be posted leaves the reminder sent: see
        :meth:`_invoice_charges`.

        :return: the reminders sent
        """
        channels = self._channels()
        queued = self.filtered(lambda reminder: reminder.state == "queued")
        reachable = queued._fail_unreachable()
        reachable._ensure_invoice_access_tokens()
        sent = self.browse()
        for code, reminders in reachable.grouped("channel").items():
            channel = channels[code]
            if len(reminders) > 1:
                try:
                    with self.env.cr.savepoint():
                        reminders._deliver(channel)
                except Exception:
                    _logger.info(
                        "dunning: a batch of %s %s reminders failed; sending them one at a time", len(reminders), code
                    )
                else:
                    sent |= reminders
                    continue
            for reminder in reminders:
                sent |= reminder._deliver_alone(channel)
        return sent

    def _deliver(self, channel):
        """Send these reminders of ``channel`` together, mark them sent and apply their effects."""
        # Not tracked: a message per reminder would cost more than the sending itself; Sent On records it, and the
        # debtor's chatter lists every reminder sent (see _apply_effects).
        untracked = self.with_context(mail_notrack=True)
        getattr(untracked, channel.send)()
        untracked._update_state(
            ("queued",), "sent", extra_vals={"date_done": fields.Datetime.now(), "error_message": False}
        )
        self._apply_effects()

    def _deliver_alone(self, channel):
        """Send this reminder in its own savepoint; a failure marks it failed with the reason.

        :return: the reminder if it was sent, else an empty recordset
        """
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self._deliver(channel)
        except Exception as error:  # one reminder's failure must spare the others
            _logger.warning("dunning reminder %s failed: %s", self.name, error, exc_info=True)
            self._mark_failed(str(error.args[0]) if error.args else repr(error))
            return self.browse()
        return self

    def _fail_unreachable(self):
        """Fail the reminders whose recipient cannot be reached through their channel, each with the reason.

        The debtor's channel preference and the SMS blacklist are read again: a debtor who refused the channel since
        the run queued the reminder does not get it. Such a reminder falls back once to another channel the debtor
        accepts (:meth:`_queue_fallbacks`), as an undelivered one does.

        :return: the other reminders
        """
        recipients = {reminder.partner_id.id: reminder.recipient_id or reminder.partner_id for reminder in self}
        refused = self.env["res.partner"]._dunning_refused_channels(recipients)
        problems, refusals = {}, {}
        for reminder in self:
            recipient = reminder.recipient_id or reminder.partner_id
            if reminder.channel in refused[reminder.partner_id.id]:
                refusals[reminder] = reminder._refusal_reason(recipient)
            else:
                problems[reminder] = self._contact_problem(reminder.channel, recipient)
        problems.update(refusals)
        unreachable = self.browse([reminder.id for reminder, problem in problems.items() if problem])
        for reminder in unreachable:
            # A contact to fix, not a fault of the module: no traceback.
            _logger.warning("dunning reminder %s not sent: %s", reminder.name, problems[reminder])
            reminder._mark_failed(problems[reminder])
        if refusals:
            try:
                with self.env.cr.savepoint():
                    self.browse([reminder.id for reminder in refusals])._queue_fallbacks(refusals)
            except Exception:  # a fallback that cannot be queued leaves the refused reminders failed, named
                _logger.warning("dunning reminders %s: no fallback queued", [r.name for r in refusals], exc_info=True)
                self.env.invalidate_all()
        return self - unreachable

    def _refusal_reason(self, recipient):
        """Why the debtor refuses this reminder's channel: its preference, else the SMS blacklist."""
        self.ensure_one()
        debtor = self.partner_id
        labels = dict(self._fields["channel"]._description_selection(self.env))
        if debtor.dunning_channel_preference:
            preferences = dict(debtor._fields["dunning_channel_preference"]._description_selection(self.env))
            return self.env._(
                "%(debtor)s accepts no reminder by %(channel)s (field Reminder Channels: %(preference)s).",
                debtor=debtor.display_name,
                channel=labels[self.channel],
                preference=preferences[debtor.dunning_channel_preference],
            )
        return self.env._(
            "The phone number of %(contact)s is on the SMS blacklist: it receives no reminder SMS.",
            contact=recipient.display_name,
        )

    def _ensure_invoice_access_tokens(self):
        """Give the invoices these email reminders list their portal access token, in one statement.

        The email's "View and pay" link (``account.move.get_portal_url``) would otherwise create each missing token
        through ``account.move.write``, which re-synchronises the invoice's lines: most of a reminder's dispatch
        time, and row locks on invoices accountants may be working on. A token already there is kept.
        """
        moves = self.filtered(lambda reminder: reminder.channel == "email").line_ids.move_id
        if not moves:
            return
        Move = self.env["account.move"]
        Move.flush_model(["access_token"])
        self.env.cr.execute(
            SQL(
                "UPDATE account_move SET access_token = gen_random_uuid()::text"
                " WHERE id = ANY(%s) AND access_token IS NULL RETURNING id",
                moves.ids,
            )
        )
        Move.browse([move_id for (move_id,) in self.env.cr.fetchall()]).invalidate_recordset(["access_token"])

    def _mark_failed(self, reason):
        """Fail these reminders with ``reason``: one whose dispatch failed (queued again once its savepoint rolled
        back) or one sent whose delivery failed later (bounce, SMS report, refusal by the mail server). The next
        run retries them, up to ``dunning_run.MAX_ATTEMPTS`` attempts."""
        for attempts, reminders in self.grouped("attempt_count").items():
            reminders._update_state(
                ("queued", "sent"), "failed", extra_vals={"error_message": reason, "attempt_count": attempts + 1}
            )

    @api.model
    def _report_delivery_failures(self, channel, report):
        """A transport reports messages of ``channel`` that were not delivered: fail the sent reminders they carried,
        with the reason the channel reads in the report. When the debtor's contact is at fault, a fallback reminder
        on another channel takes their place (:meth:`_queue_fallbacks`); otherwise the next run retries them.

        :param str channel: a code of the channel registry (see :meth:`_channels`)
        :param dict report: what the transport reports, as the channel's ``delivery_failures`` method reads it, and
            ``failure_type``, the ``mail.notification`` failure type, when the transport gives one
        """
        # sudo: delivery reports arrive as whoever runs the mail queue or the SMS cron, or as the public user.
        reminders_sudo = self.sudo()
        failures = getattr(reminders_sudo, self._channels()[channel].delivery_failures)(report)
        by_reason = defaultdict(list)
        for reminder, reason in failures.items():
            if reminder.channel == channel and reminder.state == "sent":
                by_reason[reason].append(reminder.id)
        failed = reminders_sudo.browse()
        for reason, reminder_ids in by_reason.items():
            reminders = reminders_sudo.browse(reminder_ids)
            reminders._mark_failed(reason)
            failed |= reminders
        if not failed or report.get("failure_type") in TRANSPORT_FAILURES:
            return
        try:
            with self.env.cr.savepoint():
                failed._queue_fallbacks(failures)
        except Exception:  # a fallback that cannot be queued leaves the failed reminders to the next run's retry
            _logger.warning("dunning reminders %s: no fallback queued", failed.mapped("name"), exc_info=True)
            self.env.invalidate_all()

    # === BUSINESS METHODS - FALLBACK === #

    @api.model
    def _internal_channels(self):
        """Channels that are work for the collector (a call to make), not messages to the debtor: the debtor's
        channel preferences leave them alone and a delivery failure never falls back to them."""
        return {"call"}

    def _queue_fallbacks(self, reasons):
        """Queue, once, a reminder of the same invoices on another channel for each of these failed reminders.

        The fallback goes through the first channel after the failed one in the registry order (email, SMS,
        letter: a letter is the last resort) that the debtor accepts, that its recipient can be reached by, and
        that has not carried these invoices at this level yet (that reminder already reached the debtor). A
        fallback has no fallback of its own, and invoices paid since are left out. The failed reminder is not
        retried: its fallback replaces it. Reminders and lines are inserted by :meth:`_bulk_create`.

        :param dict reasons: reminder -> why it was not delivered
        :return: the fallback reminders
        """
        originals = self.filtered(
            lambda reminder: (
                reminder.state == "failed"
                and reminder.reminder_type == "reminder"
                and reminder.level_id
                and not reminder.fallback_of_id
                and not reminder.fallback_reminder_id
            )
        )
        if not originals:
            return self.browse()
        recipients = {reminder.partner_id.id: reminder.recipient_id or reminder.partner_id for reminder in originals}
        refused = self.env["res.partner"]._dunning_refused_channels(recipients)
        claimed = originals._claimed_channels()
        today = fields.Date.context_today(self)
        vals_list, replaced = [], self.browse()
        for original in originals:
            lines = original.line_ids.filtered(lambda line: line.move_id.payment_state in ("not_paid", "partial"))
            channel = original._fallback_channel(refused[original.partner_id.id], claimed)
            if lines and channel:
                vals_list.append(original._fallback_vals(channel, lines, today))
                replaced |= original
        if not replaced:
            return self.browse()
        fallbacks = self._bulk_create(vals_list)
        self._link_fallbacks(replaced, fallbacks)
        labels = dict(self._fields["channel"]._description_selection(self.env))
        replaced._message_log_batch(
            bodies={
                original.id: Markup("<p>%s</p>")
                % self.env._(
                    "Not delivered: %(reason)s Reminder %(fallback)s takes its place by %(channel)s.",
                    reason=reasons.get(original, ""),
                    fallback=fallback.name,
                    channel=labels[fallback.channel],
                )
                for original, fallback in zip(replaced, fallbacks, strict=True)
            }
        )
        fallbacks._message_log_batch(
            bodies={
                fallback.id: Markup("<p>%s</p>")
                % self.env._(
                    "Fallback of reminder %(original)s, whose %(channel)s was not delivered: %(reason)s",
                    original=original.name,
                    channel=labels[original.channel],
                    reason=reasons.get(original, ""),
                )
                for original, fallback in zip(replaced, fallbacks, strict=True)
            }
        )
        self._trigger_dispatch()
        return fallbacks

    def _claimed_channels(self):
        """(invoice, level, channel) claimed by a live escalation line, for the invoices of these reminders, in one
        query (as ``dunning.run._existing_claims``)."""
        lines = self.env["dunning.reminder.line"].search_fetch(
            [
                ("move_id", "in", self.line_ids.move_id.ids),
                ("is_escalation", "=", True),
                ("state", "!=", "cancelled"),
            ],
            ["move_id", "level_id", "channel"],
        )
        return {(line.move_id.id, line.level_id.id, line.channel) for line in lines}

    def _fallback_channel(self, refused, claimed):
        """The channel this failed reminder falls back to, or False.

        :param set refused: the channels the debtor refuses
        :param set claimed: the output of :meth:`_claimed_channels`
        """
        self.ensure_one()
        channels = list(self._channels())
        internal = self._internal_channels()
        escalations = {(line.move_id.id, line.level_id.id) for line in self.line_ids if line.is_escalation}
        recipient = self.recipient_id or self.partner_id
        for channel in channels[channels.index(self.channel) + 1 :]:
            if channel in internal or channel in refused:
                continue
            if any((move_id, level_id, channel) in claimed for move_id, level_id in escalations):
                continue
            if not self._contact_problem(channel, recipient):
                return channel
        return False

    def _fallback_vals(self, channel, lines, date):
        """The values of the fallback of this reminder, for :meth:`_bulk_create`: the same debtor, level, invoices
        and figures (its charges were claimed and stay claimed once), queued on ``channel`` for ``date``."""
        self.ensure_one()
        return {
            "run_id": self.run_id.id or None,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "partner_id": self.partner_id.id,
            "recipient_id": self.recipient_id.id,
            "level_id": self.level_id.id,
            "channel": channel,
            "state": "queued",
            "trigger": self.trigger,
            "date_scheduled": date,
            "line_ids": [
                {
                    "move_id": line.move_id.id,
                    "level_id": line.level_id.id,
                    "is_escalation": line.is_escalation,
                    "date_due": line.date_due or None,
                    "days_overdue": line.days_overdue,
                    "amount_residual": line.amount_residual,
                    "amount_credit": line.amount_credit,
                    "amount_fee": line.amount_fee,
                    "includes_compensation": line.includes_compensation,
                    "amount_interest": line.amount_interest,
                    "interest_date_from": line.interest_date_from or None,
                    "interest_date_to": line.interest_date_to or None,
                }
                for line in lines
            ],
            "credit_line_ids": self.credit_line_ids.ids,
        }

    @api.model
    def _link_fallbacks(self, originals, fallbacks):
        """Link each original to its fallback and back, in one statement (the fallbacks were inserted by SQL)."""
        self.flush_model(["fallback_of_id", "fallback_reminder_id"])
        links = SQL(", ").join(
            SQL("(%s, %s)", original.id, fallback.id) for original, fallback in zip(originals, fallbacks, strict=True)
        )
        self.env.cr.execute(
            SQL(
                """
                UPDATE dunning_reminder reminder
                   SET fallback_of_id = CASE WHEN reminder.id = link.fallback_id
                                             THEN link.original_id ELSE reminder.fallback_of_id END,
                       fallback_reminder_id = CASE WHEN reminder.id = link.original_id
                                                   THEN link.fallback_id ELSE reminder.fallback_reminder_id END
                  FROM (VALUES %s) AS link(original_id, fallback_id)
                 WHERE reminder.id IN (link.original_id, link.fallback_id)
                """,
                links,
            )
        )
        self.invalidate_model(["fallback_of_id", "fallback_reminder_id"])

    @api.model
    def _contact_problem(self, channel, recipient):
        """Why ``recipient`` cannot receive a reminder through ``channel``, or False when it can.

        :return: a translated sentence naming the contact and the field, or False
        """
        method = self._channels()[channel].contact_problem
        return getattr(self, method)(recipient) if method else False

    @api.model
    def _contact_problem_email(self, recipient):
        if not email_normalize(recipient.email or ""):
            return self.env._(
                "%(contact)s has no valid email address (field Email: %(value)s).",
                contact=recipient.display_name,
                value=recipient.email or self.env._("empty"),
            )
        return False

    @api.model
    def _contact_problem_sms(self, recipient):
        if recipient.dunning_phone_wrong:
            return self._wrong_phone_problem(recipient)
        try:
            to_e164(recipient.phone, recipient.country_id.code)
        except InvalidPhoneNumber as error:
            return self.env._(
                "%(contact)s has no phone number that can receive an SMS (field Phone: %(reason)s).",
                contact=recipient.display_name,
                reason=error,
            )
        return False

    @api.model
    def _contact_problem_call(self, recipient):
        # Whom the collector calls: the recipient when it is the dunning contact with a phone, else the debtor (the
        # rule of res.partner._dunning_call_contact, without a query per reminder).
        called = recipient if recipient.dunning_contact and recipient.phone else recipient.commercial_partner_id
        return called.dunning_phone_wrong and self._wrong_phone_problem(called)

    @api.model
    def _wrong_phone_problem(self, contact):
        return self.env._(
            "The phone number of %(contact)s (%(number)s) was reported wrong after a call: correct it (field Phone), "
            "then retry.",
            contact=contact.display_name,
            number=contact.phone,
        )

    @api.model
    def _contact_problem_letter(self, recipient):
        if not (recipient.street or recipient.city):
            return self.env._(
                "%(contact)s has no postal address (fields Street and City are empty).",
                contact=recipient.display_name,
            )
        return False

    def _mail_template(self):
        self.ensure_one()
        if self.reminder_type == "thanks":
            return self.env.ref("receivable_dunning.mail_template_dunning_thanks")
        if self.reminder_type == "request":
            return self.env.ref("receivable_dunning.mail_template_dunning_request")
        template = self.level_id.mail_template_id or self.env.ref("receivable_dunning.mail_template_dunning_reminder")
        return template

    def _send_email(self):
        """Queue the reminder emails in Odoo's mail queue, each rendered in its recipient's language.

        One rendering per template for the whole batch (``mail.template.send_mail_batch`` renders per language and
        creates the mails together), instead of ``send_mail`` per reminder; the invoice PDFs of the levels that
        attach them are rendered for the whole batch too (:meth:`_invoice_attachments`).
        """
        # What the statement table reads of the invoices, for the whole batch at once.
        self.line_ids.move_id.fetch()
        attachments = self._invoice_attachments()
        for (template, copy_to), reminders in self.grouped(
            lambda reminder: (reminder._mail_template(), reminder._copy_to())
        ).items():
            mails = reminders._queue_template_mails(template, {"email_cc": copy_to} if copy_to else {})
            mail_of = {mail.res_id: mail for mail in mails}
            for reminder in reminders:
                mail = mail_of[reminder.id]
                reminder.write({"mail_id": mail.id, "mail_message_id": mail.mail_message_id.id})
                if attachments[reminder.id]:
                    mail.attachment_ids = attachments[reminder.id]

    def _queue_template_mails(self, template, email_values):
        """Queue ``template`` rendered for each of these reminders, as ``mail.template.send_mail_batch`` does, with
        the email stored once: in the mail's ``body_html``, which the mail queue sends and keeps (the templates do
        not delete their mails). The mail's message, the reminder's chatter entry, names the email in one line
        instead of holding a second copy of its HTML, which Odoo sanitizes when the message is created: a third
        of the dispatch of a reminder, for a copy nobody reads. The reminder's Email tab shows the email as sent.
        A template given a notification layout goes through Odoo's method unchanged.

        :return: the mails, a ``mail.mail`` per reminder
        """
        if template.email_layout_xmlid:
            return template.send_mail_batch(self.ids, email_values=email_values or None)
        template._send_check_access(self.ids)
        rendered = template._generate_template(self.ids, TEMPLATE_MAIL_FIELDS)
        vals_list, attachments_list = [], []
        # The chatter shows the mail's subject and recipients above it.
        body = Markup("<p>%s</p>") % self.env._("Email sent: the Email tab shows it as the debtor received it.")
        for reminder in self:
            values = rendered[reminder.id]
            values["recipient_ids"] = [Command.link(partner_id) for partner_id in values.get("partner_ids") or []]
            values["attachment_ids"] = [
                Command.link(attachment_id) for attachment_id in values.get("attachment_ids") or []
            ]
            values.update(email_values)
            attachments_list.append(values.pop("attachments", []))
            if "email_from" in values and not values["email_from"]:
                values.pop("email_from")  # the mail server's default sender, as Odoo does
            values["body"] = body
            vals_list.append(values)
        # The dispatch runs for users who may not create mails (administrators only), as send_mail_batch does.
        mails = self.env["mail.mail"].sudo().create(vals_list)
        for mail, attachments in zip(mails, attachments_list, strict=True):
            if attachments:
                mail.with_context(default_type=None).attachment_ids = [
                    Command.create(
                        {
                            "name": name,
                            "datas": datas,
                            "type": "binary",
                            "res_model": "mail.message",
                            "res_id": mail.mail_message_id.id,
                        }
                    )
                    for name, datas in attachments
                ]
        return mails

    def _copy_to(self):
        """The formatted address the level copies its reminders to, or False."""
        mode = self.level_id.cc_mode
        if mode == "salesperson":
            user = self.line_ids.move_id.invoice_user_id[:1]
        elif mode == "collector":
            user = self.partner_id.with_company(self.company_id).dunning_collector_id
        else:
            return False
        return user.email_formatted if user.email else False

    def _invoice_attachments(self):
        """The documents the emails of these reminders attach, when their level attaches the invoices: the PDF of
        every listed invoice and, when the level also sends letters, the reminder letter.

        An invoice's PDF is the one Odoo kept when the invoice was sent; the invoices without one are rendered
        together (see :meth:`_invoice_documents`), the letters too (see :meth:`_render_letters`).

        :return: dict reminder id -> ir.attachment recordset, empty for a reminder that attaches nothing
        """
        attachments = dict.fromkeys(self.ids, self.env["ir.attachment"])
        attaching = self.filtered(
            lambda reminder: reminder.reminder_type == "reminder" and reminder.level_id.attach_invoices
        )
        moves = attaching.line_ids.move_id
        documents = self._invoice_documents(moves.filtered(lambda move: not move.invoice_pdf_report_id))
        vals_list = []
        for reminder in attaching:
            for move in reminder.line_ids.move_id:
                document = documents.get(move.id)
                if not document:
                    attachments[reminder.id] |= move.invoice_pdf_report_id
                elif document["attachment"]:
                    attachments[reminder.id] |= document["attachment"]
                else:
                    vals_list.append(
                        {
                            "name": move._get_invoice_report_filename(extension=document["report_type"]),
                            "raw": document["raw"],
                            "res_model": self._name,
                            "res_id": reminder.id,
                            "mimetype": _mimetype(document["report_type"]),
                        }
                    )
        for attachment in self.env["ir.attachment"].create(vals_list):
            attachments[attachment.res_id] |= attachment
        letters = attaching.filtered(lambda reminder: reminder.level_id.send_letter)._render_letters()
        for reminder_id, letter in letters.items():
            attachments[reminder_id] |= letter
        return attachments

    @api.model
    def _invoice_documents(self, moves):
        """The PDFs of ``moves``, rendered in one wkhtmltopdf call per company and invoice report (the report Odoo
        sends each invoice with).

        :return: dict invoice id -> document, as :meth:`ir.actions.report._dunning_render_documents` gives them
        """
        send = self.env["account.move.send"]
        documents = {}
        for (company, report), report_moves in moves.grouped(
            lambda move: (move.company_id, send._get_default_pdf_report_id(move))
        ).items():
            documents.update(
                self.env["ir.actions.report"].with_company(company)._dunning_render_documents(report, report_moves.ids)
            )
        return documents

    def _send_sms(self):
        """Post each reminder's SMS on the reminder, to the recipient's number in E.164 form, for the SMS queue.

        The texts are rendered per template for the whole batch, in each recipient's language. Odoo's SMS
        notification links each SMS to its message through a tracker, so that the provider's answer, at sending or
        in a later delivery report, reaches the reminder (see ``sms.tracker``).
        """
        default_template = self.env.ref("receivable_dunning.sms_template_dunning_reminder")
        request_template = self.env.ref("receivable_dunning.sms_template_dunning_request")
        bodies = {}
        for template, reminders in self.grouped(
            lambda reminder: (
                request_template
                if reminder.reminder_type == "request"
                else reminder.level_id.sms_template_id or default_template
            )
        ).items():
            bodies.update(template._render_field("body", reminders.ids, compute_lang=True))
        # A retry replaces the SMS that failed: cancelled, it can no longer be resent by hand beside the new one.
        # sudo: sms.sms is a technical model that only administrators may read.
        self.sms_id.sudo().filtered(lambda sms: sms.state == "error").action_set_canceled()
        messages = {}
        for reminder in self:
            recipient = reminder.recipient_id or reminder.partner_id
            messages[reminder] = reminder._message_sms(
                bodies[reminder.id],
                partner_ids=recipient.ids,
                sms_pid_to_number={recipient.id: to_e164(recipient.phone, recipient.country_id.code)},
                put_in_queue=True,
            )
        # sudo: sms.sms is a technical model that only administrators may read.
        sms_of = (
            self.env["sms.sms"]
            .sudo()
            .search([("mail_message_id", "in", [message.id for message in messages.values()])])
            .grouped("mail_message_id")
        )
        for reminder, message in messages.items():
            reminder.write({"mail_message_id": message.id, "sms_id": sms_of[message][:1].id})

    def _message_receive_bounce(self, email, partner):
        """A reminder email that comes back undelivered, even days later, fails the reminder: the next run retries
        it."""
        result = super()._message_receive_bounce(email, partner)
        self._report_delivery_failures(
            "email",
            {
                "messages": self.mail_message_id,
                "email": email,
                "reason": self.env._("The email to %(email)s came back undelivered (bounce).", email=email),
            },
        )
        return result

    @api.model
    def _delivery_failures_email(self, report):
        """The reminders whose email was not delivered: refused by the mail server (``mail.mail``) or bounced.

        :param dict report: ``messages``, the ``mail.message`` records of the emails; ``reason``; and ``email``, the
            address that bounced, when one did: only the recipient's bounce counts, a copy to a colleague may bounce
            on its own
        :return: dict reminder -> reason
        """
        reminders = self.search([("mail_message_id", "in", report["messages"].ids)])
        if email := report.get("email"):
            reminders = reminders.filtered(
                lambda reminder: email_normalize((reminder.recipient_id or reminder.partner_id).email or "") == email
            )
        return dict.fromkeys(reminders, report["reason"])

    @api.model
    def _delivery_failures_sms(self, report):
        """The reminders whose SMS could not be delivered, each with the number and the provider's reason.

        :param dict report: ``notifications``, the ``mail.notification`` records in error, of any message
        :return: dict reminder -> reason
        """
        notifications = report["notifications"]
        reminders = self.search([("mail_message_id", "in", notifications.mail_message_id.ids)])
        failure_labels = dict(notifications._fields["failure_type"]._description_selection(self.env))
        notifications_of = notifications.grouped("mail_message_id")
        failures = {}
        for reminder in reminders:
            notification = notifications_of[reminder.mail_message_id][:1]
            failures[reminder] = self.env._(
                "The SMS to %(number)s was not delivered: %(reason)s",
                number=notification.sms_number,
                reason=notification.failure_reason
                or failure_labels.get(notification.failure_type)
                or self.env._("unknown error"),
            )
        return failures

    def _send_letter(self):
        """Render the reminder letters together and attach each to its reminder, ready to print and post."""
        letters = self._render_letters()
        for reminder in self:
            reminder.letter_attachment_id = letters[reminder.id]
            reminder.message_post(
                body=self.env._("Reminder letter ready to print."), attachment_ids=letters[reminder.id].ids
            )

    def _render_letters(self):
        """The reminder letters of these reminders, rendered in one wkhtmltopdf call per company and split per
        reminder (HTML in tests without forced rendering), as attachments created together.

        :return: dict reminder id -> ir.attachment
        """
        vals_list = []
        for company, reminders in self.grouped("company_id").items():
            letters = (
                self.env["ir.actions.report"]
                .with_company(company)
                ._dunning_render_documents("receivable_dunning.action_report_dunning_letter", reminders.ids)
            )
            vals_list.extend(
                {
                    "name": f"{reminder.name.replace('/', '-')}.{letters[reminder.id]['report_type']}",
                    "raw": letters[reminder.id]["raw"],
                    "res_model": self._name,
                    "res_id": reminder.id,
                    "mimetype": _mimetype(letters[reminder.id]["report_type"]),
                }
                for reminder in reminders
            )
        return {attachment.res_id: attachment for attachment in self.env["ir.attachment"].create(vals_list)}

    def _send_call(self):
        """Schedule a call for each reminder, due on its date, for the level's responsible, else whoever follows
        the debtor up (see ``res.partner._dunning_responsible``: never an archived user, nor the cron's)."""
        default_type = self.env.ref("mail.mail_activity_data_call")
        for reminder in self:
            partner = reminder.partner_id.with_company(reminder.company_id)
            level_user = reminder.level_id.activity_user_id.filtered("active")
            responsible = level_user or partner._dunning_responsible(reminder.company_id, reminder.line_ids.move_id)
            reminder.activity_id = reminder.activity_schedule(
                activity_type_id=(reminder.level_id.activity_type_id or default_type).id,
                date_deadline=reminder.date_scheduled,
                summary=self.env._(
                    "Call %(debtor)s about %(amount)s overdue", debtor=partner.name, amount=reminder._amount_text()
                ),
                note=reminder._statement_note(),
                user_id=responsible.id,
            )

    def _amount_text(self):
        return self.currency_id.format(self.amount_total)

    def _statement_note(self):
        rows = Markup("").join(
            Markup("<li>%s: %s, %s</li>")
            % (
                line.move_id.name,
                line.currency_id.format(line.amount_residual),
                self.env._("%(days)s days late", days=line.days_overdue),
            )
            for line in self.line_ids
        )
        return Markup("<ul>%s</ul>") % rows

    def _apply_effects(self):
        """Step 6: sent reminders move their invoices to the new level and date, and leave a trace on the debtor."""
        reminders = self.filtered(lambda reminder: reminder.reminder_type == "reminder")
        if not reminders:
            return
        reminders._set_invoice_levels()
        reminders._invoice_charges()
        bodies = {}
        channel_labels = dict(self._fields["channel"]._description_selection(self.env))
        for reminder in reminders:
            bodies[reminder.partner_id.id] = bodies.get(reminder.partner_id.id, Markup("")) + Markup(
                "<p>%s</p>"
            ) % self.env._(
                "Reminder %(name)s sent by %(channel)s at level %(level)s: %(count)s invoice(s), %(amount)s.",
                name=reminder.name,
                channel=channel_labels[reminder.channel],
                level=reminder.level_id.name,
                count=reminder.invoice_count,
                amount=reminder._amount_text(),
            )
        self.env["res.partner"].browse(bodies)._message_log_batch(bodies=bodies)

    def _set_invoice_levels(self):
        """Move the invoices of these sent reminders to the level they reached and the date they were reminded.

        In SQL, one statement for the batch: ``account.move.write`` would re-synchronise each invoice's lines, mark it
        as manually modified and log the level on its chatter, for two fields of ours that nothing in accounting
        reads (the invoice's reminders are on its Reminders button). One new version of each invoice's row, not one
        per field: each version costs an entry in every index of the invoices' table.
        """
        Move = self.env["account.move"]
        fnames = ["dunning_level_id", "dunning_last_date"]
        Move.flush_model(fnames)
        dates, levels = {}, {}
        for line in self.line_ids:
            move = line.move_id
            dates[move.id] = max(dates.get(move.id, line.date_scheduled), line.date_scheduled)
            if line.is_escalation and line.level_id._is_after(levels.get(move.id, move.dunning_level_id)):
                levels[move.id] = line.level_id
        if not dates:
            return
        self.env.cr.execute(
            SQL(
                """UPDATE account_move AS move
                      SET dunning_last_date = reached.date,
                          dunning_level_id = COALESCE(reached.level_id, move.dunning_level_id)
                     FROM unnest(%s::int[], %s::date[], %s::int[]) AS reached(move_id, date, level_id)
                    WHERE move.id = reached.move_id""",
                list(dates),
                list(dates.values()),
                [levels[move_id].id if move_id in levels else None for move_id in dates],
            )
        )
        moves = Move.browse(dates)
        moves.invalidate_recordset(fnames)
        moves.modified(fnames)

    def _invoice_charges(self):
        """Issue one invoice per debtor and run for the fees and interest of the sent reminders, once.

        Only for policies that invoice their charges. The same invoice and level may be listed by several channels
        of a run: its charges are invoiced once, and every line that carried them points to the charges invoice.
        Each charges invoice is created and posted in its own savepoint: one that cannot be posted leaves its
        reminders sent, marks their charges failed with the reason and gives the debtor's collector an activity.
        """
        lines = self.filtered(lambda reminder: reminder.policy_id.invoice_charges).line_ids.filtered(
            lambda line: line.is_escalation and not line.charge_move_id and (line.amount_fee or line.amount_interest)
        )
        if not lines:
            return
        already = self.env["dunning.reminder.line"].search(
            [
                ("move_id", "in", lines.move_id.ids),
                ("is_escalation", "=", True),
                ("charge_move_id", "!=", False),
            ]
        )
        invoiced_keys = {(line.move_id, line.level_id): line.charge_move_id for line in already}
        to_invoice = {}
        linked = self.env["dunning.reminder.line"]
        for line in lines:
            key = (line.move_id, line.level_id)
            if key in invoiced_keys:
                # sudo: the lines of a sent reminder are locked against any other write (see dunning.reminder.line).
                line.sudo().charge_move_id = invoiced_keys[key]
                linked |= line
            else:
                to_invoice.setdefault(key, self.env["dunning.reminder.line"])
                to_invoice[key] |= line
        linked.reminder_id.write({"charge_state": "invoiced", "charge_error": False})
        groups = {}
        for (move, level), key_lines in to_invoice.items():
            reminder = key_lines[0].reminder_id
            groups.setdefault(
                (reminder.partner_id, reminder.company_id, reminder.currency_id, reminder.run_id), []
            ).append((move, level, key_lines))
        for (partner, company, currency, _run), items in groups.items():
            invoice_vals = {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "company_id": company.id,
                "currency_id": currency.id,
                "invoice_origin": ", ".join(move.name for move, _level, _lines in items),
                "invoice_line_ids": [
                    fields.Command.create(vals)
                    for move, level, key_lines in items
                    for vals in self._charge_invoice_lines(move, level, key_lines[0])
                ],
            }
            group_lines = self.env["dunning.reminder.line"].union(*(key_lines for _move, _level, key_lines in items))
            reminders = group_lines.reminder_id
            try:
                with self.env.cr.savepoint():
                    invoice = (
                        self.env["account.move"]
                        .with_company(company)
                        .with_context(default_move_type="out_invoice")
                        .create(invoice_vals)
                    )
                    invoice.action_post()
                    group_lines.sudo().charge_move_id = invoice  # sudo: as above, the lines are locked
            except Exception as error:  # a charges invoice must never undo the reminder that was sent
                _logger.warning(
                    "dunning reminders %s: charges invoice not posted", reminders.mapped("name"), exc_info=True
                )
                reminders._charges_failed(str(error.args[0]) if error.args else repr(error))
            else:
                reminders.write({"charge_state": "invoiced", "charge_error": False})

    def _charges_failed(self, reason):
        """Record that the charges of these sent reminders could not be invoiced, and ask their collectors to look."""
        self.write({"charge_state": "failed", "charge_error": reason})
        for reminder in self:
            collector = reminder.partner_id._dunning_responsible(reminder.company_id, reminder.line_ids.move_id)
            reminder.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Charges of reminder %(name)s not invoiced", name=reminder.name),
                note=self.env._(
                    "The invoice of the fees and interest of this reminder could not be posted: %(reason)s. "
                    "Fix the cause, then use Invoice Charges on the reminder.",
                    reason=reason,
                ),
                user_id=collector.id,
            )

    def _charge_invoice_lines(self, move, level, line):
        """Invoice line values for the charges of one invoice reaching one level."""
        vals = []
        if line.amount_fee:
            vals.append(
                {
                    "name": self.env._("Recovery fee, %(invoice)s (%(level)s)", invoice=move.name, level=level.name),
                    "quantity": 1,
                    "price_unit": line.amount_fee,
                    "tax_ids": [fields.Command.clear()],
                }
            )
        if line.amount_interest:
            vals.append(
                {
                    "name": self.env._(
                        "Late interest, %(invoice)s, %(date_from)s to %(date_to)s",
                        invoice=move.name,
                        date_from=line.interest_date_from,
                        date_to=line.interest_date_to,
                    ),
                    "quantity": 1,
                    "price_unit": line.amount_interest,
                    "tax_ids": [fields.Command.clear()],
                }
            )
        return vals

    def _update_state(self, allowed_states, target_state, extra_vals=None):
        """Move the reminders that are in an allowed state to the target state in one write.

        Reminders already in the target state are left alone (logged at INFO); reminders in any other state refuse
        the transition (logged at WARNING).

        :param tuple allowed_states: the states from which the transition is allowed
        :param str target_state: the new state
        :param dict extra_vals: further values written with the state
        :return: the reminders that moved
        :rtype: recordset of ``dunning.reminder``
        """
        movable = self.filtered(lambda reminder: reminder.state in allowed_states)
        for reminder in self - movable:
            if reminder.state == target_state:
                _logger.info("dunning reminder %s already in state %s", reminder.name, target_state)
            else:
                _logger.warning(
                    "dunning reminder %s: refused transition from %s to %s", reminder.name, reminder.state, target_state
                )
        if movable:
            movable.write({"state": target_state, **(extra_vals or {})})
        return movable
