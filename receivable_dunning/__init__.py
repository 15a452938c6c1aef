from . import controllers
from . import models
from . import report
from . import wizards
from . import demo


def post_init_hook(env):
    """Give every existing company without one a default dunning policy (the main company has the module's), and
    store the outcome of the reminders already sent (a database where the module was uninstalled keeps them)."""
    env["res.company"].search([("dunning_policy_id", "=", False)])._dunning_create_default_policy()
    env["dunning.reminder.outcome"]._rebuild()
