// SIMT GEMM for float32 (and float64): C = A * B (+ bias) (-> activation).
//
// Each 256-thread block computes a 128 x 128 tile of C, each thread an 8 x 8 register block
// (two 4 x 4 quadrants 64 rows/columns apart, so the shared-memory reads of a warp hit distinct
// banks as float4). K advances 8 at a time through two shared-memory buffers: while the block
// multiplies one, its threads already hold the next tile's global loads in registers and
// store them into the other buffer, so one barrier per step suffices.
//
// Operands are read through their strides. Both are seen as "P x K" panels (A: P = M; B read
// as its transpose: P = N), stored k-major in shared memory. A panel whose K (or P) stride is 1
// is loaded with 16-byte vector loads along that dimension when the addresses allow it; any
// other layout uses scalar loads with the same thread mapping, so transposed or sliced inputs
// never need a copy. Tiles past M, N or K are zero-filled, which handles every fringe.
#include <cmath>

#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace lamina::cuda {

namespace {

constexpr int BM = 128, BN = 128, BK = 8, kGemmThreads = 256;

enum LoadMode : int { kScalar = 0, kVecK = 1, kVecP = 2 };

struct Panel {
  const void* base;
  int64_t sp, sk;  // element strides along P and K
  int64_t P;
  int mode;
  int64_t batch_stride;
};

// Loads this thread's four elements of the BM x BK tile at (p0, k0) into regs.
template <class T>
__device__ __forceinline__ void load_panel(const Panel& pn, const T* base, int64_t p0, int64_t k0, int64_t K,
                                           T (&regs)[4]) {
  const int t = threadIdx.x;
  if (pn.mode == kVecP) {
    const int64_t k = k0 + t / 32, p = p0 + (t % 32) * 4;
    if constexpr (std::is_same_v<T, float>) {
      if (k < K && p + 3 < pn.P) {
        float4 v = *reinterpret_cast<const float4*>(base + p * pn.sp + k * pn.sk);
        regs[0] = v.x; regs[1] = v.y; regs[2] = v.z; regs[3] = v.w;
        return;
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) regs[i] = (k < K && p + i < pn.P) ? base[(p + i) * pn.sp + k * pn.sk] : T(0);
    return;
  }
  const int64_t p = p0 + t / 2, k = k0 + (t % 2) * 4;
  if constexpr (std::is_same_v<T, float>) {
    if (pn.mode == kVecK && p < pn.P && k + 3 < K) {
      float4 v = *reinterpret_cast<const float4*>(base + p * pn.sp + k * pn.sk);
      regs[0] = v.x; regs[1] = v.y; regs[2] = v.z; regs[3] = v.w;
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) regs[i] = (p < pn.P && k + i < K) ? base[p * pn.sp + (k + i) * pn.sk] : T(0);
}

// Stores the registers of load_panel into the k-major tile S[BK][BM].
template <class T>
__device__ __forceinline__ void store_panel(int mode, T (*S)[BM], const T (&regs)[4]) {
  const int t = threadIdx.x;
  if (mode == kVecP) {
    const int k = t / 32, p = (t % 32) * 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) S[k][p + i] = regs[i];
  } else {
    const int p = t / 2, k = (t % 2) * 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) S[k + i][p] = regs[i];
  }
}

template <class T>
__device__ __forceinline__ T activate(T v, int act) {
  switch (act) {
    case 1: return v > T(0) ? v : T(0);
    case 2: return T(0.5) * v * erfc(v * T(-0.70710678118654752440));
    case 3: return v / (T(1) + exp(T(-2) * T(0.79788456080286535588) * (v + T(0.044715) * v * v * v)));
    case 4: return v / (T(1) + exp(-v));
    default: return v;
  }
}

template <class T>
__global__ void __launch_bounds__(kGemmThreads) gemm_kernel(int64_t M, int64_t N, int64_t K, Panel a, Panel b, T* C,
                                                            int64_t ldc, int64_t batch_c, const T* bias, int act) {
  __shared__ __align__(16) T As[2][BK][BM];
  __shared__ __align__(16) T Bs[2][BK][BN];
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const T* A = static_cast<const T*>(a.base) + blockIdx.z * a.batch_stride;
  const T* B = static_cast<const T*>(b.base) + blockIdx.z * b.batch_stride;
  C += blockIdx.z * batch_c;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;

  T acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = T(0);

  T ra[4], rb[4];
  load_panel(a, A, m0, 0, K, ra);
  load_panel(b, B, n0, 0, K, rb);
  store_panel(a.mode, As[0], ra);
  store_panel(b.mode, Bs[0], rb);
  __syncthreads();

  const int64_t tiles = (K + BK - 1) / BK;
  int cur = 0;
  for (int64_t kt = 0; kt < tiles; ++kt) {
    const bool more = kt + 1 < tiles;
    if (more) {
      load_panel(a, A, m0, (kt + 1) * BK, K, ra);
      load_panel(b, B, n0, (kt + 1) * BK, K, rb);
    }
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      T av[8], bv[8];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        av[i] = As[cur][k][ty * 4 + i];
        av[4 + i] = As[cur][k][64 + ty * 4 + i];
        bv[i] = Bs[cur][k][tx * 4 + i];
        bv[4 + i] = Bs[cur][k][64 + tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    if (more) {
      store_panel(a.mode, As[cur ^ 1], ra);
      store_panel(b.mode, Bs[cur ^ 1], rb);
    }
    __syncthreads();
    cur ^= 1;
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int64_t n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      if (n >= N) continue;
      T v = acc[i][j];
      if (bias) v += bias[n];
      C[m * ldc + n] = activate(v, act);
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Vector loads need every float4 on a 16-byte boundary: an aligned base, a unit stride along
// the vector and a multiple of 4 elements for the other stride.
Panel make_panel(DType dt, const void* base, int64_t sp, int64_t sk, int64_t P, int64_t batch_stride) {
  Panel pn{base, sp, sk, P, kScalar, batch_stride};
  if (dt != DType::Float32 || !aligned16(base) || batch_stride % 4) return pn;
  if (sk == 1 && sp % 4 == 0) pn.mode = kVecK;
  else if (sp == 1 && sk % 4 == 0) pn.mode = kVecP;
  return pn;
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  set_device(g.device);
  LAMINA_CHECK(g.dtype == DType::Float32 || g.dtype == DType::Float64, TypeError,
               "[matmul] the CUDA GEMM takes float32 or float64, got ", dtype_name(g.dtype));
  LAMINA_CHECK(g.batch <= 65535 && (g.M + BM - 1) / BM <= 65535, NotImplementedError, "[matmul] CUDA grid too large: M ",
               g.M, ", batch ", g.batch);
  const Panel a = make_panel(g.dtype, g.A, g.rsa, g.csa, g.M, g.batch_a);
  const Panel b = make_panel(g.dtype, g.B, g.csb, g.rsb, g.N, g.batch_b);
  dim3 grid(unsigned((g.N + BN - 1) / BN), unsigned((g.M + BM - 1) / BM), unsigned(g.batch));
  cudaStream_t s = stream(g.device);
  if (g.dtype == DType::Float32) {
    gemm_kernel<float><<<grid, kGemmThreads, 0, s>>>(g.M, g.N, g.K, a, b, static_cast<float*>(g.C), g.ldc, g.batch_c,
                                                     static_cast<const float*>(g.bias), g.act);
    LAMINA_CUDA_CHECK("gemm_kernel<float>", g.device);
  } else {
    gemm_kernel<double><<<grid, kGemmThreads, 0, s>>>(g.M, g.N, g.K, a, b, static_cast<double*>(g.C), g.ldc,
                                                      g.batch_c, static_cast<const double*>(g.bias), g.act);
    LAMINA_CUDA_CHECK("gemm_kernel<double>", g.device);
  }
}

}  // namespace lamina::cuda
