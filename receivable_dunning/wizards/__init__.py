from . import dunning_run_wizard
