import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import str2bool

_logger = logging.getLogger(__name__)

# A payment of the same invoices started this recently and still in draft is taken for a second click on "Pay";
# an older draft is a payment the debtor gave up, which must not block a new attempt.
DOUBLE_SUBMISSION_SECONDS = 120


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    dunning_credit_line_ids = fields.Many2many(
        "account.move.line",
        relation="dunning_transaction_credit_line_rel",
        column1="transaction_id",
        column2="move_line_id",
        string="Credits Deducted",
        readonly=True,
        copy=False,
        help="The debtor's credits deducted from this payment on the statement page; they are reconciled with the "
        "paid invoices once the payment is confirmed.",
    )
    dunning_plan_line_id = fields.Many2one(
        "dunning.plan.line",
        string="Instalment",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The instalment of a plan this payment pays: charged on its date, or paid by the debtor online.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _dunning_recent_draft_domain(self):
        """Drafts started in the last ``DOUBLE_SUBMISSION_SECONDS``: a payment form submitted a second time."""
        # cr.now(): the clock create_date is written with.
        since = fields.Datetime.subtract(self.env.cr.now(), seconds=DOUBLE_SUBMISSION_SECONDS)
        return Domain("state", "=", "draft") & Domain("create_date", ">=", since)

    @api.model
    def _dunning_check_online_payment(self, invoices):
        """Apply account_payment's rules to paying ``invoices`` online from the statement page: online payment
        enabled in the settings, and no payment of them pending, authorised or just started.

        :param invoices: the selected open invoices (``account.move``)
        :raise ValidationError: naming the invoice and the field at fault
        """
        # sudo: the setting and the transactions of the invoices are read for a visitor of the statement page.
        if not str2bool(self.env["ir.config_parameter"].sudo().get_param("account_payment.enable_portal_payment")):
            raise ValidationError(
                self.env._("Online payment is not available: pay by bank transfer instead (field Invoices).")
            )
        started = (
            self.sudo()
            .search(Domain("invoice_ids", "in", invoices.ids) & self._dunning_recent_draft_domain())
            .invoice_ids
        )
        # _has_to_be_paid: account_payment's own test, which refuses invoices with a pending or authorised payment.
        busy = invoices.filtered(lambda move: move in started or not move.sudo()._has_to_be_paid())
        if busy:
            raise ValidationError(
                self.env._(
                    "A payment of invoice %(invoice)s is already being processed: wait for it to complete instead "
                    "of paying again (field Invoices).",
                    invoice=busy[0].name,
                )
            )

    @api.model
    def _dunning_reserved_credits(self, credits):
        """The lines of ``credits`` that a payment under way deducted already: pending, authorised, done but not
        yet posted, or just started. Another payment must not deduct them again.

        :param credits: candidate credit lines (``account.move.line``)
        :return: the reserved ones among ``credits``
        """
        under_way = (
            Domain("state", "in", ("pending", "authorized"))
            | (Domain("state", "=", "done") & Domain("is_post_processed", "=", False))
            | self._dunning_recent_draft_domain()
        )
        # sudo: a credit is reserved by any payment under way, whoever looks at the debtor's credits.
        transactions = self.sudo().search(Domain("dunning_credit_line_ids", "in", credits.ids) & under_way)
        return credits & transactions.dunning_credit_line_ids

    def _post_process(self):
        """The instalments paid are paid before the payment reconciles their invoices (which marks the others the
        money covers, see ``dunning.plan._mark_paid_instalments``); a refused charge puts its instalment, alone,
        back into dunning."""
        instalment_txs = self.filtered(lambda tx: tx.dunning_plan_line_id and not tx.is_post_processed)
        instalment_txs._dunning_update_instalments()
        return super()._post_process()

    def _dunning_update_instalments(self):
        """Follow the instalments' payments: a paid one is paid (and saves the plan's method when the debtor
        agreed to automatic charges), a refused charge fails and its debtor gets a link to pay it otherwise.

        sudo: payments are confirmed by the provider's notification, the cron or the debtor's browser.
        """
        for tx in self.sudo():
            instalment = tx.dunning_plan_line_id
            plan = instalment.plan_id
            if tx.state == "done":
                instalment.charge_state = "paid"
                if tx.token_id and plan.autopay_consent_date and not plan.payment_token_id:
                    plan._set_payment_token(tx.token_id)
                if tx.operation == "offline":
                    plan._send_debtor_mail("receivable_dunning.mail_template_dunning_plan_charge_done", instalment)
            elif tx.state in ("error", "cancel") and tx.operation == "offline":
                instalment.charge_state = "failed"
                plan.message_post(
                    body=self.env._(
                        "The charge of %(amount)s for the instalment of %(date)s was refused: this instalment is "
                        "dunned again until the debtor pays it. %(reason)s",
                        amount=tx.currency_id.format(tx.amount),
                        date=instalment.date,
                        reason=tx.state_message or "",
                    )
                )
                plan._send_debtor_mail("receivable_dunning.mail_template_dunning_plan_charge_failed", instalment)

    def _create_payment(self, **extra_create_values):
        """The payment settles what the credits did not: reconcile the invoices with those credits too.

        The money is captured by now: if the credits cannot be set against the invoices, the payment is kept,
        posted and reconciled with the invoices, and the collector is asked to set the credits by hand.
        """
        payment = super()._create_payment(**extra_create_values)
        if self.dunning_credit_line_ids:
            invoices = self.invoice_ids.filtered(lambda move: move.state == "posted")
            try:
                with self.env.cr.savepoint():
                    invoices._dunning_apply_credits(self.dunning_credit_line_ids)
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                raise
            except Exception:
                _logger.exception(
                    "Transaction %(ref)s: the credits %(credits)s could not be set against its invoices",
                    {"ref": self.reference, "credits": self.dunning_credit_line_ids.ids},
                )
                self._dunning_report_credits_failure(invoices)
        return payment

    def _dunning_report_credits_failure(self, invoices):
        """Ask the debtor's collector to set this transaction's credits against ``invoices`` by hand."""
        self.ensure_one()
        invoices = invoices or self.invoice_ids
        partner = self.partner_id.commercial_partner_id
        responsible = partner._dunning_responsible(self.company_id, invoices)
        invoices[:1].activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._("Set the debtor's credits against the invoices paid online"),
            note=self.env._(
                "Payment %(reference)s of %(debtor)s was received, but its credits %(credits)s could not be set "
                "against invoices %(invoices)s: reconcile them by hand.",
                reference=self.reference,
                debtor=partner.name,
                credits=", ".join(self.dunning_credit_line_ids.mapped("move_name")),
                invoices=", ".join(invoices.mapped("name")),
            ),
            user_id=responsible.id,
        )
