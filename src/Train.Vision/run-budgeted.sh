#!/usr/bin/env bash
# The budgeted Fashion-MNIST comparison (issue 7): for each seed, the InfoNCE baseline (lambda = 1), the decomposition
# with the crop view, and the decomposition "without conditional MI", each trained for --budget minutes on the default
# MoCo set-up and small CNN, then linearly probed; plus the same probe on a randomly initialised encoder. Runs one after
# another (each uses all cores), skips runs that finished, resumes runs that were interrupted, and ends with a Markdown
# table (mean ± sd over seeds) in <out>/results.md.
#
#   src/Train.Vision/run-budgeted.sh [--budget MINUTES] [--seeds "1 2"] [--out DIR] [-- extra driver options]
#
# Defaults: --budget 20 --seeds "1 2" --out runs/vision-budgeted. About (budget + 2) minutes per trained run, so
# 3 methods x 2 seeds at 20 minutes take about 2 h 15 min on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
budget=20
seeds="1 2"
out=runs/vision-budgeted
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --budget) budget=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "error: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore >/dev/null
dotnet build src/Train.Vision/Train.Vision.csproj -c Release -nologo -v q -clp:NoSummary
driver=(dotnet src/Train.Vision/bin/Release/net10.0/Decomp.Train.Vision.dll)
src/Train.Vision/setup-data.sh

mkdir -p "$out"
folders=()
run() { # name, then driver options
  local name=$1; shift
  local folder=$out/$name
  folders+=("$folder")
  if [[ -f $folder/summary.json ]]; then echo "== $name: finished earlier, kept"; return; fi
  local resume=()
  if [[ -f $folder/checkpoint.safetensors ]]; then resume=(--resume); echo "== $name: resuming"; else echo "== $name"; fi
  "${driver[@]}" --output "$folder" "$@" "${extra[@]}" "${resume[@]}" 2>&1 | tee -a "$out/$name.log"
}

for seed in $seeds; do
  run "infonce-seed$seed" --objective infonce --budget-minutes "$budget" --seed "$seed"
  run "decomposed-crop-seed$seed" --objective decomposed --restricted-view crop --budget-minutes "$budget" --seed "$seed"
  run "without-conditional-crop-seed$seed" --objective decomposed-without-conditional --restricted-view crop --budget-minutes "$budget" --seed "$seed"
  run "random-init-seed$seed" --epochs 0 --seed "$seed"
done

"${driver[@]}" summarize "${folders[@]}" --markdown "$out/results.md"
echo "Table written to $out/results.md"
