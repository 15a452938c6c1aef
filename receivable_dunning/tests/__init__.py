from . import test_policy
