// Per-thread scratch buffers that live across calls: GEMM packing panels and convolution patch
// copies reuse them instead of allocating per call. One buffer per slot and thread.
#pragma once
#include <cstdint>

namespace lamina {

enum class ScratchSlot : int { GemmB, GemmA, ConvPatches, ConvPadded, Count };

// At least `bytes` of 64-byte aligned memory for this thread's `slot`; grows and never
// shrinks. The pointer stays valid until the same thread asks the same slot for more.
void* thread_scratch(ScratchSlot slot, int64_t bytes);

}  // namespace lamina
