"""GPU kernels in Triton, each with a plain-torch reference beside it (in `cvcourse.ops`).

- `backend`: which implementation runs (`resolve_backend`, `triton_available`), with the errors a
  learner sees when Triton cannot run.
- `iou`: the pairwise IoU family (IoU, GIoU, DIoU, CIoU) of `Tensor[N, 4] x Tensor[M, 4]` on a 2-D
  grid of tiles.
- `nms`: greedy and batched NMS: the suppression bitmask on the device, the greedy scan on the host.
- `roi_align`: RoIAlign forward and backward (atomic adds), a `torch.autograd.Function`.
- `roi_pool`: RoIPool forward (max and argmax) and backward, a `torch.autograd.Function`.

The kernel modules import triton, so they are imported when used (`cvcourse.kernels.iou`), not here.

The same kernels run compiled on a CUDA GPU and, with the environment variable `TRITON_INTERPRET=1`
set *before* this package is imported (Triton reads it when a kernel is decorated), on the CPU in
Triton's interpreter: slow, but every line of a kernel can be run and tested on a laptop.
`cvcourse.ops` functions take `backend="auto" | "torch" | "triton"`.

Triton is optional (`pip install cvcourse[gpu]`); without it only the torch references run.

Reference: P. Tillet, H. T. Kung and D. Cox, "Triton: an intermediate language and compiler for
tiled neural network computations", MAPL 2019.
"""
from .backend import BACKENDS, interpreting, kernel_source, resolve_backend, triton_available

__all__ = ["BACKENDS", "interpreting", "kernel_source", "resolve_backend", "triton_available"]
