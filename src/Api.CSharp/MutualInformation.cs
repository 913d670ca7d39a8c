using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;
using Core = Decomp.Core;

namespace Decomp;

/// <summary>The bound a critic is trained with and scored by when estimating from data (see <see cref="EstimationOptions"/>).</summary>
public enum MiEstimator
{
    /// <summary>InfoNCE (Eq. 2) over in-batch negatives: lowest variance, capped by log(batch size). The default.</summary>
    InfoNce,
    /// <summary>NWJ: unbiased on a batch, not capped, high variance at large MI.</summary>
    Nwj,
    /// <summary>Donsker-Varadhan: not capped, biased on finite batches.</summary>
    DonskerVaradhan,
    /// <summary>MINE: the Donsker-Varadhan value with MINE's moving-average gradient correction.</summary>
    Mine,
    /// <summary>TUBA with a learned constant baseline.</summary>
    Tuba,
    /// <summary>SMILE (clip 5), read out from a critic trained on the Jensen-Shannon objective.</summary>
    Smile,
    /// <summary>A Jensen-Shannon-trained critic read out as NWJ.</summary>
    JensenShannon,
}

/// <summary>The network that scores a pair (x, y).</summary>
public enum CriticArchitecture
{
    /// <summary><c>E(x, y) = f(x) · g(y)</c>, two MLP encoders: all pairs of a batch for 2B forward passes. The default.</summary>
    Separable,
    /// <summary><c>E(x, y) = h([x, y])</c>, one MLP on the concatenation: B² forward passes a batch.</summary>
    Joint,
}

/// <summary>How conditional MI I(X; Y | Z) is estimated.</summary>
public enum ConditionalRoute
{
    /// <summary>I_IS (Proposition 3): negatives from p(y) reweighted by the I(Z; Y) critic; no conditional sampler. The default.</summary>
    ImportanceSampled,
    /// <summary>The chain rule I([Z, X]; Y) − I(Z; Y) with a shared encoder g(y), as InfoNCE_S.</summary>
    ChainRule,
}

/// <summary>
/// Settings of an estimate; every property has a default (those of <c>Decomp.Core.Estimation.defaults</c>): InfoNCE with a
/// separable critic, one hidden layer of 128, embeddings of 64, batches of 256, Adam at 1e-3, at most 3000 steps,
/// evaluation every 100 steps, stopping after 5 evaluations without improvement, a 50/25/25 train/validation/test split.
/// </summary>
public sealed record EstimationOptions
{
    private static readonly Core.EstimationOptions Defaults = Core.Estimation.defaults;

    /// <summary>The bound trained and reported.</summary>
    public MiEstimator Estimator { get; init; } = MiEstimator.InfoNce;
    /// <summary>The critic's architecture (conditional routes always use separable encoders).</summary>
    public CriticArchitecture Critic { get; init; } = CriticArchitecture.Separable;
    /// <summary>Hidden layer widths of each MLP.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init; } = Defaults.HiddenSizes.ToArray();
    /// <summary>Width of the separable encoders' embeddings.</summary>
    public int EmbeddingSize { get; init; } = Defaults.EmbeddingSize;
    /// <summary>Examples per batch B; InfoNCE-family estimates are capped by log B.</summary>
    public int BatchSize { get; init; } = Defaults.BatchSize;
    /// <summary>Adam's learning rate.</summary>
    public double LearningRate { get; init; } = Defaults.LearningRate;
    /// <summary>The most training steps.</summary>
    public int MaxSteps { get; init; } = Defaults.MaxSteps;
    /// <summary>Steps between evaluations on the validation part.</summary>
    public int EvaluateEvery { get; init; } = Defaults.EvaluateEvery;
    /// <summary>Evaluations without improvement before training stops.</summary>
    public int Patience { get; init; } = Defaults.Patience;
    /// <summary>Share of the rows the critic trains on.</summary>
    public double TrainFraction { get; init; } = Defaults.TrainFraction;
    /// <summary>Share of the rows that decide when to stop; the rest is the test part.</summary>
    public double ValidationFraction { get; init; } = Defaults.ValidationFraction;
    /// <summary>Seeds the split, the initialisation and the batches.</summary>
    public long Seed { get; init; } = Defaults.Seed;
    /// <summary>Where to train; null for <see cref="Devices.Current"/>.</summary>
    public Device? Device { get; init; }
    /// <summary>Called after each evaluation with (step, train estimate, validation estimate).</summary>
    public Action<int, double, double>? Progress { get; init; }

