#!/usr/bin/env bash
# Times the Figure 2 sweep in .NET (this app) and in PyTorch (reference/figure2_pytorch.py) on the same machine, with
# the same MI values, K, steps, batch shapes and evaluation batches, and prints the ratio. Any options are passed to
# both (the ones they share: --mi --k --estimators --seeds --steps --dimensions --width --learning-rate
# --conditional-examples --evaluation-batches --threads). Give --threads to compare at equal parallelism: Debian's
# PyTorch build may run its operators on one thread only (it prints how many it uses). Needs Debian's python3-torch (apt-get install python3-torch).
#   src/Experiments.Synthetic/bench.sh                       # the default sweep
#   src/Experiments.Synthetic/bench.sh --mi 20 --k 64,512 --seeds 1
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python=/usr/bin/python3
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "bench.sh: PyTorch is missing; install Debian's python3-torch (apt-get install -y python3-torch)" >&2
  exit 2
fi
dotnet build "$here" -c Release -nologo -v q >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== .NET (Decomp, TorchSharp)"
dotnet "$here/bin/Release/net10.0/Decomp.Experiments.Synthetic.dll" "$@" --output "$out/figure2" --fresh | tee "$out/dotnet.log" | grep -E "^\[|Sweep time|Figure 2 sweep"
echo "== PyTorch"
"$python" "$here/reference/figure2_pytorch.py" "$@" | tee "$out/pytorch.log"
dotnet_seconds=$(grep -oE 'SWEEP_SECONDS [0-9.]+' "$out/dotnet.log" | awk '{print $2}')
pytorch_seconds=$(grep -oE 'SWEEP_SECONDS [0-9.]+' "$out/pytorch.log" | awk '{print $2}')
echo
echo "sweep time: .NET ${dotnet_seconds} s, PyTorch ${pytorch_seconds} s, ratio .NET / PyTorch = $(awk "BEGIN { printf \"%.2f\", $dotnet_seconds / $pytorch_seconds }")"
