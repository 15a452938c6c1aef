from odoo import api, fields, models

from ..tools.matching import REASONS


class StatementMatchWizardLine(models.TransientModel):
    """One statement line and the open items proposed for it; the accountant accepts, rejects or corrects."""

    _name = "dunning.statement.match.wizard.line"
    _description = "Statement Line Match Proposal"
    _order = "score desc, id"

    wizard_id = fields.Many2one("dunning.statement.match.wizard", required=True, ondelete="cascade")
    statement_line_id = fields.Many2one("account.bank.statement.line", required=True, readonly=True)
    date = fields.Date(related="statement_line_id.date")
    label = fields.Char(related="statement_line_id.payment_ref")
    amount = fields.Monetary(related="statement_line_id.amount", currency_field="currency_id")
    currency_id = fields.Many2one(related="statement_line_id.currency_id")
    move_line_ids = fields.Many2many(
        "account.move.line",
        string="Invoices",
        domain="[('account_id.account_type', '=', 'asset_receivable'), ('reconciled', '=', False), "
        "('parent_state', '=', 'posted'), ('company_id', '=', parent.company_id)]",
    )
    score = fields.Integer(readonly=True)
    reason = fields.Selection(
        [(match_reason.key, match_reason.label) for match_reason in REASONS] + [("none", "No match")], readonly=True
    )
    ambiguous = fields.Boolean(readonly=True)
    note = fields.Char(readonly=True)
    amount_matched = fields.Monetary(compute="_compute_difference", currency_field="currency_id")
    difference = fields.Monetary(compute="_compute_difference", currency_field="currency_id")
    decision = fields.Selection([("accept", "Accept"), ("reject", "Reject")], required=True, default="reject")

    @api.depends("move_line_ids", "amount")
    def _compute_difference(self):
        for line in self:
            line.amount_matched = sum(line.move_line_ids.mapped("amount_residual_currency"))
            line.difference = line.amount - line.amount_matched

    @api.onchange("move_line_ids")
    def _onchange_move_line_ids(self):
        """Picking another invoice is a decision to accept it."""
        for line in self:
            line.decision = "accept" if line.move_line_ids else "reject"
