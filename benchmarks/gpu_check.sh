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
python -m pytest tests/test_cuda.py -v -p no:cacheprovider > "$OUT/tests_cuda.log" 2>&1 || rc=1
python -m lamina.bench matmul --quick --json "$OUT/bench_matmul.json" > "$OUT/bench_matmul.txt" 2>&1 || true
exit $rc
