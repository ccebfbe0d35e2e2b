"""The CUDA caching allocator's bookkeeping, driven through a fake device (runs on every
machine), and the memory API's answers when no GPU is present."""
import pytest

import lamina
import lamina.backends
from lamina import _C

MiB = 1 << 20


def test_size_classes():
    r = _C._CachingAllocatorTest.round_size
    assert r(0) == 0
    assert r(1) == 512 and r(512) == 512 and r(513) == 1024
    assert r(MiB - 1) == MiB  # last small class
    assert r(MiB) == 2 * MiB and r(2 * MiB) == 2 * MiB and r(2 * MiB + 1) == 4 * MiB


def test_freed_blocks_are_reused_by_size_class():
    a = _C._CachingAllocatorTest(64 * MiB)
    p = a.allocate(1000)
    assert a.stats()["allocated"] == 1024 and a.stats()["raw_allocs"] == 1
    a.free(p)
    assert a.stats()["allocated"] == 0 and a.stats()["reserved"] == 1024
    q = a.allocate(700)  # same 1024-byte class: the cached block comes back
    assert q == p and a.stats()["raw_allocs"] == 1
    r = a.allocate(2000)  # another class: a new block
    assert r != p and a.stats()["raw_allocs"] == 2
    assert a.allocate(0) == 0


def test_steady_state_loop_stops_allocating():
    a = _C._CachingAllocatorTest(256 * MiB)
    sizes = [4096, 3 * MiB, 100, 3 * MiB, 77777]
    for step in range(5):
        ptrs = [a.allocate(n) for n in sizes]
        for p in ptrs:
            a.free(p)
        if step == 0:
            first = a.stats()["raw_allocs"]
    assert a.stats()["raw_allocs"] == first == len(sizes)


def test_peak_and_reset():
    a = _C._CachingAllocatorTest(64 * MiB)
    p = a.allocate(4 * MiB)
    q = a.allocate(2 * MiB)
    a.free(q)
    s = a.stats()
    assert s["allocated"] == 4 * MiB and s["peak_allocated"] == 6 * MiB
    a.reset_peak()
    assert a.stats()["peak_allocated"] == 4 * MiB
    a.free(p)
    assert a.stats()["peak_allocated"] == 4 * MiB and a.stats()["allocated"] == 0


def test_empty_cache_returns_blocks_to_the_device():
    a = _C._CachingAllocatorTest(64 * MiB)
    ptrs = [a.allocate(n) for n in (512, 4 * MiB, 8 * MiB)]
    for p in ptrs[1:]:
        a.free(p)
    assert a.device_used() == 512 + 12 * MiB
    a.empty_cache()
    assert a.device_used() == 512 and a.stats()["reserved"] == 512 and a.stats()["raw_frees"] == 2
    a.free(ptrs[0])


def test_out_of_memory_empties_the_cache_then_retries():
    a = _C._CachingAllocatorTest(10 * MiB)
    p = a.allocate(6 * MiB)
    a.free(p)  # cached: the fake device now has only 4 MiB left
    q = a.allocate(8 * MiB)  # fails once, the cache is flushed, the retry succeeds
    assert a.stats()["raw_frees"] == 1 and a.device_used() == 8 * MiB
    with pytest.raises(MemoryError):
        a.allocate(4 * MiB)  # nothing cached to give back: MemoryError
    a.free(q)
    assert a.stats()["allocated"] == 0


def test_negative_size_is_memory_error():
    with pytest.raises(MemoryError):
        _C._CachingAllocatorTest(MiB).allocate(-1)


def test_memory_api_without_a_gpu_is_sane():
    for fn in (lamina.cuda.memory_allocated, lamina.cuda.max_memory_allocated, lamina.cuda.memory_reserved):
        v = fn()
        assert isinstance(v, int) and v >= 0
    lamina.cuda.reset_peak_memory_stats()
    lamina.cuda.empty_cache()
    assert lamina.backends.cuda.matmul.allow_tf32 is False
    with pytest.raises(TypeError):
        lamina.backends.cuda.matmul.allow_tf32 = 1
    assert isinstance(lamina.backends.cuda.is_built(), bool)
