"""Threads, run-time ISA dispatch and the info command."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lamina
from lamina.backends import cpu
from conftest import rel_err




def test_threads_round_trip():
    prev = lamina.get_num_threads()
    try:
        lamina.set_num_threads(1)
        assert lamina.get_num_threads() == 1
        lamina.set_num_threads(3)
        assert lamina.get_num_threads() == 3
    finally:
        lamina.set_num_threads(prev)
    with pytest.raises(ValueError, match="set_num_threads"):
        lamina.set_num_threads(0)


def test_results_do_not_depend_on_thread_count(rng):
    x = lamina.tensor(rng.standard_normal((300, 1001)).astype(np.float32))
    prev = lamina.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            lamina.set_num_threads(n)
            outs.append([(x.exp() * 2 + x).numpy(), x.softmax(-1).numpy(), x.sum(0).numpy()])
    finally:
        lamina.set_num_threads(prev)
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_each_isa_path_matches_numpy(isa, rng):
    xn = rng.standard_normal((37, 129)) * 4
    x = lamina.tensor(xn.astype(np.float32))
    assert cpu.get_cpu_capability() == isa
    assert rel_err(x.exp().numpy(), np.exp(xn.astype(np.float32).astype(np.float64))) < 1e-6
    assert rel_err(x.tanh().numpy(), np.tanh(xn.astype(np.float32).astype(np.float64))) < 1e-6
    assert rel_err(x.abs().log().numpy(), np.log(np.abs(xn.astype(np.float32).astype(np.float64)))) < 1e-6
    assert rel_err(x.sum(1).numpy(), xn.astype(np.float32).astype(np.float64).sum(1)) < 1e-6
    ref = np.exp(xn - xn.max(0))
    assert rel_err(x.softmax(0).numpy(), ref / ref.sum(0)) < 1e-5


def test_isa_choices_are_validated():
    with pytest.raises(ValueError, match="unknown ISA"):
        cpu.set_cpu_capability("sse9")
    if cpu.cpu_info()["best_isa"] != "avx512":
        with pytest.raises(ValueError, match="does not support"):
            cpu.set_cpu_capability("avx512")


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=120)


def test_environment_narrows_the_kernel_path():
    r = _run("from lamina.backends import cpu; print(cpu.get_cpu_capability())", LAMINA_CPU_ISA="base")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "base"


def test_info_command_in_a_fresh_process():
    r = subprocess.run([sys.executable, "-m", "lamina", "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for word in ("lamina", "CUDA", "kernel path", "threads", "GPUs", cpu.get_cpu_capability()):
        assert word in r.stdout


def test_cuda_queries_answer_without_a_gpu():
    assert isinstance(lamina.cuda.is_available(), bool)
    assert lamina.cuda.device_count() >= 0
    assert lamina.cuda.is_available() == (lamina.cuda.is_compiled() and lamina.cuda.device_count() > 0)


def test_host_block_cache_reuses_and_releases_memory():
    lamina.cpu.empty_cache()
    assert lamina.cpu.memory_cached() == 0
    n = (8 << 20) // 4  # 8 MiB of float32: large enough to be cached
    a = lamina.ones(n)
    del a
    cached = lamina.cpu.memory_cached()
    assert cached >= 8 << 20
    # A reused block must not leak its old contents into tensors that promise values.
    z = lamina.zeros(n)
    assert lamina.cpu.memory_cached() < cached
    assert not z.numpy().any()
    f = lamina.full((n,), 2.5)
    assert (f.numpy() == 2.5).all()
    del z, f
    lamina.cpu.empty_cache()
    assert lamina.cpu.memory_cached() == 0


def test_host_block_cache_keeps_mid_size_blocks_only():
    lamina.cpu.empty_cache()
    small = lamina.ones((100 << 10) // 4)  # 100 KiB: left to malloc
    del small
    assert lamina.cpu.memory_cached() == 0
    mid = lamina.ones((512 << 10) // 4 - 3)  # just under 512 KiB: cached as whole pages
    del mid
    assert lamina.cpu.memory_cached() == 512 << 10
    again = lamina.zeros((512 << 10) // 4)  # takes the block back, zeroed
    assert lamina.cpu.memory_cached() == 0
    assert not again.numpy().any()
    del again
    lamina.cpu.empty_cache()


def test_host_block_cache_can_be_turned_off():
    code = ("import lamina; a = lamina.ones(1 << 22); del a; "
            "assert lamina.cpu.memory_cached() == 0, lamina.cpu.memory_cached()")
    env = dict(os.environ, LAMINA_CPU_CACHE_MB="0")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_host_block_cache_evicts_oldest_blocks_to_fit_new_ones():
    # Sizes are float32 element counts: 2 Mi elements are 8 MiB, 3 Mi are 12 MiB.
    code = ("import lamina\n"
            "a = lamina.empty(2 * (1 << 20)); b = lamina.empty(2 * (1 << 20)); c = lamina.empty(3 * (1 << 20))\n"
            "del a, b\n"
            "assert lamina.cpu.memory_cached() == 16 * (1 << 20), lamina.cpu.memory_cached()\n"
            "del c\n"  # 12 MiB more than the 20 MiB limit allows: the oldest 8 MiB block goes
            "assert lamina.cpu.memory_cached() == 20 * (1 << 20), lamina.cpu.memory_cached()\n"
            "d = lamina.empty(3 * (1 << 20))\n"  # reuses the 12 MiB block
            "assert lamina.cpu.memory_cached() == 8 * (1 << 20), lamina.cpu.memory_cached()\n")
    env = dict(os.environ, LAMINA_CPU_CACHE_MB="20")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
