"""Matching bank statement lines with open receivable items.

Indexes of the open items (by reference, invoice number, reminder reference, partner and amount) are built once
per batch; each statement line is then resolved with dictionary look-ups only, so that the cost grows with the
number of lines plus the number of open items, never with their product.

Scores (0-100) and reasons, the first rule that applies wins:

=====================  =====  ===========================================================================
reason                 score  when
=====================  =====  ===========================================================================
exact_reference          100  a valid RF reference, or the exact payment reference, of open items
normalized_reference      95  a reference found once spaces, case or separators are ignored
several_references        95  several references or numbers in one label, each of one open item
reminder_reference       100  the RF reference of a reminder: every invoice that reminder listed
invoice_number            90  an invoice number in the free text
iban_amount               80  the partner of the counterpart IBAN owes exactly this amount on one item
partner_amount            70  the line's partner owes exactly this amount on one item
=====================  =====  ===========================================================================

A payment smaller than the items found is a partial payment (score - 10), a larger one an overpayment
(score - 15). Several equally good candidates, or items of another partner than the payer (known from the line or
its IBAN), make the proposal ambiguous, and an ambiguous proposal is never reconciled automatically.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from .references import normalize, number_candidates, rf_candidates

SCORES = {
    "exact_reference": 100,
    "reminder_reference": 100,
    "normalized_reference": 95,
    "several_references": 95,
    "invoice_number": 90,
    "iban_amount": 80,
    "partner_amount": 70,
}
PARTIAL_PENALTY = 10
OVERPAYMENT_PENALTY = 15


@dataclass(frozen=True)
class OpenItem:
    """An open receivable journal item, as the matcher needs it."""

    line_id: int
    move_id: int
    partner_id: int
    number: str  # the invoice number (move name)
    reference: str  # the payment reference the debtor was asked to quote
    residual: float  # in the item's currency
    currency_id: int


@dataclass(frozen=True)
class BankLine:
    """A bank statement line, as the matcher needs it."""

    line_id: int
    label: str
    amount: float  # in the transaction currency, positive for money received
    currency_id: int
    partner_id: int | None = None
    iban: str | None = None


@dataclass
class Proposal:
    bank_line_id: int
    items: tuple = ()
    score: int = 0
    reason: str | None = None
    ambiguous: bool = False
    difference: float = 0.0  # amount received minus the items' residual, in the transaction currency
    notes: list = field(default_factory=list)

    @property
    def is_partial(self):
        return self.difference < 0

    @property
    def is_overpayment(self):
        return self.difference > 0


class OpenItemIndex:
    """Look-up tables over the open items of one batch.

    :param items: iterable of :class:`OpenItem`
    :param iban_partners: dict compact IBAN -> partner id
    :param reminder_references: dict normalised reference -> list of move ids (one reminder lists several invoices)
    :param reminder_credits: dict normalised reference -> list of :class:`OpenItem` with a negative residual: the
        debtor's credits a reminder set against its invoices, so that its reference asks for the net amount
    :param digits: rounding of amounts when they are used as keys
    """

    def __init__(self, items, iban_partners=None, reminder_references=None, reminder_credits=None, digits=2):
        self.digits = digits
        self.by_reference = defaultdict(list)
        self.by_number = defaultdict(list)
        self.by_move = defaultdict(list)
        self.by_partner_amount = defaultdict(list)
        for item in items:
            self.by_move[item.move_id].append(item)
            if item.reference:
                self.by_reference[normalize(item.reference)].append(item)
            if item.number:
                self.by_number[normalize(item.number)].append(item)
            self.by_partner_amount[item.partner_id, item.currency_id, round(item.residual, digits)].append(item)
        self.iban_partners = iban_partners or {}
        reminder_credits = reminder_credits or {}
        self.by_reminder = {
            key: [item for move_id in move_ids for item in self.by_move.get(move_id, ())]
            + (list(reminder_credits.get(key, ())) if any(move_id in self.by_move for move_id in move_ids) else [])
            for key, move_ids in (reminder_references or {}).items()
        }
        # Built once per batch: every RF reference found in a label is looked up here.
        self.known_references = set(self.by_reference) | set(self.by_reminder)

    def match(self, line):
        """The best proposal for one bank line (an empty proposal when nothing fits).

        :param BankLine line: the statement line
        :rtype: Proposal
        """
        proposal = self._by_references(line)
        if not proposal.items:
            proposal = self._by_amount(line, proposal)
        return proposal

    def _by_references(self, line):
        proposal = Proposal(line.line_id)
        found, reasons = [], []
        for key, valid in rf_candidates(line.label, known=self.known_references):
            if not valid:
                proposal.notes.append(f"RF reference {key} has a wrong checksum")
                continue
            if key in self.by_reminder:
                found.append(self.by_reminder[key])
                reasons.append("reminder_reference")
            elif key in self.by_reference:
                found.append(self.by_reference[key])
                reasons.append(self._reference_reason(line, self.by_reference[key]))
        for key in number_candidates(line.label):
            if any(
                key == normalize(item.reference) or key == normalize(item.number) for group in found for item in group
            ):
                continue
            quoted = [item for item in self.by_reference.get(key, ()) if item.reference in line.label]
            if quoted:
                found.append(self.by_reference[key])
                reasons.append("exact_reference")
            elif key in self.by_number:
                found.append(self.by_number[key])
                reasons.append("invoice_number")
            elif key in self.by_reference:
                found.append(self.by_reference[key])
                reasons.append("normalized_reference")
        label_key = normalize(line.label)
        if not found and label_key in self.by_reference:
            found.append(self.by_reference[label_key])
            reasons.append("normalized_reference")
        items = tuple(dict.fromkeys(item for group in found for item in group if item.currency_id == line.currency_id))
        if not items:
            return proposal
        return self._finish(proposal, line, items, reasons[0] if len(found) == 1 else "several_references")

    @staticmethod
    def _reference_reason(line, items):
        """Exact when the label quotes the reference as issued, else found once reformatted."""
        return "exact_reference" if any(item.reference in line.label for item in items) else "normalized_reference"

    def _by_amount(self, line, proposal):
        amount = round(line.amount, self.digits)
        for reason, partner_id in (
            ("iban_amount", self.iban_partners.get(line.iban) if line.iban else None),
            ("partner_amount", line.partner_id),
        ):
            if not partner_id:
                continue
            candidates = self.by_partner_amount.get((partner_id, line.currency_id, amount), [])
            if candidates:
                result = self._finish(proposal, line, tuple(candidates[:1]), reason)
                if len(candidates) > 1:
                    result.ambiguous = True
                    result.notes.append(f"{len(candidates)} open items of the same partner and amount")
                return result
        return proposal

    def _finish(self, proposal, line, items, reason):
        owed = round(sum(item.residual for item in items), self.digits)
        proposal.items = items
        proposal.reason = reason
        proposal.difference = round(line.amount - owed, self.digits)
        score = SCORES[reason]
        if proposal.difference < 0:
            score -= PARTIAL_PENALTY
        elif proposal.difference > 0:
            score -= OVERPAYMENT_PENALTY
        proposal.score = score
        known_partner = line.partner_id or (self.iban_partners.get(line.iban) if line.iban else None)
        if known_partner and any(item.partner_id != known_partner for item in items):
            # A mistyped number can point at another debtor's invoice: never settle that without a person.
            proposal.ambiguous = True
            proposal.notes.append("the items belong to another partner than the payer")
        return proposal
