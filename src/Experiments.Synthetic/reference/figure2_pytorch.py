"""The Figure 2 sweep written in PyTorch: the reference the .NET app is timed against (see ../bench.sh).

Same experiment as Decomp.Experiments.Figure2 (Section 5.1, Appendix B.2): x', x'', y jointly Gaussian with d dimensions
each and the total I({x', x''}; y) split at random; one-hidden-layer ReLU MLP encoders f (for [x', x'']) and g (for y)
with a dot-product critic; Adam at 5e-4; the same K, steps, batch shapes and evaluation batches for each estimator:
InfoNCE in-batch (batch K), InfoNCE_S (batch K/2, conditional term on at most `conditional_examples` examples with K/2-1
negatives each drawn exactly from p(y | x')), InfoNCE_S IS in-batch (batch K). Random streams differ from .NET's, so
numbers agree in distribution, not digit for digit. Prints one line per run and `SWEEP_SECONDS <s>` at the end.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def problem(d, total_mi, g):
    """Per dimension: x' = z', x'' = rho z' + s z'', y = c1 z' + c2 z'' + sigma eps (see Decomp.Core.Gaussian)."""
    u = -torch.log(torch.rand(d, generator=g, dtype=torch.float64))
    mi = total_mi * u / u.sum()
    alpha = torch.rand(d, generator=g, dtype=torch.float64)
    rho = (torch.rand(d, generator=g, dtype=torch.float64) * 2 - 1) * 0.8
    sign1 = torch.where(torch.rand(d, generator=g) < 0.5, -1.0, 1.0).double()
    sign2 = torch.where(torch.rand(d, generator=g) < 0.5, -1.0, 1.0).double()
    c1 = sign1 * torch.sqrt(-torch.expm1(-2 * alpha * mi))
    c2 = sign2 * torch.sqrt(torch.exp(-2 * alpha * mi) - torch.exp(-2 * mi))
    sigma = torch.exp(-mi)
    return dict(rho=rho.float(), s=torch.sqrt(1 - rho ** 2).float(), c1=c1.float(), c2=c2.float(), sigma=sigma.float(),
                conditional_std=torch.sqrt(c2 ** 2 + sigma ** 2).float())


def sample_joint(p, n, g):
    d = p["rho"].shape[0]
    z1, z2, e = (torch.randn(n, d, generator=g) for _ in range(3))
    return z1, p["rho"] * z1 + p["s"] * z2, p["c1"] * z1 + p["c2"] * z2 + p["sigma"] * e


def sample_y_given_x1(p, x1, k, g):
    noise = torch.randn(x1.shape[0], k, x1.shape[1], generator=g)
    return (p["c1"] * x1).unsqueeze(1) + p["conditional_std"] * noise


def mlp(inputs, width):
    return torch.nn.Sequential(torch.nn.Linear(inputs, width), torch.nn.ReLU(), torch.nn.Linear(width, width))


def in_batch_nce(q, k):
    scores = q @ k.T
    return (scores.diagonal() - scores.logsumexp(1) + math.log(scores.shape[1]))


def importance_sampled(scores, proposal):
    """I_IS over in-batch K x K matrices (positives on the diagonal, weights over the off-diagonal negatives)."""
    kk = scores.shape[0]
    eye = torch.eye(kk, dtype=torch.bool)
    positive = scores.diagonal()
    log_w = proposal.masked_fill(eye, float("-inf")).log_softmax(1)
    negative = (log_w + scores.masked_fill(eye, float("-inf"))).logsumexp(1) + math.log(kk - 1)
    return positive - torch.logaddexp(positive, negative) + math.log(kk)


def estimate(estimator, k, conditional_examples, p, f, g_net, gen):
    batch = k // 2 if estimator == "infonce-s" else k
    x1, x2, y = sample_joint(p, batch, gen)
    joint = f(torch.cat([x1, x2], 1))
    keys = g_net(y)
    if estimator == "infonce":
        return in_batch_nce(joint, keys).mean()
    first = f(torch.cat([x1, torch.zeros_like(x2)], 1))
    if estimator == "infonce-s-is":
        return (in_batch_nce(first, keys) + importance_sampled(joint @ keys.T, first @ keys.T)).mean()
    n = min(conditional_examples, batch)
    negatives = g_net(sample_y_given_x1(p, x1[:n], k // 2 - 1, gen))
    candidates = torch.cat([keys[:n].unsqueeze(1), negatives], 1)
    scores = (candidates @ joint[:n].unsqueeze(-1)).squeeze(-1)
    conditional = scores[:, 0] - scores.logsumexp(1) + math.log(scores.shape[1])
    return in_batch_nce(first, keys).mean() + conditional.mean()


def run(mi, k, estimator, seed, args):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    p = problem(args.dimensions, mi, gen)
    f, g_net = mlp(2 * args.dimensions, args.width), mlp(args.dimensions, args.width)
    optimizer = torch.optim.Adam(list(f.parameters()) + list(g_net.parameters()), lr=args.learning_rate)
    for _ in range(args.steps):
        value = estimate(estimator, k, args.conditional_examples, p, f, g_net, gen)
        optimizer.zero_grad()
        (-value).backward()
        optimizer.step()
    with torch.no_grad():
        values = [estimate(estimator, k, args.conditional_examples, p, f, g_net, gen).item() for _ in range(args.evaluation_batches)]
    return sum(values) / len(values)


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--mi", default="10,20")
    a.add_argument("--k", default="16,32,64,128,256,512")
    a.add_argument("--estimators", default="infonce,infonce-s,infonce-s-is")
    a.add_argument("--seeds", type=int, default=2)
    a.add_argument("--steps", type=int, default=500)
    a.add_argument("--dimensions", type=int, default=20)
    a.add_argument("--width", type=int, default=100)
    a.add_argument("--learning-rate", type=float, default=5e-4)
    a.add_argument("--conditional-examples", type=int, default=64)
    a.add_argument("--evaluation-batches", type=int, default=20)
    a.add_argument("--threads", type=int, default=None)
    args = a.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    start = time.perf_counter()
    for mi in [float(v) for v in args.mi.split(",")]:
        for k in [int(v) for v in args.k.split(",")]:
            for estimator in args.estimators.split(","):
                for seed in range(1, args.seeds + 1):
                    t = time.perf_counter()
                    value = run(mi, k, estimator, seed, args)
                    print(f"MI {mi:g} K {k} {estimator} seed {seed}: {value:.3f} nats in {time.perf_counter() - t:.1f} s", flush=True)
    print(f"SWEEP_SECONDS {time.perf_counter() - start:.2f}", flush=True)


if __name__ == "__main__":
    main()
