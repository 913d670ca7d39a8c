using System.CommandLine;
using System.Text.RegularExpressions;

namespace Decomp.Apps;

/// <summary>
/// The options every Decomp application shares, declared once so that each has one name, one meaning and one check
/// everywhere: <c>--output</c>, <c>--device</c>, <c>--threads</c>, <c>--seed</c>, <c>--resume</c> and
/// <c>--budget-minutes</c>. An app passes what differs (its default folder, what its seed seeds); the rest is here.
/// </summary>
public static class CommonOptions
{
    /// <summary>The spellings <c>--device</c> accepts.</summary>
    public const string DeviceChoices = "auto, cpu, cuda or cuda:N";

    /// <summary>
    /// <c>--output DIR</c>: the run folder, owned by one process while it runs, its files replaced atomically.
    /// <paramref name="contents"/> says what the app writes there and its default.
    /// </summary>
    public static Option<string?> Output(string contents) =>
        new("--output", "-o") { Description = $"Run folder: {contents}", HelpName = "DIR" };

    /// <summary>
    /// <c>--device</c>: <c>auto</c> (the default: <c>DECOMP_DEVICE</c> if set, else CUDA when available, else the CPU),
    /// <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>, as the core's <c>Device.parse</c> reads them; null when not given (auto).
    /// </summary>
    public static Option<string?> Device()
    {
        var option = new Option<string?>("--device")
        {
            Description = $"{DeviceChoices}. auto (the default): DECOMP_DEVICE if set, else CUDA when available, else the CPU.",
            HelpName = "auto|cpu|cuda|cuda:N",
        };
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && !Regex.IsMatch(r.Tokens[0].Value, @"^(auto|cpu|cuda|cuda:\d+)$", RegexOptions.IgnoreCase))
                r.AddError($"--device must be {DeviceChoices}, not '{r.Tokens[0].Value}'.");
        });
        return option;
    }

    /// <summary>
    /// <c>--threads N</c>: CPU threads for libtorch's operators; 0 leaves libtorch's choice. That is the default unless an
    /// app has a reason for another, which <paramref name="why"/> then gives in the help.
    /// </summary>
    public static Option<int> Threads(int @default = 0, string? why = null) => AtLeast(
        new Option<int>("--threads")
        {
            Description = "CPU threads for libtorch's operators; 0 = libtorch's choice (one per core)." + (why is null ? "" : $" Default {@default}: {why}"),
            HelpName = "N",
            DefaultValueFactory = _ => @default,
        },
        0, "0 (libtorch's choice) or more");

    /// <summary><c>--seed N</c>: the run's seed; <paramref name="seeds"/> says what it seeds.</summary>
    public static Option<long> Seed(long @default, string seeds) =>
        new("--seed") { Description = $"Seed of {seeds}.", HelpName = "N", DefaultValueFactory = _ => @default };

    /// <summary>
    /// <c>--resume</c>, with the one rule every app follows (<see cref="ResumePolicy"/>): continue the run in
    /// <c>--output</c> from its checkpoint, ending exactly as an uninterrupted run would; options not given come from the
    /// checkpoint, and a given one that would change the result is refused by name; with no checkpoint there it is an
    /// error (exit code 2), never a silent fresh start.
    /// </summary>
    public static Option<bool> Resume() => new("--resume")
    {
        Description = "Continue the run in --output from its checkpoint; it ends as an uninterrupted run would. Options not given are "
                      + "taken from the checkpoint; one that would change the result is refused. No checkpoint there is an error.",
    };

    /// <summary><c>--budget-minutes M</c>: a wall-clock budget; 0 (the default) is none. <paramref name="whatStops"/> says what the budget ends.</summary>
    public static Option<double> BudgetMinutes(string whatStops) => AtLeast(
        new Option<double>("--budget-minutes") { Description = $"Wall-clock budget in minutes; 0 = none. {whatStops}", HelpName = "M", DefaultValueFactory = _ => 0 },
        0.0, "0 (no budget) or more");

    private static Option<T> AtLeast<T>(Option<T> option, T minimum, string expectation) where T : IComparable<T>
    {
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<T>();
            if (value.CompareTo(minimum) < 0) r.AddError($"{option.Name} must be {expectation}, not {value}.");
        });
        return option;
    }
}
