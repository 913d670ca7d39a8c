using System.Diagnostics;
using Spectre.Console;

namespace Decomp.Apps;

/// <summary>
/// Progress of long work on a writer (standard error, so that standard output stays clean for results): a Spectre.Console
/// bar with elapsed and remaining time when the writer is the console's standard error and that is a terminal; one plain
/// line per report otherwise (redirected output, logs, tests), with elapsed time and an ETA.
/// </summary>
public static class ConsoleProgress
{
    /// <summary>
    /// Runs <paramref name="work"/>, which reports with <c>report(done, status)</c>: <c>done</c> of <paramref name="total"/>
    /// steps finished, and a short status (the bar's description, or the plain line's middle). The ETA assumes the rate so
    /// far holds for all <paramref name="total"/> units, so work that can stop early (early stopping) ends sooner.
    /// </summary>
    public static T Run<T>(TextWriter writer, string title, int total, Func<Action<int, string>, T> work)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(total);
        ArgumentNullException.ThrowIfNull(work);
        if (ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            T result = default!;
            console.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                         new RemainingTimeColumn(), new SpinnerColumn())
                .Start(context =>
                {
                    var task = context.AddTask(Markup.Escape($"{title}: starting"), maxValue: total);
                    result = work((done, status) =>
                    {
                        task.Value = done;
                        task.Description = Markup.Escape($"{title} {status}");
                    });
                    task.Description = Markup.Escape($"{title}: done");
                    task.Value = task.MaxValue;
                });
            return result;
        }
        var clock = Stopwatch.StartNew();
        return work((done, status) =>
        {
            var elapsed = clock.Elapsed.TotalSeconds;
            var eta = done > 0 ? elapsed / done * (total - done) : double.NaN;
            writer.WriteLine($"{title}: step {done}/{total} ({100.0 * done / total:F0}%)  {status}  elapsed {Durations.Format(elapsed)}  ETA {Durations.Format(eta)} at most");
        });
    }
}
