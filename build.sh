#!/usr/bin/env bash
# Decomp's one entry point for a fresh machine (see README):
#   ./build.sh test [--quick]        build everything and run every test suite; ends with "N passed, N failed"
#   ./build.sh test-distributed      build and run only the multi-rank suites (under mpirun, 2 ranks); same last line
#   ./build.sh figure2 [options]     the main job: the paper's synthetic experiment (Figure 2) in out/figure2; --resume
#                                    continues the sweep there, --fresh computes it again; --help for options
#   ./build.sh bench-figure2 [options]  Figure 2's speed: this tree against commit 415ff9a (interleaved, best of two),
#                                    then GFLOP/s against this machine's sgemm peak and the projected --full time
#   ./build.sh estimate [options]    the decomp tool: MI or conditional MI from CSV/TSV, .npy or Parquet files; --help
#   ./build.sh notebooks [files]     run notebooks (default: paper-notebooks/*.ipynb) in full in the real .NET Interactive
#                                    kernel (dotnet repl) and write their outputs back into them
# Everything the commands need (the paket tool, packages, the Debian 12 native fix) happens inside them.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

results=artifacts/test-results

restore() {
  dotnet tool restore >/dev/null
}

# Expecto suites are console apps; each writes a JUnit summary we count from. Notebooks.Tests runs every notebook in
# paper-notebooks/ in the real kernel (dotnet repl) in quick mode, one test per notebook.
expecto_suites=(tests/Core.Tests tests/Experiments.Tests tests/Benchmarks.Tests tests/Notebooks.Tests)
# xUnit suites run under `dotnet test`; each writes a TRX file we count from.
xunit_suites=(tests/Api.Tests tests/Apps.Tests tests/Cli.Tests tests/Dialogue.Tests tests/Vision.Tests)

count_junit() { # file -> "passed failed"; Expecto's JUnit file has one <testcase> per test, failures as children
  local f=$1 cases failures skipped
  cases=$({ grep -o '<testcase ' "$f" || true; } | wc -l)
  failures=$({ grep -oE '<(failure|error)[ >]' "$f" || true; } | wc -l)
  skipped=$({ grep -oE '<skipped[ />]' "$f" || true; } | wc -l)
  echo "$(( cases - failures - skipped )) $failures"
}

count_trx() { # file -> "passed failed"
  local f=$1 passed failed
  passed=$(grep -o '<Counters [^>]*' "$f" | grep -o ' passed="[0-9]*"' | tr -dc 0-9)
  failed=$(grep -o '<Counters [^>]*' "$f" | grep -o ' failed="[0-9]*"' | tr -dc 0-9)
  echo "${passed:-0} ${failed:-0}"
}

# MPICH (mpirun.mpich, libmpich.so.12) for the distributed suites: installed here when missing, as the README says.
ensure_mpich() {
  command -v mpirun.mpich >/dev/null && { [[ -n "${DECOMP_MPI_LIBRARY:-}" ]] || [[ $(/sbin/ldconfig -p 2>/dev/null | grep -c "libmpich.so.12 ") -gt 0 ]]; } && return 0
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  echo "installing MPICH (apt-get install mpich) for the distributed tests ..."
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mpich >/dev/null
}

# The multi-rank suites of tests/Distributed.Tests: the collective tests run on every rank of a 2-rank mpirun job (rank 0
# writes the JUnit file; each test's result is agreed by both ranks), the job tests start their own mpirun jobs (a
# killed rank, a hanging rank). Adds to the caller's passed/failed/status.
distributed_dll=tests/Distributed.Tests/bin/Release/net10.0/Decomp.Distributed.Tests.dll
run_distributed_suites() {
  local p f name
  if ! ensure_mpich; then echo "MPICH is missing and could not be installed: the distributed suites count as failed"; failed=$((failed + 2)); status=1; return; fi
  name=Distributed.Tests
  timeout 600 mpirun.mpich -np 2 dotnet "$distributed_dll" --summary --junit-summary "$PWD/$results/$name.xml" || status=1
  if [[ -f "$results/$name.xml" ]]; then read -r p f < <(count_junit "$results/$name.xml"); else p=0; f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  name=Distributed.Jobs
  timeout 600 dotnet "$distributed_dll" --summary --junit-summary "$PWD/$results/$name.xml" || status=1
  if [[ -f "$results/$name.xml" ]]; then read -r p f < <(count_junit "$results/$name.xml"); else p=0; f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
}

