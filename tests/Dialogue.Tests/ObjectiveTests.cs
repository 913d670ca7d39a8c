using Decomp.Dialogue.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

/// <summary>The loss of each method, checked against the paper's formulas evaluated by hand in float64.</summary>
public class ObjectiveTests
{
    // Two examples, D = 2. Dot-product scores, temperature 1.
    private static readonly double[,] Past = { { 1, 0 }, { 0, 2 } };
    private static readonly double[,] Future = { { 2, 1 }, { 1, 1 } };
    private static readonly double[,] Recent = { { 0, 1 }, { 1, 0 } };
    private static readonly double[,,] Negatives = { { { 0, 3 } }, { { 1, 0 } } }; // M = 1

    private static double Dot(double[,] a, int i, double[,] b, int j) => a[i, 0] * b[j, 0] + a[i, 1] * b[j, 1];

    private static double LogSumExp(params double[] x) { double m = x.Max(); return m + Math.Log(x.Sum(v => Math.Exp(v - m))); }

    /// <summary>Eq. 2 with in-batch negatives: mean_i [s_ii - log sum_j exp s_ij] + log B.</summary>
    private static double InfoNce(double[,] queries) =>
        Enumerable.Range(0, 2).Average(i => Dot(queries, i, Future, i) - LogSumExp(Dot(queries, i, Future, 0), Dot(queries, i, Future, 1))) + Math.Log(2);

    /// <summary>Eq. 6: mean_i [s(x, y_i) - log(exp s(x, y_i) + sum_m exp s(x, y_im))] + log(1 + M).</summary>
    private static double ConditionalInfoNce() =>
        Enumerable.Range(0, 2).Average(i =>
        {
            double positive = Dot(Past, i, Future, i);
            double negative = Past[i, 0] * Negatives[i, 0, 0] + Past[i, 1] * Negatives[i, 0, 1];
            return positive - LogSumExp(positive, negative);
        }) + Math.Log(2);

    private static ObjectiveTerms Compute(Method method, UnconditionalView view = UnconditionalView.Past) =>
        Objective.Compute(new ObjectiveSettings(method, 0.1, 1.0, false, view), tensor(2.5),
                          tensor(Past), tensor(Future), tensor(Negatives), tensor(Recent));

    [Fact]
    public void Gpt2IsTheLanguageModelLossAlone()
    {
        var terms = Objective.Compute(new ObjectiveSettings(Method.Gpt2, 0.1, 1.0, false, UnconditionalView.Past), tensor(2.5));
        Assert.Equal(2.5, terms.Loss.item<double>());
        Assert.Null(terms.InfoNce);
        Assert.Null(terms.ConditionalInfoNce);
    }

    [Fact]
    public void InfoNceSubtractsATenthOfTheInBatchBound()
    {
        var terms = Compute(Method.InfoNce);
        Assert.Equal(InfoNce(Past), terms.InfoNce!.item<double>(), 12);
        Assert.Equal(2.5 - 0.1 * InfoNce(Past), terms.Loss.item<double>(), 12);
        Assert.Null(terms.ConditionalInfoNce);
    }

    [Fact]
    public void InfoNceSAddsTheConditionalBoundWithTheSampledNegatives()
    {
        var terms = Compute(Method.InfoNceS);
        Assert.Equal(ConditionalInfoNce(), terms.ConditionalInfoNce!.item<double>(), 12);
        Assert.Equal(2.5 - 0.1 * (InfoNce(Past) + ConditionalInfoNce()), terms.Loss.item<double>(), 12);
    }

    [Fact]
    public void TheRecentViewScoresTheUnconditionalTermFromTheRecentPast()
    {
        var terms = Compute(Method.InfoNceS, UnconditionalView.Recent);
        Assert.Equal(InfoNce(Recent), terms.InfoNce!.item<double>(), 12);
        Assert.Equal(2.5 - 0.1 * (InfoNce(Recent) + ConditionalInfoNce()), terms.Loss.item<double>(), 12);
    }

    [Fact]
    public void TheConditionalTermCannotRunWithoutNegatives()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Objective.Compute(new ObjectiveSettings(Method.InfoNceS, 0.1, 1.0, false, UnconditionalView.Past), tensor(1.0), tensor(Past), tensor(Future)));
        Assert.Equal("negatives", e.ParamName);
    }

    [Fact]
    public void GradientsReachTheRepresentations()
    {
        var past = tensor(Past, requires_grad: true);
        var future = tensor(Future, requires_grad: true);
        var negatives = tensor(Negatives, requires_grad: true);
        var terms = Objective.Compute(new ObjectiveSettings(Method.InfoNceS, 0.1, 1.0, false, UnconditionalView.Past), tensor(0.0), past, future, negatives);
        terms.Loss.backward();
        foreach (var t in new[] { past, future, negatives })
            Assert.True(t.grad!.abs().sum().item<double>() > 0);
    }
}
