"""Parameter: the tensor type that marks a layer's learnable state."""
from engine import creation
from engine.errors import DTypeError
from engine.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as learnable when assigned to an attribute.

    `Parameter(data, requires_grad=True)` shares `data`'s storage (as in torch), is a
    leaf (no grad_fn) and requires grad by default. `data=None` gives an empty
    parameter. Ops on a Parameter return plain Tensors.

    Raises DTypeError when `requires_grad` is asked of an integer or bool tensor.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = creation.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: data must be a Tensor, got {type(data).__name__}. "
                            f"Hint: wrap it with engine.tensor(...) first")
        if requires_grad and not data.dtype.is_floating_point:
            raise DTypeError(f"Parameter: only tensors of floating point dtype can require "
                             f"gradients (got {data.dtype.name}). Hint: pass "
                             f"requires_grad=False, or convert with .float() first")
        # The base class holds the fields; passing data.data shares the storage.
        super().__init__(data.data, data.device, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
