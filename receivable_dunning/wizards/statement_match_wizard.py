from odoo import Command, api, fields, models
from odoo.exceptions import UserError


class StatementMatchWizard(models.TransientModel):
    """Propose, review and confirm the invoices that bank statement lines pay."""

    _name = "dunning.statement.match.wizard"
    _description = "Match Statement Lines to Invoices"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    journal_id = fields.Many2one(
        "account.journal", domain="[('type', 'in', ('bank', 'cash')), ('company_id', '=', company_id)]"
    )
    date_from = fields.Date()
    date_to = fields.Date()
    statement_line_ids = fields.Many2many("account.bank.statement.line", string="Statement Lines")
    line_ids = fields.One2many("dunning.statement.match.wizard.line", "wizard_id", string="Proposals")
    matched_count = fields.Integer(compute="_compute_counts")
    unmatched_count = fields.Integer(compute="_compute_counts")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        if context.get("active_model") == "account.bank.statement.line" and context.get("active_ids"):
            values["statement_line_ids"] = [Command.set(context["active_ids"])]
        return values

    @api.depends("line_ids.move_line_ids")
    def _compute_counts(self):
        for wizard in self:
            wizard.matched_count = len(wizard.line_ids.filtered("move_line_ids"))
            wizard.unmatched_count = len(wizard.line_ids) - wizard.matched_count

    def _statement_lines(self):
        """The selected statement lines, else the journal's unreconciled ones in the date range."""
        self.ensure_one()
        if self.statement_line_ids:
            return self.statement_line_ids.filtered(lambda line: not line.is_reconciled)
        if not self.journal_id:
            raise UserError(self.env._("Select statement lines, or a bank journal (field Journal)."))
        domain = [("journal_id", "=", self.journal_id.id), ("is_reconciled", "=", False), ("amount", ">", 0)]
        if self.date_from:
            domain.append(("date", ">=", self.date_from))
        if self.date_to:
            domain.append(("date", "<=", self.date_to))
        return self.env["account.bank.statement.line"].search(domain, order="date, id")

    def action_propose(self):
        """Compute one proposal per statement line and show them for review."""
        self.ensure_one()
        statement_lines = self._statement_lines()
        proposals = statement_lines._dunning_match_proposals()
        self.line_ids = [Command.clear()] + [
            Command.create(
                {
                    "statement_line_id": proposal.bank_line_id,
                    "move_line_ids": [Command.set([item.line_id for item in proposal.items])],
                    "score": proposal.score,
                    "reason": proposal.reason or "none",
                    "ambiguous": proposal.ambiguous,
                    "note": "; ".join(proposal.notes),
                    "decision": "accept" if proposal.items and not proposal.ambiguous else "reject",
                }
            )
            for proposal in proposals
        ]
        return self._reopen()

    def action_confirm(self):
        """Reconcile every accepted proposal through Odoo's accounting; skipped lines stay open."""
        self.ensure_one()
        accepted = self.line_ids.filtered(lambda line: line.decision == "accept" and line.move_line_ids)
        for line in accepted:
            line.statement_line_id._dunning_reconcile_with(line.move_line_ids)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("%(count)s statement line(s) reconciled.", count=len(accepted)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
