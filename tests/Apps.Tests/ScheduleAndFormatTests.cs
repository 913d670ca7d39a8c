using Xunit;

namespace Decomp.Apps.Tests;

/// <summary>The apps' one learning-rate schedule, duration format and "mean ± sd".</summary>
public class ScheduleAndFormatTests
{
    [Fact]
    public void WarmUpThenCosineRisesLinearlyAndFallsToZero()
    {
        const double peak = 0.4;

        Assert.Equal(peak / 10, LearningRateSchedule.At(peak, 0, 10, 0, LearningRateDecay.Cosine), 12);
        Assert.Equal(peak, LearningRateSchedule.At(peak, 9, 10, 0, LearningRateDecay.Cosine), 12);
        Assert.Equal(peak, LearningRateSchedule.At(peak, 10, 10, 0, LearningRateDecay.Cosine), 12);
        Assert.Equal(peak / 2, LearningRateSchedule.At(peak, 55, 10, 0.5, LearningRateDecay.Cosine), 12);
        Assert.Equal(0, LearningRateSchedule.At(peak, 100, 10, 1, LearningRateDecay.Cosine), 12);
        Assert.Equal(0, LearningRateSchedule.At(peak, 100, 10, 1.7, LearningRateDecay.Cosine), 12);
    }

    [Fact]
    public void WithDecayDuringWarmUpTheTwoRampsMultiply()
    {
        const double peak = 1e-3;

        Assert.Equal(peak / 5 * 0.9, LearningRateSchedule.At(peak, 0, 5, 0.1, LearningRateDecay.Linear, decayDuringWarmup: true), 15);
        Assert.Equal(peak * 0.75, LearningRateSchedule.At(peak, 20, 5, 0.25, LearningRateDecay.Linear, decayDuringWarmup: true), 15);
        // A spent budget (progress past 1) ends the schedule at zero, never below.
        Assert.Equal(0.0, LearningRateSchedule.At(peak, 20, 5, 1.3, LearningRateDecay.Linear, decayDuringWarmup: true));
        Assert.Equal(peak, LearningRateSchedule.At(peak, 0, 0, 0, LearningRateDecay.Linear, decayDuringWarmup: true));
    }

    /// <summary>Vision's and Dialogue's schedules before they shared one, as they were written.</summary>
    private static double VisionBefore(double peak, long step, long totalSteps, double warmupFraction)
    {
        var warmup = (long)Math.Floor(warmupFraction * totalSteps);
        if (step < warmup) return peak * (step + 1) / warmup;
        var progress = totalSteps <= warmup ? 1.0 : (double)(step - warmup) / (totalSteps - warmup);
        return peak * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, progress)));
    }

    private static double DialogueBefore(double peak, int warmupSteps, long step, long plannedSteps, double elapsed, double budget)
    {
        double warm = warmupSteps > 0 ? Math.Min(1.0, (step + 1) / (double)warmupSteps) : 1.0;
        double progress = step / (double)Math.Max(1, plannedSteps);
        if (budget > 0) progress = Math.Max(progress, elapsed / budget);
        return peak * warm * Math.Max(0.0, 1.0 - progress);
    }

    [Fact]
    public void BothAppsGetTheLearningRatesTheirOwnSchedulesGaveToTheLastBit()
    {
        foreach (var peak in new[] { 0.06 * 256 / 256, 0.03, 1e-3, 6.25e-5, 0.7 })
        foreach (var (total, fraction) in new[] { (1000L, 0.1), (37L, 0.05), (5L, 0.0), (3L, 0.9) })
        for (long step = 0; step <= total; step++)
        {
            var warmup = (long)Math.Floor(fraction * total);
            var progress = total <= warmup ? 1.0 : (double)(step - warmup) / (total - warmup);
            Assert.Equal(VisionBefore(peak, step, total, fraction), LearningRateSchedule.At(peak, step, warmup, progress, LearningRateDecay.Cosine));
        }

        foreach (var peak in new[] { 1e-3, 6.25e-5, 0.3 })
        foreach (var (warmup, planned, budget) in new[] { (100, 1200L, 0.0), (7, 50L, 60.0), (0, 30L, 0.0) })
        for (long step = 0; step <= planned; step++)
        {
            double elapsed = step * 1.37;
            double progress = step / (double)Math.Max(1, planned);
            if (budget > 0) progress = Math.Max(progress, elapsed / budget);
            Assert.Equal(DialogueBefore(peak, warmup, step, planned, elapsed, budget),
                         LearningRateSchedule.At(peak, step, warmup, progress, LearningRateDecay.Linear, decayDuringWarmup: true));
        }
    }

    [Theory]
    [InlineData(0, "0:00")]
    [InlineData(-5, "0:00")]
    [InlineData(59.4, "0:59")]
    [InlineData(59.6, "1:00")]
    [InlineData(3599.6, "1:00:00")]
    [InlineData(3725, "1:02:05")]
    [InlineData(90061, "25:01:01")]
    [InlineData(double.NaN, "?")]
    [InlineData(double.PositiveInfinity, "?")]
    public void DurationsAreMinutesAndSecondsOrHoursMinutesAndSeconds(double seconds, string expected)
    {
        Assert.Equal(expected, Durations.Format(seconds));
    }

    [Fact]
    public void MeanAndDeviationUsesTheSampleDeviation()
    {
        var four = MeanAndDeviation.Of([1, 2, 3, 4])!.Value;
        Assert.Equal(2.5, four.Mean);
        Assert.Equal(Math.Sqrt(5 / 3.0), four.Deviation!.Value, 14);
        Assert.Equal("2.50 ± 1.29", four.ToString("F2"));

        var one = MeanAndDeviation.Of([7])!.Value;
        Assert.Null(one.Deviation);
        Assert.Equal("7.0", one.ToString("F1"));
        Assert.Null(MeanAndDeviation.Of([]));
    }
}
