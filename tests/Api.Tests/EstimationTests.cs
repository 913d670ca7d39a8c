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
}
