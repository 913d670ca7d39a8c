#!/usr/bin/env bash
# The budgeted comparison of the dialogue experiment: GPT2, GPT2+InfoNCE and GPT2+InfoNCE_S on the generated corpus
# with the tiny model, each for a fixed wall-clock budget, for two seeds; then one Markdown table of their metrics.
#
#   src/Train.Dialogue/run-budgeted.sh [BUDGET_MINUTES=10] [OUT=runs/dialogue-budgeted] [-- extra train options]
#
# Environment: SEEDS (default "1 2"), METHODS (default "gpt2 infonce infonce-s"), THREADS (TorchSharp CPU threads;
# default 0 = TorchSharp's choice; 1 is faster when other work shares the cores).
# Runs go one after another (seed-major, so a partial sweep still compares the methods). Running the script again
# keeps finished runs (those with metrics.json) and resumes interrupted ones from their checkpoints.
# Results: OUT/results.md (per run, and mean ± std per method), OUT/corpus.md (the corpus's statistics), and each
# run's folder (metrics.json, samples.md, CSV logs, PNG curves, checkpoint, best weights) and log.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

budget=${1:-10}
out=${2:-runs/dialogue-budgeted}
shift $(( $# < 2 ? $# : 2 ))
[[ "${1:-}" == "--" ]] && shift
seeds=${SEEDS:-1 2}
methods=${METHODS:-gpt2 infonce infonce-s}
threads=${THREADS:-0}

dotnet tool restore >/dev/null
dotnet build src/Train.Dialogue -c Release -nologo -v q -clp:NoSummary
app=(dotnet src/Train.Dialogue/bin/Release/net10.0/Train.Dialogue.dll)
mkdir -p "$out"
"${app[@]}" setup

for seed in $seeds; do
  for method in $methods; do
    dir="$out/$method-seed$seed"
    if [[ -f "$dir/metrics.json" ]]; then echo "== $dir: done already"; continue; fi
    resume=()
    [[ -f "$dir/checkpoint.safetensors" ]] && resume=(--resume)
    echo "== $dir: $method, seed $seed, budget $budget min ${resume[*]}"
    # The budget, not the epoch count, ends each run; the learning rate decays to zero over the budget.
    "${app[@]}" train --method "$method" --seed "$seed" --budget-minutes "$budget" --epochs 100000 \
      --threads "$threads" --output "$dir" "${resume[@]}" "$@" 2>&1 | tee -a "$out/$method-seed$seed.log"
  done
done

"${app[@]}" report "$out" --output "$out/results.md"
# Every run describes the corpus it trained on; they share one (the corpus seed is fixed), so the first one speaks for all.
first=$(ls -d "$out"/*/corpus.md 2>/dev/null | head -n 1)
[[ -n "$first" ]] && cp "$first" "$out/corpus.md"
echo "wrote $out/results.md and $out/corpus.md"