run_distributed_tests() {
  restore
  mkdir -p "$results"
  dotnet build tests/Distributed.Tests -c Release -nologo -clp:NoSummary -v:q
  dotnet build src/Train.Vision -c Release -nologo -clp:NoSummary -v:q
  local passed=0 failed=0 status=0
  run_distributed_suites
  # A line of its own: a suite may leave a terminal reset code (Expecto's \e[0m) without a newline, and .ci/run reads
  # the last line as it is.
  printf '\n%s passed, %s failed\n' "$passed" "$failed"
  [[ $status -eq 0 && $failed -eq 0 ]]
}

run_tests() {
  restore
  rm -rf "$results"; mkdir -p "$results"
  dotnet build Decomp.sln -c Release -nologo -clp:NoSummary
  local passed=0 failed=0 status=0 p f name
  for suite in "${expecto_suites[@]}"; do
    name=$(basename "$suite")
    dotnet run --project "$suite" -c Release --no-build -- --summary --junit-summary "$PWD/$results/$name.xml" "$@" || status=1
    if [[ -f "$results/$name.xml" ]]; then read -r p f < <(count_junit "$results/$name.xml"); else p=0; f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
  done
  for suite in "${xunit_suites[@]}"; do
    name=$(basename "$suite")
    dotnet test "$suite" -c Release --no-build --nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" || status=1
    if [[ -f "$results/$name.trx" ]]; then read -r p f < <(count_trx "$results/$name.trx"); else p=0; f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
  done
  run_distributed_suites
  # A line of its own: a suite may leave a terminal reset code (Expecto's \e[0m) without a newline, and .ci/run reads
  # the last line as it is.
  printf '\n%s passed, %s failed\n' "$passed" "$failed"
  [[ $status -eq 0 && $failed -eq 0 ]]
}

# Full runs whose outputs are committed: each notebook in its own kernel, started in the notebook's folder (as VS Code
# does) with the default kernel its metadata names; a notebook is rewritten only when every cell ran without an error.
run_notebooks() {
  restore
  dotnet build src/Notebooks -c Release -nologo -clp:NoSummary -v:q
  local notebooks=("$@") failed=0 notebook folder name kernel start runs="$PWD/artifacts/notebook-runs"
  [[ ${#notebooks[@]} -gt 0 ]] || notebooks=(paper-notebooks/*.ipynb)
  mkdir -p "$runs"
  for notebook in "${notebooks[@]}"; do
    folder=$(cd "$(dirname "$notebook")" && pwd); name=$(basename "$notebook")
    kernel=fsharp; grep -q '"defaultKernelName": *"csharp"' "$notebook" && kernel=csharp
    start=$(date +%s)
    if (cd "$folder" && dotnet dotnet-repl --default-kernel "$kernel" --run "$name" --exit-after-run \
          --output-format ipynb --output-path "$runs/$name" > "$runs/$name.log" 2>&1); then
      mv "$runs/$name" "$notebook"
      echo "PASS $notebook ($(( $(date +%s) - start )) s)"
    else
      failed=$((failed + 1))
      echo "FAIL $notebook ($(( $(date +%s) - start )) s): left unchanged; outputs in artifacts/notebook-runs/$name, log in artifacts/notebook-runs/$name.log"
    fi
  done
  [[ $failed -eq 0 ]]
}

case "${1:-}" in
  test) shift; run_tests "$@" ;;
  test-distributed) shift; run_distributed_tests ;;
  figure2) shift; restore; exec dotnet run --project src/Experiments.Synthetic -c Release -- "$@" ;;
  bench-figure2) shift; restore; exec src/Experiments.Synthetic/bench-figure2.sh "$@" ;;
  # Run from the caller's folder, so that relative --x/--y/--z/--output paths mean what they say there.
  estimate) shift; restore; root=$PWD; cd "$caller"; exec dotnet run --project "$root/src/Cli" -c Release -- estimate "$@" ;;
  notebooks) shift; run_notebooks "$@" ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
