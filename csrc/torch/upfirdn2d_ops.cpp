// Schema of atu::upfirdn2d and its CPU registration. The CUDA registration is in
// upfirdn2d_cuda.cpp; the fake kernel and autograd in atu_ext/_upfirdn2d_registrations.py.
#include <torch/library.h>

#include "cpu/upfirdn2d.h"
#include "torch/upfirdn2d_args.h"

namespace atu {
namespace {

at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, at::IntArrayRef up,
                         at::IntArrayRef down, at::IntArrayRef padding, bool flip_filter,
                         double gain) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "atu::upfirdn2d: the CPU kernel supports float32 and float64, got ", x.scalar_type());
  const Upfirdn2dParams p = upfirdn2d_params(x, f, up, down, padding, gain);
  const at::Tensor xc = x.contiguous();
  const at::Tensor fc = correlation_filter(f.cpu(), flip_filter, x.scalar_type());
  at::Tensor y = at::empty({p.batch, p.channels, p.out_h, p.out_w}, x.options());
  if (x.scalar_type() == at::kFloat) {
    cpu::upfirdn2d(p, xc.const_data_ptr<float>(), fc.const_data_ptr<float>(), y.mutable_data_ptr<float>());
  } else {
    cpu::upfirdn2d(p, xc.const_data_ptr<double>(), fc.const_data_ptr<double>(), y.mutable_data_ptr<double>());
  }
  return y.contiguous(upfirdn2d_out_format(x));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(atu, m) {
  // NVlabs StyleGAN2-ADA upfirdn2d: up = [x, y], down = [x, y], padding = [x0, x1, y0, y1];
  // f is [fh, fw] or 1-D (the separable f ⊗ f); flip_filter=False is true convolution.
  m.def("upfirdn2d(Tensor x, Tensor f, int[] up, int[] down, int[] padding, bool flip_filter, "
        "float gain) -> Tensor");
}

TORCH_LIBRARY_IMPL(atu, CPU, m) { m.impl("upfirdn2d", &upfirdn2d_cpu); }

}  // namespace atu
