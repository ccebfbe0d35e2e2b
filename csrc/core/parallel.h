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

// Runs f(t, nt) on each thread t of one team of nt threads (get_num_threads(), or 1 inside
// another parallel region), for work whose threads must meet between steps: f may call
// team_barrier(nt), which every thread of the team must then reach the same number of times.
template <class F>
void parallel_team(const F& f) {
  const int nt = omp_in_parallel() ? 1 : get_num_threads();
  if (nt <= 1) { f(0, 1); return; }
#pragma omp parallel num_threads(nt)
  f(omp_get_thread_num(), omp_get_num_threads());
}

// nt: the team's size as f received it. A team of one (f run directly, perhaps inside another
// parallel region) has nothing to wait for, and must not meet the enclosing team's barrier.
inline void team_barrier(int nt) {
  if (nt > 1) {
#pragma omp barrier
  }
}

}  // namespace lamina
