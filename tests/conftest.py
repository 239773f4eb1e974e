"""Unit tests run torch on one thread: their tensors and models are small, where a second thread
costs more than it gives (and on a busy 2-core machine, two threads competing for the cores can make
a test file several times slower). Notebooks are not affected (they run in their own kernels).

Triton's kernels are tested on the CPU in its interpreter: TRITON_INTERPRET=1 must be set before a
kernel module is imported (Triton reads it when `@triton.jit` decorates), so it is set here, first."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def triton_debug():
    """Turn `tl.device_assert` on in Triton's interpreter (it is ignored by default), so that an index
    out of bounds in a kernel fails the test instead of reading garbage; restored afterwards."""
    from triton.runtime import interpreter

    options = interpreter.interpreter_builder.options
    interpreter.interpreter_builder.options = interpreter.InterpreterOptions(debug=True)
    yield
    interpreter.interpreter_builder.options = options
