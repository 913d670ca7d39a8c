#!/usr/bin/env bash
# Kill-and-resume check on Fashion-MNIST: trains one run without interruption, trains the same run again, kills it with
# SIGKILL in the middle of its second epoch (after its step-30 checkpoint and its step-35 log line, so that the resumed
# run must drop that line and redo steps 31-35), resumes it with --resume, and compares the
# two: every deterministic column of metrics.csv and every result in summary.json must be identical.
#   src/Train.Vision/check-resume.sh [--out DIR]        (about 2-4 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=runs/vision-resume-check
if [[ ${1:-} == --out ]]; then out=$2; fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore >/dev/null
dotnet build src/Train.Vision/Train.Vision.csproj -c Release -nologo -v q -clp:NoSummary
driver=(dotnet src/Train.Vision/bin/Release/net10.0/Decomp.Train.Vision.dll)
# 6000 training images in batches of 256: 23 steps per epoch, 46 steps in all; step 30 is inside the second epoch.
options=(--train-limit 6000 --test-limit 2000 --epochs 2 --checkpoint-every 10 --log-every 5 --knn-every 10
         --knn-bank-size 2000 --knn-query-size 1000 --probe-epochs 10 --seed 7)
rm -rf "$out"; mkdir -p "$out"

echo "== uninterrupted run"
"${driver[@]}" "${options[@]}" --output "$out/uninterrupted" > "$out/uninterrupted.log" 2>&1

echo "== run to be killed"
"${driver[@]}" "${options[@]}" --output "$out/killed" > "$out/killed.log" 2>&1 &
pid=$!
until grep -q "checkpoint at step 30 " "$out/killed.log" && grep -q "^35," "$out/killed/metrics.csv"; do
  if ! kill -0 "$pid" 2>/dev/null; then echo "error: the run ended before step 35" >&2; exit 1; fi
  sleep 0.1
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
echo "   killed with SIGKILL after: $(grep -c '' "$out/killed/metrics.csv") lines of metrics.csv (last: $(tail -1 "$out/killed/metrics.csv" | cut -d, -f1-2))"

echo "== resumed run"
"${driver[@]}" --output "$out/killed" --resume > "$out/resumed.log" 2>&1
grep "resumed from" "$out/resumed.log"

deterministic() { cut -d, -f1,2,4-9 "$1"; }  # drops elapsed_seconds and images_per_second
results() { grep -E '"(Steps|KnnTop1|ProbeTop1|ProbeTop5|ProbeTrainTop1|FinalFullViewBound|FinalRestrictedViewBound|FinalConditionalBound)"' "$1"; }
status=0
if diff <(deterministic "$out/uninterrupted/metrics.csv") <(deterministic "$out/killed/metrics.csv"); then
  echo "metrics.csv: identical ($(grep -c '' "$out/killed/metrics.csv") lines)"
else
  echo "metrics.csv: DIFFERENT"; status=1
fi
if diff <(results "$out/uninterrupted/summary.json") <(results "$out/killed/summary.json"); then
  echo "summary.json: identical results:"; results "$out/killed/summary.json" | sed 's/^ */   /'
else
  echo "summary.json: DIFFERENT"; status=1
fi
[[ $status -eq 0 ]] && echo "PASS: the killed and resumed run ends exactly like the uninterrupted one" || echo "FAIL"
exit $status
