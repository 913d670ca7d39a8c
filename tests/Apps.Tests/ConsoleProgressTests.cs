using Xunit;

namespace Decomp.Apps.Tests;

/// <summary>A clock that moves only when told.</summary>
internal sealed class FakeTime : TimeProvider
{
    private long _ticks;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() => _ticks;
    public void Advance(double seconds) => _ticks += (long)(seconds * TimeSpan.TicksPerSecond);
}

/// <summary>
/// The plain lines of <see cref="ConsoleProgress"/>: what a redirected run (a log, CI, these tests) shows. The Spectre bar
/// needs a terminal and is not tested here.
/// </summary>
public class ConsoleProgressTests
{
    private static string[] LinesOf(StringWriter writer) => writer.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void RedirectedProgressIsOnePlainLinePerReportWithItsStepAndAnEta()
    {
        var writer = new StringWriter();

        var result = ConsoleProgress.Run(writer, "I(X; Y)", 4, report =>
        {
            for (var step = 1; step <= 4; step++) report(step, $"validation {step:F3} nats");
            return 42;
        });

        Assert.Equal(42, result);
        var lines = writer.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("I(X; Y): step 2/4 (50%)  validation 2.000 nats  elapsed 0:00  ETA ", lines[1]);
        Assert.EndsWith("ETA 0:00 at most", lines[3]); // nothing left after the last step
    }

    [Fact]
    public void NoStepsToDoIsRefusedByName() =>
        Assert.Equal("total", Assert.Throws<ArgumentOutOfRangeException>(() => ConsoleProgress.Run(TextWriter.Null, "x", 0, _ => 0)).ParamName);

    [Fact]
    public void AResumedRunPrintsItsWholeElapsedTimeAndAnEtaFromThisProcessRateAlone()
    {
        var (writer, time) = (new StringWriter(), new FakeTime());
        // 40 steps took 10 minutes before the interruption; this process does 10 steps in 30 s.
        using (var progress = ConsoleProgress.Start(writer, "training", 100, new ProgressSettings { Completed = 40, CompletedSeconds = 600, Time = time }))
        {
            time.Advance(30);
            progress.Report(50, "loss 1.000");
        }

        // 3 s a step for the 50 steps left: 2:30, not the 12 s a step that counting the first 40 would give.
        Assert.Equal(["training: step 50/100 (50%)  loss 1.000  elapsed 10:30  ETA 2:30"], LinesOf(writer));
    }

    [Fact]
    public void PlainLinesComeAtMostEveryIntervalExceptForcedOnesAndTheLast()
    {
        var (writer, time) = (new StringWriter(), new FakeTime());
        using (var progress = ConsoleProgress.Start(writer, "t", 10, new ProgressSettings { IntervalSeconds = 10, Time = time }))
        {
            for (var step = 1; step <= 10; step++)
            {
                time.Advance(1);
                progress.Report(step, $"s{step}", force: step == 4);
            }
        }

        // Step 1 (the first), 4 (forced) and 10 (the last): the next line due was 10 s after the forced one.
        Assert.Equal(["t: step 1/10 (10%)  s1  elapsed 0:01  ETA 0:09", "t: step 4/10 (40%)  s4  elapsed 0:04  ETA 0:06",
                      "t: step 10/10 (100%)  s10  elapsed 0:10  ETA 0:00"], LinesOf(writer));
    }

    [Fact]
    public void ABudgetCountsTowardsTheShareDoneAndCapsTheEta()
    {
        var (writer, time) = (new StringWriter(), new FakeTime());
        using (var progress = ConsoleProgress.Start(writer, "training", 100, new ProgressSettings { BudgetSeconds = 100, Time = time }))
        {
            time.Advance(60);
            progress.Report(10, "");
        }

        // 10% of the steps but 60% of the budget; at 6 s a step the 90 left would take 9 minutes, the budget ends in 40 s.
        Assert.Equal(["training: step 10/100 (60%)  elapsed 1:00  ETA 0:40"], LinesOf(writer));
    }

    [Fact]
    public void WorkCountedInUnitsWithoutMeaningShowsThePercentageAloneAndAnEtaThatMayEndEarlyReadsAtMost()
    {
        var (writer, time) = (new StringWriter(), new FakeTime());
        using (var progress = ConsoleProgress.Start(writer, "Figure 2", 4_000_000_000L, new ProgressSettings { Unit = null, MayEndEarly = true, Time = time }))
        {
            time.Advance(20);
            progress.Report(1_000_000_000L, "batch 1");
        }

        Assert.Equal(["Figure 2: 25%  batch 1  elapsed 0:20  ETA 1:00 at most"], LinesOf(writer));
    }

    [Fact]
    public void LogAndLinesPrintWholeLinesAsTheyAreAndStillDoOnceTheReportEnded()
    {
        var writer = new StringWriter();
        var progress = ConsoleProgress.Start(writer, "t", 2);
        progress.Log("checkpoint at step 1");
        progress.Lines.Write("eval @ ");
        progress.Lines.WriteLine("step 2");
        progress.Lines.Write("unfinished");
        progress.Dispose();
        progress.Log("after");

        Assert.Equal(["checkpoint at step 1", "eval @ step 2", "unfinished", "after"], LinesOf(writer));
    }

    [Fact]
    public void AReporterStartedOnAnotherOnesLinesPrintsThroughThem()
    {
        var writer = new StringWriter();
        using var training = ConsoleProgress.Start(writer, "training", 10);
        using (var sampling = ConsoleProgress.Start(training.Lines, "  sampling", 2, new ProgressSettings { Unit = "example" }))
            sampling.Report(2, "");

        Assert.StartsWith("  sampling: example 2/2 (100%)  elapsed 0:00  ETA 0:00", Assert.Single(LinesOf(writer)));
    }

    [Fact]
    public void BadArgumentsAreRefusedByName()
    {
        Assert.Equal("writer", Assert.Throws<ArgumentNullException>(() => ConsoleProgress.Start(null!, "t", 1)).ParamName);
        Assert.Equal("total", Assert.Throws<ArgumentOutOfRangeException>(() => ConsoleProgress.Start(TextWriter.Null, "t", -5)).ParamName);
        Assert.Equal("settings", Assert.Throws<ArgumentException>(() => ConsoleProgress.Start(TextWriter.Null, "t", 10, new ProgressSettings { Completed = 11 })).ParamName);
        Assert.Equal("settings", Assert.Throws<ArgumentException>(() => ConsoleProgress.Start(TextWriter.Null, "t", 10, new ProgressSettings { IntervalSeconds = -1 })).ParamName);
        Assert.Equal("settings", Assert.Throws<ArgumentException>(() => ConsoleProgress.Start(TextWriter.Null, "t", 10, new ProgressSettings { BudgetSeconds = double.NaN })).ParamName);
        using var progress = ConsoleProgress.Start(TextWriter.Null, "t", 10);
        Assert.Equal("done", Assert.Throws<ArgumentOutOfRangeException>(() => progress.Report(-1, "")).ParamName);
    }
}
