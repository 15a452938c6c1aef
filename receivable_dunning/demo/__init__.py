from . import dunning_demo
