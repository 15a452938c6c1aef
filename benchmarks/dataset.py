"""The bench dataset: companies, debtors, open customer invoices and bank statement lines that pay some of them.

Deterministic for a seed and sizes. The set-up that Odoo must do itself (companies with a chart of accounts,
languages, journals, policies of ours and of the peers, the portal user) goes through the ORM; the volume (debtors,
invoices with their journal items, statement lines with their entries) is written with COPY, consistent enough
for Odoo's accounting reads: posted ``out_invoice`` moves with a product line and a receivable ``payment_term`` line
(residual, due date, partner, currency, company), named in sequence per journal and year, and bank statement
lines whose entry has a liquidity and a suspense line.

What each statement line should match is kept in the table ``rd_bench_expected`` (statement line, noise category,
invoice ids), and what the database was built from in ``rd_bench_meta``, so that a later bench reuses it.
"""

import io
import json
import logging
import random
from datetime import date, timedelta

_logger = logging.getLogger("rd_bench.dataset")

META_TABLE = "rd_bench_meta"
EXPECTED_TABLE = "rd_bench_expected"

LANGS = [
    # (lang, country, share, first names, last names, company suffixes, tld)
    (
        "en_US",
        "US",
        0.35,
        ["James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen"],
        ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark"],
        ["Inc", "LLC", "Ltd"],
        "com",
    ),
    (
        "fr_FR",
        "FR",
        0.25,
        ["Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille", "Hugo", "Chloé"],
        ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Roux"],
        ["SARL", "SAS", "SA"],
        "fr",
    ),
    (
        "es_ES",
        "ES",
        0.2,
        ["José", "María", "Antonio", "Carmen", "Javier", "Lucía", "Pablo", "Elena"],
        ["García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"],
        ["SL", "SA"],
        "es",
    ),
    (
        "de_DE",
        "DE",
        0.15,
        ["Hans", "Anna", "Klaus", "Ursula", "Jürgen", "Petra", "Lukas", "Lena"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"],
        ["GmbH", "AG", "KG"],
        "de",
    ),
    (
        "nl_BE",
        "BE",
        0.05,
        ["Jan", "Els", "Pieter", "Lotte", "Wout", "Fien", "Bram", "Noor"],
        ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens"],
        ["BV", "NV"],
        "be",
    ),
]
# Country -> (IBAN BBAN length in digits, phone pattern with # for a random digit)
COUNTRY_FORMATS = {
    "US": (None, "+1 (212) 7##-####"),
    "FR": (23, "+33 6 ## ## ## ##"),
    "ES": (20, "+34 6## ### ###"),
    "DE": (18, "+49 151 ########"),
    "BE": (12, "+32 470 ## ## ##"),
}
INVALID_EMAILS = ["", "no-email", "jean.dupont@", "contact at example dot com", "x@y"]
INVALID_PHONES = ["12345", "n/a", "+33 1", "000", "call office"]

# Noise categories of the statement lines and their shares.
CATEGORIES = [
    ("exact_rf", 0.25),  # the RF creditor reference as issued
    ("exact_number", 0.10),  # the invoice number as issued
    ("reformatted", 0.10),  # reference or number with other case, spacing or separators
    ("number_in_text", 0.14),  # the invoice number inside free text
    ("grouped", 0.08),  # one transfer for 2-4 invoices of the debtor, their numbers listed
    ("partial", 0.08),  # exact reference, part of the amount
    ("iban_only", 0.08),  # no reference, the debtor's IBAN and the exact amount of one invoice
    ("typo", 0.10),  # RF with a wrong checksum, or an invoice number with two digits swapped
    ("unrelated", 0.07),  # money that pays no open invoice
]
COMPANY_SHARES = [0.7, 0.2, 0.1]


def iban(rng, country, length):
    """A random IBAN with a correct ISO 7064 mod 97-10 checksum (digits-only BBAN)."""
    bban = "".join(rng.choice("0123456789") for _ in range(length))
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def spaced(text, group=4):
    return " ".join(text[i : i + group] for i in range(0, len(text), group))


def fill(rng, pattern):
    return "".join(rng.choice("0123456789") if ch == "#" else ch for ch in pattern)


def copy_rows(cr, table, columns, rows):
    """COPY ``rows`` (tuples in ``columns`` order) into ``table``: None is NULL, lists are PostgreSQL arrays."""

    def text(value):
        if value is None:
            return r"\N"
        if value is True or value is False:
            return "t" if value else "f"
        if isinstance(value, list):
            return "{" + ",".join(str(item) for item in value) + "}"
        if isinstance(value, dict):
            value = json.dumps(value)
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(text(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    cr._obj.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def next_ids(cr, table, count):
    """``count`` fresh ids of ``table``, taken from its sequence in one call."""
    cr.execute(f"SELECT setval('{table}_id_seq', nextval('{table}_id_seq') + %s - 1, true)", [count])
    last = cr.fetchone()[0]
    return list(range(last - count + 1, last + 1))


# === META === #


def read_meta(cr):
    cr.execute("SELECT to_regclass(%s)", [META_TABLE])
    if not cr.fetchone()[0]:
        return {}
    cr.execute(f"SELECT key, value FROM {META_TABLE}")
    return {key: json.loads(value) for key, value in cr.fetchall()}


def wanted_meta(version, seed, sizes):
    return {"version": version, "seed": seed, "sizes": {k: sizes[k] for k in sorted(sizes) if k != "requests"}}


def is_current(meta, wanted):
    return meta.get("complete") and all(meta.get(key) == value for key, value in wanted.items())


def write_meta(cr, values):
    cr.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key varchar PRIMARY KEY, value text NOT NULL)")
    for key, value in values.items():
        cr.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s",
            [key, json.dumps(value, default=str), json.dumps(value, default=str)],
        )


# === ORM SET-UP === #


def setup_companies(env, count):
    """Companies in EUR with a chart of accounts, our default policy, a peer credit policy each; their ids."""
    eur = env.ref("base.EUR")
    eur.active = True
    main = env.ref("base.main_company")
    if main.currency_id != eur:
        main.currency_id = eur
    main.write({"name": "Bench Collections SA", "country_id": env.ref("base.be").id})
    companies = main
    for index in range(2, count + 1):
        company = env["res.company"].create(
            {"name": f"Bench Subsidiary {index}", "currency_id": eur.id, "country_id": env.ref("base.fr").id}
        )
        companies |= company
    env.user.company_ids |= companies
    # Odoo gives a new company the main company's chart of accounts when the transaction commits.
    env.flush_all()
    env.cr.commit()
    env.invalidate_all()
    for company in companies:
        if not company.chart_template:
            env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
        if company.currency_id != eur:
            company.currency_id = eur
    env.flush_all()
    env.cr.commit()
    info = {}
    for position, company in enumerate(companies):
        sale = env["account.journal"].search([("company_id", "=", company.id), ("type", "=", "sale")], limit=1)
        bank = env["account.journal"].search([("company_id", "=", company.id), ("type", "=", "bank")], limit=1)
        # RF creditor references (Odoo's "euro" model) in the first and third company, plain numbers in the second.
        sale.invoice_reference_model = "odoo" if position == 1 else "euro"
        receivable = env["res.partner"].with_company(company).new({}).property_account_receivable_id
        info[company.id] = {
            "sale_journal_id": sale.id,
            "sale_code": sale.code,
            "reference_model": sale.invoice_reference_model,
            "income_account_id": sale.default_account_id.id,
            "receivable_account_id": receivable.id,
            "bank_journal_id": bank.id,
            "bank_code": bank.code,
            "bank_account_id": bank.default_account_id.id,
            "suspense_account_id": bank.suspense_account_id.id,
            # Some charts make the suspense account reconcilable: its open line then carries a residual.
            "suspense_reconcile": bank.suspense_account_id.reconcile,
            "currency_id": company.currency_id.id,
        }
        setup_peer_policy(env, company, receivable)
    return info


def setup_peer_policy(env, company, receivable):
    """The OCA credit-control policy comparable to our default one: reminders at 7, 21 and 35 days late."""
    if "credit.control.policy" not in env:
        return
    template = env.ref("account_credit_control.email_template_credit_control_base")
    policy = env["credit.control.policy"].create(
        {
            "name": f"Bench policy {company.name}",
            "company_id": company.id,
            "account_ids": [(6, 0, receivable.ids)],
            "level_ids": [
                (
                    0,
                    0,
                    {
                        "name": name,
                        "level": level,
                        "computation_mode": "net_days",
                        "delay_days": delay,
                        "channel": channel,
                        "email_template_id": template.id,
                        "custom_text": name,
                        "custom_mail_text": name,
                    },
                )
                for level, (name, delay, channel) in enumerate(
                    [("First reminder", 7, "email"), ("Second reminder", 21, "email"), ("Formal notice", 35, "letter")],
                    start=1,
                )
            ],
        }
    )
    company.credit_policy_id = policy


def setup_languages(env):
    for lang, *_rest in LANGS:
        env["res.lang"]._activate_lang(lang)


def setup_portal_user(env, partner_id, login, password):
    """A portal user for the portal debtor, to load Odoo's /my/invoices as that debtor."""
    users = env["res.users"].with_context(no_reset_password=True)
    user = users.search([("login", "=", login)])
    if not user:
        user = users.create(
            {
                "login": login,
                "password": password,
                "partner_id": partner_id,
                "group_ids": [(6, 0, [env.ref("base.group_portal").id])],
                "company_id": env.ref("base.main_company").id,
                "company_ids": [(6, 0, [env.ref("base.main_company").id])],
            }
        )
    return user


# === BULK DATA === #


class Generator:
    """Builds the rows in memory from one seeded random generator, then COPYs them."""

    def __init__(self, env, seed, sizes, companies, asof, portal_invoices):
        self.env = env
        self.cr = env.cr
        self.rng = random.Random(seed)
        self.sizes = sizes
        self.companies = companies  # company id -> info dict from setup_companies
        self.company_ids = list(companies)
        self.asof = asof
        self.portal_invoices = portal_invoices
        env.cr.execute("SELECT code, id FROM res_country")
        self.countries = dict(env.cr.fetchall())
        self.uid = env.uid

    # --- debtors ------------------------------------------------------------------------------------------------
    def debtors(self):
        rng, count = self.rng, self.sizes["debtors"]
        ids = next_ids(self.cr, "res_partner", count)
        rows, self.debtor = [], {}
        shares = [share for _lang, _c, share, *_ in LANGS]
        company_weights = COMPANY_SHARES[: len(self.company_ids)]
        for position, partner_id in enumerate(ids):
            lang, country, _share, firsts, lasts, suffixes, tld = (
                LANGS[0] if position == 0 else rng.choices(LANGS, weights=shares)[0]
            )
            is_company = position != 0 and rng.random() < 0.7
            last = rng.choice(lasts)
            name = f"{last} {rng.choice(suffixes)} {position:05d}" if is_company else f"{rng.choice(firsts)} {last}"
            slug = f"ar{position:05d}"
            email = f"{slug}@example.{tld}"
            if position and rng.random() < 0.03:
                email = rng.choice(INVALID_EMAILS).replace("jean.dupont", slug) or None
            phone = fill(rng, COUNTRY_FORMATS[country][1])
            if position and rng.random() < 0.03:
                phone = rng.choice(INVALID_PHONES)
            home = self.company_ids[0] if position == 0 else rng.choices(self.company_ids, weights=company_weights)[0]
            self.debtor[partner_id] = {"name": name, "country": country, "home": home, "lang": lang}
            rows.append(
                (
                    partner_id,
                    name,
                    name,
                    partner_id,
                    lang,
                    self.countries.get(country),
                    email,
                    email.lower() if email and "@example." in email else None,
                    phone,
                    f"{rng.randint(1, 250)} {last} Street",
                    rng.choice(["Brussels", "Paris", "Madrid", "Berlin", "Austin"]),
                    f"{rng.randint(1000, 99999)}",
                    is_company,
                    True,
                    "contact",
                    1,
                    "ask",
                    f"C{position:05d}",
                    (self.asof + timedelta(days=30)) if position and rng.random() < 0.005 else None,
                    self.uid,
                    self.uid,
                    "now()",
                    "now()",
                )
            )
        columns = [
            "id",
            "name",
            "complete_name",
            "commercial_partner_id",
            "lang",
            "country_id",
            "email",
            "email_normalized",
            "phone",
            "street",
            "city",
            "zip",
            "is_company",
            "active",
            "type",
            "customer_rank",
            "autopost_bills",
            "ref",
            "dunning_hold_until",
            "create_uid",
            "write_uid",
            "create_date",
            "write_date",
        ]
        copy_rows(self.cr, "res_partner", columns, rows)
        self.debtor_ids = ids
        self.invoice_contacts()
        self.bank_accounts()

    def invoice_contacts(self):
        """Every tenth company debtor has an invoice address with its own email, where reminders go."""
        parents = [pid for pid in self.debtor_ids[1:] if self.rng.random() < 0.1]
        ids = next_ids(self.cr, "res_partner", len(parents))
        rows = []
        for contact_id, parent_id in zip(ids, parents, strict=True):
            parent = self.debtor[parent_id]
            rows.append(
                (
                    contact_id,
                    "Accounts payable",
                    f"{parent['name']}, Accounts payable",
                    parent_id,
                    parent_id,
                    parent["lang"],
                    self.countries.get(parent["country"]),
                    f"ap{contact_id}@example.com",
                    f"ap{contact_id}@example.com",
                    False,
                    True,
                    "invoice",
                    "ask",
                    self.uid,
                    self.uid,
                    "now()",
                    "now()",
                )
            )
        columns = [
            "id",
            "name",
            "complete_name",
            "parent_id",
            "commercial_partner_id",
            "lang",
            "country_id",
            "email",
            "email_normalized",
            "is_company",
            "active",
            "type",
            "autopost_bills",
            "create_uid",
            "write_uid",
            "create_date",
            "write_date",
        ]
        copy_rows(self.cr, "res_partner", columns, rows)

    def bank_accounts(self):
        """Two debtors in five have an IBAN on file, the key of the IBAN-only payments."""
        rows, self.iban_of = [], {}
        for partner_id in self.debtor_ids[1:]:
            country = self.debtor[partner_id]["country"]
            length = COUNTRY_FORMATS[country][0]
            if length and self.rng.random() < 0.4:
                number = iban(self.rng, country, length)
                self.iban_of[partner_id] = number
                rows.append((partner_id, spaced(number), number, True, True, self.uid, "now()"))
        ids = next_ids(self.cr, "res_partner_bank", len(rows))
        columns = [
            "id",
            "partner_id",
            "acc_number",
            "sanitized_acc_number",
            "active",
            "allow_out_payment",
            "create_uid",
            "create_date",
        ]
        copy_rows(self.cr, "res_partner_bank", columns, [(i, *row) for i, row in zip(ids, rows, strict=True)])

    # --- invoices -----------------------------------------------------------------------------------------------
    def invoices(self):
        rng, count = self.rng, self.sizes["invoices"]
        portal_id = self.debtor_ids[0]
        others = self.debtor_ids[1:]
        # A few debtors owe many invoices, most owe a few (Zipf-like weights).
        weights = [1.0 / (rank + 20) for rank in range(len(others))]
        chosen = [portal_id] * self.portal_invoices + rng.choices(
            others, weights=weights, k=count - self.portal_invoices
        )
        drafts = []
        for partner_id in chosen:
            home = self.debtor[partner_id]["home"]
            company_id = home if rng.random() < 0.95 or partner_id == portal_id else rng.choice(self.company_ids)
            # Ages: most invoices are recent, a long tail is a year old.
            age = min(int(rng.expovariate(1 / 45)), 400)
            if partner_id == portal_id:
                age = 10 + 3 * len(drafts)
            invoice_date = self.asof - timedelta(days=age)
            term = rng.choice([0, 15, 30, 30, 30, 45, 60])
            amount = round(min(max(rng.lognormvariate(6.3, 1.1), 12.0), 95_000.0), 2)
            drafts.append([company_id, partner_id, invoice_date, invoice_date + timedelta(days=term), amount])
        # Numbered in date order per company and year, as Odoo's sequence would have done.
        drafts.sort(key=lambda d: (d[0], d[2]))
        move_ids = next_ids(self.cr, "account_move", len(drafts))
        line_ids = next_ids(self.cr, "account_move_line", 2 * len(drafts))
        seq, moves, lines, self.invoice = {}, [], [], {}
        no_followup_share = 0.01
        for index, (move_id, (company_id, partner_id, inv_date, due, amount)) in enumerate(
            zip(move_ids, drafts, strict=True)
        ):
            info = self.companies[company_id]
            key = (company_id, inv_date.year)
            seq[key] = seq.get(key, 0) + 1
            prefix = f"{info['sale_code']}/{inv_date.year}/"
            name = f"{prefix}{seq[key]:05d}"
            # Odoo's "euro" reference model: RF + journal code + zero-padded invoice id.
            euro = info["reference_model"] == "euro"
            reference = format_rf(f"{info['sale_code']}{move_id:06d}") if euro else name
            debtor = self.debtor[partner_id]
            moves.append(
                (
                    move_id,
                    name,
                    prefix,
                    seq[key],
                    info["sale_journal_id"],
                    company_id,
                    info["currency_id"],
                    partner_id,
                    partner_id,
                    "posted",
                    "out_invoice",
                    "no",
                    "not_paid",
                    reference,
                    debtor["name"],
                    inv_date,
                    inv_date,
                    due,
                    1.0,
                    amount,
                    0.0,
                    amount,
                    amount,
                    amount,
                    amount,
                    0.0,
                    amount,
                    amount,
                    amount,
                    False,
                    True,
                    True,
                    False,
                    True,
                    2,
                    self.uid,
                    self.uid,
                    "now()",
                    "now()",
                )
            )
            product_line, receivable_line = line_ids[2 * index], line_ids[2 * index + 1]
            common = (
                move_id,
                info["sale_journal_id"],
                company_id,
                info["currency_id"],
                info["currency_id"],
                partner_id,
                name,
                "posted",
                inv_date,
                inv_date,
            )
            lines.append(
                (
                    product_line,
                    *common,
                    info["income_account_id"],
                    "product",
                    "Consulting services",
                    None,
                    0.0,
                    amount,
                    -amount,
                    -amount,
                    0.0,
                    0.0,
                    1.0,
                    amount,
                    amount,
                    amount,
                    False,
                    False,
                    10,
                )
            )
            lines.append(
                (
                    receivable_line,
                    *common,
                    info["receivable_account_id"],
                    "payment_term",
                    reference,
                    due,
                    amount,
                    0.0,
                    amount,
                    amount,
                    amount,
                    amount,
                    None,
                    None,
                    None,
                    None,
                    False,
                    rng.random() < no_followup_share,
                    20,
                )
            )
            self.invoice[move_id] = {
                "name": name,
                "reference": reference,
                "partner_id": partner_id,
                "company_id": company_id,
                "amount": amount,
                "aml_id": receivable_line,
            }
        copy_rows(
            self.cr,
            "account_move",
            [
                "id",
                "name",
                "sequence_prefix",
                "sequence_number",
                "journal_id",
                "company_id",
                "currency_id",
                "partner_id",
                "commercial_partner_id",
                "state",
                "move_type",
                "auto_post",
                "payment_state",
                "payment_reference",
                "invoice_partner_display_name",
                "date",
                "invoice_date",
                "invoice_date_due",
                "invoice_currency_rate",
                "amount_untaxed",
                "amount_tax",
                "amount_total",
                "amount_residual",
                "amount_untaxed_signed",
                "amount_untaxed_in_currency_signed",
                "amount_tax_signed",
                "amount_total_signed",
                "amount_total_in_currency_signed",
                "amount_residual_signed",
                "always_tax_exigible",
                "checked",
                "posted_before",
                "made_sequence_gap",
                "is_move_sent",
                "invoice_user_id",
                "create_uid",
                "write_uid",
                "create_date",
                "write_date",
            ],
            moves,
        )
        copy_rows(
            self.cr,
            "account_move_line",
            [
                "id",
                "move_id",
                "journal_id",
                "company_id",
                "currency_id",
                "company_currency_id",
                "partner_id",
                "move_name",
                "parent_state",
                "date",
                "invoice_date",
                "account_id",
                "display_type",
                "name",
                "date_maturity",
                "debit",
                "credit",
                "balance",
                "amount_currency",
                "amount_residual",
                "amount_residual_currency",
                "quantity",
                "price_unit",
                "price_subtotal",
                "price_total",
                "reconciled",
                "no_followup",
                "sequence",
            ],
            lines,
        )

    # --- bank statement lines -----------------------------------------------------------------------------------
    def statement_lines(self):
        rng, count = self.rng, self.sizes["statement_lines"]
        portal_id = self.debtor_ids[0]
        by_debtor = {}
        for move_id, inv in self.invoice.items():
            if inv["partner_id"] != portal_id:
                by_debtor.setdefault((inv["partner_id"], inv["company_id"]), []).append(move_id)
        candidates = sorted(m for m, inv in self.invoice.items() if inv["partner_id"] != portal_id)
        rng.shuffle(candidates)
        # IBAN-only payments need a debtor with an IBAN on file: drawn from their own pool.
        self.iban_candidates = [m for m in candidates if self.invoice[m]["partner_id"] in self.iban_of]
        used, planned = set(), []
        names = {(inv["company_id"], inv["name"]) for inv in self.invoice.values()}
        cats, weights = zip(*CATEGORIES, strict=True)
        while len(planned) < count and candidates:
            category = rng.choices(cats, weights=weights)[0]
            plan = self.plan_line(category, candidates, used, by_debtor, names)
            if plan:
                planned.append(plan)
        st_ids = next_ids(self.cr, "account_bank_statement_line", len(planned))
        move_ids = next_ids(self.cr, "account_move", len(planned))
        aml_ids = next_ids(self.cr, "account_move_line", 2 * len(planned))
        seq, moves, amls, st_rows, expected = {}, [], [], [], []
        for index, (st_id, move_id, plan) in enumerate(zip(st_ids, move_ids, planned, strict=True)):
            info = self.companies[plan["company_id"]]
            st_date = self.asof - timedelta(days=rng.randint(0, 10))
            key = (plan["company_id"], st_date.year)
            seq[key] = seq.get(key, 0) + 1
            prefix = f"{info['bank_code']}/{st_date.year}/"
            name = f"{prefix}{seq[key]:05d}"
            amount, partner_id = plan["amount"], plan.get("partner_id")
            moves.append(
                (
                    move_id,
                    name,
                    prefix,
                    seq[key],
                    info["bank_journal_id"],
                    plan["company_id"],
                    info["currency_id"],
                    partner_id,
                    partner_id,
                    "posted",
                    "entry",
                    "no",
                    "not_paid",
                    st_date,
                    amount,
                    amount,
                    amount,
                    amount,
                    True,
                    True,
                    False,
                    self.uid,
                    self.uid,
                    "now()",
                    "now()",
                )
            )
            common = (
                move_id,
                info["bank_journal_id"],
                plan["company_id"],
                info["currency_id"],
                info["currency_id"],
                partner_id,
                name,
                "posted",
                st_date,
                plan["label"],
                st_id,
                False,
            )
            amls.append(
                (
                    aml_ids[2 * index],
                    *common,
                    info["bank_account_id"],
                    "asset_cash",
                    amount,
                    0.0,
                    amount,
                    amount,
                    amount,
                    amount,
                    10,
                )
            )
            amls.append(
                (
                    aml_ids[2 * index + 1],
                    *common,
                    info["suspense_account_id"],
                    "product",
                    0.0,
                    amount,
                    -amount,
                    -amount,
                    -amount if info["suspense_reconcile"] else 0.0,
                    -amount if info["suspense_reconcile"] else 0.0,
                    20,
                )
            )
            st_rows.append(
                (
                    st_id,
                    move_id,
                    info["bank_journal_id"],
                    plan["company_id"],
                    1,
                    partner_id,
                    info["currency_id"],
                    plan.get("iban_text"),
                    plan.get("partner_name"),
                    plan["label"],
                    amount,
                    False,
                    -amount,
                    f"{st_date:%Y%m%d}{2147483647 - 1:0>10}{st_id:0>10}",
                    self.uid,
                    "now()",
                )
            )
            expected.append((st_id, plan["category"], plan["move_ids"]))
        copy_rows(
            self.cr,
            "account_move",
            [
                "id",
                "name",
                "sequence_prefix",
                "sequence_number",
                "journal_id",
                "company_id",
                "currency_id",
                "partner_id",
                "commercial_partner_id",
                "state",
                "move_type",
                "auto_post",
                "payment_state",
                "date",
                "amount_total",
                "amount_total_signed",
                "amount_total_in_currency_signed",
                "amount_untaxed",
                "checked",
                "posted_before",
                "made_sequence_gap",
                "create_uid",
                "write_uid",
                "create_date",
                "write_date",
            ],
            moves,
        )
        copy_rows(
            self.cr,
            "account_bank_statement_line",
            [
                "id",
                "move_id",
                "journal_id",
                "company_id",
                "sequence",
                "partner_id",
                "currency_id",
                "account_number",
                "partner_name",
                "payment_ref",
                "amount",
                "is_reconciled",
                "amount_residual",
                "internal_index",
                "create_uid",
                "create_date",
            ],
            st_rows,
        )
        copy_rows(
            self.cr,
            "account_move_line",
            [
                "id",
                "move_id",
                "journal_id",
                "company_id",
                "currency_id",
                "company_currency_id",
                "partner_id",
                "move_name",
                "parent_state",
                "date",
                "name",
                "statement_line_id",
                "reconciled",
                "account_id",
                "display_type",
                "debit",
                "credit",
                "balance",
                "amount_currency",
                "amount_residual",
                "amount_residual_currency",
                "sequence",
            ],
            amls,
        )
        # The entry and its statement line point at each other: the second link once both exist.
        self.cr.execute(
            """UPDATE account_move move SET statement_line_id = st.id
                 FROM account_bank_statement_line st
                WHERE st.move_id = move.id AND st.id = ANY(%s)""",
            [st_ids],
        )
        self.cr.execute(
            f"CREATE TABLE {EXPECTED_TABLE} (st_line_id integer PRIMARY KEY, category varchar NOT NULL, "
            "move_ids integer[] NOT NULL)"
        )
        copy_rows(self.cr, EXPECTED_TABLE, ["st_line_id", "category", "move_ids"], expected)
        return {cat: sum(1 for p in planned if p["category"] == cat) for cat in cats}

    def plan_line(self, category, candidates, used, by_debtor, names):  # noqa: PLR0912, PLR0915 - a branch per category
        """One statement line of ``category`` paying invoices not paid by another line; None when none fits."""
        rng = self.rng
        if category == "unrelated":
            company_id = rng.choices(self.company_ids, weights=COMPANY_SHARES[: len(self.company_ids)])[0]
            label = rng.choice(
                [
                    "Refund supplier overpayment",
                    "Interest Q3",
                    "Cash deposit",
                    "Transfer from savings",
                    "Rent guarantee returned",
                    "Card settlement 8841",
                ]
            )
            return {
                "category": category,
                "company_id": company_id,
                "move_ids": [],
                "amount": round(rng.uniform(20, 5000), 2),
                "label": f"{label} {rng.randint(100, 999)}",
            }
        pool = self.iban_candidates if category == "iban_only" else candidates
        move_id = pool.pop() if pool else None
        while move_id in used and pool:
            move_id = pool.pop()
        if move_id is None or move_id in used:
            return None
        inv = self.invoice[move_id]
        debtor = self.debtor[inv["partner_id"]]
        plan = {"category": category, "company_id": inv["company_id"], "move_ids": [move_id], "amount": inv["amount"]}
        if rng.random() < 0.3:
            plan["partner_id"] = inv["partner_id"]
        if rng.random() < 0.6:
            plan["partner_name"] = debtor["name"].upper()
        if inv["partner_id"] in self.iban_of and rng.random() < 0.5:
            plan["iban_text"] = spaced(self.iban_of[inv["partner_id"]])
        is_rf = inv["reference"].startswith("RF")
        if category == "exact_rf":
            if not is_rf:
                plan["category"] = "exact_number"
            plan["label"] = inv["reference"]
        elif category == "exact_number":
            plan["label"] = inv["name"]
        elif category == "reformatted":
            source = inv["reference"] if is_rf and rng.random() < 0.5 else inv["name"]
            compact = "".join(ch for ch in source if ch.isalnum())
            plan["label"] = rng.choice([compact.lower(), spaced(compact, 3), source.replace("/", "-").lower()])
        elif category == "number_in_text":
            plan["label"] = rng.choice(
                [
                    f"Payment invoice {inv['name']} thank you",
                    f"FACTURE {inv['name']} CLIENT {debtor['name'][:12].upper()}",
                    f"/ROC/{inv['name']}/ pago factura",
                    f"Rechnung {inv['name']} vom {self.asof:%d.%m.%Y}",
                ]
            )
        elif category == "grouped":
            siblings = [m for m in by_debtor.get((inv["partner_id"], inv["company_id"]), []) if m not in used]
            siblings = [m for m in siblings if m != move_id][: rng.randint(1, 3)]
            if not siblings:
                plan["category"] = "number_in_text"
                plan["label"] = f"Payment invoice {inv['name']}"
            else:
                plan["move_ids"] += siblings
                plan["amount"] = round(sum(self.invoice[m]["amount"] for m in plan["move_ids"]), 2)
                plan["label"] = rng.choice([", ", " + ", " "]).join(self.invoice[m]["name"] for m in plan["move_ids"])
        elif category == "partial":
            plan["label"] = inv["reference"]
            plan["amount"] = round(inv["amount"] * rng.uniform(0.3, 0.9), 2)
        elif category == "iban_only":
            plan["iban_text"] = spaced(self.iban_of[inv["partner_id"]])
            plan.pop("partner_id", None)
            plan["label"] = rng.choice(["SEPA CREDIT TRANSFER", "VIREMENT SEPA", "TRANSFERENCIA", "UEBERWEISUNG"])
        elif category == "typo":
            if is_rf and rng.random() < 0.5:
                plan["label"] = typo_rf(rng, inv["reference"])
            else:
                plan["label"] = typo_number(rng, inv["name"])
        used.update(plan["move_ids"])
        return plan


def format_rf(data):
    from odoo.addons.account.tools.structured_reference import format_structured_reference_iso

    return format_structured_reference_iso(data)


def typo_rf(rng, reference):
    """The reference with one digit of its data changed: its ISO 11649 checksum no longer holds."""
    chars = list(reference)
    digits = [i for i, ch in enumerate(chars) if ch.isdigit() and i > 4]
    position = rng.choice(digits)
    chars[position] = str((int(chars[position]) + rng.randint(1, 9)) % 10)
    return "".join(chars)


def typo_number(rng, name):
    """The invoice number with two adjacent digits of its serial swapped (often another invoice's number)."""
    prefix, serial = name.rsplit("/", 1)
    positions = [i for i in range(len(serial) - 1) if serial[i] != serial[i + 1]]
    if not positions:
        return f"{prefix}/{serial[:-1]}"
    i = rng.choice(positions)
    return f"{prefix}/{serial[:i]}{serial[i + 1]}{serial[i]}{serial[i + 2 :]}"


def generate(env, seed, sizes, portal_invoices, portal_login, portal_password):
    """Fill the database; commits. Returns the meta written."""
    cr = env.cr
    asof = date.today()
    setup_languages(env)
    companies = setup_companies(env, sizes["companies"])
    env.flush_all()
    cr.commit()
    generator = Generator(env, seed, sizes, companies, asof, portal_invoices)
    generator.debtors()
    generator.invoices()
    categories = generator.statement_lines()
    cr.commit()
    env.invalidate_all()
    env.registry.clear_cache()
    portal_partner = generator.debtor_ids[0]
    setup_portal_user(env, portal_partner, portal_login, portal_password)
    env.flush_all()
    meta = {
        "asof": asof.isoformat(),
        "companies": companies,
        "portal_partner_id": portal_partner,
        "categories": categories,
    }
    write_meta(cr, meta)
    cr.commit()
    return meta
