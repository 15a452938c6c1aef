from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """19.0.2.5.0 stores the outcome of each sent reminder line for the effectiveness report: fill it for the
    reminders sent before the update."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["dunning.reminder.outcome"]._rebuild()
