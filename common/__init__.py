"""Helpers every pipeline stage may use and none owns: device choice, the state-dict checks, ZeroGPU."""
from .device import device_available, pick_device
from .state_dict import state_dict_problems, tensor_problems
from .zerogpu import gpu, on_zero_gpu

__all__ = ["device_available", "gpu", "on_zero_gpu", "pick_device", "state_dict_problems", "tensor_problems"]
