import io
import logging
from itertools import pairwise

import lxml.html
from lxml import etree

from odoo import api, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.pdf import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    PdfFileReader,
    PdfFileWriter,
    create_string_object,
)

from odoo.addons.base.models.ir_actions_report import _wkhtml

_logger = logging.getLogger(__name__)

# The link placed at the top of each document joined into one body: the page whose annotations hold it is where that
# document starts. Removed from the PDF once read.
PART_LINK = "https://receivable-dunning.invalid/document/"

# Odoo's report font, Lato, in the faces its web fonts declare (web/static/fonts/fonts.scss), taken from the fonts
# installed on the system (local()). wkhtmltopdf on an unpatched Qt draws the text of a web font as vector paths
# (about 0.5 MB and 0.15 CPU second per page, and no text to search or copy) but embeds a system font as text.
# Declared after the report's styles, these faces win over the web fonts of the same name; a face the system does
# not have falls back to the web font. scripts/lib.sh installs the TrueType files of Odoo's web fonts as system
# fonts: the same glyphs and widths, so the letter looks the same.
LOCAL_FONT_FACES = "\n".join(
    f"@font-face {{ font-family: 'Lato'; src: local('Lato'); font-weight: {weight}; font-style: {style}; }}"
    for weight in (100, 300, 400, 700, 900)
    for style in ("normal", "italic")
)


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

    @api.model
    def _dunning_render_documents(self, report_ref, res_ids):
        """Render ``report_ref`` for ``res_ids`` in one go and split the result per record, with Odoo's own
        mechanism (:meth:`_pre_render_qweb_pdf`): one wkhtmltopdf call, split by pages or by the PDF's outline;
        the report's ``attachment``/``attachment_use`` settings apply as when printing. In tests without
        ``force_report_rendering``, Odoo renders HTML: one HTML document per record then.

        :param list res_ids: ids of the report's model, without duplicates
        :return: dict record id -> ``{"raw": bytes, "report_type": "pdf" or "html", "attachment": ir.attachment}``,
            ``attachment`` being the record's document that the report keeps (empty when it keeps none)
        :raise UserError: when the rendering cannot be split per record
        """
        report_sudo = self._get_report(report_ref)
        content, report_type = self.with_context(dunning_join_documents=True)._pre_render_qweb_pdf(
            report_ref, res_ids=res_ids
        )
        no_attachment = self.env["ir.attachment"]
        if report_type == "html":
            raw_by_id = self._get_splitted_report(report_ref, content, report_type)
            documents = {
                res_id: {"raw": raw_by_id[res_id], "report_type": "html", "attachment": no_attachment}
                for res_id in res_ids
                if raw_by_id.get(res_id)
            }
        else:
            kept = self._dunning_keep_report_attachments(report_sudo, content)
            documents = {
                res_id: {
                    "raw": data["stream"].getvalue(),
                    "report_type": "pdf",
                    "attachment": (data["attachment"] if report_sudo.attachment_use else None)
                    or kept.get(res_id, no_attachment),
                }
                for res_id, data in content.items()
                if res_id and data["stream"]
            }
            for data in content.values():
                if data["stream"]:
                    data["stream"].close()
        if missing := [res_id for res_id in res_ids if res_id not in documents]:
            raise UserError(
                self.env._(
                    "The report %(report)s could not be split per document for the records %(ids)s of %(model)s: "
                    "print them one by one.",
                    report=report_sudo.name,
                    ids=missing,
                    model=report_sudo.model,
                )
            )
        return documents

    def _dunning_keep_report_attachments(self, report_sudo, streams):
        """Save the documents a report keeps (an ``attachment`` name expression), as :meth:`_render_qweb_pdf`
        does when printing.

        :return: dict record id -> ir.attachment saved now
        """
        if not report_sudo.attachment or self.env.context.get("report_pdf_no_attachment"):
            return {}
        vals_list = self._prepare_pdf_report_attachment_vals_list(report_sudo, streams)
        if not vals_list:
            return {}
        try:
            attachments = self.env["ir.attachment"].create(vals_list)
        except AccessError:
            _logger.info("Cannot save PDF report %s attachments for user %s", report_sudo.name, self.env.user.name)
            return {}
        return {attachment.res_id: attachment for attachment in attachments}

    def _run_wkhtmltopdf(
        self,
        bodies,
        report_ref=False,
        header=None,
        footer=None,
        landscape=False,
        specific_paperformat_args=None,
        set_viewport_size=False,
    ):
        """Several documents in one call, also with a wkhtmltopdf built on an unpatched Qt (Debian's package).

        That build prints one input document and writes no outline, where Odoo passes one document per record and
        splits the PDF by its outline. For :meth:`_dunning_render_documents`, the documents are joined into one,
        each starting on a new page, and the PDF is given the outline the patched build writes: one top-level
        entry per document, so that Odoo's split applies. The documents also take the report font from the
        system's fonts (:data:`LOCAL_FONT_FACES`). A patched build is left to Odoo's own call.
        """
        unpatched = self.env.context.get("dunning_join_documents") and not _wkhtml().is_patched_qt
        count = len(bodies)
        join = unpatched and count > 1
        if join:
            bodies = [self._dunning_join_bodies(bodies)]
        if unpatched:
            bodies = [self._dunning_with_local_fonts(body) for body in bodies]
        pdf_content = super()._run_wkhtmltopdf(
            bodies,
            report_ref=report_ref,
            header=header,
            footer=footer,
            landscape=landscape,
            specific_paperformat_args=specific_paperformat_args,
            set_viewport_size=set_viewport_size,
        )
        return self._dunning_outline_documents(pdf_content, count) if join else pdf_content

    @api.model
    def _dunning_with_local_fonts(self, body):
        """``body`` (a whole HTML page) with :data:`LOCAL_FONT_FACES` last in its head, after the report's
        styles."""
        document = lxml.html.document_fromstring(body)
        etree.SubElement(document.head, "style").text = LOCAL_FONT_FACES
        return lxml.html.tostring(document, encoding="unicode", doctype="<!DOCTYPE html>")

    @api.model
    def _dunning_join_bodies(self, bodies):
        """One HTML document of ``bodies`` (each a whole page rendered in ``web.minimal_layout``): the content of
        each body in a block that starts a new page, with its text direction, led by its :data:`PART_LINK`."""
        documents = [lxml.html.document_fromstring(body) for body in bodies]
        parts = []
        for index, document in enumerate(documents):
            part = etree.Element("div", dir=document.body.get("dir", "ltr"))
            if index:
                part.set("style", "page-break-before: always;")
            etree.SubElement(
                part,
                "a",
                href=f"{PART_LINK}{index}",
                style="display: block; width: 1px; height: 1px; margin-bottom: -1px;",
            )
            part.extend(list(document.body))
            parts.append(part)
        joined = documents[0]
        joined.body.text = None
        joined.body.extend(parts)
        return lxml.html.tostring(joined, encoding="unicode", doctype="<!DOCTYPE html>")

    @api.model
    def _dunning_outline_documents(self, pdf_content, count):
        """``pdf_content`` of ``count`` joined documents, with the outline Odoo splits by (one top-level entry
        per document, its destination the number of the document's first page, as wkhtmltopdf writes it) and
        without the :data:`PART_LINK` links. Returned without an outline when a document's first page is not
        found: Odoo then does not split it.
        """
        reader = PdfFileReader(io.BytesIO(pdf_content))
        writer = PdfFileWriter()
        first_pages = {}
        for page_number, page in enumerate(reader.pages):
            if "/Annots" in page:
                annotations = ArrayObject()
                for annotation in page["/Annots"]:
                    uri = annotation.get_object().get("/A", {}).get("/URI", "")
                    if uri.startswith(PART_LINK):
                        first_pages.setdefault(int(uri.removeprefix(PART_LINK)), page_number)
                    else:
                        annotations.append(annotation)
                page[NameObject("/Annots")] = annotations
            writer.add_page(page)
        starts = [first_pages.get(index) for index in range(count)]
        if None not in starts and starts == sorted(set(starts)):
            outline = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Outlines")}))
            destinations = DictionaryObject()
            entries = []
            for index, page_number in enumerate(starts):
                name = NameObject(f"/document{index}")
                destinations[name] = ArrayObject([NumberObject(page_number), NameObject("/Fit")])
                entries.append(
                    writer._add_object(
                        DictionaryObject(
                            {
                                NameObject("/Title"): create_string_object(str(index + 1)),
                                NameObject("/Dest"): name,
                                NameObject("/Parent"): outline,
                            }
                        )
                    )
                )
            for entry, next_entry in pairwise(entries):
                entry.get_object()[NameObject("/Next")] = next_entry
            outline.get_object().update(
                {
                    NameObject("/First"): entries[0],
                    NameObject("/Last"): entries[-1],
                    NameObject("/Count"): NumberObject(count),
                }
            )
            writer._root_object.update(
                {NameObject("/Outlines"): outline, NameObject("/Dests"): writer._add_object(destinations)}
            )
        stream = io.BytesIO()
        writer.write(stream)
        return stream.getvalue()
