"""The debtor's net position: which open invoices its credits cover.

One pure function, used by the dunning run (what is really overdue), the reminders (what they ask for) and the
statement page, so that the three never disagree. Kept free of the ORM so that it can be checked to the cent
without a database.
"""

from dataclasses import dataclass, field

from .interest import round_amount


@dataclass(frozen=True)
class Invoice:
    """An open invoice of the debtor: ``residual`` still owed (positive)."""

    move_id: int
    date_due: object
    residual: float


@dataclass(frozen=True)
class Credit:
    """An open item in the debtor's favour (a credit note, a payment not yet matched): ``amount`` positive.

    An item against the debtor that is no invoice (an outbound refund not yet matched with its credit note) is
    a credit with a negative amount: it takes back what the credits cover.

    :param reversed_move_id: the invoice a credit note reverses; it covers that invoice first
    """

    line_id: int
    amount: float
    reversed_move_id: int | None = None


@dataclass
class Allocation:
    """What the credits cover.

    :param covered: invoice id -> the part of its residual the credits cover
    :param reversed_ids: the invoices an open credit note of their own reverses
    :param unused: the credits left over once every invoice is covered
    """

    covered: dict = field(default_factory=dict)
    reversed_ids: set = field(default_factory=set)
    unused: float = 0.0

    def net(self, invoice, digits=2):
        """What is still owed on ``invoice`` once the credits are set against it."""
        return round_amount(invoice.residual - self.covered.get(invoice.move_id, 0.0), digits)

    def is_covered(self, invoice, digits=2):
        """The invoice owes nothing once the credits are set against it, or its own credit note is open."""
        return invoice.move_id in self.reversed_ids or self.net(invoice, digits) <= 0


def allocate_credits(invoices, credits, digits=2):
    """Set the debtor's credits against its invoices.

    A credit note reversing an invoice covers that invoice first; every other credit (and what a credit note
    leaves once its invoice is covered) covers the invoices by due date, oldest first.

    :param invoices: the debtor's open :class:`Invoice` items, in one currency
    :param credits: the debtor's open :class:`Credit` items, in the same currency
    :param int digits: the currency's decimal places: every amount is rounded to them
    :rtype: Allocation
    """
    allocation = Allocation()
    remaining = {invoice.move_id: round_amount(invoice.residual, digits) for invoice in invoices}
    pool = 0.0
    for credit in credits:
        amount = round_amount(credit.amount, digits)
        target = credit.reversed_move_id
        if target in remaining and amount > 0:
            allocation.reversed_ids.add(target)
            used = min(amount, remaining[target])
            remaining[target] = round_amount(remaining[target] - used, digits)
            allocation.covered[target] = round_amount(allocation.covered.get(target, 0.0) + used, digits)
            amount = round_amount(amount - used, digits)
        pool = round_amount(pool + amount, digits)
    for invoice in sorted(invoices, key=lambda inv: (inv.date_due, inv.move_id)):
        if pool <= 0:
            break
        used = min(pool, remaining[invoice.move_id])
        if used <= 0:
            continue
        remaining[invoice.move_id] = round_amount(remaining[invoice.move_id] - used, digits)
        allocation.covered[invoice.move_id] = round_amount(allocation.covered.get(invoice.move_id, 0.0) + used, digits)
        pool = round_amount(pool - used, digits)
    allocation.unused = max(pool, 0.0)
    return allocation
