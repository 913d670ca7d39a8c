namespace Decomp.Notebooks

open System
open TorchSharp

/// Summaries of Monte-Carlo draws, as the notebooks report them: a tensor's values, a mean with its standard error.
module Summary =

    /// The values of a tensor of any shape and floating dtype, flattened, as float64 numbers (copied to the CPU,
    /// without gradient).
    let values (tensor: torch.Tensor) : float[] =
        if isNull tensor then nullArg (nameof tensor)
        use scope = torch.NewDisposeScope()
        tensor.detach().cpu().to_type(torch.float64).reshape(-1L).data<float>().ToArray()

    let private requireTwo (name: string) (draws: float[]) =
        if isNull draws then nullArg name
        if draws.Length < 2 then
            invalidArg name $"{name} must hold at least two values to estimate a spread; got {draws.Length}."

    /// The sample standard deviation (with the n - 1 denominator) of at least two values: the apps' one
    /// `MeanAndDeviation`, so a notebook's "± sd" is the number the apps print.
    let standardDeviation (draws: float[]) : float =
        requireTwo (nameof draws) draws
        (Decomp.Apps.MeanAndDeviation.Of draws).Value.Deviation.Value

    /// The mean of at least two independent draws and its standard error, sd / sqrt n.
    let meanAndStandardError (draws: float[]) : float * float =
        requireTwo (nameof draws) draws
        Array.average draws, standardDeviation draws / sqrt (float draws.Length)

/// Small conveniences for ScottPlot figures.
module Plots =

    /// Labels an axis whose data were plotted at log2 of `values` (ScottPlot has no logarithmic axis): one major tick at
    /// log2 v for each v, labelled v. For a K axis: plot at `log2 (float K)`, then `Plots.log2Ticks plot.Axes.Bottom ks`.
    /// The apps' `Decomp.Apps.Charts.Log2Ticks`, under the name the notebooks use.
    let log2Ticks (axis: ScottPlot.IAxis) (values: int seq) : unit = Decomp.Apps.Charts.Log2Ticks(axis, values)
