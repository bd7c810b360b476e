// CPU registration of atu::upfirdn2d (schema in schemas.cpp). The CUDA registration is in
// upfirdn2d_cuda.cpp; the fake kernel and autograd in python/atu_ext/upfirdn2d.py.
#include <torch/library.h>

#include <cmath>

#include "cpu/upfirdn2d.h"
#include "torch/upfirdn2d_args.h"

namespace atu {
namespace {

// The CPU kernel's filter buffer (see cpu/upfirdn2d.h). A 1-D filter f becomes [f, f]. A 2-D
// filter that is an outer product u ⊗ v to within the data type's rounding (StyleGAN2's
// make_kernel([1, 3, 3, 1]) is one) becomes [u, v] and runs as two 1-D passes, f_h + f_w instead
// of f_h · f_w multiplications per output; the results then differ from the 2-D evaluation only
// in the last bits. Anything else stays 2-D.
at::Tensor cpu_filter(const at::Tensor& corr, at::ScalarType dtype, bool* separable) {
  const at::Tensor f = corr.to(at::kDouble);
  *separable = true;
  if (f.dim() == 1) return at::cat({f, f}).to(dtype);
  const int64_t pivot_index = f.abs().argmax().item<int64_t>();
  const int64_t p = pivot_index / f.size(1), q = pivot_index % f.size(1);
  const double pivot = f[p][q].item<double>();
  if (pivot != 0.0) {
    const at::Tensor u = f.select(1, q), v = f.select(0, p) / pivot;
    const double err = (at::outer(u, v) - f).abs().max().item<double>();
    const double eps = dtype == at::kDouble ? 2.220446049250313e-16 : 1.1920928955078125e-07;
    if (err <= 2.0 * eps * std::abs(pivot)) return at::cat({u, v}).to(dtype);
  }
  *separable = false;
  return corr.to(dtype).contiguous();
}

at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, at::IntArrayRef up,
                         at::IntArrayRef down, at::IntArrayRef padding, bool flip_filter,
                         double gain) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "atu::upfirdn2d: the CPU kernel supports float32 and float64, got ", x.scalar_type());
  Upfirdn2dParams p = upfirdn2d_params(x, f, up, down, padding, gain);
  const at::Tensor xc = x.contiguous();
  const at::Tensor fc = cpu_filter(correlation_filter(f.cpu(), flip_filter, at::kDouble), x.scalar_type(),
                                   &p.separable);
  at::Tensor y = at::empty({p.batch, p.channels, p.out_h, p.out_w}, x.options());
  if (x.scalar_type() == at::kFloat) {
    cpu::upfirdn2d(p, xc.const_data_ptr<float>(), fc.const_data_ptr<float>(), y.mutable_data_ptr<float>());
  } else {
    cpu::upfirdn2d(p, xc.const_data_ptr<double>(), fc.const_data_ptr<double>(), y.mutable_data_ptr<double>());
  }
  return y.contiguous(upfirdn2d_out_format(x));
}

}  // namespace

TORCH_LIBRARY_IMPL(atu, CPU, m) { m.impl("upfirdn2d", &upfirdn2d_cpu); }

}  // namespace atu
