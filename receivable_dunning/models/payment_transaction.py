from odoo import fields, models


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

    def _create_payment(self, **extra_create_values):
        """The payment settles what the credits did not: reconcile the invoices with those credits too."""
        payment = super()._create_payment(**extra_create_values)
        if self.dunning_credit_line_ids:
            self.invoice_ids.filtered(lambda move: move.state == "posted")._dunning_apply_credits(
                self.dunning_credit_line_ids
            )
        return payment
