#include "core/cpu_features.h"
#include "cpu/kernels.h"

#include <initializer_list>

namespace lamina::cpu {

namespace {
using Register = void (*)(Kernels&);

Kernels build(std::initializer_list<Register> parts) {
  Kernels k;
  for (Register r : parts) r(k);
  return k;
}
}  // namespace

const Kernels& kernels() {
  static const Kernels avx512 = build({register_elementwise_avx512, register_reduce_avx512, register_gemm_avx512, register_norm_avx512, register_batch_norm_avx512, register_attention_avx512, register_loss_avx512, register_rnn_avx512, register_conv_avx512, register_winograd_avx512, register_optim_avx512});
  static const Kernels avx2 = build({register_elementwise_avx2, register_reduce_avx2, register_gemm_avx2, register_norm_avx2, register_batch_norm_avx2, register_attention_avx2, register_loss_avx2, register_rnn_avx2, register_conv_avx2, register_winograd_avx2, register_optim_avx2});
  static const Kernels base = build({register_elementwise_base, register_reduce_base, register_gemm_base, register_norm_base, register_batch_norm_base, register_attention_base, register_loss_base, register_rnn_base, register_conv_base, register_winograd_base, register_optim_base});
  switch (current_isa()) {
    case Isa::Avx512: return avx512;
    case Isa::Avx2: return avx2;
    default: return base;
  }
}

}  // namespace lamina::cpu
