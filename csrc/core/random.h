// Counter-based random numbers (Philox-4x32, 10 rounds): element i of a draw depends only on
// (seed, offset + i), so any thread or device produces the same stream for the same state.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>

namespace lamina {

std::array<uint32_t, 4> philox(uint64_t seed, uint64_t counter_hi, uint64_t counter_lo);

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ull) : seed_(seed) {}
  void manual_seed(uint64_t seed) { std::lock_guard<std::mutex> g(m_); seed_ = seed; offset_ = 0; }
  uint64_t seed() const { return seed_; }
  // Reserves `n` counters for a draw; returns (seed, first counter).
  std::pair<uint64_t, uint64_t> reserve(uint64_t n) {
    std::lock_guard<std::mutex> g(m_);
    uint64_t start = offset_;
    offset_ += n;
    return {seed_, start};
  }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { std::lock_guard<std::mutex> g(m_); seed_ = seed; offset_ = offset; }

 private:
  std::mutex m_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();

}  // namespace lamina
