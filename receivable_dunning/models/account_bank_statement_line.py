import logging

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL

from ..tools.matching import BankLine, OpenItem, OpenItemIndex
from ..tools.references import normalize, normalize_iban

_logger = logging.getLogger(__name__)


class AccountBankStatementLine(models.Model):
    _inherit = "account.bank.statement.line"

    dunning_auto_match_tried = fields.Boolean(
        copy=False,
        help="The automatic reconciliation has looked at this line. It looks again when the line's partner or "
        "label changes, when the partner's invoices are posted or when the journal's threshold changes.",
    )

    # What the matcher reads of a statement line: a change may turn a line without match into a clear one.
    _DUNNING_MATCHED_FIELDS = frozenset(
        {"partner_id", "payment_ref", "ref", "narration", "account_number", "amount", "amount_currency"}
    )

    # === CRUD METHODS === #

    def write(self, vals):
        if self._DUNNING_MATCHED_FIELDS.intersection(vals) and "dunning_auto_match_tried" not in vals:
            vals = {**vals, "dunning_auto_match_tried": False}
        return super().write(vals)

    # === ACTION METHODS === #

    def action_dunning_match(self):
        """Open the matching wizard on the selected statement lines."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Match to Invoices"),
            "res_model": "dunning.statement.match.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    # === CRON === #

    @api.model
    def _cron_dunning_auto_reconcile(self):
        """Reconcile the unambiguous proposals at or above each journal's threshold, one batch per call."""
        batch_size = 500
        domain = [
            ("is_reconciled", "=", False),
            ("amount", ">", 0),
            ("journal_id.dunning_auto_reconcile_threshold", ">", 0),
            ("dunning_auto_match_tried", "=", False),
        ]
        lines = self.search(domain, limit=batch_size, order="id").try_lock_for_update()
        if not lines:
            return
        done = 0
        for line, proposal in zip(lines, lines._dunning_match_proposals(), strict=True):
            threshold = line.journal_id.dunning_auto_reconcile_threshold
            if proposal.items and not proposal.ambiguous and proposal.score >= threshold:
                try:
                    with self.env.cr.savepoint():
                        line._dunning_reconcile_with(
                            self.env["account.move.line"].browse(i.line_id for i in proposal.items)
                        )
                        done += 1
                except UserError as error:
                    _logger.info("statement line %s not reconciled automatically: %s", line.id, error)
        lines.dunning_auto_match_tried = True
        _logger.info("dunning auto-reconciliation: %d of %d statement lines reconciled", done, len(lines))
        remaining = self.search_count(domain) if len(lines) == batch_size else 0
        self.env["ir.cron"]._commit_progress(len(lines), remaining=remaining)

    # === BUSINESS METHODS === #

    @api.model
    def _dunning_auto_match_again(self, domain):
        """Let the auto-reconcile cron look again at the open statement lines of ``domain`` it already tried."""
        lines = self.search(
            Domain(domain)
            & Domain("dunning_auto_match_tried", "=", True)
            & Domain("is_reconciled", "=", False)
            & Domain("amount", ">", 0)
            & Domain("journal_id.dunning_auto_reconcile_threshold", ">", 0)
        )
        if lines:
            lines.dunning_auto_match_tried = False
            self.env.ref("receivable_dunning.ir_cron_dunning_auto_reconcile")._trigger()

    def _dunning_match_proposals(self):
        """Proposals for these statement lines, in their order, from indexes built once per company.

        One index per company: invoice numbers repeat across companies, and a bank line may only pay its own
        company's invoices.

        :return: list of :class:`~odoo.addons.receivable_dunning.tools.matching.Proposal`
        """
        proposals = {}
        for lines in self.grouped("company_id").values():
            index = OpenItemIndex(
                lines._dunning_open_items(),
                iban_partners=lines._dunning_iban_partners(),
                reminder_references=lines._dunning_reminder_references(),
            )
            for bank_line in lines._dunning_bank_lines():
                proposals[bank_line.line_id] = index.match(bank_line)
        return [proposals[line.id] for line in self]

    def _dunning_bank_lines(self):
        return [
            BankLine(
                line_id=line.id,
                label=" ".join(filter(None, (line.payment_ref, line.ref, line.narration and str(line.narration)))),
                amount=line.amount_currency if line.foreign_currency_id else line.amount,
                currency_id=(line.foreign_currency_id or line.currency_id).id,
                partner_id=line.partner_id.commercial_partner_id.id or None,
                iban=normalize_iban(line.account_number),
            )
            for line in self
        ]

    def _dunning_open_items(self):
        """Open receivable items of posted customer documents of these lines' companies, in one query."""
        self.env["account.move.line"].flush_model()
        self.env["account.move"].flush_model(["name", "payment_reference", "state"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT aml.id, aml.move_id, aml.partner_id, move.name, move.payment_reference,
                       aml.amount_residual_currency, aml.currency_id
                  FROM account_move_line aml
                  JOIN account_move move ON move.id = aml.move_id
                  JOIN account_account account ON account.id = aml.account_id
                 WHERE aml.company_id IN %s
                   AND aml.parent_state = 'posted'
                   AND account.account_type = 'asset_receivable'
                   AND NOT aml.reconciled
                   AND aml.amount_residual > 0
                """,
                tuple(self.company_id.ids),
            )
        )
        return [
            OpenItem(line_id, move_id, partner_id, number or "", reference or "", residual, currency_id)
            for line_id, move_id, partner_id, number, reference, residual, currency_id in rows
        ]

    def _dunning_iban_partners(self):
        """Compact IBAN -> commercial partner, for the counterpart accounts these lines mention."""
        ibans = {normalize_iban(line.account_number) for line in self} - {None}
        if not ibans:
            return {}
        banks = self.env["res.partner.bank"].search_fetch(
            [("sanitized_acc_number", "in", list(ibans))], ["sanitized_acc_number", "partner_id"]
        )
        return {bank.sanitized_acc_number: bank.partner_id.commercial_partner_id.id for bank in banks}

    def _dunning_reminder_references(self):
        """RF reference of each sent reminder -> the invoices it listed: a payment quoting it pays them all."""
        events = self.env["dunning.event"].search_fetch(
            [
                ("company_id", "in", self.company_id.ids),
                ("event_type", "=", "reminder"),
                ("state", "=", "sent"),
                ("payment_reference", "!=", False),
            ],
            ["payment_reference", "line_ids"],
        )
        return {normalize(event.payment_reference): event.line_ids.move_id.ids for event in events}

    def _dunning_reconcile_with(self, receivable_lines):
        """Reconcile this statement line with open receivable items, oldest due first.

        The statement line's suspense line is replaced by counterparts on the items' accounts; what the items do
        not absorb (an overpayment) stays on the suspense account, open. Odoo's own unreconcile undoes it all.

        :param receivable_lines: ``account.move.line`` records, open and receivable
        :raise UserError: when the statement line is already reconciled or an item is no longer open
        """
        self.ensure_one()
        _liquidity, suspense, counterparts_done = self._seek_for_lines()
        if self.is_reconciled or not suspense:
            raise UserError(self.env._("Statement line %(line)s is already reconciled.", line=self.display_name))
        if counterparts_done:
            # The whole transaction amount is matched below: what is left of a partly matched line is not.
            raise UserError(
                self.env._(
                    "Statement line %(line)s is already partly reconciled: finish it in the bank reconciliation.",
                    line=self.display_name,
                )
            )
        closed = receivable_lines.filtered("reconciled")
        if closed:
            raise UserError(
                self.env._(
                    "Invoice %(invoice)s is already paid: statement line %(line)s was not reconciled with it.",
                    invoice=closed[0].move_id.name,
                    line=self.display_name,
                )
            )
        transaction_amount, transaction_currency, *_rest = self._get_accounting_amounts_and_currencies()
        remaining, remaining_balance = transaction_amount, -sum(suspense.mapped("balance"))
        counterparts = []
        for item in receivable_lines.sorted(lambda aml: (aml.date_maturity or aml.date, aml.id)):
            if transaction_currency.compare_amounts(remaining, 0) <= 0:
                break
            owed = self._prepare_counterpart_amounts_using_st_line_rate(
                item.currency_id, item.amount_residual, item.amount_residual_currency
            )
            paid = min(owed["amount_currency"], remaining)
            balance = owed["balance"] if paid == owed["amount_currency"] else remaining_balance * paid / remaining
            balance = self.company_id.currency_id.round(balance)
            counterparts.append((item, {"amount_currency": -paid, "balance": -balance}))
            remaining -= paid
            remaining_balance -= balance
        commands = [Command.delete(suspense.id)]
        for item, amounts in counterparts:
            commands.append(
                Command.create(
                    {
                        "name": self.payment_ref or item.move_id.name,
                        "account_id": item.account_id.id,
                        "partner_id": item.partner_id.id,
                        "currency_id": transaction_currency.id,
                        **amounts,
                    }
                )
            )
        if not transaction_currency.is_zero(remaining):
            commands.append(
                Command.create(
                    {
                        "name": self.payment_ref,
                        "account_id": self.journal_id.suspense_account_id.id,
                        "partner_id": self.partner_id.id,
                        "currency_id": transaction_currency.id,
                        "amount_currency": -remaining,
                        "balance": -remaining_balance,
                    }
                )
            )
        if not self.partner_id:
            self.partner_id = receivable_lines.partner_id[:1]
        self.with_context(force_delete=True, skip_readonly_check=True).move_id.write({"line_ids": commands})
        new_lines = self.move_id.line_ids.filtered(
            lambda aml: aml.account_id.account_type == "asset_receivable" and not aml.reconciled
        )
        for item, amounts in counterparts:
            counterpart = new_lines.filtered(
                lambda aml, item=item, amounts=amounts: (
                    aml.account_id == item.account_id
                    and aml.partner_id == item.partner_id
                    and transaction_currency.compare_amounts(aml.amount_currency, amounts["amount_currency"]) == 0
                )
            )[:1]
            new_lines -= counterpart
            (counterpart | item).reconcile()
