#!/usr/bin/env bash
# Issue 17's benchmark: the Figure 2 sweep before batching (commit 415ff9a, built in a temporary git worktree outside
# the repository) and now (this tree), the same command with the same options, interleaved, best of two each; then this
# tree's --bench (the sgemm peak, GFLOP/s per estimator and K, where a step's time goes, the projected --full time).
# Prints the machine's load with each measurement and each sweep's peak resident memory (GNU time's %M).
#   ./build.sh bench-figure2                       # the default sweep
#   ./build.sh bench-figure2 --mi 20 --k 64,512    # any figure2 options, passed to both
# DECOMP_BENCH_BASE=<commit> compares against another commit; DECOMP_BENCH_ROUNDS=<n> changes the two rounds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
base=${DECOMP_BENCH_BASE:-415ff9a}
rounds=${DECOMP_BENCH_ROUNDS:-2}
old="/tmp/fig2-old-$base"
if [[ ! -d "$old" ]]; then
  git -C "$root" worktree add --detach "$old" "$base" >/dev/null
fi
(cd "$old" && dotnet tool restore >/dev/null && dotnet build src/Experiments.Synthetic -c Release -nologo -v q -clp:NoSummary >/dev/null)
dotnet build "$here" -c Release -nologo -v q -clp:NoSummary >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sweep() { # name dll round -> prints "seconds peak-kB"
  local name=$1 dll=$2 round=$3 log="$out/$1-$3.log"
  shift 3
  echo "== $name, round $round: $(uptime | sed 's/.*load/load/')" >&2
  /usr/bin/time -f 'PEAK_RSS_KB %M' -o "$out/$name-$round.time" dotnet "$dll" "$@" --output "$out/$name-$round" --fresh > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
  echo "$(grep -oE 'SWEEP_SECONDS [0-9.]+' "$log" | awk '{print $2}') $(awk '/PEAK_RSS_KB/ {print $2}' "$out/$name-$round.time")"
}
args=("$@")
best_old=""; best_new=""; rss_old=0; rss_new=0
for round in $(seq 1 "$rounds"); do
  read -r s m < <(sweep old "$old/src/Experiments.Synthetic/bin/Release/net10.0/Decomp.Experiments.Synthetic.dll" "$round" "${args[@]}")
  echo "old (${base}) round $round: $s s, peak RSS $((m / 1024)) MiB"
  [[ -z "$best_old" ]] || (( $(awk "BEGIN {print ($s < $best_old)}") )) && best_old=$s
  (( m > rss_old )) && rss_old=$m
  read -r s m < <(sweep new "$here/bin/Release/net10.0/Decomp.Experiments.Synthetic.dll" "$round" "${args[@]}")
  echo "new (batched) round $round: $s s, peak RSS $((m / 1024)) MiB"
  [[ -z "$best_new" ]] || (( $(awk "BEGIN {print ($s < $best_new)}") )) && best_new=$s
  (( m > rss_new )) && rss_new=$m
done
echo
echo "This tree's summary (last round):"
sed -n '/^| true MI/,/^$/p' "$out/new-$rounds.log"
echo "sweep time, best of $rounds: old ${best_old} s, new ${best_new} s; speed-up old / new = $(awk "BEGIN { printf \"%.2f\", $best_old / $best_new }"); peak RSS old $((rss_old / 1024)) MiB, new $((rss_new / 1024)) MiB"
echo
echo "== --bench: $(uptime | sed 's/.*load/load/')"
dotnet "$here/bin/Release/net10.0/Decomp.Experiments.Synthetic.dll" --bench "${args[@]}"