    internal Core.EstimationOptions ToCore() => new(
        Estimator switch
        {
            MiEstimator.InfoNce => Core.MiEstimator.InfoNce,
            MiEstimator.Nwj => Core.MiEstimator.Nwj,
            MiEstimator.DonskerVaradhan => Core.MiEstimator.DonskerVaradhan,
            MiEstimator.Mine => Core.MiEstimator.Mine,
            MiEstimator.Tuba => Core.MiEstimator.Tuba,
            MiEstimator.Smile => Core.MiEstimator.Smile,
            MiEstimator.JensenShannon => Core.MiEstimator.JensenShannon,
            _ => throw new ArgumentOutOfRangeException(nameof(Estimator), Estimator, "Estimator is not a known estimator."),
        },
        Critic switch
        {
            CriticArchitecture.Separable => Core.CriticArchitecture.Separable,
            CriticArchitecture.Joint => Core.CriticArchitecture.Joint,
            _ => throw new ArgumentOutOfRangeException(nameof(Critic), Critic, "Critic must be Separable or Joint."),
        },
        ListModule.OfSeq(HiddenSizes ?? throw new ArgumentNullException(nameof(HiddenSizes))),
        EmbeddingSize, BatchSize, LearningRate, MaxSteps, EvaluateEvery, Patience, TrainFraction, ValidationFraction, Seed,
        Device is null ? FSharpOption<Device>.None : FSharpOption<Device>.Some(Device),
        Progress is null
            ? FSharpOption<FSharpFunc<int, FSharpFunc<double, FSharpFunc<double, Unit>>>>.None
            : FSharpOption<FSharpFunc<int, FSharpFunc<double, FSharpFunc<double, Unit>>>>.Some(
                FuncConvert.FromAction<int, double, double>((step, train, validation) => Progress(step, train, validation))));
}

/// <summary>One evaluation during training.</summary>
/// <param name="Step">Steps trained.</param>
/// <param name="Train">The mean bound over the training batches since the previous evaluation.</param>
/// <param name="Validation">The bound on the validation part.</param>
public sealed record CurvePoint(int Step, double Train, double Validation);

/// <summary>An estimate of MI or conditional MI in nats, on held-out data, with its uncertainty.</summary>
public sealed record MiEstimate
{
    /// <summary>The estimate on the test part: the mean of the bound over its batches, in nats.</summary>
    public required double Value { get; init; }
    /// <summary>The standard error of <see cref="Value"/> from the spread of the test batches' values.</summary>
    public required double StandardError { get; init; }
    /// <summary>The lower end of the 95% interval (Student's t over the test batches).</summary>
    public required double Lower { get; init; }
    /// <summary>The upper end of the 95% interval.</summary>
    public required double Upper { get; init; }
    /// <summary>How many test batches the interval rests on.</summary>
    public required int TestBatches { get; init; }
    /// <summary>log B for InfoNCE-family estimates (the most they can say); null for uncapped bounds.</summary>
    public required double? Cap { get; init; }
    /// <summary>Training and validation estimates against step.</summary>
    public required IReadOnlyList<CurvePoint> Curve { get; init; }
    /// <summary>The step whose critic was kept (the best on the validation part).</summary>
    public required int BestStep { get; init; }
    /// <summary>Steps trained.</summary>
    public required int Steps { get; init; }
    /// <summary>Rows in the train part.</summary>
    public required int TrainRows { get; init; }
    /// <summary>Rows in the validation part.</summary>
    public required int ValidationRows { get; init; }
    /// <summary>Rows in the test part.</summary>
    public required int TestRows { get; init; }
    /// <summary>Wall time in seconds; for a run of a batch (<see cref="MutualInformation.EstimateBatched"/>), the batch's time shared equally among its runs.</summary>
    public required double Seconds { get; init; }
    /// <summary>The settings used.</summary>
    public required EstimationOptions Options { get; init; }
    /// <summary>The conditional route, for conditional MI.</summary>
    public ConditionalRoute? Route { get; init; }
    /// <summary>What the numbers should be read with (for example, an estimate at the log K cap).</summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    internal static MiEstimate FromCore(Core.MiEstimate e, EstimationOptions options, ConditionalRoute? route) => new()
    {
        Value = e.Value,
        StandardError = e.StandardError,
        Lower = e.Lower,
        Upper = e.Upper,
        TestBatches = e.TestBatches,
        Cap = FSharpOption<double>.get_IsSome(e.Cap) ? e.Cap.Value : null,
        Curve = e.Curve.Select(p => new CurvePoint(p.Step, p.Train, p.Validation)).ToArray(),
        BestStep = e.BestStep,
        Steps = e.Steps,
        TrainRows = e.TrainRows,
        ValidationRows = e.ValidationRows,
        TestRows = e.TestRows,
        Seconds = e.Seconds,
        Options = options,
        Route = route,
        Warnings = e.Warnings.ToArray(),
    };
}

