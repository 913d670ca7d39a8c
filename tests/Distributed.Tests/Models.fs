/// A small encoder written as a function of its parameters, so that one process can run it over any BatchNorm groups:
/// `x -> relu(batchnorm(x W1 + b1)) W2`, with BatchNorm over the rows of each group (training mode, biased variance).
module Decomp.Distributed.Tests.Models

open TorchSharp

type Parameters = torch.Tensor list

let inputs, hidden, outputs = 6L, 16L, 8L

/// Parameters from a seed: W1 [inputs, hidden], b1, gamma, beta [hidden], W2 [hidden, outputs].
let create (seed: int64) : Parameters =
    use generator = new torch.Generator(uint64 seed)
    let draw (shape: int64[]) (scale: float) =
        (torch.randn(shape, generator = generator) * scale).``to``(Harness.device).requires_grad_(true)
    [ draw [| inputs; hidden |] 0.5
      draw [| hidden |] 0.1
      (torch.ones([| hidden |]) + torch.randn([| hidden |], generator = generator) * 0.1).``to``(Harness.device).requires_grad_(true)
      draw [| hidden |] 0.1
      draw [| hidden; outputs |] 0.5 ]

let private forwardGroup (p: Parameters) (x: torch.Tensor) =
    match p with
    | [ w1; b1; gamma; beta; w2 ] ->
        let h = x.matmul(w1) + b1
        let mean = h.mean([| 0L |], true)
        let variance = (h - mean).pow((2.0).ToScalar()).mean([| 0L |], true)
        let normalised = (h - mean) / variance.add((1e-5).ToScalar()).sqrt()
        (normalised * gamma + beta).relu().matmul(w2)
    | _ -> failwith "five parameters"

/// The encoder over `groups` consecutive BatchNorm groups of equal size (1: the whole batch).
let forward (p: Parameters) (groups: int) (x: torch.Tensor) =
    if groups = 1 then forwardGroup p x
    else torch.cat(x.chunk(int64 groups, 0L) |> Array.map (forwardGroup p), 0L)

/// Plain SGD, in place: theta <- theta - lr * grad.
let sgd (lr: float) (p: Parameters) =
    use _ = torch.no_grad ()
    for t in p do
        t.sub_(t.grad.mul(lr.ToScalar())) |> ignore
        t.grad.zero_() |> ignore

/// MoCo's momentum update of the key encoder: k <- m k + (1 - m) q.
let momentumUpdate (m: float) (keys: Parameters) (queries: Parameters) =
    use _ = torch.no_grad ()
    for k, q in List.zip keys queries do
        k.mul_(m.ToScalar()).add_(q.detach().mul((1.0 - m).ToScalar())) |> ignore

let copy (p: Parameters) : Parameters = p |> List.map (fun t -> t.detach().clone().requires_grad_(true))
