using System.Diagnostics;
using Spectre.Console;

namespace Decomp.Cli.Reporting;

/// <summary>
/// Progress while the critic trains, on standard error so that standard output stays clean for --json: a Spectre.Console
/// bar with elapsed time and ETA on a terminal, one plain line per evaluation when standard error is redirected (or is
/// not the console, as in tests). The ETA assumes every step up to --max-steps runs; early stopping ends sooner.
/// </summary>
internal static class TrainingProgress
{
    /// <summary>Runs <paramref name="train"/>, giving it the callback the library calls after each evaluation.</summary>
    public static T Run<T>(TextWriter error, int maxSteps, string title, Func<Action<int, double, double>, T> train)
    {
        if (ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected)
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
                    var task = context.AddTask(Markup.Escape($"{title}: starting"), maxValue: maxSteps);
                    result = train((step, trainValue, validation) =>
                    {
                        task.Value = step;
                        // Short, so that the bar, percentage and times fit an 80-column terminal.
                        task.Description = Markup.Escape($"{title} {validation:F3} nats (step {step})");
                    });
                    task.Description = Markup.Escape($"{title}: done");
                    task.Value = task.MaxValue;
                });
            return result;
        }
        var clock = Stopwatch.StartNew();
        error.WriteLine($"{title}: training (at most {maxSteps} steps)");
        return train((step, trainValue, validation) =>
        {
            var elapsed = clock.Elapsed.TotalSeconds;
            var eta = elapsed / step * (maxSteps - step);
            error.WriteLine($"{title}: step {step}/{maxSteps} ({100.0 * step / maxSteps:F0}%)  train {trainValue:F3}  validation {validation:F3} nats  "
                            + $"elapsed {Duration(elapsed)}  ETA {Duration(eta)} at most");
        });
    }

    /// <summary>m:ss, or h:mm:ss from an hour.</summary>
    public static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds)) return "?";
        var t = TimeSpan.FromSeconds(Math.Max(0, Math.Round(seconds)));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}" : $"{t.Minutes}:{t.Seconds:D2}";
    }
}
