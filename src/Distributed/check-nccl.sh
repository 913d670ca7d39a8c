#!/usr/bin/env bash
# The NCCL engine's check on a GPU machine. NOT YET RUN: written on a CPU-only machine; nobody has run it on a GPU.
#
#   DECOMP_LIBTORCH=<site-packages>/torch/lib src/Distributed/check-nccl.sh [ranks]
#
# Needs: NVIDIA GPUs, a PyTorch install (its libtorch and its libnccl.so.2), MPICH (apt-get install mpich) and the
# .NET 10 SDK. Runs tests/Distributed.Tests under mpirun with DECOMP_TEST_DEVICE=cuda: every rank sees one GPU
# (CUDA_VISIBLE_DEVICES = its local rank), so the gathers, all-reduces and broadcasts of the gradient test and of the
# SimCLR and MoCo equivalence checks (2 ranks x B/2 against 1 x B, 20 SGD steps) go through NCCL; shapes and the
# barrier go through MPI. `ranks` defaults to the number of GPUs, at most 2 (1 GPU: NCCL on one rank, where the
# equivalence is trivial but every NCCL call still runs). Ends with Expecto's summary; exit 0 when all passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DECOMP_LIBTORCH:?set DECOMP_LIBTORCH to a CUDA-enabled libtorch folder, e.g. <site-packages>/torch/lib}"
gpus=$(nvidia-smi -L | wc -l)
ranks=${1:-$(( gpus < 2 ? gpus : 2 ))}
if [[ -z "${DECOMP_NCCL_LIBRARY:-}" ]]; then
  # pip's PyTorch keeps NCCL in site-packages/nvidia/nccl/lib, next to torch/.
  candidate=$(cd "$DECOMP_LIBTORCH/../.." && pwd)/nvidia/nccl/lib/libnccl.so.2
  [[ -f "$candidate" ]] && export DECOMP_NCCL_LIBRARY=$candidate
fi
export DECOMP_LIBTORCH DECOMP_TEST_DEVICE=cuda
dotnet build tests/Distributed.Tests -c Release -nologo -clp:NoSummary -v:q
# MPICH's Hydra gives each rank MPI_LOCALRANKID, its index on this machine.
exec mpirun.mpich -np "$ranks" bash -c 'CUDA_VISIBLE_DEVICES=$MPI_LOCALRANKID exec dotnet tests/Distributed.Tests/bin/Release/net10.0/Decomp.Distributed.Tests.dll --summary'
