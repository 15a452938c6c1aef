"""Payment request rows: one spreadsheet row (raw strings) checked and turned into clean values.

Pure Python (phonenumbers, python-stdnum), importable and testable without the ORM. The caller gives what the
database knows (active currencies and languages, the company's defaults) in a :class:`RowContext` and the
environment that translates the messages, and gets each row's values and its errors by field.
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.util import get_cc_module

from .phone import InvalidPhoneNumber, to_e164
from .references import normalize_iban

# The keys of a raw row, in the order of a file's columns when nothing maps them otherwise.
ROW_FIELDS = (
    "name",
    "email",
    "mobile",
    "country_code",
    "vat",
    "iban",
    "lang",
    "external_ref",
    "partner_ref",
    "description",
    "amount",
    "currency",
    "date_invoice",
    "date_due",
)
# A request without a due date falls due this many days after its issue date.
DEFAULT_DUE_DAYS = 30
_EMAIL = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"'.]{2,}")
_VAT_PREFIX = re.compile(r"[A-Za-z]{2}")


class Untranslated:
    """Stands for an environment when no database is at hand (the module's tests): messages in English."""

    @staticmethod
    def _(message, **params):
        return message % params if params else message


UNTRANSLATED = Untranslated()


@dataclass(frozen=True)
class RowContext:
    """What the database says about the rows of one import.

    :param company_currency: ISO code of the company's currency, the default currency
    :param currencies: ISO codes of the active currencies
    :param languages: codes of the installed languages (``fr_FR``)
    :param default_country: ISO 3166 alpha-2 code of the company's country, for national phone numbers
    :param today: the default issue date
    :param date_format: ``strptime`` format of the file's dates (ISO dates are always read)
    :param decimal_separator: the file's decimal separator
    :param thousands_separator: the file's thousands separator
    """

    company_currency: str
    currencies: frozenset
    languages: frozenset
    today: date
    default_country: str | None = None
    date_format: str | None = None
    decimal_separator: str = "."
    thousands_separator: str = ""
    due_days: int = DEFAULT_DUE_DAYS
    currency_digits: dict = field(default_factory=dict)

    @classmethod
    def from_options(cls, options, **values):
        """A context from base_import's options (``date_format``, ``float_decimal_separator``,
        ``float_thousand_separator``) and the database's ``values``."""
        options = options or {}
        return cls(
            date_format=options.get("date_format") or None,
            decimal_separator=options.get("float_decimal_separator") or ".",
            thousands_separator=options.get("float_thousand_separator") or "",
            **values,
        )


def _text(raw, key):
    value = raw.get(key)
    if value is None or value is False:
        return ""
    return str(value).strip()


def parse_amount(text, decimal_separator=".", thousands_separator=""):
    """The Decimal written in ``text`` with the file's separators ("1 234,50" in French), or None."""
    cleaned = text.replace("\u00a0", " ").replace("\u202f", " ")
    for separator in {thousands_separator, " "} - {"", decimal_separator}:
        cleaned = cleaned.replace(separator, "")
    if decimal_separator != ".":
        if "." in cleaned:  # a dot is not a decimal point in this file
            return None
        cleaned = cleaned.replace(decimal_separator, ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def parse_date(text, date_format=None):
    """The date written in ``text`` in the file's format, or in ISO form; None when neither reads it."""
    for fmt in filter(None, (date_format, "%Y-%m-%d", "%Y-%m-%d %H:%M:%S")):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def normalize_vat(text, country_code=None):
    """The compact VAT number when ``python-stdnum`` knows its country and accepts it, else None.

    The country is the number's prefix ("BE0477472701"), else ``country_code``; a number of a country stdnum does
    not know is refused rather than stored unchecked.
    """
    compact = re.sub(r"[\s.\-/]", "", text).upper()
    country = compact[:2] if _VAT_PREFIX.fullmatch(compact[:2]) else (country_code or "").upper()
    if country == "EL":
        country = "GR"
    module = get_cc_module(country.lower(), "vat") if country else None
    if not module:
        return None
    try:
        number = module.validate(compact)
    except StdnumError:
        return None
    number = number.upper()
    prefix = "EL" if country == "GR" else country
    return number if number.startswith(prefix) else prefix + number


def validate_row(raw, context, env=UNTRANSLATED):
    """Check one raw row and return its clean values and its errors.

    :param dict raw: {row field: raw value as read from the file}
    :param RowContext context: the database's side
    :param env: the environment whose ``_`` translates the messages
    :return: (values, errors): ``values`` {row field: clean value} of the readable cells, defaults applied
        (``amount`` a Decimal, dates ``date`` objects, ``mobile`` in E.164, ``lang`` an installed code or empty
        for the company's language); ``errors`` {row field: translated message}, empty when the row is valid
    """
    values, errors = {}, {}
    for key in ("name", "external_ref", "partner_ref", "description"):
        values[key] = _text(raw, key)
    if not values["name"]:
        errors["name"] = env._("The debtor's name is required.")
    for check in (_check_contact, _check_identity, _check_lang, _check_amount, _check_dates):
        check(raw, context, env, values, errors)
    if not values["external_ref"]:
        values["external_ref"] = content_reference(raw)
    return values, errors


def _check_contact(raw, context, env, values, errors):
    """Country, email and mobile (in E.164, national numbers read in the row's or the company's country)."""
    country_code = _text(raw, "country_code").upper()
    if country_code and not re.fullmatch(r"[A-Z]{2}", country_code):
        errors["country_code"] = env._("%(value)s is not a two-letter country code.", value=country_code)
        country_code = ""
    values["country_code"] = country_code
    email = _text(raw, "email")
    if email and not _EMAIL.fullmatch(email):
        errors["email"] = env._("%(value)s is not a valid email address.", value=email)
    values["email"] = email.lower()
    mobile = _text(raw, "mobile")
    values["mobile"] = ""
    if mobile:
        country = country_code or context.default_country
        try:
            values["mobile"] = to_e164(mobile, country)
        except InvalidPhoneNumber:
            errors["mobile"] = env._(
                "%(value)s cannot be read as a phone number of %(country)s.", value=mobile, country=country or "?"
            )
    if not email and not mobile:
        errors.setdefault("email", env._("An email or a mobile number is required to send the request."))


def _check_identity(raw, context, env, values, errors):
    """VAT number and IBAN, checked by their check digits."""
    vat = _text(raw, "vat")
    values["vat"] = normalize_vat(vat, values["country_code"]) if vat else ""
    if vat and not values["vat"]:
        errors["vat"] = env._("%(value)s is not a valid VAT number.", value=vat)
        values["vat"] = ""
    iban = _text(raw, "iban")
    values["iban"] = normalize_iban(iban) if iban else ""
    if iban and not values["iban"]:
        errors["iban"] = env._("%(value)s is not a valid IBAN.", value=iban)
        values["iban"] = ""


def _check_lang(raw, context, env, values, errors):
    """An installed language, given as its code (``fr_BE``) or its language alone (``fr``)."""
    lang = _text(raw, "lang").replace("-", "_")
    values["lang"] = ""
    if lang:
        exact = next((code for code in context.languages if code.lower() == lang.lower()), None)
        prefix = next((code for code in sorted(context.languages) if code.split("_")[0] == lang.lower()), None)
        values["lang"] = exact or prefix or ""
        if not values["lang"]:
            errors["lang"] = env._("%(value)s is not an installed language.", value=lang)


def _check_amount(raw, context, env, values, errors):
    """An active currency (the company's by default) and a positive amount in its decimals."""
    currency = _text(raw, "currency").upper() or context.company_currency
    values["currency"] = currency
    if currency not in context.currencies:
        errors["currency"] = env._("%(value)s is not an active currency.", value=currency)
    text = _text(raw, "amount")
    values["amount"] = None
    if not text:
        errors["amount"] = env._("The amount is required.")
        return
    amount = parse_amount(text, context.decimal_separator, context.thousands_separator)
    digits = context.currency_digits.get(currency, 2)
    if amount is None:
        errors["amount"] = env._("%(value)s is not an amount.", value=text)
    elif amount <= 0:
        errors["amount"] = env._("The amount must be positive, not %(value)s.", value=text)
    elif amount != round(amount, digits):
        errors["amount"] = env._("%(value)s has more than %(digits)s decimals.", value=text, digits=digits)
    else:
        values["amount"] = amount


def _check_dates(raw, context, env, values, errors):
    """Issue and due dates in the file's format; today and 30 days later by default."""
    for key in ("date_invoice", "date_due"):
        text = _text(raw, key)
        values[key] = parse_date(text, context.date_format) if text else None
        if text and not values[key]:
            errors[key] = env._(
                "%(value)s is not a date in the format %(format)s.",
                value=text,
                format=context.date_format or "%Y-%m-%d",
            )
    values["date_invoice"] = values["date_invoice"] or context.today
    if not values["date_due"] and "date_due" not in errors:
        values["date_due"] = values["date_invoice"] + timedelta(days=context.due_days)
    if values["date_due"] and values["date_due"] < values["date_invoice"]:
        errors["date_due"] = env._("The due date cannot be before the issue date.")


def content_reference(raw):
    """The external reference of a row that has none: a digest of its cells, the same when the same file comes
    again, so that re-importing it creates nothing."""
    cells = "\x1f".join(_text(raw, key) for key in ROW_FIELDS)
    return "AUTO-" + hashlib.sha1(cells.encode(), usedforsecurity=False).hexdigest()[:16].upper()


class DuplicateTracker:
    """Finds the rows of one file that repeat an earlier row's external reference."""

    def __init__(self, seen=None):
        self.seen = dict(seen or {})  # external reference -> first row number

    def check(self, row_number, values, env=UNTRANSLATED):
        """The error of a row whose external reference an earlier row has, or None; remembers the others."""
        reference = values.get("external_ref")
        if not reference:
            return None
        first = self.seen.setdefault(reference, row_number)
        if first == row_number:
            return None
        return env._("External reference %(reference)s is already on row %(row)s.", reference=reference, row=first)
