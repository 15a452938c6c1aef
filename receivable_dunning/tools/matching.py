"""Matching bank statement lines with open receivable items.

Indexes of the open items (by reference, invoice number, reminder reference, partner and amount) are built once
per batch; each statement line is then resolved with dictionary look-ups only, so that the cost grows with the
number of lines plus the number of open items, never with their product.

The rules are small finders, applied in the order of :data:`RULES`; each reason they give has its score (0-100)
and its label in :data:`REASONS`. A payment smaller than the items found is a partial payment (score - 10), a
larger one an overpayment (score - 15). Several equally good candidates, or items of another partner than the payer
(known from the line or its IBAN), make the proposal ambiguous, and an ambiguous proposal is never reconciled
automatically.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from .references import normalize, number_candidates, rf_candidates


@dataclass(frozen=True)
class Reason:
    """Why a bank line was matched: the key a proposal carries, how sure the match is, and its label."""

    key: str
    score: int  # 0-100, before the penalty of a partial payment or an overpayment
    label: str


# Every reason the rules give, the surest first: the one table of them, whose labels the matching wizard shows.
REASONS = (
    # a valid RF reference, or the exact payment reference, of open items
    Reason("exact_reference", 100, "Exact reference"),
    # the RF reference of a reminder: every invoice that reminder listed
    Reason("reminder_reference", 100, "Reminder reference"),
    # a reference found once spaces, case or separators are ignored
    Reason("normalized_reference", 95, "Reference, reformatted"),
    # several references or numbers in one label, each of one open item
    Reason("several_references", 95, "Several references"),
    # an invoice number in the free text
    Reason("invoice_number", 90, "Invoice number in the label"),
    # the partner of the counterpart IBAN owes exactly this amount on one item
    Reason("iban_amount", 80, "Counterpart IBAN and amount"),
    # the line's partner owes exactly this amount on one item
    Reason("partner_amount", 70, "Partner and amount"),
)
SCORES = {reason.key: reason.score for reason in REASONS}
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


@dataclass(frozen=True)
class Candidate:
    """What one rule sees in a bank line: open items and the reason it found them for (a key of :data:`SCORES`),
    or only notes on what it could not use."""

    items: tuple = ()
    reason: str | None = None
    ambiguous: bool = False
    notes: tuple = ()


@dataclass
class Proposal:
    bank_line_id: int
    items: tuple = ()
    score: int = 0
    reason: str | None = None
    ambiguous: bool = False
    difference: float = 0.0  # amount received minus the items' residual, in the transaction currency
    notes: list = field(default_factory=list)


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

    def iban_partner(self, line):
        """The partner whose bank account the line's counterpart IBAN is, or None."""
        return self.iban_partners.get(line.iban) if line.iban else None

    def match(self, line):
        """The best proposal for one bank line (an empty proposal when nothing fits).

        :param BankLine line: the statement line
        :rtype: Proposal
        """
        notes = []
        for stage in RULES:
            found = []
            for finder in stage:
                for candidate in finder(self, line, tuple(found)):
                    if candidate.reason:
                        found.append(candidate)
                    else:
                        notes.extend(candidate.notes)
            items = tuple(
                dict.fromkeys(
                    item for candidate in found for item in candidate.items if item.currency_id == line.currency_id
                )
            )
            if items:
                return self._propose(line, found, items, notes)
        return Proposal(line.line_id, notes=notes)

    def _propose(self, line, found, items, notes):
        """The proposal of ``items``, the candidates a stage of rules ``found``, in the line's currency."""
        reason = found[0].reason if len(found) == 1 else "several_references"
        difference = round(line.amount - round(sum(item.residual for item in items), self.digits), self.digits)
        score = SCORES[reason]
        if difference < 0:
            score -= PARTIAL_PENALTY
        elif difference > 0:
            score -= OVERPAYMENT_PENALTY
        ambiguous = any(candidate.ambiguous for candidate in found)
        known_partner = line.partner_id or self.iban_partner(line)
        if known_partner and any(item.partner_id != known_partner for item in items):
            # A mistyped number can point at another debtor's invoice: never settle that without a person.
            ambiguous = True
            notes.append("the items belong to another partner than the payer")
        notes.extend(note for candidate in found for note in candidate.notes)
        return Proposal(line.line_id, items, score, reason, ambiguous, difference, notes)


# === RULES === #
# A rule is a finder: ``finder(index, line, found)`` returns the candidates it sees in bank line ``line`` with the
# look-ups of ``index``, given those ``found`` by the earlier rules of its stage.


def find_rf_references(index, line, found):
    """RF references in the label: a reminder's stands for every invoice it listed, an open item's for that item."""
    candidates = []
    for key, valid in rf_candidates(line.label, known=index.known_references):
        if not valid:
            candidates.append(Candidate(notes=(f"RF reference {key} has a wrong checksum",)))
        elif key in index.by_reminder:
            candidates.append(Candidate(tuple(index.by_reminder[key]), "reminder_reference"))
        elif key in index.by_reference:
            items = index.by_reference[key]
            reason = "exact_reference" if _quotes(line, items) else "normalized_reference"
            candidates.append(Candidate(tuple(items), reason))
    return candidates


def find_numbers(index, line, found):
    """Numbers typed in the label, but those of items already found: a reference quoted as issued, else an invoice
    number, else a reference once reformatted."""
    candidates = []
    for key in number_candidates(line.label):
        if any(
            key in (normalize(item.reference), normalize(item.number))
            for candidate in (*found, *candidates)
            for item in candidate.items
        ):
            continue
        references = index.by_reference.get(key, ())
        if _quotes(line, references):
            candidates.append(Candidate(tuple(references), "exact_reference"))
        elif key in index.by_number:
            candidates.append(Candidate(tuple(index.by_number[key]), "invoice_number"))
        elif references:
            candidates.append(Candidate(tuple(references), "normalized_reference"))
    return candidates


def find_whole_label(index, line, found):
    """The whole label as a reference once reformatted, when nothing in it was recognised."""
    key = normalize(line.label)
    if found or key not in index.by_reference:
        return []
    return [Candidate(tuple(index.by_reference[key]), "normalized_reference")]


def find_iban_amount(index, line, found):
    """The partner of the counterpart IBAN owes exactly the amount received on one open item."""
    return _amount_candidates(index, line, index.iban_partner(line), "iban_amount")


def find_partner_amount(index, line, found):
    """The line's partner owes exactly the amount received on one open item."""
    return _amount_candidates(index, line, line.partner_id, "partner_amount")


def _quotes(line, items):
    """Whether the label quotes the payment reference of one of ``items`` as it was issued."""
    return any(item.reference in line.label for item in items)


def _amount_candidates(index, line, partner_id, reason):
    """The first open item of ``partner_id`` of exactly the line's amount; ambiguous when the partner has several."""
    if not partner_id:
        return []
    items = index.by_partner_amount.get((partner_id, line.currency_id, round(line.amount, index.digits)), ())
    if len(items) > 1:
        return [
            Candidate(
                tuple(items[:1]),
                reason,
                ambiguous=True,
                notes=(f"{len(items)} open items of the same partner and amount",),
            )
        ]
    return [Candidate(tuple(items), reason)] if items else []


# The rules, in order. What the rules of one stage find adds up (a label may quote several references); the first
# stage that finds open items in the line's currency makes the proposal, and the later stages are not tried.
RULES = (
    (find_rf_references, find_numbers, find_whole_label),
    (find_iban_amount,),
    (find_partner_amount,),
)
