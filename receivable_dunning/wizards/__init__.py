from . import dunning_run_wizard
from . import statement_match_wizard
from . import statement_match_wizard_line
from . import dunning_call_outcome
