"""Helpers every pipeline stage may use and none owns: device choice and the state-dict checks."""
from .device import device_available, pick_device
from .state_dict import state_dict_problems, tensor_problems

__all__ = ["device_available", "pick_device", "state_dict_problems", "tensor_problems"]
