"""Payment references: normalisation, ISO 11649 RF checks, and what a bank statement label may contain.

Pure Python (python-stdnum), importable and testable without the ORM.
"""

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
# An RF reference as people type it: "RF18 5390 0754 7034", "rf18-539007547034".
_RF_PATTERN = re.compile(r"R\s*F\s*\d\s*\d(?:[\s\-./]*[0-9A-Z]){1,21}", re.IGNORECASE)
# Letters then digits with any separators: "INV/2026/00012", "inv 2026-00012", "F2026 0012".
_NUMBER_PATTERN = re.compile(r"[A-Z]{1,10}[\s\-_./#:]*\d{2,}(?:[\s\-_./]+\d{2,})*", re.IGNORECASE)
# Long digit runs: Odoo's own numeric references, structured communications.
_DIGITS_PATTERN = re.compile(r"\d(?:[\s\-./+*]*\d){5,}")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[0-9A-Z]{11,30}")


def normalize(reference):
    """Upper case, letters and digits only: the key under which references are compared."""
    return _NOT_ALNUM.sub("", (reference or "").upper())


def rf_candidates(text, known=()):
    """RF references written in ``text``, normalised, each with whether its checksum holds.

    The pattern also swallows groups typed after the reference ("RF18 5390 0754 7034 INV 12"): the longest run of
    whole groups that forms a known reference wins, else the longest that forms a valid one (one run in 97 has a
    valid checksum by chance: a known reference must not lose to it), else the whole match is reported as invalid.

    :param known: normalised references that exist (a set or dict), preferred among the valid runs
    :return: list of (normalised reference, valid) pairs, in order of appearance
    """
    found = []
    for match in _RF_PATTERN.finditer(text or ""):
        groups = [normalize(group) for group in re.split(r"[\s\-./]+", match.group()) if normalize(group)]
        prefixes = ["".join(groups[:end]) for end in range(len(groups), 0, -1)]
        valid_prefixes = [key for key in prefixes if iso11649.is_valid(key)]
        valid = next((key for key in valid_prefixes if key in known), None) or next(iter(valid_prefixes), None)
        found.append((valid, True) if valid else (normalize(match.group()), False))
    return found


def number_candidates(text):
    """Normalised keys of what may be invoice numbers or references in a free-text label."""
    text = text or ""
    keys = [normalize(match.group()) for match in _NUMBER_PATTERN.finditer(text)]
    keys += [normalize(match.group()) for match in _DIGITS_PATTERN.finditer(text)]
    return list(dict.fromkeys(key for key in keys if len(key) >= 4))


def normalize_iban(number):
    """The compact IBAN, or None when ``number`` is not a valid IBAN (shape and ISO 7064 mod 97-10 checksum).

    ``stdnum.iban`` is not used: it reads its country table through importlib.resources when imported, which
    Odoo's import hooks on stdnum break inside a running server.
    """
    compact = normalize(number)
    if not _IBAN_SHAPE.fullmatch(compact):
        return None
    return compact if mod_97_10.is_valid(compact[4:] + compact[:4]) else None
