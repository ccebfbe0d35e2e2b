#include "ops/matmul.h"

#include <algorithm>
#include <cstdlib>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cuda/ops.h"
#include "ops/copy.h"

namespace lamina {

// Blocking from the cache sizes: a KC-deep B micro-panel of NR values per k fills L1 (so an A
// micro-panel, MR values per k, takes less than half of it), a KC x NC block of B a quarter of
// L2 (a half measured no faster on a 2 MiB L2), and a K slice of A is packed MC rows at a time,
// about four L2s of it (which only bounds the packing buffer). The shares can be overridden with
// LAMINA_GEMM_KC_SHARE / LAMINA_GEMM_NC_SHARE for tuning.
void set_gemm_blocks(cpu::GemmArgs& g, DType dt) {
  const CpuInfo& c = cpu_info();
  const auto& tile = cpu::kernels().gemm_tile[int(dt)];
  const int64_t mr = tile[0], nr = tile[1], es = itemsize(dt);
  static const double nc_share = [] {
    const char* e = std::getenv("LAMINA_GEMM_NC_SHARE");
    return e ? std::atof(e) : 0.25;
  }();
  g.nc = std::clamp<int64_t>(int64_t(double(c.l2) * nc_share) / (g.kc * es), nr, 8192) / nr * nr;
  g.mc = std::clamp<int64_t>(c.l2 * 4 / (g.kc * es), mr, 16384) / mr * mr;
}

namespace {

// Sets g.kc (and from it g.nc, g.mc) from the detected cache sizes for the micro-kernel of `dt`.
void set_gemm_blocking(cpu::GemmArgs& g, DType dt) {
  const int64_t nr = cpu::kernels().gemm_tile[int(dt)][1], es = itemsize(dt);
  static const double kc_share = [] {
    const char* e = std::getenv("LAMINA_GEMM_KC_SHARE");
    return e ? std::atof(e) : 1.0;
  }();
  g.kc = std::clamp<int64_t>(int64_t(double(cpu_info().l1d) * kc_share) / (nr * es), 64, 1024) / 8 * 8;
  set_gemm_blocks(g, dt);
}

}  // namespace

void cpu_gemm(DType dt, int64_t M, int64_t N, int64_t K, const char* A, int64_t rsa, int64_t csa, const char* B,
              int64_t rsb, int64_t csb, char* C, int64_t ldc, const char* bias, Activation act, bool accumulate,
              int threads) {
  cpu::GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  g.A = A; g.rsa = rsa; g.csa = csa;
  g.B = B; g.rsb = rsb; g.csb = csb;
  g.C = C; g.ldc = ldc;
  g.bias = bias;
  g.act = int(act);
  g.accumulate = accumulate;
  g.threads = threads;
  set_gemm_blocking(g, dt);
  cpu::kernels().gemm[int(dt)](g);
}

namespace {

DType compute_dtype(DType t) {
  if (t == DType::Float64 || is_integral(t) || t == DType::Bool) return DType::Float64;
  return DType::Float32;  // float32, and float16/bfloat16 through conversion
}

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  LAMINA_CHECK(a.device() == b.device(), RuntimeError, "[", op, "] expected both operands on one device, got ",
               a.device().str(), " and ", b.device().str());
  LAMINA_CHECK(a.dtype() == b.dtype(), RuntimeError, "[", op, "] expected operands of one dtype, got ",
               dtype_name(a.dtype()), " and ", dtype_name(b.dtype()), " for shapes ", a.shape(), " and ", b.shape());
}

// C (contiguous rows) = A * B for matrices given by pointer and strides, over `threads` threads.
void run_gemm(DType dt, int64_t M, int64_t N, int64_t K, const char* A, int64_t rsa, int64_t csa, const char* B,
              int64_t rsb, int64_t csb, char* C, int64_t ldc, const char* bias, Activation act, int threads,
              Device dev = {}) {
  if (dev.is_cuda()) {
    cuda::GemmArgs g;
    g.dtype = dt; g.M = M; g.N = N; g.K = K;
    g.A = A; g.rsa = rsa; g.csa = csa;
    g.B = B; g.rsb = rsb; g.csb = csb;
    g.C = C; g.ldc = ldc;
    g.bias = bias; g.act = int(act); g.device = dev.index;
    return cuda::gemm(g);
  }
  cpu_gemm(dt, M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, bias, act, false, threads);
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_operands(a_in, b_in, "matmul");
  LAMINA_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, ValueError, "[matmul] both arguments need at least 1 dimension, got shapes ",
               a_in.shape(), " and ", b_in.shape());
  const DType dt = compute_dtype(a_in.dtype());
  Tensor a = cast(a_in, dt), b = cast(b_in, dt);
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  if (a_vec) a = a.as_strided({1, a.shape()[0]}, {0, a.strides()[0]}, a.offset());
  if (b_vec) b = b.as_strided({b.shape()[0], 1}, {b.strides()[0], 0}, b.offset());
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1], N = b.shape()[b.dim() - 1];
  LAMINA_CHECK(b.shape()[b.dim() - 2] == K, ShapeError, "[matmul] shapes ", a_in.shape(), " and ", b_in.shape(),
               " cannot be multiplied (", K, " != ", b.shape()[b.dim() - 2], ")");
  Shape abatch(a.shape().begin(), a.shape().end() - 2), bbatch(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(abatch, bbatch, "matmul");
  } catch (const ShapeError&) {
    fail<ShapeError>("[matmul] batch dimensions of shapes ", a_in.shape(), " and ", b_in.shape(),
                     " cannot be broadcast together");
  }
  Shape ashape = batch, bshape = batch;
  ashape.insert(ashape.end(), {M, K});
  bshape.insert(bshape.end(), {K, N});
  Tensor ae = a.expand(ashape), be = b.expand(bshape);
  const int64_t nb = numel_of(batch), nd = int64_t(batch.size());
  // A batch over rows of one shared B is a single taller product when A's batch dims merge with M.
  bool merged = false;
  if (nb > 1 && std::all_of(be.strides().begin(), be.strides().begin() + nd, [](int64_t s) { return s == 0; })) {
    int64_t expect = ae.strides()[nd] * M;
    merged = true;
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (batch[d] != 1 && ae.strides()[d] != expect) { merged = false; break; }
      expect *= batch[d];
    }
  }
  Shape out_shape = batch;
  out_shape.insert(out_shape.end(), {M, N});
  const Device dev = a_in.device();
  Tensor out = Tensor::empty(out_shape, dt, dev);
  const int64_t es = itemsize(dt);
  const int nt = get_num_threads();
  if (merged) {
    run_gemm(dt, nb * M, N, K, ae.bytes(), ae.strides()[nd], ae.strides()[nd + 1], be.bytes(), be.strides()[nd],
             be.strides()[nd + 1], out.bytes(), N, nullptr, Activation::None, nt, dev);
  } else if (out.numel()) {
    // Many small products run one per thread; large ones run one at a time on all threads.
    const bool per_thread = dev.is_cpu() && nb >= nt && double(M) * N * K < 128.0 * 128 * 128;
    parallel_for(0, nb, per_thread ? 1 : nb + 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        int64_t ao = 0, bo = 0, r = i;
        for (int64_t d = nd - 1; d >= 0; --d) {
          int64_t idx = r % batch[d];
          r /= batch[d];
          ao += idx * ae.strides()[d];
          bo += idx * be.strides()[d];
        }
        run_gemm(dt, M, N, K, ae.bytes() + ao * es, ae.strides()[nd], ae.strides()[nd + 1], be.bytes() + bo * es,
                 be.strides()[nd], be.strides()[nd + 1], out.bytes() + i * M * N * es, N, nullptr, Activation::None,
                 per_thread ? 1 : nt, dev);
      }
    });
  }
  Shape final_shape = batch;
  if (!a_vec) final_shape.push_back(M);
  if (!b_vec) final_shape.push_back(N);
  Tensor r = out.view_as_shape(final_shape);
  DType rt = a_in.dtype();
  return rt == dt ? r : cast(r, rt);
}

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor* bias_in, Activation act) {
  check_operands(x_in, w_in, "linear");
  LAMINA_CHECK(x_in.dim() >= 1 && w_in.dim() == 2, ValueError, "[linear] expected input (..., in_features) and weight "
               "(out_features, in_features), got shapes ", x_in.shape(), " and ", w_in.shape());
  const int64_t K = x_in.shape().back(), N = w_in.shape()[0];
  LAMINA_CHECK(w_in.shape()[1] == K, ShapeError, "[linear] input shape ", x_in.shape(), " and weight shape ",
               w_in.shape(), " do not match (", K, " != ", w_in.shape()[1], ")");
  if (bias_in) {
    LAMINA_CHECK(bias_in->dim() == 1 && bias_in->shape()[0] == N, ShapeError, "[linear] bias shape ", bias_in->shape(),
                 " does not match weight shape ", w_in.shape());
    LAMINA_CHECK(bias_in->device() == x_in.device(), RuntimeError, "[linear] bias is on ", bias_in->device().str(),
                 " but the input is on ", x_in.device().str());
    LAMINA_CHECK(bias_in->dtype() == x_in.dtype(), RuntimeError, "[linear] bias dtype ", dtype_name(bias_in->dtype()),
                 " differs from input dtype ", dtype_name(x_in.dtype()));
  }
  const DType dt = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, dt), w = cast(w_in, dt);
  const int64_t rows = K ? x.numel() / K : numel_of(Shape(x.shape().begin(), x.shape().end() - 1));
  Tensor x2 = x.reshape({rows, K});
  Tensor bias = bias_in ? cast(*bias_in, dt).contiguous() : Tensor();
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, dt, x_in.device());
  if (out.numel())
    run_gemm(dt, rows, N, K, x2.bytes(), x2.strides()[0], x2.strides()[1], w.bytes(), w.strides()[1], w.strides()[0],
             out.bytes(), N, bias_in ? bias.bytes() : nullptr, act, get_num_threads(), x_in.device());
  return dt == x_in.dtype() ? out : cast(out, x_in.dtype());
}

double fma_peak_gflops(double seconds) { return cpu::kernels().fma_peak(seconds); }

}  // namespace lamina
