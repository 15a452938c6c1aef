import datetime
import uuid

from lxml import etree, html
from markupsafe import Markup

from odoo import models


class MailTemplate(models.Model):
    _inherit = "mail.template"

    def _render_template_qweb(self, template_src, model, res_ids, add_context=None, options=None):
        """Render a reminder template for many reminders in one QWeb call.

        Odoo compiles the template's source again for every record (an ``etree`` is never found in QWeb's cache):
        a fifth of a reminder's dispatch. The reminders of a batch are rendered in a loop over them around the
        template, compiled once, and the output is split between records. Anything unusual (one record, no
        expression, a rendering error) goes through Odoo's own path, which names the template and the record.
        """
        if (
            model != "dunning.reminder"
            or len(res_ids) < 2
            or not self._has_unsafe_expression_template_qweb(template_src, model)
        ):
            return super()._render_template_qweb(template_src, model, res_ids, add_context=add_context, options=options)
        separator = Markup("<!--%s-->") % uuid.uuid4().hex
        root = html.fragment_fromstring(template_src, create_parent="div")
        loop = etree.SubElement(etree.Element("div"), "t", {"t-foreach": "dunning_batch_records", "t-as": "object"})
        etree.SubElement(loop, "t", {"t-out": "dunning_batch_separator"}).tail = root.text
        loop.extend(root)  # moves the template's nodes into the loop
        variables = self._render_eval_context()
        if add_context:
            variables.update(**add_context)
        variables.update(dunning_batch_records=self.env[model].browse(res_ids), dunning_batch_separator=separator)
        variables.update(self._dunning_fast_formatters(variables))
        options = dict(options or {})
        if (
            not self._unrestricted_rendering
            and not self.env.is_admin()
            and not self.env.user.has_group("mail.group_mail_template_editor")
        ):
            options["raise_on_forbidden_code_for_model"] = model
        try:
            rendered = self.env["ir.qweb"]._render(loop.getparent(), variables, **options)
        except Exception:  # Odoo's path raises the error again, naming the template and the record
            return super()._render_template_qweb(template_src, model, res_ids, add_context=add_context, options=options)
        # "<div>", then each record's output after its separator, then "</div>"
        parts = rendered[5:-6].split(separator)[1:]
        return dict(zip(res_ids, (Markup(part) for part in parts), strict=True))

    def _dunning_fast_formatters(self, variables):
        """``format_amount`` and ``format_date`` of the rendering context, giving the same text with the language
        looked up once for the batch (``dunning.statement._formatters``) instead of once per value: a statement
        table formats two amounts and a date per invoice. A call with optional arguments, or with a datetime
        or a string, goes to Odoo's."""
        fast_amount, fast_date = self.env["dunning.statement"]._formatters()
        odoo_amount, odoo_date = variables["format_amount"], variables["format_date"]

        def format_amount(amount, currency, *args, **kwargs):
            return odoo_amount(amount, currency, *args, **kwargs) if args or kwargs else fast_amount(amount, currency)

        def format_date(value, *args, **kwargs):
            if args or kwargs or isinstance(value, (str, datetime.datetime)):  # a datetime is shown in the user's tz
                return odoo_date(value, *args, **kwargs)
            return fast_date(value)

        return {"format_amount": format_amount, "format_date": format_date}
