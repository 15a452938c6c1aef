"""The columns of a payment-request spreadsheet: the row fields a column can feed, and the header names each field
is recognised by (English, French, Spanish), so that a file's columns can be mapped without a user's help."""

import re
import unicodedata

# The row fields of the import contract, in the order of a typical file; the labels are the selection's.
ROW_FIELDS = [
    ("name", "Debtor name"),
    ("email", "Email"),
    ("mobile", "Mobile"),
    ("country_code", "Country"),
    ("vat", "Tax ID"),
    ("iban", "IBAN"),
    ("lang", "Language"),
    ("external_ref", "External reference"),
    ("partner_ref", "Debtor reference"),
    ("description", "Description"),
    ("amount", "Amount"),
    ("currency", "Currency"),
    ("date_invoice", "Issue date"),
    ("date_due", "Due date"),
]

# Header names (normalised by ``normalize_header``) each field is known by, besides its own name and label.
HEADER_ALIASES = {
    "name": [
        "debtor",
        "debtor name",
        "customer",
        "customer name",
        "partner",
        "company",
        "nom",
        "client",
        "debiteur",
        "raison sociale",
        "nombre",
        "cliente",
        "deudor",
        "razon social",
    ],
    "email": ["e mail", "mail", "email address", "courriel", "adresse email", "correo", "correo electronico"],
    "mobile": ["phone", "mobile phone", "cell", "telephone", "portable", "tel", "telefono", "movil", "celular"],
    "country_code": ["country", "country code", "pays", "code pays", "pais", "codigo pais"],
    "vat": ["vat", "vat number", "tax id", "tva", "numero de tva", "nif", "cif", "siren", "siret"],
    "iban": ["bank account", "compte bancaire", "cuenta bancaria"],
    "lang": ["language", "lang", "langue", "idioma"],
    "external_ref": [
        "reference",
        "ref",
        "invoice number",
        "invoice",
        "document",
        "numero de facture",
        "facture",
        "numero de factura",
        "factura",
        "referencia",
    ],
    "partner_ref": [
        "customer number",
        "customer id",
        "customer ref",
        "account",
        "numero client",
        "code client",
        "numero de cliente",
        "codigo de cliente",
    ],
    "description": ["label", "memo", "libelle", "objet", "concepto", "descripcion"],
    "amount": ["amount due", "total", "balance", "montant", "montant du", "solde", "importe", "cantidad", "saldo"],
    "currency": ["currency code", "devise", "monnaie", "moneda", "divisa"],
    "date_invoice": [
        "date",
        "invoice date",
        "issue date",
        "date de facture",
        "date d emission",
        "fecha",
        "fecha de factura",
        "fecha de emision",
    ],
    "date_due": ["due", "due date", "echeance", "date d echeance", "vencimiento", "fecha de vencimiento"],
}

REQUIRED_FIELDS = ("name", "amount")
CONTACT_FIELDS = ("email", "mobile")


def normalize_header(header):
    """``header`` lowercased, without accents and with every run of other characters than letters and digits made
    one space: "Date d'échéance" and "date_d_echeance" are both "date d echeance".

    :param str header: a column's header as written in the file
    :return: the normalised header ("" for an empty one)
    """
    text = unicodedata.normalize("NFKD", str(header or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def header_candidates():
    """Every normalised name a field is recognised by: its technical name, its label and its aliases.

    :return: a list of (normalised name, row field) pairs
    """
    candidates = []
    for field, label in ROW_FIELDS:
        for name in [field, label, *HEADER_ALIASES.get(field, [])]:
            candidates.append((normalize_header(name), field))
    return candidates
