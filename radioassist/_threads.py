"""Torch's thread count while several radioassist threads share the CPU.

Small torch operations (the vision backend's preprocessing, a forward pass of
a handful of images) run best on one thread: OpenMP workers waiting for a core
that another thread keeps busy cost more than they save.
:func:`one_torch_thread` runs the calling thread's torch operations on one
thread; threads never wait for each other (with torch's OpenMP backend the
count is per calling thread).  :func:`torch_threads` tells the count the user
set, even while some thread is inside :func:`one_torch_thread`, for callers
that size their own thread pools (ONNX Runtime sessions).
"""
import contextlib
import sys
import threading

__all__ = ["one_torch_thread", "one_thread_call", "torch_threads"]

_LOCK = threading.Lock()
_state = {"holders": 0, "saved": None}
_local = threading.local()


@contextlib.contextmanager
def one_torch_thread():
    """Run torch on one thread inside the block; then back to the count the user set.

    Nothing to do (and torch is not imported) in a process that has not imported torch.
    """
    if "torch" not in sys.modules:
        yield
        return
    import torch

    with _LOCK:
        if _state["holders"] == 0:
            _state["saved"] = torch.get_num_threads()
        _state["holders"] += 1
        saved = _state["saved"]
    if saved > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        with _LOCK:
            _state["holders"] -= 1
        if saved > 1:
            torch.set_num_threads(saved)


@contextlib.contextmanager
def one_thread_call():
    """Run a whole call on one thread: torch (:func:`one_torch_thread`) and what :func:`torch_threads` sizes.

    For calls that run side by side in several threads, one per core (the
    ``vision`` backend's ``predict`` in `radioassist.classify`): inside the
    block :func:`torch_threads` is 1 in the calling thread, so an ONNX Runtime
    session is made for one thread too.
    """
    depth = getattr(_local, "single", 0)
    _local.single = depth + 1
    try:
        with one_torch_thread():
            yield
    finally:
        _local.single = depth


def torch_threads():
    """Torch's thread count outside :func:`one_torch_thread` blocks, as the user set it (1 in `one_thread_call`)."""
    import torch

    if getattr(_local, "single", 0):
        return 1
    with _LOCK:
        return _state["saved"] if _state["holders"] else torch.get_num_threads()
