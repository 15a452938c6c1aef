"""Late-payment interest: simple interest per day over dated periods of annual rates.

Kept free of the ORM so that the arithmetic can be checked to the cent without a database.
"""

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

DAYS_IN_YEAR = 365


def late_interest(amount, annual_rate_percent, date_from, date_to, rate_changes=()):
    """Interest owed on ``amount`` for the days after ``date_from`` up to and including ``date_to``.

    :param float amount: the unpaid amount
    :param float annual_rate_percent: the annual rate (percent) in force from ``date_from``
    :param date date_from: the last day already covered (the due date, or the end of the last charged period)
    :param date date_to: the last day to charge
    :param rate_changes: ``(date, annual_rate_percent)`` pairs, each rate in force from its date on
    :return: the interest, not rounded
    :rtype: float
    """
    if date_to <= date_from or amount <= 0:
        return 0.0
    periods = _periods(annual_rate_percent, date_from + timedelta(days=1), date_to, rate_changes)
    total = Decimal(0)
    for days, rate in periods:
        total += Decimal(str(amount)) * Decimal(str(rate)) / Decimal(100) * days / DAYS_IN_YEAR
    return float(total)


def round_amount(value, digits=2):
    """Round half up to ``digits`` decimals, as amounts on an invoice are."""
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def _periods(rate, first_day: date, last_day: date, rate_changes):
    """Split the days from ``first_day`` to ``last_day`` (inclusive) into (days, rate) runs."""
    changes = sorted((change_date, change_rate) for change_date, change_rate in rate_changes)
    for change_date, change_rate in changes:
        if change_date <= first_day:
            rate = change_rate
    periods, start = [], first_day
    for change_date, change_rate in changes:
        if first_day < change_date <= last_day:
            periods.append(((change_date - start).days, rate))
            start, rate = change_date, change_rate
    periods.append(((last_day - start).days + 1, rate))
    return periods