/// <summary>One run of a batch of estimates: its estimate, or the exception that failed it (the other is null).</summary>
/// <param name="Estimate">The run's estimate, as <see cref="MutualInformation.Estimate(Tensor, Tensor, EstimationOptions?)"/> would give it; null when the run failed.</param>
/// <param name="Error">What failed the run, as estimating it alone would have thrown it (bad data or options, a bound that overflowed); null when it succeeded.</param>
public sealed record MiEstimateOutcome(MiEstimate? Estimate, Exception? Error)
{
    internal static IReadOnlyList<MiEstimateOutcome> FromCore(FSharpList<FSharpResult<Core.MiEstimate, Exception>> results, IReadOnlyList<EstimationOptions> options, ConditionalRoute? route) =>
        results.Select((r, i) => r.IsOk ? new MiEstimateOutcome(MiEstimate.FromCore(r.ResultValue, options[i], route), null) : new MiEstimateOutcome(null, r.ErrorValue)).ToArray();
}

/// <summary>
/// Estimates I(X; Y) from paired samples with bmi's protocol: columns standardised, rows split into train, validation
/// and test parts, the critic trained with Adam and stopped early on the validation part, and the estimate reported on
/// the test part with a 95% interval. See <c>Decomp.Core.Estimation</c> for the protocol and the interval.
/// </summary>
/// <example>
/// <code>
/// var estimate = MutualInformation.Estimate(x, y);               // x: double[n, dx], y: double[n, dy]
/// Console.WriteLine($"{estimate.Value:F3} nats [{estimate.Lower:F3}, {estimate.Upper:F3}]");
/// foreach (var warning in estimate.Warnings) Console.WriteLine(warning);
/// </code>
/// </example>
public static class MutualInformation
{
    /// <summary>I(X; Y) in nats from <paramref name="x"/> <c>[n, dx]</c> and <paramref name="y"/> <c>[n, dy]</c>, one sample per row.</summary>
    /// <exception cref="ArgumentException">The data are not 2-D floating point, hold NaN or infinity, have a constant column, differ in rows, or are too few for the split (the message names the argument).</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (named).</exception>
    public static MiEstimate Estimate(Tensor x, Tensor y, EstimationOptions? options = null)
    {
        options ??= new EstimationOptions();
        return MiEstimate.FromCore(Core.Estimation.mutualInformation(options.ToCore(), x, y), options, null);
    }

    /// <summary>
    /// I(X; Y) for several independent samples and seeds at once, their critics trained as one batched network (stacked
    /// parameters, batched products): run i gets what <see cref="Estimate(Tensor, Tensor, EstimationOptions?)"/> gives it
    /// (up to float rounding), with its own shuffle, split, initialisation, batches, early stopping and kept critic.
    /// </summary>
    /// <param name="runs">Each run's <c>x [n, dx]</c>, <c>y [n, dy]</c> and options (null: the defaults). The runs share every option but
    /// <c>Seed</c>, <c>MaxSteps</c>, <c>Patience</c> and <c>Progress</c>, and the data's rows and columns.</param>
    /// <returns>One outcome per run, in order: a run that fails (bad data, an overflowing bound) fails alone.</returns>
    /// <exception cref="ArgumentException">The runs differ in what they must share (the message names <c>runs</c>).</exception>
    public static IReadOnlyList<MiEstimateOutcome> EstimateBatched(IReadOnlyList<(Tensor X, Tensor Y, EstimationOptions? Options)> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var options = runs.Select(r => r.Options ?? new EstimationOptions()).ToArray();
        var core = ListModule.OfSeq(runs.Select((r, i) => Tuple.Create(options[i].ToCore(), r.X, r.Y)));
        return MiEstimateOutcome.FromCore(Core.Estimation.mutualInformationBatched(core), options, null);
    }

    /// <summary>I(X; Y) from arrays <c>[n, dx]</c> and <c>[n, dy]</c>.</summary>
    public static MiEstimate Estimate(double[,] x, double[,] y, EstimationOptions? options = null)
    {
        using var scope = torch.NewDisposeScope();
        return Estimate(Matrix(x, nameof(x)), Matrix(y, nameof(y)), options);
    }

    /// <summary>I(X; Y) from arrays <c>[n, dx]</c> and <c>[n, dy]</c>.</summary>
    public static MiEstimate Estimate(float[,] x, float[,] y, EstimationOptions? options = null)
    {
        using var scope = torch.NewDisposeScope();
        return Estimate(Matrix(x, nameof(x)), Matrix(y, nameof(y)), options);
    }

