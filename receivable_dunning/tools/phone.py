"""Phone numbers for SMS reminders, normalised to E.164 with the phonenumbers library."""

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The number cannot be dialled: empty, unparsable or not a valid number for its country."""


def to_e164(number, country_code=None):
    """Return ``number`` in E.164 form (``+33612345678``).

    :param str number: the number as typed, national or international
    :param str country_code: ISO 3166 alpha-2 code used when the number has no international prefix
    :return: the E.164 number
    :raise InvalidPhoneNumber: when the number is empty, cannot be parsed or is not a valid number
    """
    if not number or not number.strip():
        raise InvalidPhoneNumber("no phone number")
    try:
        parsed = phonenumbers.parse(number, (country_code or "").upper() or None)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(f"{number!r} cannot be read as a phone number ({error})") from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{number!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
