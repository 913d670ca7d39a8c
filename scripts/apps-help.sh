#!/usr/bin/env bash
# Every Decomp app's command line side by side: which of the shared options (README, "The apps' command lines") each
# app takes, as its own --help prints them, and what each does with a bad --threads. Needs a Release build
# (dotnet build Decomp.sln -c Release). Usage: scripts/apps-help.sh [--full]   (--full prints each app's whole --help)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin() { echo "$root/src/$1/bin/Release/net10.0/$2.dll"; }
names=("decomp-figure2" "decomp-bench" "vision" "dialogue train" "decomp estimate" "decomp benchmark")
commands=("$(bin Experiments.Synthetic Decomp.Experiments.Synthetic)"
          "$(bin Bench Decomp.Bench)"
          "$(bin Train.Vision Decomp.Train.Vision)"
          "$(bin Train.Dialogue Train.Dialogue) train"
          "$(bin Cli Decomp.Cli) estimate"
          "$(bin Cli Decomp.Cli) benchmark")
shared=(--output --device --threads --seed --resume --budget-minutes)
for i in "${!names[@]}"; do
  [[ -f ${commands[$i]%% *} ]] || { echo "apps-help: ${commands[$i]%% *} is not built: run dotnet build Decomp.sln -c Release" >&2; exit 2; }
done
help() { dotnet ${commands[$1]} --help 2>&1; }
if [[ ${1:-} == --full ]]; then
  for i in "${!names[@]}"; do echo "===== ${names[$i]} --help"; help "$i"; echo; done
fi
printf '| option |'; for n in "${names[@]}"; do printf ' %s |' "$n"; done; echo
printf '|---|'; for _ in "${names[@]}"; do printf -- '---|'; done; echo
declare -A text
for i in "${!names[@]}"; do text[$i]="$(help "$i")"; done
for o in "${shared[@]}"; do
  printf '| `%s` |' "$o"
  for i in "${!names[@]}"; do
    # The option's own line: "  -o, --output <DIR>  ..." (System.CommandLine) or "    --output <folder>  ..." (Argu).
    line="$(grep -E -- "^ +(-{1,2}[a-z?-]+, )*$o( |,|$)" <<<"${text[$i]}" | head -1 | sed -E 's/^ +//; s/ {2,}.*//; s/(>) .*/\1/')"
    printf ' %s |' "${line:--}"
  done
  echo
done
printf '| `--threads -1` |'
for i in "${!names[@]}"; do
  args=(--threads -1)
  [[ ${names[$i]} == decomp-bench ]] && args+=(memory)
  [[ ${names[$i]} == "decomp estimate" ]] && args+=(--x a.csv --y a.csv)
  err="$(dotnet ${commands[$i]} "${args[@]}" 2>&1 >/dev/null)"; code=$?
  printf ' exit %s, %s line(s) |' "$code" "$(grep -c . <<<"$err")"
done
echo
