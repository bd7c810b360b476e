"""Penalty objects for training loops: constants prepared once, then one or two fused passes a step.

rep = atu_ext.Repulsion(list(G.parameters()), [theta_n1, theta_n2], kind="el2", alpha=1e-3)
loss = adv_loss + gamma * rep()          # through autograd, or
adv_loss.backward(); rep.add_grad_(scale=gamma)   # no graph: the gradient goes straight into .grad
"""

from __future__ import annotations

import torch

from . import ops_mode
from . import penalties as _penalties
from .penalties import DEFAULT_ALPHA, DEFAULT_REDUCTION, reduction_weights

_ops = torch.ops.atu
KINDS = ("il2", "nl2", "el2")


# Every flat-buffer view starts on a 64-byte boundary (16 elements of float32): aligned wide loads
# and the streaming stores of the CPU kernels, whatever the sizes of the tensors before it.
_ALIGN_ELEMS = 16


def _flat_layout(tensors: list[torch.Tensor]) -> tuple[list[int], int]:
    offsets, total = [], 0
    for t in tensors:
        offsets.append(total)
        total += -(-t.numel() // _ALIGN_ELEMS) * _ALIGN_ELEMS
    return offsets, total


def _views(flat: torch.Tensor, tensors: list[torch.Tensor], offsets: list[int]) -> list[torch.Tensor]:
    return [flat[o : o + t.numel()].view(t.shape) for t, o in zip(tensors, offsets)]


def _flat_copy(tensors: list[torch.Tensor], dtype: torch.dtype) -> list[torch.Tensor]:
    """Detached copies of `tensors` as aligned views into one contiguous buffer, in order."""
    offsets, total = _flat_layout(tensors)
    flat = torch.zeros(total, dtype=dtype, device=tensors[0].device)
    views = _views(flat, tensors, offsets)
    for v, t in zip(views, tensors):
        v.copy_(t.detach())
    return views


def _storage_users(flat: torch.Tensor) -> int | None:
    """How many tensors use the storage of `flat` (itself and every view), or None if unknown."""
    use_count = getattr(torch._C, "_storage_Use_Count", None)
    if use_count is None:  # private API gone in some torch: never reuse, always allocate
        return None
    return use_count(flat.untyped_storage()._cdata) - 1  # minus the temporary storage object


def _contiguous_strides(shape) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


class _GradBuffer:
    """Persistent storage for gradients that do not exist yet.

    After optimizer.zero_grad() the .grad tensors are gone, and fresh 100-MB allocations are
    returned to the OS and page-faulted back in at every step (on a 2-core CPU that costs several
    times the kernel itself). As DDP does with gradient_as_bucket_view, p.grad becomes a view into
    one flat buffer kept here. The buffer is reused only when no tensor but itself uses its
    storage, so a gradient the caller kept from an earlier step is never overwritten.
    """

    def __init__(self, params: list[torch.Tensor]):
        self.offsets, self.total = _flat_layout(params)
        self.shapes = [tuple(p.shape) for p in params]
        self.strides = [_contiguous_strides(shape) for shape in self.shapes]
        self.dtype, self.device = params[0].dtype, params[0].device
        self.flat = None

    def views(self) -> list[torch.Tensor]:
        if self.flat is None or _storage_users(self.flat) != 1:
            self.flat = torch.empty(self.total, dtype=self.dtype, device=self.device)
        # fresh views every time (cheap, precomputed layout): old ones still alive count as users
        return [
            self.flat.as_strided(shape, stride, offset)
            for shape, stride, offset in zip(self.shapes, self.strides, self.offsets)
        ]

    def scale_(self, factor: torch.Tensor) -> None:
        """Multiplies the gradients last handed out by views() by `factor`, in one pass over the buffer."""
        self.flat.mul_(factor)


def _grads_for(params: list[torch.Tensor], buffer: _GradBuffer, who: str) -> tuple[list[torch.Tensor], bool]:
    """The .grad of every param, created where missing; and whether kernels should add to them.

    If no param has a gradient yet, they become views into the persistent buffer, written without
    a zero-fill pass; otherwise missing ones are zero-filled and every gradient is accumulated into.
    """
    for i, p in enumerate(params):
        if not p.requires_grad:
            raise ValueError(f"{who}.add_grad_: params[{i}] does not require grad; leave frozen tensors out")
    if all(p.grad is None for p in params):
        for p, g in zip(params, buffer.views()):
            p.grad = g
        return [p.grad for p in params], False
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    return [p.grad for p in params], True


def _scale_tensor(scale, like: torch.Tensor) -> torch.Tensor:
    if isinstance(scale, torch.Tensor):
        return scale.detach().to(device=like.device)
    return torch.tensor(float(scale), dtype=torch.float64, device=like.device)


class Repulsion:
    """L_rep(θ) for θ = params against k fixed adapted models θ_N^1..k.

    The k references are collapsed once into their mean m (one flat buffer in params order) and a
    float64 constant, using Σ_j ||θ − a_j||² = k·||θ − m||² + Σ_j ||a_j − m||², so each step reads
    θ and m only, however large k is. (m is stored in the params' dtype; its rounding leaves a
    cross term of relative size ~machine epsilon, far below the penalty's own float32 error.)
    """

    def __init__(
        self,
        params,
        theta_n,
        kind: str = "el2",
        alpha: float = DEFAULT_ALPHA,
        reduction: str = DEFAULT_REDUCTION,
        eps: float = 1e-12,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        _penalties.check_reduction(reduction)
        self.params = _penalties.check_params(params)
        refs = _penalties.check_references(params, self.params, theta_n)
        _penalties.check_nonempty_for(reduction, self.params)
        ops_mode.require_kernels("Repulsion", self.params[0].device)
        self.kind, self.reduction, self.k = kind, reduction, len(refs)
        self._grad_buffer = _GradBuffer(self.params)
        self.alpha = _penalties.check_finite_number(alpha, "alpha")
        self.eps = _penalties.check_finite_number(eps, "eps")
        dtype = self.params[0].dtype
        with torch.no_grad():
            means = [torch.stack([ref[t].detach().double() for ref in refs]).mean(0) for t in range(len(self.params))]
            self.mean = _flat_copy(means, dtype)
            # (1/k) Σ_j ||a_j − m||² per tensor, weighted like d, against the stored (rounded) m.
            weights = reduction_weights(self.params, reduction)
            spread = 0.0
            for t, w in enumerate(weights):
                m = self.mean[t].double()
                spread += w * sum(float((ref[t].detach().double() - m).pow(2).sum()) for ref in refs)
            self.spread = spread / self.k
            if kind == "el2":  # refused now, not after a training run that repelled nothing
                d = self.distance()
                _penalties.check_el2_value(self._loss_of(d), d, self.alpha, reduction, "Repulsion")

    # -- values -------------------------------------------------------------------------------

    def distance(self) -> torch.Tensor:
        """d (differentiable w.r.t. params)."""
        if ops_mode.reference_mode():
            return _penalties.foreach_sq_dist(self.params, [self.mean], self.reduction) + self.spread
        return _ops.sq_dist(self.params, self.mean, 1, self.reduction) + self.spread

    def _loss_of(self, d: torch.Tensor) -> torch.Tensor:
        if self.kind == "el2":
            return torch.exp(d * -self.alpha)
        if self.kind == "il2":
            return torch.reciprocal(d + self.eps)
        return torch.neg(d)

    def _dloss_dd(self, loss: torch.Tensor) -> torch.Tensor:
        """∂L_rep/∂d from L_rep itself: −α·L (el2), −L² (il2), −1 (nl2)."""
        if self.kind == "el2":
            return loss * -self.alpha
        if self.kind == "il2":
            return -torch.square(loss)
        return -torch.ones_like(loss)

    def __call__(self) -> torch.Tensor:
        """The repulsion loss, differentiable w.r.t. params."""
        return self._loss_of(self.distance())

    # -- gradient without a graph ----------------------------------------------------------------

    @torch.no_grad()
    def add_grad_(self, scale=1.0) -> torch.Tensor:
        """Adds ∂(scale · loss)/∂p into every p.grad; returns the loss (0-dim, detached).

        el2 and il2 take two passes (the gradient's factor depends on d); nl2 one.
        Nothing is synchronised with the host: the factor stays on the device.
        """
        grads, accumulate = _grads_for(self.params, self._grad_buffer, "Repulsion")
        scale_t = _scale_tensor(scale, self.params[0])
        if ops_mode.reference_mode():
            loss = self._loss_of(self.distance())
            dloss_dd = self._dloss_dd(loss)
            _penalties.foreach_sq_dist_add_grad_(
                grads, self.params, self.mean, self.reduction, scale_t * dloss_dd.double(), accumulate
            )
            return loss
        if self.kind == "nl2":
            d = (
                _ops.sq_dist_value_and_grad_(grads, self.params, self.mean, 1, self.reduction, -scale_t, accumulate)
                + self.spread
            )
            return torch.neg(d)
        if not accumulate and self.mean[0].dtype != torch.float16:
            # Fresh gradients: write ∂d/∂p while summing d, then rescale the buffer in place once the
            # factor, which needs d, is known: 3 reads and 2 writes of a parameter-sized buffer, the
            # least any value + gradient of a function of d can move. Gradients that exist need the
            # factor before they are added to, so there d takes a pass of its own (4 reads); so does
            # float16, whose range could flush the unscaled ∂d/∂p to zero.
            unit = torch.ones((), dtype=torch.float64, device=scale_t.device)
            d = _ops.sq_dist_value_and_grad_(grads, self.params, self.mean, 1, self.reduction, unit, False)
            loss = self._loss_of(d + self.spread)
            self._grad_buffer.scale_(scale_t * self._dloss_dd(loss).double())
            return loss
        d = _ops.sq_dist(self.params, self.mean, 1, self.reduction) + self.spread
        loss = self._loss_of(d)
        _ops.sq_dist_value_and_grad_(
            grads, self.params, self.mean, 1, self.reduction, scale_t * self._dloss_dd(loss).double(), accumulate
        )
        return loss


class EWC:
    """lam · Σ F·(θ − anchor)² with anchor and fisher copied once into flat buffers."""

    def __init__(self, params, anchor, fisher, lam: float = 1.0):
        self.params = _penalties.check_params(params)
        anchors = _penalties.tensor_list(anchor, "anchor")
        fishers = _penalties.tensor_list(fisher, "fisher")
        _penalties.check_matching(self.params, anchors, "anchor")
        _penalties.check_matching(self.params, fishers, "fisher")
        self.lam = _penalties.check_finite_number(lam, "lam")
        ops_mode.require_kernels("EWC", self.params[0].device)
        self._grad_buffer = _GradBuffer(self.params)
        dtype = self.params[0].dtype
        with torch.no_grad():
            self.anchor = _flat_copy(anchors, dtype)
            self.fisher = _flat_copy(fishers, dtype)

    def __call__(self) -> torch.Tensor:
        if ops_mode.reference_mode():
            return _penalties.foreach_ewc_penalty(self.params, self.anchor, self.fisher, self.lam)
        return _ops.ewc_penalty(self.params, self.anchor, self.fisher, self.lam)

    @torch.no_grad()
    def add_grad_(self, scale=1.0) -> torch.Tensor:
        """Adds ∂(scale · penalty)/∂p into every p.grad and returns the penalty: one pass."""
        grads, accumulate = _grads_for(self.params, self._grad_buffer, "EWC")
        if ops_mode.reference_mode():
            return _penalties.foreach_ewc_add_grad_(
                grads, self.params, self.anchor, self.fisher, self.lam, _scale_tensor(scale, self.params[0]), accumulate
            )
        return _ops.ewc_value_and_grad_(
            grads, self.params, self.anchor, self.fisher, self.lam, _scale_tensor(scale, self.params[0]), accumulate
        )
