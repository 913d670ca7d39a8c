using Decomp.Apps;

namespace Decomp.Cli.Reporting;

/// <summary>
/// Progress while the critic trains, through the apps' <see cref="ConsoleProgress"/> on standard error (standard output
/// stays clean for --json). The ETA assumes every step up to --max-steps runs; early stopping ends sooner.
/// </summary>
internal static class TrainingProgress
{
    /// <summary>Runs <paramref name="train"/>, giving it the callback the library calls after each evaluation.</summary>
    public static T Run<T>(TextWriter error, int maxSteps, string title, Func<Action<int, double, double>, T> train) =>
        ConsoleProgress.Run(error, title, maxSteps, report =>
            train((step, trainValue, validation) => report(step, $"train {trainValue:F3}  validation {validation:F3} nats")));
}
