"""summary(model, input_shape): a Keras-style table of a model's layers.

    Layer (type)                 Output Shape            Param #
    ================================================================
    0 (Conv2d)                   (1, 6, 28, 28)              156
    ...
    ================================================================
    Total params: 61,706
    Trainable params: 61,706
    Non-trainable params: 0

The output shapes come from one forward pass on zeros of (batch_size, *input_shape),
without gradients and in eval mode (the model's mode is restored). Rows are the
modules that ran, in the order they finished, for every module that is a leaf or
holds parameters of its own (MultiheadAttention's packed projection, say); a row's
count is its own parameters plus those of child modules that got no row. Hooks are
not part of the engine: the walk wraps each module's forward for the one call.
"""
from engine import creation, dtypes
from engine.autograd import no_grad
from engine.tensor import Tensor

__all__ = ["summary"]


def _shape_of(output):
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape_of(o) for o in output if o is not None]
    return type(output).__name__


def _rows_wanted(model):
    """(name, module) for every module that gets its own row."""
    wanted = []
    for name, module in model.named_modules():
        own = any(p is not None for p in module._parameters.values())
        leaf = not any(True for _ in module.children())
        if leaf or own:
            wanted.append((name or type(module).__name__, module))
    return wanted


def summary(model, input_shape, batch_size=1, dtype=None, device=None, file=None):
    """Print (to `file`, default stdout) and return the table for `model` fed zeros of
    shape (batch_size, *input_shape); dtype/device default to the model's first
    parameter's. input_shape may be a list of shapes for a model of several inputs."""
    params = list(model.parameters())
    if dtype is None:
        dtype = params[0].dtype if params else dtypes.default_float
    if device is None:
        device = params[0].device if params else "cpu"
    shapes = input_shape if input_shape and isinstance(input_shape[0], (tuple, list)) \
        else [input_shape]
    inputs = [creation.zeros(batch_size, *shape, dtype=dtype, device=device)
              for shape in shapes]

    wanted = _rows_wanted(model)
    with_row = {id(m) for _, m in wanted}
    records = []

    def wrap(name, module):
        original = module.forward

        def forward(*args, **kwargs):
            output = original(*args, **kwargs)
            records.append((name, module, _shape_of(output)))
            return output
        module.__dict__["forward"] = forward

    was_training = [(m, m.training) for m in model.modules()]
    try:
        for name, module in wanted:
            wrap(name, module)
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for _, module in wanted:
            module.__dict__.pop("forward", None)
        for module, mode in was_training:
            module.training = mode

    rows, seen_rows = [], set()
    for name, module, shape in records:
        if id(module) in seen_rows:       # a module called twice gets one row per call
            name = name + " (again)"
        seen_rows.add(id(module))
        rows.append((f"{name} ({type(module).__name__})", str(shape),
                     f"{_own_count(module, with_row):,}"))
    label_width = max([34] + [len(r[0]) + 2 for r in rows])
    shape_width = max([26] + [len(r[1]) + 2 for r in rows])
    width = label_width + shape_width + 12
    lines = [f"{'Layer (type)':<{label_width}}{'Output Shape':<{shape_width}}{'Param #':>12}",
             "=" * width]
    lines += [f"{label:<{label_width}}{shape:<{shape_width}}{count:>12}"
              for label, shape, count in rows]
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    lines += ["=" * width, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * width]
    table = "\n".join(lines)
    print(table, file=file)
    return table


def _own_count(module, with_row):
    """Parameters of `module` itself and of descendants that have no row of their own."""
    count = sum(p.numel() for p in module._parameters.values() if p is not None)
    for child in module.children():
        if id(child) not in with_row:
            count += sum(p.numel() for p in child.parameters())
    return count
