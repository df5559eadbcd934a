"""The user-facing Tensor: the fields from the runtime, the methods from the ops.

Every method here is a one-line delegation, so this file reads as the table of
contents of the API; the work happens in engine/ops/*.
"""
import numpy as np

from engine import dtypes
from engine._runtime import core as _core
from engine.autograd import backward as _backward
from engine.errors import DTypeError, op_error
from engine.ops import elementwise as ew
from engine.ops import indexing, matmul as mm, movement as mv, reduce as rd, softmax as sm


class Size(tuple):
    """A shape: a tuple that prints like torch.Size and knows its element count."""

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self):
        return f"engine.Size({list(self)})"


class Tensor(_core.TensorBase):
    __slots__ = ()
    __array_priority__ = 1000   # numpy_scalar * tensor must call Tensor.__rmul__

    # ---- description ---------------------------------------------------------------
    @property
    def dtype(self):
        return dtypes.from_numpy(self.data.dtype)

    @property
    def shape(self):
        return Size(self.data.shape)

    @property
    def ndim(self):
        return len(self.data.shape)

    def dim(self):
        return len(self.data.shape)

    def size(self, dim=None):
        if dim is None:
            return self.shape
        axis = mv.ops.normalize_dim("size", dim, self.ndim, self)
        if not self.data.shape:
            raise op_error(IndexError, "size", (self,), f"dimension specified as {dim} but the "
                           f"tensor has no dimensions", "use .size() or .shape for a 0-d tensor")
        return self.data.shape[axis]

    def numel(self):
        return int(np.prod(self.data.shape, dtype=np.int64))

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def __len__(self):
        if not self.data.shape:
            raise op_error(TypeError, "len", (self,), "len() of a 0-d tensor",
                           "use .numel() or .item()")
        return self.data.shape[0]

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype!r}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__   # identity, as in torch: == is elementwise

    # ---- conversion ----------------------------------------------------------------
    def numpy(self):
        return _core._kernels_for(self.device).to_host(self.data)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise op_error(RuntimeError, "item", (self,), f"a Tensor with {self.numel()} "
                           f"elements cannot be converted to Scalar", "index one element first")
        return self.numpy().item()

    def tolist(self):
        return self.numpy().tolist()

    def __bool__(self):
        if self.numel() != 1:
            raise op_error(RuntimeError, "bool", (self,), "Boolean value of Tensor with more "
                           "than one value is ambiguous", "reduce it to one value first, "
                           "e.g. with (x != 0).sum() > 0")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def to(self, *args, dtype=None, device=None):
        """to(device), to(dtype), to(device, dtype) or keywords, as in torch."""
        for a in args:
            if isinstance(a, str):
                device = a
            elif isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            else:
                dtype = a
        out = self
        if device is not None and device != out.device:
            out = mv.to_device(out, device)
        if dtype is not None:
            out = ew.cast(out, dtypes.as_dtype(dtype))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool)

    def contiguous(self):
        return mv.contiguous(self)

    def clone(self):
        return mv.clone(self)

    def detach(self):
        return _core.wrap(self.data, self.device)

    # ---- autograd ------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        _backward(self, gradient, retain_graph)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_floating_point:
            raise op_error(DTypeError, "requires_grad_", (self,), "only tensors of floating "
                           "point dtype can require gradients", "convert with .float() first")
        if not requires_grad and self.grad_fn is not None:
            raise op_error(RuntimeError, "requires_grad_", (self,), "you can only change "
                           "requires_grad flags of leaf variables", "use .detach() to get a "
                           "tensor outside the graph")
        self.requires_grad = requires_grad
        return self

    # ---- in place, for optimizers (under no_grad) ----------------------------------------
    def _check_in_place(self, op):
        if self.requires_grad and _core.is_grad_enabled():
            what = "a leaf Variable that requires grad" if self.grad_fn is None else \
                "a tensor that is part of an autograd graph"
            raise RuntimeError(f"{op}: {what} is being used in an in-place operation. "
                               f"Hint: wrap the update in engine.no_grad()")

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self._check_in_place("fill_")
        _core._kernels_for(self.device).fill(self.data, value)
        return self

    def copy_(self, src):
        self._check_in_place("copy_")
        mv.copy_into(self, src)
        return self

    def add_(self, other, alpha=1):
        self._check_in_place("add_")
        update = other if alpha == 1 else ew.mul(other, alpha)
        return self._assign(ew.add(self, update), "add_")

    def mul_(self, other):
        self._check_in_place("mul_")
        return self._assign(ew.mul(self, other), "mul_")

    def _assign(self, result, op):
        mv.copy_into(self, result, op)
        return self

    # ---- arithmetic operators --------------------------------------------------------
    def __add__(self, other):
        return ew.add(self, other)

    def __radd__(self, other):
        return ew.add(other, self)

    def __sub__(self, other):
        return ew.sub(self, other)

    def __rsub__(self, other):
        return ew.sub(other, self)

    def __mul__(self, other):
        return ew.mul(self, other)

    def __rmul__(self, other):
        return ew.mul(other, self)

    def __truediv__(self, other):
        return ew.div(self, other)

    def __rtruediv__(self, other):
        return ew.div(other, self)

    def __pow__(self, other):
        return ew.pow(self, other)

    def __rpow__(self, other):
        return ew.pow(other, self)

    def __matmul__(self, other):
        return mm.matmul(self, other)

    def __rmatmul__(self, other):
        return mm.matmul(other, self)

    def __neg__(self):
        return ew.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ew.abs(self)

    def __eq__(self, other):
        return ew.eq(self, other)

    def __ne__(self, other):
        return ew.ne(self, other)

    def __lt__(self, other):
        return ew.lt(self, other)

    def __le__(self, other):
        return ew.le(self, other)

    def __gt__(self, other):
        return ew.gt(self, other)

    def __ge__(self, other):
        return ew.ge(self, other)

    def __getitem__(self, key):
        return indexing.getitem(self, key)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ---- elementwise methods ---------------------------------------------------------
    def exp(self):
        return ew.exp(self)

    def log(self):
        return ew.log(self)

    def sqrt(self):
        return ew.sqrt(self)

    def rsqrt(self):
        return ew.rsqrt(self)

    def abs(self):
        return ew.abs(self)

    def sign(self):
        return ew.sign(self)

    def sin(self):
        return ew.sin(self)

    def cos(self):
        return ew.cos(self)

    def tanh(self):
        return ew.tanh(self)

    def sigmoid(self):
        return ew.sigmoid(self)

    def relu(self):
        return ew.relu(self)

    def clamp(self, min=None, max=None):
        return ew.clamp(self, min, max)

    def pow(self, exponent):
        return ew.pow(self, exponent)

    def maximum(self, other):
        return ew.maximum(self, other)

    def minimum(self, other):
        return ew.minimum(self, other)

    def add(self, other):
        return ew.add(self, other)

    def sub(self, other):
        return ew.sub(self, other)

    def mul(self, other):
        return ew.mul(self, other)

    def div(self, other):
        return ew.div(self, other)

    def neg(self):
        return ew.neg(self)

    # ---- reductions ------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return rd.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return rd.mean(self, dim, keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return rd.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return rd.std(self, dim, unbiased, keepdim, correction=correction)

    def prod(self, dim=None, keepdim=False):
        return rd.prod(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return rd.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return rd.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return rd.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return rd.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return rd.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return rd.argmin(self, dim, keepdim)

    def logsumexp(self, dim, keepdim=False):
        return rd.logsumexp(self, dim, keepdim)

    def softmax(self, dim):
        return sm.softmax(self, dim)

    def log_softmax(self, dim):
        return sm.log_softmax(self, dim)

    # ---- movement ------------------------------------------------------------------
    def reshape(self, *shape):
        return mv.reshape(self, *shape)

    def view(self, *shape):
        return mv.view(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return mv.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return mv.squeeze(self, dim)

    def unsqueeze(self, dim):
        return mv.unsqueeze(self, dim)

    def permute(self, *dims):
        return mv.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return mv.transpose(self, dim0, dim1)

    @property
    def T(self):
        return mv.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self):
        return mv.transpose(self, -2, -1)

    def expand(self, *shape):
        return mv.expand(self, *shape)

    def split(self, split_size_or_sections, dim=0):
        return mv.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return mv.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        return mv.unbind(self, dim)

    def matmul(self, other):
        return mm.matmul(self, other)
