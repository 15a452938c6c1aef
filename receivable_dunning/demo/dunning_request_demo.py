import base64

from odoo import api, models
from odoo.tools import file_open

SAMPLE_FILE = "receivable_dunning/static/samples/payment_requests.csv"


class DunningDemo(models.AbstractModel):
    _inherit = "dunning.demo"

    @api.model
    def _request_import(self, company_id):
        """Import the sample file of payment requests, as a user would: read, validated, its valid rows turned
        into posted requests by the same batches as the scheduled action; the invalid rows stay in the import
        with their errors, for its preview and error file.

        :param int company_id: the ``res.company`` to import into
        """
        company = self.env["res.company"].browse(company_id)
        # The sample's debtors owe euros and pounds.
        self.env["res.currency"].with_context(active_test=False).search([("name", "in", ("EUR", "GBP"))]).active = True
        with file_open(SAMPLE_FILE, "rb") as sample:
            content = sample.read()
        request_import = (
            self.env["dunning.request.import"]
            .with_company(company)
            .create(
                {
                    "name": self.env._("Legacy ledger, November"),
                    "company_id": company.id,
                    "file": base64.b64encode(content),
                    "file_name": "payment_requests.csv",
                    "send_email": True,
                }
            )
        )
        request_import.action_validate()
        request_import.action_import()
        while request_import._process_batch() is not None:
            pass
