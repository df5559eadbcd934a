"""Flatten: merge a range of dims into one (a view when the layout allows)."""
from engine.nn.module import Module


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) by default: dims start_dim..end_dim become one."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
