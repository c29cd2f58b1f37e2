"""The network, its data and its trainer. ``network.MLP`` is the model every backend plugs into."""

from network.model import MLP

__all__ = ["MLP"]
