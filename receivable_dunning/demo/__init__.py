from . import dunning_demo
from . import dunning_request_demo
