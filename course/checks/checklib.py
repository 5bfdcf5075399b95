"""Helpers for the assignment checks (course/checks/NAME.py): compare values and say what was expected and what
came instead. course/grade.py loads this file as the module `checklib` next to the checks; the checks import the
project's modules by name (`import fusion`) and get the graded repository's, which grade.py puts first on sys.path.

A check returns "expected X, got Y" when it passes and raises AssertionError("expected X, got Y; <hint>") when it
fails (course/grade.py prints both). `expect_close` and `expect_equal` do both in one call.
"""
import torch


def show(value, digits=4):
    """A short readable form of a number, list or tensor for a message."""
    if torch.is_tensor(value):
        value = value.detach().cpu()
        if value.numel() > 12:
            return f"a tensor of shape {tuple(value.shape)}"
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items = [show(v, digits) for v in value[:12]] + ([f"... {len(value)} items"] if len(value) > 12 else [])
        return "[" + ", ".join(items) + "]"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.{digits + 2}g}"
    return repr(value)


def together(messages):
    """One message for several passed cases: the first in full, the count of the others."""
    messages = list(messages)
    return messages[0] + (f" (and {len(messages) - 1} more cases as expected)" if len(messages) > 1 else "")


def fail(what, expected, got, hint):
    raise AssertionError(f"{what}: expected {expected}, got {got}; {hint}")


def expect_shape(got, shape, what, hint):
    if not torch.is_tensor(got):
        fail(what, f"a tensor of shape {tuple(shape)}", type(got).__name__, hint)
    if tuple(got.shape) != tuple(shape):
        fail(what, f"shape {tuple(shape)}", f"shape {tuple(got.shape)}", hint)
    return f"{what}: expected shape {tuple(shape)}, got {tuple(got.shape)}"


def expect_close(got, expected, what, hint, rtol=1e-4, atol=1e-5):
    """Compare a tensor (or number) with the expected one: shape, finiteness, then values."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    if not torch.is_tensor(got):
        try:
            got = torch.as_tensor(got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            fail(what, show(expected), repr(got)[:80], hint)
    got = got.detach().cpu().double()
    if got.shape != expected.shape:
        if got.numel() == expected.numel() == 1:
            got = got.reshape(expected.shape)
        else:
            fail(what, f"shape {tuple(expected.shape)}", f"shape {tuple(got.shape)}", hint)
    if not torch.isfinite(got).all():
        fail(what, show(expected), f"{show(got)} with NaN or inf", hint)
    if not torch.allclose(got, expected, rtol=rtol, atol=atol):
        diff = (got - expected).abs()
        if expected.numel() > 12:
            at = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
            fail(what, f"{expected[at].item():.6g} at index {at}",
                 f"{got[at].item():.6g} (largest difference of {diff.max().item():.3g})", hint)
        fail(what, show(expected), show(got), hint)
    return f"{what}: expected {show(expected)}, got {show(got)}"


def expect_equal(got, expected, what, hint):
    if got != expected:
        fail(what, show(expected), show(got), hint)
    return f"{what}: expected {show(expected)}, got {show(got)}"
