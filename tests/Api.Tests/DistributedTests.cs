using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Tests;

/// <summary>
/// The facade's Distributed on a group of one process (the multi-rank checks run under mpirun in tests/Distributed.Tests):
/// with one rank the gathered bounds are the single-process bounds, and bad arguments name themselves.
/// </summary>
public class DistributedTests
{
    private static Tensor Randn(long seed, params long[] shape)
    {
        using var generator = new Generator((ulong)seed);
        return torch.randn(shape, dtype: ScalarType.Float64, generator: generator);
    }

    [Fact]
    public void OneProcessIsRankZeroOfOneAndItsCollectivesAreTheIdentity()
    {
        using var group = ProcessGroup.Single();
        Assert.Equal((0, 1, true), (group.Rank, group.WorldSize, group.IsMain));
        using var t = Randn(1, 3, 2);
        using var gathered = Distributed.AllGather(group, t);
        using var mean = Distributed.AllReduce(group, t, ReduceOp.Mean);
        using var root = Distributed.Broadcast(group, t);
        foreach (var result in new[] { gathered, mean, root }) Assert.True(result.eq(t).all().item<bool>());
        Distributed.Barrier(group);
    }

    [Fact]
    public void OnOneRankTheGatheredBoundsAreTheSingleProcessBounds()
    {
        using var group = ProcessGroup.Single();
        using var queries = Randn(2, 6, 4);
        using var restricted = Randn(3, 6, 4);
        using var keys = Randn(4, 6, 4);
        using var expected = Bounds.InfoNce(queries, keys, 0.5, Similarity.Cosine);
        using var actual = Distributed.GatheredInfoNce(group, queries, keys, 0.5, Similarity.Cosine);
        // The same formulas on the same values in the same order: equal to the last bit.
        Assert.Equal(expected.item<double>(), actual.item<double>());
        using var single = Bounds.MemoryBankLoss(queries, restricted, keys);
        using var gatheredLoss = Distributed.GatheredMemoryBankLoss(group, queries, restricted, keys);
        Assert.Equal(single.Loss.item<double>(), gatheredLoss.Loss.item<double>());
        Assert.Equal(single.ConditionalInfoNce.item<double>(), gatheredLoss.ConditionalInfoNce.item<double>());
    }

    [Fact]
    public void BadArgumentsNameThemselves()
    {
        using var group = ProcessGroup.Single();
        using var t = Randn(5, 4, 3);
        Assert.Equal("group", Assert.Throws<ArgumentNullException>(() => Distributed.AllGather(null!, t)).ParamName);
        Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => Distributed.Broadcast(group, t, root: 1)).ParamName);
        Assert.Equal("keys", Assert.ThrowsAny<ArgumentException>(() => Distributed.GatheredInfoNce(group, t, Randn(6, 5, 3))).ParamName);
        Assert.Equal("lambda", Assert.Throws<ArgumentOutOfRangeException>(() => Distributed.GatheredMemoryBankLoss(group, t, t, t, lambda: 2)).ParamName);
        Assert.Equal("timeout", Assert.Throws<ArgumentOutOfRangeException>(() => ProcessGroup.Initialize(timeout: TimeSpan.Zero)).ParamName);
        using var integers = torch.zeros(2, dtype: ScalarType.Int64);
        Assert.Equal("tensor", Assert.ThrowsAny<ArgumentException>(() => Distributed.AllReduce(group, integers, ReduceOp.Mean)).ParamName);
    }
}
