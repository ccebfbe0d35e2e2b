// Multiplies two matrices, runs a 3x3 convolution and causal attention with lamina's kernels,
// checks them against plain loops, and shows the error a bad call raises. Prints "ok" when all agree.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include <lamina/lamina.h>

using lamina::api::TensorRef;

static TensorRef ref(std::vector<float>& v, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  TensorRef r;
  r.data = v.data();
  r.ndim = int(shape.size());
  r.shape = shape.data();
  r.strides = strides.data();
  return r;
}

static bool close(float a, double b) { return std::fabs(a - b) <= 1e-4 * (1.0 + std::fabs(b)); }

int main() {
  std::mt19937 gen(0);
  std::normal_distribution<float> nd;
  auto fill = [&](std::vector<float>& v) { for (auto& x : v) x = nd(gen); };

  // C (5x7) = A (5x3) @ B^T where B is stored as 7x3: the transpose is just strides.
  const int64_t M = 5, K = 3, N = 7;
  std::vector<float> A(M * K), B(N * K), C(M * N);
  fill(A);
  fill(B);
  std::vector<int64_t> sa{M, K}, ta{K, 1}, sb{K, N}, tb{1, K}, sc{M, N}, tc{N, 1};
  lamina::api::matmul(ref(A, sa, ta), ref(B, sb, tb), ref(C, sc, tc));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(A[i * K + k]) * B[j * K + k];
      if (!close(C[i * N + j], s)) { std::printf("matmul mismatch at %ld,%ld\n", long(i), long(j)); return 1; }
    }

  // y = conv2d(x, w), padding 1: x (1, 2, 4, 4), w (3, 2, 3, 3), y (1, 3, 4, 4).
  std::vector<float> x(2 * 16), w(3 * 2 * 9), y(3 * 16);
  fill(x);
  fill(w);
  std::vector<int64_t> xs{1, 2, 4, 4}, xt{32, 16, 4, 1}, ws{3, 2, 3, 3}, wt{18, 9, 3, 1}, ys{1, 3, 4, 4}, yt{48, 16, 4, 1};
  lamina::api::Conv2dParams p;
  p.padding[0] = p.padding[1] = 1;
  lamina::api::conv2d_forward(ref(x, xs, xt), ref(w, ws, wt), TensorRef{}, ref(y, ys, yt), p);
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        double s = 0;
        for (int c = 0; c < 2; ++c)
          for (int u = 0; u < 3; ++u)
            for (int v = 0; v < 3; ++v) {
              int ii = i + u - 1, jj = j + v - 1;
              if (ii >= 0 && ii < 4 && jj >= 0 && jj < 4) s += double(x[c * 16 + ii * 4 + jj]) * w[o * 18 + c * 9 + u * 3 + v];
            }
        if (!close(y[o * 16 + i * 4 + j], s)) { std::printf("conv2d mismatch\n"); return 1; }
      }

  // Causal attention, one head: out (3 x 2) = softmax(q k^T / sqrt(2) + causal mask) v.
  const int64_t L = 3, S = 3, E = 2;
  std::vector<float> q(L * E), kk(S * E), vv(S * E), out(L * E), lse(L);
  fill(q);
  fill(kk);
  fill(vv);
  std::vector<int64_t> qs{L, E}, qt{E, 1}, ls{L}, lt{1};
  lamina::api::AttentionParams ap;
  ap.causal = true;
  lamina::api::attention_forward(ref(q, qs, qt), ref(kk, qs, qt), ref(vv, qs, qt), TensorRef{}, ref(out, qs, qt),
                                 ref(lse, ls, lt), ap);
  for (int64_t i = 0; i < L; ++i) {
    double w[3], z = 0;
    for (int64_t j = 0; j <= i; ++j) {
      w[j] = std::exp((double(q[i * E]) * kk[j * E] + double(q[i * E + 1]) * kk[j * E + 1]) / std::sqrt(2.0));
      z += w[j];
    }
    for (int64_t e = 0; e < E; ++e) {
      double s = 0;
      for (int64_t j = 0; j <= i; ++j) s += w[j] / z * vv[j * E + e];
      if (!close(out[i * E + e], s)) { std::printf("attention mismatch\n"); return 1; }
    }
  }
  std::vector<float> dq(L * E), dk(S * E), dv(S * E), dout(L * E, 1.0f);
  lamina::api::attention_backward(ref(dout, qs, qt), ref(q, qs, qt), ref(kk, qs, qt), ref(vv, qs, qt), TensorRef{},
                                  ref(out, qs, qt), ref(lse, ls, lt), ref(dq, qs, qt), ref(dk, qs, qt),
                                  ref(dv, qs, qt), ap);
  // Every output row sums its weights to one, so d(sum out)/dv sums to L per column.
  if (!close(dv[0] + dv[2] + dv[4], double(L))) { std::printf("attention backward mismatch\n"); return 1; }

  // Mismatched shapes raise an exception that names the op and the shapes.
  try {
    std::vector<int64_t> bad{4, N};
    lamina::api::matmul(ref(A, sa, ta), ref(B, bad, tc), ref(C, sc, tc));
    std::printf("expected an error\n");
    return 1;
  } catch (const std::runtime_error& e) {
    std::printf("error as expected: %s\n", e.what());
  }
  std::printf("kernel path %s, %d threads\nok\n", lamina::api::cpu_kernel_path(), lamina::api::get_num_threads());
  return 0;
}
