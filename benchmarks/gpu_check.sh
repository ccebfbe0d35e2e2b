#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build lamina with CUDA, run the whole test suite (the CUDA
# tests run instead of skipping), and write logs and benchmark records under $OUT (default
# ./gpu-results). Needs CUDA, PyTorch, pybind11, scikit-build-core, cmake and ninja installed;
# no network (the build uses --no-build-isolation).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
{ nvidia-smi || true; } > "$OUT/nvidia-smi.txt" 2>&1
pip install --no-build-isolation -Ccmake.define.LAMINA_CUDA=ON . > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
python -m lamina info | tee "$OUT/info.txt"
python -m pytest tests -q -p no:cacheprovider > "$OUT/tests.log" 2>&1
rc=$?
tail -5 "$OUT/tests.log"
python -m pytest tests/test_cuda.py tests/test_cuda_ops.py tests/test_cuda_allocator.py -v -p no:cacheprovider \
  > "$OUT/tests_cuda.log" 2>&1 || rc=1
tail -3 "$OUT/tests_cuda.log"
# Out-of-bounds and uninitialised accesses in the kernels: memcheck over a small subset
# (every kernel family once; the allocator's cached blocks are checked as cudaMalloc memory).
if command -v compute-sanitizer > /dev/null; then
  LAMINA_CUDA_SYNC=1 compute-sanitizer --tool memcheck --error-exitcode 3 python -m pytest -q -p no:cacheprovider \
    tests/test_cuda_ops.py -k "broadcast_every_dtype and float32 or casts and float16 or reductions and float32 or softmax_family or matmul_shapes or linear" \
    > "$OUT/memcheck.log" 2>&1 || rc=1
  tail -3 "$OUT/memcheck.log"
fi
python -m lamina.bench matmul --quick --json "$OUT/bench_matmul.json" > "$OUT/bench_matmul.txt" 2>&1 || true
python -m lamina.bench gpu --threads 1 --json "$OUT/bench_gpu.json" > "$OUT/bench_gpu.txt" 2>&1 || true
cat "$OUT/bench_gpu.txt"
exit $rc
