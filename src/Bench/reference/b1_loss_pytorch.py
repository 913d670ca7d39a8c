#!/usr/bin/env python3
"""The Appendix B.1 loss (MemoryBank.decomposedLoss, DecomposedLossSettings.Paper: lambda 0.5, temperature 0.2, cosine,
with the conditional I_IS term) in PyTorch, forward + backward, timed in eager mode and under torch.compile. The same
shapes and formula as `Decomp.Bench b1-loss`, so scripts/gpu-figure2.sh can print the ratio.

    python3 src/Bench/reference/b1_loss_pytorch.py [--device cuda] [--batch 256] [--candidates 65536] [--features 128]
Prints one line per mode: "B1_MS <mode> <milliseconds per forward + backward>".
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def b1_loss(full, restricted, keys, bank, lam=0.5, temperature=0.2):
    batch = full.shape[0]
    queries = F.normalize(torch.cat([full, restricted]), dim=-1)
    keys = F.normalize(keys, dim=-1)
    positive = (queries * torch.cat([keys, keys])).sum(1, keepdim=True)
    logits = torch.cat([positive, queries @ F.normalize(bank, dim=-1).T], 1) / temperature
    lf, lr = logits[:batch], logits[batch:]
    k = lf.shape[1]
    log_k = math.log(k)
    nce_full = lf[:, 0] - lf.logsumexp(1) + log_k
    nce_restricted = lr[:, 0] - lr.logsumexp(1) + log_k
    # I_IS: the restricted view's logits are the importance weights' critic over the negatives.
    negative_mass = (lr[:, 1:] + lf[:, 1:]).logsumexp(1) - lr[:, 1:].logsumexp(1) + math.log(k - 1)
    importance_sampled = lf[:, 0] - torch.logaddexp(lf[:, 0], negative_mass) + log_k
    objective = lam * nce_full + (1 - lam) * (nce_restricted + importance_sampled)
    return (-objective).mean() + (lam + 2 * (1 - lam)) * log_k


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--candidates", type=int, default=65536)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator(device="cpu").manual_seed(2)
    full = torch.randn(args.batch, args.features, generator=g).to(device).requires_grad_(True)
    restricted = torch.randn(args.batch, args.features, generator=g).to(device).requires_grad_(True)
    keys = torch.randn(args.batch, args.features, generator=g).to(device)
    bank = torch.randn(args.candidates - 1, args.features, generator=g).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(loss_fn):
        def once():
            full.grad = None
            restricted.grad = None
            loss_fn(full, restricted, keys, bank).backward()
        for _ in range(5):
            once()
        sync()
        start = time.perf_counter()
        for _ in range(args.repeats):
            once()
        sync()
        return 1000 * (time.perf_counter() - start) / args.repeats

    print(f"B.1 loss forward + backward, batch {args.batch}, K {args.candidates}, {args.features} features, on {device} (PyTorch {torch.__version__})")
    print(f"B1_MS eager {timed(b1_loss):.3f}")
    try:
        print(f"B1_MS compile {timed(torch.compile(b1_loss)):.3f}")
    except Exception as e:  # torch.compile needs a working compiler tool chain (triton on CUDA)
        print(f"B1_MS compile unavailable ({type(e).__name__}: {str(e).splitlines()[0]})")


if __name__ == "__main__":
    main()
