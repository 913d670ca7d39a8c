using Decomp.Train.Vision;
using Decomp.Train.Vision.Training;
using Xunit;

namespace Decomp.Vision.Tests;

public class ScheduleAndSeedTests
{
    [Fact]
    public void LearningRateWarmsUpLinearlyThenDecaysToZeroAlongACosine()
    {
        const double peak = 0.4;
        const long total = 100;

        Assert.Equal(peak / 10, RunSettings.LearningRateAt(peak, 0, total, 0.1), 12);
        Assert.Equal(peak, RunSettings.LearningRateAt(peak, 9, total, 0.1), 12);
        Assert.Equal(peak, RunSettings.LearningRateAt(peak, 10, total, 0.1), 12);
        Assert.Equal(peak / 2, RunSettings.LearningRateAt(peak, 55, total, 0.1), 12);
        Assert.Equal(0, RunSettings.LearningRateAt(peak, 100, total, 0.1), 12);
        Assert.Equal(peak, RunSettings.LearningRateAt(peak, 0, total, 0.0), 12);
    }

    [Fact]
    public void PermutationsAreDeterministicPermutations()
    {
        var first = Seeds.Permutation(1000, 17);

        Assert.Equal(Enumerable.Range(0, 1000), first.Order());
        Assert.Equal(first, Seeds.Permutation(1000, 17));
        Assert.NotEqual(first, Seeds.Permutation(1000, 18));
    }

    [Fact]
    public void DerivedSeedsDifferByStreamAndIndexAndAreNonNegative()
    {
        var seeds = new[]
        {
            Seeds.Derive(1, SeedStream.Augmentation, 0), Seeds.Derive(1, SeedStream.Augmentation, 1),
            Seeds.Derive(1, SeedStream.EpochOrder, 0), Seeds.Derive(2, SeedStream.Augmentation, 0),
        };

        Assert.Equal(seeds.Length, seeds.Distinct().Count());
        Assert.All(seeds, s => Assert.True(s >= 0));
        Assert.Equal(seeds[0], Seeds.Derive(1, SeedStream.Augmentation, 0));
    }
}
