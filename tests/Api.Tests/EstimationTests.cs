using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Tests;

/// <summary>The facade's MutualInformation and ConditionalMutualInformation: the core's numbers from arrays, names, errors.</summary>
public class EstimationTests
{
    private static readonly EstimationOptions Quick = new() { BatchSize = 64, MaxSteps = 300, EvaluateEvery = 50, HiddenSizes = [32], EmbeddingSize = 16 };

    /// <summary>x, y [n, d] with correlation rho per dimension: I = -(d/2) log(1 - rho²).</summary>
    private static (double[,] X, double[,] Y, double Truth) Correlated(int n, int d, double rho, int seed)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var x = new double[n, d];
        var y = new double[n, d];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < d; j++)
            {
                x[i, j] = Normal();
                y[i, j] = rho * x[i, j] + Math.Sqrt(1 - rho * rho) * Normal();
            }
        return (x, y, -d / 2.0 * Math.Log(1 - rho * rho));
    }

    [Fact]
    public void ArraysGiveTheCoresEstimateForTheSameTensors()
    {
        var (x, y, truth) = Correlated(1024, 2, 0.7, 1);
        var fromArrays = MutualInformation.Estimate(x, y, Quick);
        using var tx = torch.tensor(x);
        using var ty = torch.tensor(y);
        var fromTensors = MutualInformation.Estimate(tx, ty, Quick);
        Assert.Equal(fromTensors.Value, fromArrays.Value, 12);
        Assert.True(fromArrays.Lower < fromArrays.Value && fromArrays.Value < fromArrays.Upper);
        Assert.Equal(Math.Log(64), fromArrays.Cap);
        Assert.True(fromArrays.Value < truth + 4 * fromArrays.StandardError, $"{fromArrays.Value} vs {truth}");
        Assert.Same(Quick, fromArrays.Options);
        Assert.Null(fromArrays.Route);
        Assert.NotEmpty(fromArrays.Curve);
    }

    [Fact]
    public void ProgressIsReportedAtEveryEvaluation()
    {
        var (x, y, _) = Correlated(1024, 2, 0.5, 2);
        var steps = new List<int>();
        var estimate = MutualInformation.Estimate(x, y, Quick with { Progress = (step, _, _) => steps.Add(step) });
        Assert.Equal(estimate.Curve.Select(p => p.Step), steps);
    }

    [Fact]
    public void ConditionalMutualInformationDefaultsToImportanceSamplingAndNamesZ()
    {
        var (x, y, _) = Correlated(1024, 2, 0.6, 3);
        var (z, _, _) = Correlated(1024, 1, 0.0, 4);
        var estimate = ConditionalMutualInformation.Estimate(x, y, z, Quick);
        Assert.Equal(ConditionalRoute.ImportanceSampled, estimate.Route);
        Assert.True(double.IsFinite(estimate.Value));
        var e = Assert.Throws<ArgumentException>(() => ConditionalMutualInformation.Estimate(x, y, new double[1000, 1], Quick));
        Assert.Equal("z", e.ParamName);
    }

    [Fact]
    public void BadInputNamesTheArgument()
    {
        var (x, y, _) = Correlated(1024, 2, 0.5, 5);
        y[10, 1] = double.NaN;
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => MutualInformation.Estimate(x, y, Quick)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => MutualInformation.Estimate((double[,])null!, y, Quick)).ParamName);
        Assert.Equal("BatchSize", Assert.Throws<ArgumentOutOfRangeException>(() => MutualInformation.Estimate(x, x, Quick with { BatchSize = 1 })).ParamName);
    }

    [Fact]
    public void ABatchOfEstimatesGivesEachRunItsOwnEstimateAndFailure()
    {
        var (x1, y1, _) = Correlated(1024, 2, 0.7, 6);
        var (x2, y2, _) = Correlated(1024, 2, 0.2, 7);
        var (x3, y3, _) = Correlated(1024, 2, 0.5, 8);
        y3[4, 0] = double.NaN;
        using var tx1 = torch.tensor(x1);
        using var ty1 = torch.tensor(y1);
        using var tx2 = torch.tensor(x2);
        using var ty2 = torch.tensor(y2);
        using var tx3 = torch.tensor(x3);
        using var ty3 = torch.tensor(y3);
        var second = Quick with { Seed = 4, Patience = 2 };
        var outcomes = MutualInformation.EstimateBatched([(tx1, ty1, Quick), (tx2, ty2, second), (tx3, ty3, Quick)]);
        Assert.Equal(3, outcomes.Count);
        foreach (var (outcome, x, y, options) in new[] { (outcomes[0], tx1, ty1, Quick), (outcomes[1], tx2, ty2, second) })
        {
            var alone = MutualInformation.Estimate(x, y, options);
            Assert.Null(outcome.Error);
            Assert.Equal(alone.Value, outcome.Estimate!.Value, 4);
            Assert.Equal(alone.Steps, outcome.Estimate.Steps);
            Assert.Same(options, outcome.Estimate.Options);
        }
        Assert.Null(outcomes[2].Estimate);
        Assert.Equal("y", Assert.IsType<ArgumentException>(outcomes[2].Error).ParamName);
        var refused = Assert.Throws<ArgumentException>(() => MutualInformation.EstimateBatched([(tx1, ty1, Quick), (tx2, ty2, Quick with { BatchSize = 32 })]));
        Assert.Equal("runs", refused.ParamName);
    }

    [Fact]
    public void ABatchOfConditionalEstimatesRecordsTheRoute()
    {
        var (x, y, _) = Correlated(1024, 2, 0.6, 9);
        var (z, _, _) = Correlated(1024, 1, 0.0, 10);
        using var tx = torch.tensor(x);
        using var ty = torch.tensor(y);
        using var tz = torch.tensor(z);
        var outcomes = ConditionalMutualInformation.EstimateBatched([(tx, ty, tz, Quick), (tx, ty, tz, Quick with { Seed = 1 })], ConditionalRoute.ChainRule);
        Assert.All(outcomes, o => Assert.Equal(ConditionalRoute.ChainRule, o.Estimate!.Route));
        Assert.Equal(ConditionalMutualInformation.Estimate(tx, ty, tz, Quick, ConditionalRoute.ChainRule).Value, outcomes[0].Estimate!.Value, 4);
    }
}