    /// <summary>
    /// The estimate from the bound's values on n ≥ 2 independent test batches: their mean, its standard error
    /// (sd / √n) and the 95% interval mean ± t(0.975, n − 1) × standard error, as <see cref="MiEstimate"/> reports it.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two values.</exception>
    public static (double Mean, double StandardError, double Lower, double Upper) Interval(IReadOnlyList<double> batchValues)
    {
        var (mean, standardError, lower, upper) = Core.Estimation.interval(batchValues?.ToArray()!);
        return (mean, standardError, lower, upper);
    }

    // The arrays become the first tensors of a program that starts here, so TorchSharp's natives are prepared first.
    internal static Tensor Matrix(double[,]? values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        Runtime.Native.ensureLoaded();
        return torch.tensor(values, dtype: ScalarType.Float64);
    }

    internal static Tensor Matrix(float[,]? values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        Runtime.Native.ensureLoaded();
        return torch.tensor(values, dtype: ScalarType.Float32);
    }
}

/// <summary>
/// Estimates I(X; Y | Z) by the paper's routes, with the protocol of <see cref="MutualInformation"/>. The default route,
/// I_IS, needs no sampler of p(y | z): the I(Z; Y) critic's scores reweight the negatives toward it.
/// </summary>
public static class ConditionalMutualInformation
{
    /// <summary>I(X; Y | Z) in nats from <paramref name="x"/> <c>[n, dx]</c>, <paramref name="y"/> <c>[n, dy]</c> and <paramref name="z"/> <c>[n, dz]</c>.</summary>
    /// <exception cref="ArgumentException">As <see cref="MutualInformation.Estimate(Tensor, Tensor, EstimationOptions?)"/>, naming x, y or z; or an estimator other than InfoNce.</exception>
    public static MiEstimate Estimate(Tensor x, Tensor y, Tensor z, EstimationOptions? options = null, ConditionalRoute route = ConditionalRoute.ImportanceSampled)
    {
        options ??= new EstimationOptions();
        return MiEstimate.FromCore(Core.Estimation.conditionalMutualInformation(options.ToCore(), CoreRoute(route), x, y, z), options, route);
    }

    /// <summary>
    /// I(X; Y | Z) by one <paramref name="route"/> for several independent samples and seeds at once, their critics trained
    /// as one batched network: run i gets what <see cref="Estimate(Tensor, Tensor, Tensor, EstimationOptions?, ConditionalRoute)"/>
    /// gives it (up to float rounding). The rules of <see cref="MutualInformation.EstimateBatched"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The runs differ in what they must share (the message names <c>runs</c>).</exception>
    public static IReadOnlyList<MiEstimateOutcome> EstimateBatched(IReadOnlyList<(Tensor X, Tensor Y, Tensor Z, EstimationOptions? Options)> runs,
                                                                    ConditionalRoute route = ConditionalRoute.ImportanceSampled)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var options = runs.Select(r => r.Options ?? new EstimationOptions()).ToArray();
        var core = ListModule.OfSeq(runs.Select((r, i) => Tuple.Create(options[i].ToCore(), r.X, r.Y, r.Z)));
        return MiEstimateOutcome.FromCore(Core.Estimation.conditionalMutualInformationBatched(CoreRoute(route), core), options, route);
    }

    private static Core.ConditionalRoute CoreRoute(ConditionalRoute route) => route switch
    {
        ConditionalRoute.ImportanceSampled => Core.ConditionalRoute.ImportanceSampled,
        ConditionalRoute.ChainRule => Core.ConditionalRoute.ChainRule,
        _ => throw new ArgumentOutOfRangeException(nameof(route), route, "route must be ImportanceSampled or ChainRule."),
    };

    /// <summary>I(X; Y | Z) from arrays.</summary>
    public static MiEstimate Estimate(double[,] x, double[,] y, double[,] z, EstimationOptions? options = null, ConditionalRoute route = ConditionalRoute.ImportanceSampled)
    {
        using var scope = torch.NewDisposeScope();
        return Estimate(MutualInformation.Matrix(x, nameof(x)), MutualInformation.Matrix(y, nameof(y)), MutualInformation.Matrix(z, nameof(z)), options, route);
    }

    /// <summary>I(X; Y | Z) from arrays.</summary>
    public static MiEstimate Estimate(float[,] x, float[,] y, float[,] z, EstimationOptions? options = null, ConditionalRoute route = ConditionalRoute.ImportanceSampled)
    {
        using var scope = torch.NewDisposeScope();
        return Estimate(MutualInformation.Matrix(x, nameof(x)), MutualInformation.Matrix(y, nameof(y)), MutualInformation.Matrix(z, nameof(z)), options, route);
    }
}
