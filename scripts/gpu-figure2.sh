#!/usr/bin/env bash
# One command for a lent GPU machine (issue 17): the Appendix B.1 loss (batch 256, K = 65,536, d = 128, forward +
# backward) in PyTorch eager and under torch.compile against Decomp's on the same GPU through PyTorch's own libtorch
# (DECOMP_LIBTORCH, see docs/platform notes), then Figure 2's --bench on CUDA (sgemm peak, GFLOP/s per estimator and K).
# Needs python3 with torch (CUDA) and the .NET SDK, or a Decomp.Bench / Decomp.Experiments.Synthetic build copied there.
#   scripts/gpu-figure2.sh            # prints B1_MS lines, the ratios, and the figure2 peak line
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python=${PYTHON:-python3}
torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
"$python" -c 'import torch; assert torch.cuda.is_available(), "PyTorch sees no CUDA device"'
if command -v dotnet >/dev/null; then
  dotnet build "$root/src/Bench" -c Release -nologo -v q >/dev/null
  dotnet build "$root/src/Experiments.Synthetic" -c Release -nologo -v q >/dev/null
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
"$python" "$root/src/Bench/reference/b1_loss_pytorch.py" --device cuda | tee "$out/pytorch.log"
DECOMP_LIBTORCH="$torch_lib" DECOMP_DEVICE=cuda dotnet "$root/src/Bench/bin/Release/net10.0/Decomp.Bench.dll" b1-loss | tee "$out/decomp.log"
ours=$(awk '/B1_MS decomp/ {print $3}' "$out/decomp.log")
for mode in eager compile; do
  theirs=$(awk -v m=$mode '$1 == "B1_MS" && $2 == m && $3 ~ /^[0-9.]+$/ {print $3}' "$out/pytorch.log")
  [[ -n "$theirs" ]] && echo "B.1 loss: Decomp ${ours} ms, PyTorch $mode ${theirs} ms, ratio Decomp / PyTorch $mode = $(awk "BEGIN { printf \"%.2f\", $ours / $theirs }")"
done
DECOMP_LIBTORCH="$torch_lib" dotnet "$root/src/Experiments.Synthetic/bin/Release/net10.0/Decomp.Experiments.Synthetic.dll" --bench --device cuda | tail -3
