/// The bounds written as plain float64 loops straight from the paper's formulas: the oracle the vectorised code is
/// checked against. Deliberately naive (exp, then sum, then log) and only used on moderate scores.
module Decomp.Core.Tests.Reference

open System

let private meanExp (xs: float seq) = Seq.averageBy exp xs

/// Eq. 2: log( e^{s_0} / ((1/K) sum_k e^{s_k}) ), per row.
let infoNce (s: float[]) = s[0] - log (meanExp s)

/// Proposition 3: log( e^{s_0} / ((1/K)(e^{s_0} + (K-1) sum_{k>=1} w_k e^{s_k})) ), w = softmax of proposal over k >= 1.
let importanceSampled (s: float[]) (proposal: float[]) =
    let k = s.Length
    let weights = proposal[1..] |> Array.map exp
    let total = Array.sum weights
    let reweighted = Array.fold2 (fun acc w e -> acc + w / total * exp e) 0.0 weights s[1..]
    s[0] - log ((exp s[0] + float (k - 1) * reweighted) / float k)

let private negatives (s: float[]) = s[1..]

/// TUBA with baseline a: s_0 - (mean_k e^{s_k}) / a - log a + 1.
let tuba (s: float[]) (logBaseline: float) = s[0] - meanExp (negatives s) / exp logBaseline - logBaseline + 1.0

let nwj (s: float[]) = s[0] - exp (-1.0) * meanExp (negatives s)

/// DV: per-row positive minus the log of the mean of e^{s} over every negative of the batch.
let donskerVaradhan (m: float[][]) =
    let all = m |> Array.collect negatives
    let logMean = log (meanExp all)
    m |> Array.map (fun s -> s[0] - logMean)

let smile (m: float[][]) (clip: float) =
    let all = m |> Array.collect negatives |> Array.map (fun v -> max -clip (min clip v))
    let logMean = log (meanExp all)
    m |> Array.map (fun s -> s[0] - logMean)

let private softplus (x: float) = log (1.0 + exp x)

let jensenShannonObjective (s: float[]) = -softplus (-s[0]) - Seq.averageBy softplus (negatives s)
