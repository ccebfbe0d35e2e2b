// Threads: OpenMP underneath, one knob (set_num_threads) for every kernel.
#pragma once
#include <algorithm>
#include <cstdint>
#include <omp.h>

namespace lamina {

int get_num_threads();
void set_num_threads(int n);

// Calls f(begin, end) over disjoint chunks of [begin, end), in parallel when the range is
// worth more than `grain` units of work and more than one thread is allowed.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int nt = get_num_threads();
  if (nt <= 1 || n <= grain || omp_in_parallel()) { f(begin, end); return; }
  const int64_t chunks = std::min<int64_t>(nt, (n + grain - 1) / grain);
#pragma omp parallel num_threads(int(chunks))
  {
    int64_t t = omp_get_thread_num(), nth = omp_get_num_threads();
    int64_t lo = begin + n * t / nth, hi = begin + n * (t + 1) / nth;
    if (lo < hi) f(lo, hi);
  }
}

}  // namespace lamina
