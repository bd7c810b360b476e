// The schemas of every atu op. Kernels are registered per device in penalties_{cpu,cuda}.cpp;
// fake kernels and autograd are registered from Python (python/atu_ext/_registrations.py).
#include <torch/library.h>

TORCH_LIBRARY(atu, m) {
  // d = Σ_t w_t · (1/k) Σ_j ||params[t] − refs[j·T + t]||², w_t from `reduction`.
  m.def("sq_dist(Tensor[] params, Tensor[] refs, int num_refs, str reduction) -> Tensor");
  // ∂d/∂params[t] · grad (grad: the 0-dim cotangent of d).
  m.def("sq_dist_backward(Tensor grad, Tensor[] params, Tensor[] refs, int num_refs, "
        "str reduction) -> Tensor[]");
  // Returns d and, in the same pass, writes (accumulate=False) or adds scale · ∂d/∂params into grads.
  m.def("sq_dist_value_and_grad_(Tensor(a!)[] grads, Tensor[] params, Tensor[] refs, "
        "int num_refs, str reduction, Tensor scale, bool accumulate) -> Tensor");
  // e = lam · Σ fisher · (params − anchor)².
  m.def("ewc_penalty(Tensor[] params, Tensor[] anchor, Tensor[] fisher, float lam) -> Tensor");
  m.def("ewc_penalty_backward(Tensor grad, Tensor[] params, Tensor[] anchor, Tensor[] fisher, "
        "float lam) -> Tensor[]");
  m.def("ewc_value_and_grad_(Tensor(a!)[] grads, Tensor[] params, Tensor[] anchor, "
        "Tensor[] fisher, float lam, Tensor scale, bool accumulate) -> Tensor");
}
