using Decomp.Train.Vision.Evaluation;
using TorchSharp;
using Decomp.Tests.Shared;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Vision.Tests;

public class EvaluationTests
{
    [Fact]
    public void KnnClassifiesSeparatedClustersPerfectly()
    {
        using var scope = NewDisposeScope();
        var (bank, bankLabels) = Clusters.Make(20, 4, 6, 1);
        var (queries, queryLabels) = Clusters.Make(10, 4, 6, 2);

        Assert.Equal(100.0, KnnMonitor.Top1(bank, bankLabels, queries, queryLabels, 4, k: 5));
    }

    [Fact]
    public void KnnWeighsNeighboursBySimilarity()
    {
        using var scope = NewDisposeScope();
        // One very close neighbour of class 1 outweighs two far ones of class 0 at temperature 0.1.
        var bank = tensor(new float[] { 1, 0, 0.6f, 0.8f, 0.6f, -0.8f }, new long[] { 3, 2 });
        var bankLabels = tensor(new long[] { 1, 0, 0 });
        var query = tensor(new float[] { 1, 0.01f }, new long[] { 1, 2 });

        Assert.Equal(100.0, KnnMonitor.Top1(bank, bankLabels, query, tensor(new long[] { 1 }), 2, k: 3));
    }

    // The linear probe is the apps' shared one: its tests are in tests/Apps.Tests/LinearProbeTests.cs.
}
