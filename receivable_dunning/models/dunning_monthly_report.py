import base64
import io
import logging

import xlsxwriter
from dateutil.relativedelta import relativedelta

from odoo import Command, api, fields, models
from odoo.tools.misc import format_date

_logger = logging.getLogger(__name__)

# The ageing buckets of dunning.report.ageing, oldest last; each has its amount column ``amount_<bucket>``.
BUCKETS = ("not_due", "1_30", "31_60", "61_90", "91_120", "over_120")
DSO_FIELDS = (
    "month",
    "sales",
    "receivables",
    "current_receivables",
    "overdue_receivables",
    "dso_standard",
    "dso_countback",
    "best_possible_dso",
    "adbt",
    "cei",
)
EFFECTIVENESS_AGGREGATES = (
    "__count",
    "amount_reminded:sum",
    "paid_7:sum",
    "paid_14:sum",
    "paid_30:sum",
    "paid_30_count:sum",
    "amount_recovered:sum",
)
EFFECTIVENESS_KEYS = ("count", "reminded", "paid_7", "paid_14", "paid_30", "paid_30_count", "recovered")
FORECAST_SOURCES = ("due_date", "expected", "promise", "plan")


class DunningMonthlyReport(models.AbstractModel):
    """The monthly receivables report of a company: key figures (PDF with charts) and detail (XLSX workbook), emailed
    on the first days of each month for the month before, or exported on demand from the wizard.

    Every figure is read from the report models (``dunning.report.ageing``, ``.dso``, ``.effectiveness``,
    ``.cash.forecast``) at the month's last day (context ``dunning_report_date``) and from the promises: the
    export adds no query of its own on the accounting.
    """

    _name = "dunning.monthly.report"
    _description = "Dunning: Monthly Receivables Report"

    # === FIGURES === #

    @api.model
    def _figures(self, company, month):
        """The month's figures of ``company``, amounts in the company's currency.

        :param company: a ``res.company`` record
        :param date month: any day of the month
        :return: dict with ``company``, ``currency``, ``month`` (first day), ``date_to`` (last day), ``dso``
            (the month's row of ``dunning.report.dso`` as a dict, zeros when absent), ``dso_trend`` (dicts, the
            last 12 months, oldest first), ``ageing`` (bucket -> amount, plus ``total``), ``ageing_by_debtor`` (list
            of (partner, {bucket: amount}, total)), ``levels`` (dicts per level: count, paid_30_count, recovered,
            rate), ``effectiveness`` (dicts per policy, level and channel), ``promises`` (state -> (count, amount)),
            ``promise_records``, ``forecast`` (dicts per week: source -> amount, total)
        """
        month = month.replace(day=1)
        date_to = month + relativedelta(months=1, days=-1)
        at_month_end = self.with_company(company).with_context(dunning_report_date=date_to)
        company_domain = [("company_id", "=", company.id)]
        figures = {"company": company, "currency": company.currency_id, "month": month, "date_to": date_to}
        figures.update(at_month_end._ageing_figures(company_domain))
        figures.update(at_month_end._dso_figures(company_domain, month))
        figures.update(at_month_end._effectiveness_figures(company_domain, month))
        figures.update(at_month_end._promise_figures(company, month, date_to))
        figures.update(at_month_end._forecast_figures(company_domain))
        return figures

    @api.model
    def _ageing_figures(self, company_domain):
        aggregates = [f"amount_{bucket}:sum" for bucket in BUCKETS] + ["amount_residual:sum"]
        Ageing = self.env["dunning.report.ageing"]
        [totals] = Ageing._read_group(company_domain, [], aggregates)
        by_debtor = [
            (partner, dict(zip(BUCKETS, (amount or 0.0 for amount in amounts), strict=False)), total or 0.0)
            for partner, *amounts, total in Ageing._read_group(company_domain, ["partner_id"], aggregates)
        ]
        ageing = dict(zip(BUCKETS, (amount or 0.0 for amount in totals), strict=False))
        ageing["total"] = totals[-1] or 0.0
        return {"ageing": ageing, "ageing_by_debtor": by_debtor}

    @api.model
    def _dso_figures(self, company_domain, month):
        rows = self.env["dunning.report.dso"].search_fetch(
            [*company_domain, ("month", ">=", month - relativedelta(months=11)), ("month", "<=", month)],
            DSO_FIELDS,
            order="month",
        )
        trend = [{name: row[name] for name in DSO_FIELDS} for row in rows]
        current = next((row for row in trend if row["month"] == month), None)
        return {"dso": current or dict.fromkeys(DSO_FIELDS, 0.0) | {"month": month}, "dso_trend": trend}

    @api.model
    def _effectiveness_figures(self, company_domain, month):
        """What the reminders brought in, as known at the month's end (payments after it are not counted yet).

        Recovered: by the reminders sent in the month, by level (and by policy, level and channel). Rate of each
        level: the share of reminded invoices paid in full within 30 days, among the reminders whose 30 days ended
        in the month (sent in the 30 days before each of its days); ``None`` when there is none.
        """
        next_month = month + relativedelta(months=1)
        sent_domain = [*company_domain, ("date_sent", ">=", month), ("date_sent", "<", next_month)]
        window_domain = [
            *company_domain,
            ("date_sent", ">=", month - relativedelta(days=30)),
            ("date_sent", "<", next_month - relativedelta(days=30)),
        ]
        Effectiveness = self.env["dunning.report.effectiveness"]
        sent = {
            level: (count, recovered or 0.0)
            for level, count, recovered in Effectiveness._read_group(
                sent_domain, ["level_id"], ["__count", "amount_recovered:sum"]
            )
        }
        rates = dict(Effectiveness._read_group(window_domain, ["level_id"], ["paid_30_rate:avg"]))
        all_levels = self.env["dunning.level"].union(*sent, *rates).sorted()
        levels = [
            {
                "level": level,
                "count": sent.get(level, (0, 0.0))[0],
                "recovered": sent.get(level, (0, 0.0))[1],
                "rate": rates.get(level),
            }
            for level in all_levels
        ]
        effectiveness = [
            {
                "policy": policy,
                "level": level,
                "channel": channel,
                **dict(zip(EFFECTIVENESS_KEYS, (value or 0 for value in values), strict=True)),
            }
            for policy, level, channel, *values in Effectiveness._read_group(
                sent_domain, ["policy_id", "level_id", "channel"], EFFECTIVENESS_AGGREGATES
            )
        ]
        return {"levels": levels, "effectiveness": effectiveness}

    @api.model
    def _promise_figures(self, company, month, date_to):
        """The promises due in the month (promised date in it) that were kept or broken."""
        domain = [
            ("company_id", "=", company.id),
            ("date_promised", ">=", month),
            ("date_promised", "<=", date_to),
            ("state", "in", ("kept", "broken")),
        ]
        Promise = self.env["dunning.promise"]
        promises = {"kept": (0, 0.0), "broken": (0, 0.0)}
        for state, currency, count, amount in Promise._read_group(
            domain, ["state", "currency_id"], ["__count", "amount:sum"]
        ):
            converted = currency._convert(amount, company.currency_id, company, date_to)
            promises[state] = (promises[state][0] + count, promises[state][1] + converted)
        records = Promise.search_fetch(
            domain, ["partner_id", "date_promised", "amount", "currency_id", "state"], order="date_promised, id"
        )
        return {"promises": promises, "promise_records": records}

    @api.model
    def _forecast_figures(self, company_domain):
        """The 13-week cash forecast from the month's last day, one dict per week with an amount per source."""
        weeks = {}
        for week, source, amount in self.env["dunning.report.cash.forecast"]._read_group(
            company_domain, ["week:day", "source"], ["amount:sum"]
        ):
            weeks.setdefault(week, dict.fromkeys(FORECAST_SOURCES, 0.0))[source] = amount or 0.0
        return {
            "forecast": [
                {"week": week, **amounts, "total": sum(amounts.values())} for week, amounts in sorted(weeks.items())
            ]
        }

    # === LABELS === #

    @api.model
    def _selection_labels(self, model, field):
        """The translated labels of a selection field of another model, value -> label."""
        return dict(self.env[model]._fields[field]._description_selection(self.env))

    @api.model
    def _month_label(self, month):
        return format_date(self.env, month, date_format="MMMM y")

    @api.model
    def _key_figures(self, figures):
        """The summary lines shared by the PDF and the workbook: (label, value, unit) with unit ``days``, ``percent``,
        ``amount`` or ``count``."""
        dso, promises, ageing = figures["dso"], figures["promises"], figures["ageing"]

        return [
            (self.env._("DSO (standard method)"), dso["dso_standard"], "days"),
            (self.env._("DSO (count-back method)"), dso["dso_countback"], "days"),
            (self.env._("Best possible DSO"), dso["best_possible_dso"], "days"),
            (self.env._("Average days beyond terms"), dso["adbt"], "days"),
            (self.env._("Collection effectiveness index (CEI)"), dso["cei"], "percent"),
            (self.env._("Credit sales of the month"), dso["sales"], "amount"),
            (self.env._("Receivables at the month's end"), ageing["total"], "amount"),
            (self.env._("Overdue at the month's end"), ageing["total"] - ageing["not_due"], "amount"),
            (
                self.env._("Recovered after the month's reminders"),
                sum(level["recovered"] for level in figures["levels"]),
                "amount",
            ),
            (self.env._("Promises kept"), promises["kept"][0], "count"),
            (self.env._("Amount of promises kept"), promises["kept"][1], "amount"),
            (self.env._("Promises broken"), promises["broken"][0], "count"),
            (self.env._("Amount of promises broken"), promises["broken"][1], "amount"),
        ]

    # === EXPORTS === #

    @api.model
    def _file_name(self, company, month, extension):
        return self.env._(
            "Receivables %(month)s %(company)s.%(extension)s",
            month=month.strftime("%Y-%m"),
            company=company.name,
            extension=extension,
        ).replace("/", "-")

    @api.model
    def _render_pdf(self, company, month):
        """The PDF of the month's key figures (HTML in tests that do not force the rendering).

        :return: (content, report_type)
        """
        # The module's wkhtmltopdf call (see ir.actions.report._run_wkhtmltopdf): the report font taken from the
        # system's fonts, so that the PDF carries its text (searchable, and small) rather than drawn glyphs.
        return (
            self.env["ir.actions.report"]
            .with_context(dunning_join_documents=True)
            ._render_qweb_pdf(
                "receivable_dunning.action_report_dunning_monthly",
                company.ids,
                data={"month": fields.Date.to_string(month.replace(day=1))},
            )
        )

    @api.model
    def _render_xlsx(self, company, month):
        """The workbook of the month's detail: a summary sheet and one sheet per figure, totals as numbers.

        :return: the XLSX file's bytes
        """
        figures = self._figures(company, month)
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {"in_memory": True})
        styles = {
            "title": workbook.add_format({"bold": True, "font_size": 13}),
            "header": workbook.add_format({"bold": True, "bg_color": "#DDDDDD", "border": 1}),
            "amount": workbook.add_format({"num_format": "#,##0.00"}),
            "total": workbook.add_format({"bold": True, "num_format": "#,##0.00", "top": 1}),
            "total_label": workbook.add_format({"bold": True, "top": 1}),
            "number": workbook.add_format({"num_format": "0.0"}),
            "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        }
        self._xlsx_summary(workbook, styles, figures)
        self._xlsx_ageing(workbook, styles, figures)
        self._xlsx_dso(workbook, styles, figures)
        self._xlsx_levels(workbook, styles, figures)
        self._xlsx_effectiveness(workbook, styles, figures)
        self._xlsx_promises(workbook, styles, figures)
        self._xlsx_forecast(workbook, styles, figures)
        workbook.close()
        return output.getvalue()

    @api.model
    def _xlsx_sheet(self, workbook, styles, figures, name, title, headers):
        """A sheet with its title (the company, the date and the currency) on row 1 and ``headers`` on row 3.

        :return: the worksheet; data rows start at index 3
        """
        sheet = workbook.add_worksheet(name)
        sheet.write(
            0,
            0,
            self.env._(
                "%(title)s: %(company)s, %(month)s (amounts in %(currency)s)",
                title=title,
                company=figures["company"].name,
                month=self._month_label(figures["month"]),
                currency=figures["currency"].name,
            ),
            styles["title"],
        )
        for column, header in enumerate(headers):
            sheet.write(2, column, header, styles["header"])
        sheet.set_column(0, 0, 32)
        sheet.set_column(1, len(headers), 14)
        return sheet

    @api.model
    def _xlsx_summary(self, workbook, styles, figures):
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("Summary"),
            self.env._("Key figures"),
            [self.env._("Figure"), self.env._("Value")],
        )
        style_of_unit = {"amount": styles["amount"], "days": styles["number"], "percent": styles["number"]}
        for row, (label, value, unit) in enumerate(self._key_figures(figures), start=3):
            sheet.write(row, 0, label)
            sheet.write_number(row, 1, value or 0, style_of_unit.get(unit))

    @api.model
    def _xlsx_ageing(self, workbook, styles, figures):
        labels = self._selection_labels("dunning.report.ageing", "bucket")
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("Ageing"),
            self.env._("Receivables by age at %(date)s", date=format_date(self.env, figures["date_to"])),
            [self.env._("Debtor"), *(labels.get(bucket, bucket) for bucket in BUCKETS), self.env._("Total")],
        )
        row = 3
        for row, (partner, amounts, total) in enumerate(figures["ageing_by_debtor"], start=3):
            sheet.write(row, 0, partner.display_name)
            for column, bucket in enumerate(BUCKETS, start=1):
                sheet.write_number(row, column, amounts[bucket], styles["amount"])
            sheet.write_number(row, len(BUCKETS) + 1, total, styles["amount"])
        total_row = row + 1 if figures["ageing_by_debtor"] else 3
        sheet.write(total_row, 0, self.env._("Total"), styles["total_label"])
        for column, bucket in enumerate([*BUCKETS, "total"], start=1):
            sheet.write_number(total_row, column, figures["ageing"][bucket], styles["total"])

    @api.model
    def _xlsx_dso(self, workbook, styles, figures):
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("DSO"),
            self.env._("Days sales outstanding, last 12 months"),
            [
                self.env._("Month"),
                self.env._("Credit sales"),
                self.env._("Receivables"),
                self.env._("Not yet due"),
                self.env._("Overdue"),
                self.env._("DSO (standard)"),
                self.env._("DSO (count-back)"),
                self.env._("Best possible DSO"),
                self.env._("Average days beyond terms"),
                self.env._("CEI (%)"),
            ],
        )
        for row, values in enumerate(figures["dso_trend"], start=3):
            sheet.write_datetime(row, 0, fields.Datetime.to_datetime(values["month"]), styles["date"])
            for column, name in enumerate(DSO_FIELDS[1:], start=1):
                style = styles["amount"] if column <= 4 else styles["number"]
                sheet.write_number(row, column, values[name] or 0, style)

    @api.model
    def _xlsx_levels(self, workbook, styles, figures):
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("Levels"),
            self.env._("Recovered by level"),
            [
                self.env._("Level"),
                self.env._("Reminded invoices"),
                self.env._("Recovered"),
                self.env._("Paid in full within 30 days (%)"),
            ],
        )
        for row, level in enumerate(figures["levels"], start=3):
            sheet.write(row, 0, level["level"].display_name)
            sheet.write_number(row, 1, level["count"])
            sheet.write_number(row, 2, level["recovered"], styles["amount"])
            if level["rate"] is not None:
                sheet.write_number(row, 3, level["rate"], styles["number"])
        total_row = 3 + len(figures["levels"])
        sheet.write(total_row, 0, self.env._("Total"), styles["total_label"])
        sheet.write_number(total_row, 1, sum(level["count"] for level in figures["levels"]), styles["total_label"])
        sheet.write_number(total_row, 2, sum(level["recovered"] for level in figures["levels"]), styles["total"])

    @api.model
    def _xlsx_effectiveness(self, workbook, styles, figures):
        channels = self._selection_labels("dunning.report.effectiveness", "channel")
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("Effectiveness"),
            self.env._("Reminders sent in the month and what they brought in"),
            [
                self.env._("Policy"),
                self.env._("Level"),
                self.env._("Channel"),
                self.env._("Reminded invoices"),
                self.env._("Amount reminded"),
                self.env._("Paid within 7 days"),
                self.env._("Paid within 14 days"),
                self.env._("Paid within 30 days"),
                self.env._("Invoices paid within 30 days"),
                self.env._("Recovered"),
            ],
        )
        sheet.set_column(1, 2, 20)
        row = 3
        for row, values in enumerate(figures["effectiveness"], start=3):
            sheet.write(row, 0, values["policy"].display_name or "")
            sheet.write(row, 1, values["level"].display_name or "")
            sheet.write(row, 2, channels.get(values["channel"], values["channel"] or ""))
            for column, name in enumerate(EFFECTIVENESS_KEYS, start=3):
                style = styles["amount"] if name not in ("count", "paid_30_count") else None
                sheet.write_number(row, column, values[name], style)
        total_row = row + 1 if figures["effectiveness"] else 3
        sheet.write(total_row, 0, self.env._("Total"), styles["total_label"])
        for column, name in enumerate(EFFECTIVENESS_KEYS, start=3):
            sheet.write_number(
                total_row, column, sum(values[name] for values in figures["effectiveness"]), styles["total"]
            )

    @api.model
    def _xlsx_promises(self, workbook, styles, figures):
        states = self._selection_labels("dunning.promise", "state")
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("Promises"),
            self.env._("Promises to pay due in the month, kept or broken"),
            [
                self.env._("Debtor"),
                self.env._("Promised date"),
                self.env._("Status"),
                self.env._("Amount"),
                self.env._("Currency"),
            ],
        )
        for row, promise in enumerate(figures["promise_records"], start=3):
            sheet.write(row, 0, promise.partner_id.display_name)
            sheet.write_datetime(row, 1, fields.Datetime.to_datetime(promise.date_promised), styles["date"])
            sheet.write(row, 2, states[promise.state])
            sheet.write_number(row, 3, promise.amount, styles["amount"])
            sheet.write(row, 4, promise.currency_id.name)
        total_row = 3 + len(figures["promise_records"])
        for offset, state in enumerate(("kept", "broken")):
            count, amount = figures["promises"][state]
            sheet.write(
                total_row + offset, 0, self.env._("Total %(state)s", state=states[state]), styles["total_label"]
            )
            sheet.write_number(total_row + offset, 2, count, styles["total_label"])
            sheet.write_number(total_row + offset, 3, amount, styles["total"])
            sheet.write(total_row + offset, 4, figures["currency"].name, styles["total_label"])

    @api.model
    def _xlsx_forecast(self, workbook, styles, figures):
        sources = self._selection_labels("dunning.report.cash.forecast", "source")
        sheet = self._xlsx_sheet(
            workbook,
            styles,
            figures,
            self.env._("Cash forecast"),
            self.env._("Expected collections, 13 weeks from %(date)s", date=format_date(self.env, figures["date_to"])),
            [self.env._("Week of"), *(sources.get(source, source) for source in FORECAST_SOURCES), self.env._("Total")],
        )
        columns = [*FORECAST_SOURCES, "total"]
        for row, week in enumerate(figures["forecast"], start=3):
            sheet.write_datetime(row, 0, fields.Datetime.to_datetime(week["week"]), styles["date"])
            for column, name in enumerate(columns, start=1):
                sheet.write_number(row, column, week[name], styles["amount"])
        total_row = 3 + len(figures["forecast"])
        sheet.write(total_row, 0, self.env._("Total"), styles["total_label"])
        for column, name in enumerate(columns, start=1):
            sheet.write_number(total_row, column, sum(week[name] for week in figures["forecast"]), styles["total"])

    # === SENDING === #

    @api.model
    def _recipients(self, company):
        """The users who receive the company's report: the named ones, else its accounting managers; those with an
        email address."""
        users = company.dunning_report_user_ids
        if not users:
            users = self.env["res.users"].search(
                [
                    ("all_group_ids", "in", self.env.ref("account.group_account_manager").id),
                    ("company_ids", "in", company.id),
                    ("share", "=", False),
                ]
            )
        return users.filtered("email")

    @api.model
    def _send(self, company, month):
        """Email the month's report to the company's recipients: one email per language, its texts and both
        attachments in that language.

        :return: the ``mail.mail`` records queued
        """
        month = month.replace(day=1)
        template = self.env.ref("receivable_dunning.mail_template_dunning_monthly_report")
        mails = self.env["mail.mail"]
        for lang, users in self._recipients(company).grouped("lang").items():
            self_lang = self.with_context(lang=lang)
            content, report_type = self_lang._render_pdf(company, month)
            attachments = [
                (self_lang._file_name(company, month, report_type), content),
                (self_lang._file_name(company, month, "xlsx"), self_lang._render_xlsx(company, month)),
            ]
            mail_id = template.with_context(lang=lang, dunning_report_month=self_lang._month_label(month)).send_mail(
                company.id,
                email_values={
                    "recipient_ids": [Command.set(users.partner_id.ids)],
                    "attachments": [(name, base64.b64encode(raw)) for name, raw in attachments],
                },
            )
            mails |= mails.browse(mail_id)
        return mails

    @api.model
    def _cron_send(self):
        """Monthly: email each company's report of the previous month, one company per transaction. A company
        whose report of that month was sent (``dunning_report_sent_month``) is skipped: a restarted cron sends
        nothing twice. A company whose report fails is logged and left unsent (the wizard sends it on demand);
        the others go on."""
        month = fields.Date.context_today(self).replace(day=1) - relativedelta(months=1)
        companies = self.env["res.company"].search(
            [
                ("dunning_report_enabled", "=", True),
                "|",
                ("dunning_report_sent_month", "=", False),
                ("dunning_report_sent_month", "<", month),
            ]
        )
        for index, company in enumerate(companies, start=1):
            try:
                with self.env.cr.savepoint():
                    mails = self._send(company, month)
                    company.dunning_report_sent_month = month
            except Exception:  # one company's failure must spare the others
                _logger.exception("Monthly receivables report of %s not sent", company.name)
            else:
                _logger.info("Monthly receivables report of %s: %d email(s) queued", company.name, len(mails))
            if not self.env["ir.cron"]._commit_progress(1, remaining=len(companies) - index):
                break
