import logging
from collections import defaultdict

from odoo import api, fields, models
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
        done = lines._dunning_auto_reconcile()
        _logger.info("dunning auto-reconciliation: %d of %d statement lines reconciled", len(done), len(lines))
        remaining = self.search_count(domain) if len(lines) == batch_size else 0
        self.env["ir.cron"]._commit_progress(len(lines), remaining=remaining)

    # === BUSINESS METHODS === #

    def _dunning_auto_reconcile(self):
        """Reconcile those of these statement lines whose proposal is unambiguous and scores at least their
        journal's threshold; a line that fails is left alone, the others go on. Every line is marked tried.

        :return: the statement lines reconciled
        """
        items_by_line = {}
        for line, proposal in zip(self, self._dunning_match_proposals(), strict=True):
            threshold = line.journal_id.dunning_auto_reconcile_threshold
            if proposal.items and not proposal.ambiguous and proposal.score >= threshold:
                items_by_line[line] = self.env["account.move.line"].browse(i.line_id for i in proposal.items)
        done = self._dunning_reconcile_batch(items_by_line)
        # Reconciled or not, failed or not: every line of the batch was tried, so that none is retried forever.
        self.dunning_auto_match_tried = True
        # Debtors who said they paid may be waiting for one of the lines left: their claims look at them now.
        self.env["dunning.payment.claim"]._search_payment_in(self.company_id)
        return done

    @api.model
    def _dunning_reconcile_batch(self, items_by_line):
        """Reconcile statement lines with their open receivable items, as a batch: each line's entry is rewritten,
        then all are reconciled in one reconciliation plan, so that what follows a payment (paid invoices leave
        the reminders, thank-yous, promises) runs once for the batch.

        When anything in the batch fails, the batch is undone and its lines are reconciled one at a time, each in
        its own savepoint: a failing line spares the others. A line that claims an item an earlier line of the
        batch claims too goes alone after the batch, so that the first pays it as it would one at a time.

        :param dict items_by_line: statement line -> ``account.move.line`` items it pays
        :return: the statement lines reconciled
        """
        Item = self.env["account.move.line"]
        lines = self.browse(line.id for line in items_by_line)
        # The lines and items read together (one query per model, not per line): each line's items are prefetched
        # with all the others.
        items = Item.union(*items_by_line.values())
        (items | lines.move_id.line_ids).fetch()
        (items.move_id | lines.move_id).fetch()
        items_by_line = {
            line.with_prefetch(lines._prefetch_ids): line_items.with_prefetch(items._prefetch_ids)
            for line, line_items in items_by_line.items()
        }
        batch, alone, claimed = {}, {}, Item
        for line, line_items in items_by_line.items():
            if line_items & claimed:
                alone[line] = line_items
                continue
            claimed |= line_items
            batch[line] = line_items
        done = self.browse()
        if batch:
            try:
                with self.env.cr.savepoint():
                    prepared = {}
                    for line, line_items in batch.items():
                        try:
                            prepared[line] = line._dunning_prepare_reconcile(line_items)
                        except UserError as error:
                            # Checked before anything is written: the line is left out, the batch goes on.
                            _logger.info("statement line %s not reconciled automatically: %s", line.id, error)
                    if prepared:
                        self._dunning_reconcile_prepared(prepared)
                done = self.browse(line.id for line in prepared)
            except Exception:  # one line's failure must spare the others: they are reconciled one at a time
                _logger.info("dunning auto-reconciliation: batch of %d lines failed, one at a time", len(batch))
                alone = {**batch, **alone}
        for line, line_items in alone.items():
            try:
                with self.env.cr.savepoint():
                    line._dunning_reconcile_with(line_items)
                done |= line
            except UserError as error:
                _logger.info("statement line %s not reconciled automatically: %s", line.id, error)
            except Exception:  # one line's failure must spare the others of the batch
                _logger.exception("statement line %s: automatic reconciliation failed", line.id)
        return done

    @api.model
    def _dunning_auto_match_again_for_invoices(self, invoices):
        """Let the auto-reconcile cron look again at the tried statement lines that may pay these new invoices.

        Only lines of the invoice's company, whose partner belongs to the invoice's debtor, or that have no partner
        but whose label may contain the invoice's number or payment reference or whose amount equals what the
        invoice leaves to pay. One query for all the invoices.

        :param invoices: posted ``account.move`` customer invoices
        """
        if not invoices:
            return
        self.flush_model(["dunning_auto_match_tried", "is_reconciled", "amount", "amount_currency", "payment_ref"])
        self.env["account.move"].flush_model(
            ["name", "payment_reference", "amount_residual", "commercial_partner_id", "company_id", "ref", "narration"]
        )
        self.env["res.partner"].flush_model(["commercial_partner_id"])
        self.env["account.journal"].flush_model(["dunning_auto_reconcile_threshold"])
        alnum = "[^0-9A-Z]"
        rows = self.env.execute_query(
            SQL(
                """
                WITH invoice AS (
                    SELECT company_id, commercial_partner_id, amount_residual,
                           regexp_replace(upper(COALESCE(name, '')), %(alnum)s, '', 'g') AS number,
                           regexp_replace(upper(COALESCE(payment_reference, '')), %(alnum)s, '', 'g') AS reference
                      FROM account_move
                     WHERE id IN %(invoice_ids)s
                ), line AS (
                    SELECT st_line.id, st_line.company_id, st_line.amount, st_line.amount_currency,
                           partner.commercial_partner_id,
                           regexp_replace(
                               upper(concat_ws(' ', st_line.payment_ref, st_move.ref, st_move.narration)),
                               %(alnum)s, '', 'g'
                           ) AS label
                      FROM account_bank_statement_line st_line
                      JOIN account_move st_move ON st_move.id = st_line.move_id
                      JOIN account_journal journal ON journal.id = st_line.journal_id
                 LEFT JOIN res_partner partner ON partner.id = st_line.partner_id
                     WHERE st_line.dunning_auto_match_tried
                       AND NOT st_line.is_reconciled
                       AND st_line.amount > 0
                       AND journal.dunning_auto_reconcile_threshold > 0
                       AND st_line.company_id IN %(company_ids)s
                )
                SELECT DISTINCT line.id
                  FROM line
                  JOIN invoice ON invoice.company_id = line.company_id
                 WHERE line.commercial_partner_id = invoice.commercial_partner_id
                    OR (
                        line.commercial_partner_id IS NULL
                        AND (
                            line.amount = invoice.amount_residual
                            OR line.amount_currency = invoice.amount_residual
                            OR (length(invoice.number) >= 4 AND line.label LIKE '%%' || invoice.number || '%%')
                            OR (length(invoice.reference) >= 4 AND line.label LIKE '%%' || invoice.reference || '%%')
                        )
                    )
                """,
                alnum=alnum,
                invoice_ids=tuple(invoices.ids),
                company_ids=tuple(invoices.company_id.ids),
            )
        )
        if rows:
            self._dunning_auto_match_again(Domain("id", "in", [line_id for (line_id,) in rows]))

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
            reminders = lines._dunning_sent_reminders()
            index = OpenItemIndex(
                lines._dunning_open_items(),
                iban_partners=lines._dunning_iban_partners(),
                reminder_references={
                    normalize(reminder.payment_reference): reminder.line_ids.move_id.ids for reminder in reminders
                },
                reminder_credits=lines._dunning_reminder_credits(reminders),
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

    def _dunning_sent_reminders(self):
        """The sent reminders of these lines' companies: a payment quoting the RF reference of one pays every
        invoice it listed, net of the credits it set against them."""
        return self.env["dunning.reminder"].search_fetch(
            [
                ("company_id", "in", self.company_id.ids),
                ("reminder_type", "=", "reminder"),
                ("state", "=", "sent"),
                ("payment_reference", "!=", False),
            ],
            ["payment_reference", "line_ids", "credit_line_ids", "amount_credit"],
        )

    @api.model
    def _dunning_reminder_credits(self, reminders):
        """RF reference of each reminder that deducted credits -> those credits still open, as matcher items."""
        with_credits = reminders.filtered("amount_credit")
        open_credits = with_credits.credit_line_ids.filtered(lambda line: not line.reconciled)
        return {
            normalize(reminder.payment_reference): [
                OpenItem(
                    line.id,
                    line.move_id.id,
                    line.partner_id.id,
                    line.move_name,
                    "",
                    line.amount_residual_currency,
                    line.currency_id.id,
                )
                for line in reminder.credit_line_ids & open_credits
            ]
            for reminder in with_credits
        }

    def _dunning_reconcile_with(self, receivable_lines):
        """Reconcile this statement line with open receivable items, oldest due first.

        The statement line's suspense line is replaced by counterparts on the items' accounts; what the items do
        not absorb (an overpayment) stays on the suspense account, open. Odoo's own unreconcile undoes it all.

        Credits among the items (a credit note, a payment in the debtor's favour, as a reminder that asked for the
        net amount lists them) are first set against the debtor's invoices among the items; the statement line pays
        what they leave.

        :param receivable_lines: ``account.move.line`` records, open and receivable
        :raise UserError: when the statement line is already reconciled or an item is no longer open
        """
        self._dunning_reconcile_prepared({self: self._dunning_prepare_reconcile(receivable_lines)})

    def _dunning_prepare_reconcile(self, receivable_lines):
        """Check this statement line and its items, apply the items' credits, and say how the line's entry is to be
        rewritten (see :meth:`_dunning_reconcile_with`); nothing else is written.

        :param receivable_lines: ``account.move.line`` records, open and receivable
        :return: ``(partner, counterparts)``: the line's partner (``res.partner``), and ``(item, values)`` of the
            journal items that replace the suspense line, where item is the ``account.move.line`` the new one
            pays, or False for what is left on the suspense account
        :raise UserError: before anything is written, when a check fails
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
        # The items come from the wizard, whose proposals can be edited (over RPC too): each is checked here.
        credits = receivable_lines.filtered(
            lambda aml: aml.company_currency_id.compare_amounts(aml.amount_residual, 0) < 0
        )
        receivable_lines -= credits
        for item in receivable_lines:
            if problem := self._dunning_reconcile_problem(item):
                raise UserError(problem)
        if credits:
            receivable_lines = self._dunning_apply_credits(receivable_lines, credits)
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
        partner = self.partner_id or receivable_lines.partner_id[:1]
        new_lines = [
            (
                item,
                {
                    "name": self.payment_ref or item.move_id.name,
                    "account_id": item.account_id.id,
                    "partner_id": item.partner_id.id,
                    "currency_id": transaction_currency.id,
                    **amounts,
                },
            )
            for item, amounts in counterparts
        ]
        if not transaction_currency.is_zero(remaining):
            new_lines.append(
                (
                    False,
                    {
                        "name": self.payment_ref,
                        "account_id": self.journal_id.suspense_account_id.id,
                        "partner_id": partner.id,
                        "currency_id": transaction_currency.id,
                        "amount_currency": -remaining,
                        "balance": -remaining_balance,
                    },
                )
            )
        return partner, new_lines

    @api.model
    def _dunning_reconcile_prepared(self, prepared):
        """Rewrite the entries of the statement lines as prepared, and reconcile their new items with the items they
        pay in one reconciliation plan.

        :param dict prepared: statement line -> ``(partner, counterparts)`` of :meth:`_dunning_prepare_reconcile`
        """
        plan = self._dunning_rewrite_entries(prepared)
        # Read together what the cash basis taxes read entry by entry: the taxes of each entry's journal items.
        self.env["account.move.line"].union(*plan).move_id.line_ids.fetch(["tax_ids", "tax_line_id"])
        # A reconciliation changes no amount, tax or term of the entries and invoices it reconciles: Odoo's dynamic
        # lines have nothing to bring in line on them (skip_invoice_sync); every entry is still checked balanced.
        self.env["account.move.line"].with_context(skip_invoice_sync=True)._reconcile_plan(plan)

    @api.model
    def _dunning_rewrite_entries(self, prepared):
        """Replace the suspense line of each statement line's entry with the journal items prepared for it, for all
        the lines at once: one unlink, one write of the partners, one create; Odoo checks that every entry stays
        balanced and brings the statement lines in line with their entries.

        :param dict prepared: statement line -> ``(partner, counterparts)`` of :meth:`_dunning_prepare_reconcile`
        :return: the reconciliation plan: a list of ``account.move.line`` pairs (new journal item, item it pays)
        """
        # The bank entries are posted and carry no tax: Odoo's dynamic lines (taxes, payment terms, balancing lines)
        # have nothing to bring in line on them, and are not synchronised (skip_invoice_sync, as Odoo's payments
        # rewrite their own entries). Every entry is still checked balanced, all at once when all are rewritten.
        Item = self.env["account.move.line"].with_context(skip_invoice_sync=True)
        suspense, to_partner, vals_list, paid = Item, defaultdict(list), [], []
        for line, (partner, counterparts) in prepared.items():
            liquidity, line_suspense, _other = line._seek_for_lines()
            suspense |= line_suspense
            if liquidity.partner_id != partner:
                to_partner[partner].append(liquidity.id)
            for item, vals in counterparts:
                vals_list.append({**vals, "move_id": line.move_id.id})
                paid.append(item)
        moves = self.browse(line.id for line in prepared).move_id
        liquidity_ids = [liquidity_id for ids in to_partner.values() for liquidity_id in ids]
        # Odoo applies the analytic distribution models to each new journal item and to each liquidity line whose
        # partner changes, a search each. Without any model none applies: the new items get no distribution and the
        # liquidity lines keep theirs, without a search. sudo: whether a model exists, whoever reconciles.
        analytic_kept = []
        if not self.env["account.analytic.distribution.model"].sudo().search_count([], limit=1):
            vals_list = [{**vals, "analytic_distribution": False} for vals in vals_list]
            analytic_kept = [Item._fields["analytic_distribution"]]
        with moves._check_balanced({"records": moves}):
            # The statement lines and their entries take the partner from the liquidity lines when the new items
            # are created, all in one pass (a write of each liquidity line would bring its own line in line alone).
            # The partners first: deleting the suspense lines forgets all that was read.
            with self.env.protecting(analytic_kept, Item.browse(liquidity_ids)):
                for partner, ids in to_partner.items():
                    Item.browse(ids).with_prefetch(liquidity_ids).with_context(
                        skip_account_move_synchronization=True
                    ).write({"partner_id": partner.id})
            suspense.with_context(force_delete=True).unlink()
            # Read together what Odoo then reads entry by entry: the entries and the partners they take.
            moves.fetch()
            self.env["res.partner"].union(*to_partner).fetch()
            created = Item.create(vals_list).with_env(self.env)
        # The entries' fiscal positions follow their new partners: the partners' own fiscal positions read together.
        for company, company_moves in moves.grouped("company_id").items():
            company_moves.partner_id.with_company(company).fetch(["property_account_position_id"])
        plan = [new | item for new, item in zip(created, paid, strict=True) if item]
        # The reconciliation reads the pairs together, not pair by pair.
        plan_ids = [aml_id for pair in plan for aml_id in pair.ids]
        return [pair.with_prefetch(plan_ids) for pair in plan]

    def _dunning_apply_credits(self, invoice_lines, credits):
        """Reconcile the debtor's ``credits`` with ``invoice_lines`` before the payment settles the rest.

        :return: the invoice lines still open
        :raise UserError: when a credit is not the invoices' debtor's, or there is no invoice to set it against
        """
        debtors = invoice_lines.partner_id.commercial_partner_id
        for credit in credits:
            if problem := self._dunning_reconcile_problem(credit, is_credit=True):
                raise UserError(problem)
            if len(debtors) != 1 or credit.partner_id.commercial_partner_id != debtors:
                raise UserError(
                    self.env._(
                        "Statement line %(line)s: credit %(credit)s can only be set against invoices of its own "
                        "debtor among the items.",
                        line=self.display_name,
                        credit=credit.display_name,
                    )
                )
        (invoice_lines + credits).reconcile()
        return invoice_lines.filtered(lambda aml: not aml.reconciled)

    def _dunning_reconcile_problem(self, item, is_credit=False):
        """Why ``item`` (an ``account.move.line``) cannot pay this statement line, or False: it must be an open
        receivable (something left to pay, or a credit left to use when ``is_credit``) of a posted entry of the
        statement line's company, owed by the statement line's partner (commercial partner) when the statement line
        has one.
        """
        debtor = self.partner_id.commercial_partner_id
        values = {"line": self.display_name, "item": item.display_name}
        if item.parent_state != "posted":
            return self.env._("Statement line %(line)s cannot pay %(item)s: it is not posted.", **values)
        if item.account_id.account_type != "asset_receivable":
            return self.env._(
                "Statement line %(line)s cannot pay %(item)s: it is not a receivable (account %(account)s).",
                account=item.account_id.display_name,
                **values,
            )
        left = -item.amount_residual if is_credit else item.amount_residual
        if item.company_currency_id.compare_amounts(left, 0) <= 0:
            return self.env._("Statement line %(line)s cannot pay %(item)s: nothing is left to pay on it.", **values)
        if item.company_id != self.company_id:
            return self.env._(
                "Statement line %(line)s cannot pay %(item)s: it belongs to %(company)s.",
                company=item.company_id.name,
                **values,
            )
        if debtor and item.partner_id.commercial_partner_id != debtor:
            return self.env._(
                "Statement line %(line)s cannot pay %(item)s: it is owed by %(partner)s, not by %(debtor)s.",
                partner=item.partner_id.commercial_partner_id.display_name or self.env._("no one"),
                debtor=debtor.display_name,
                **values,
            )
        return False
