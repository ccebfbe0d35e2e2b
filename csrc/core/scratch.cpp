#include "core/scratch.h"

#include <algorithm>

#include "core/storage.h"

namespace lamina {

void* thread_scratch(ScratchSlot slot, int64_t bytes) {
  struct Slot {
    void* p = nullptr;
    int64_t cap = 0;
    ~Slot() { host_free(p, cap); }
  };
  thread_local Slot slots[int(ScratchSlot::Count)];
  Slot& s = slots[int(slot)];
  bytes = std::max<int64_t>(bytes, 64);
  if (bytes > s.cap) {
    host_free(s.p, s.cap);
    s.p = nullptr;
    s.cap = 0;
    s.p = host_alloc(bytes);  // throws std::bad_alloc, leaving the slot empty
    s.cap = bytes;
  }
  return s.p;
}

}  // namespace lamina
