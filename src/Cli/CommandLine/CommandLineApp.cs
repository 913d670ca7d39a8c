using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Decomp.Apps;

namespace Decomp.Cli.CommandLine;

/// <summary>
/// The <c>decomp</c> command line: one root command, one sub-command per job (now <c>estimate</c>). Every option is
/// declared once with its help text, default and validation; bad usage and bad input are one line on standard error
/// and exit code 2, never a stack trace.
/// </summary>
internal static class CommandLineApp
{
    private const string Description =
        "Decomp: contrastive mutual-information bounds. `decomp estimate` estimates I(X; Y), or I(X; Y | Z), in nats with a 95% interval, "
        + "from samples in CSV, TSV, NumPy .npy or Parquet files.";

    private const string EstimateDescription =
        "Estimate I(X; Y), or I(X; Y | Z) with --z, in nats with a 95% interval, from paired samples (one per row).";

    // Printed after the estimate command's help; kept out of its description, which the root's command list repeats.
    private const string EstimateDetails =
        "A critic is trained on half the rows, stopped early on a quarter, and the bound is reported on the last quarter "
        + "with a 95% interval (bmi's protocol).\n\n"
        + "Inputs are FILE or FILE:COLUMN,COLUMN,... with columns by header name or 0-based index; every column when none are named. "
        + "Files: " + Data.TableReader.Formats + ". A CSV header is detected (a first row that is not all numbers).\n\n"
        + "Outputs: progress on standard error; the table (or, with --json, one JSON object) on standard output; "
        + "curve.png, estimate.md and estimate.json in --output. Exit codes: 0 done, 1 failed while working, 2 bad usage or input.\n\n"
        + "Examples:\n"
        + "  decomp estimate --x data.csv:age,income --y data.csv:score\n"
        + "  decomp estimate --x x.npy --y y.npy --z z.npy --route chain-rule\n"
        + "  decomp estimate --x table.parquet:a,b --y table.parquet:c --estimator smile --json > result.json";

    internal static readonly (string Name, MiEstimator Value)[] Estimators =
    [
        ("infonce", MiEstimator.InfoNce), ("nwj", MiEstimator.Nwj), ("dv", MiEstimator.DonskerVaradhan), ("mine", MiEstimator.Mine),
        ("tuba", MiEstimator.Tuba), ("smile", MiEstimator.Smile), ("js", MiEstimator.JensenShannon),
    ];

    internal static readonly (string Name, CriticArchitecture Value)[] Critics =
        [("separable", CriticArchitecture.Separable), ("joint", CriticArchitecture.Joint)];

    internal static readonly (string Name, ConditionalRoute Value)[] Routes =
        [("importance-sampled", ConditionalRoute.ImportanceSampled), ("chain-rule", ConditionalRoute.ChainRule)];

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        // A plain command named "decomp" rather than RootCommand, whose name is the assembly's (Decomp.Cli): the usage
        // line should read as the tool is called.
        var help = new HelpOption();
        var root = new Command("decomp", Description) { help, new VersionOption() };
        var estimate = EstimateCommand(output, error);
        root.Subcommands.Add(estimate);
        root.Subcommands.Add(BenchmarkCommand(output, error));
        help.Action = new HelpWithDetails((HelpAction)help.Action!, estimate, EstimateDetails, output);
        var helpHint = args.FirstOrDefault() is "estimate" or "benchmark" ? $"decomp {args[0]} --help" : "decomp --help";
        return CommandLineHost.Run(root, args, output, error, helpHint);
    }

    private static Command EstimateCommand(TextWriter output, TextWriter error)
    {
        var d = EstimateOptions.Defaults;
        var x = new Option<string>("--x") { Description = "X: FILE or FILE:COLUMN,COLUMN,...", Required = true, HelpName = "FILE[:COLUMNS]" };
        var y = new Option<string>("--y") { Description = "Y: FILE or FILE:COLUMN,COLUMN,... (the same file as X is fine).", Required = true, HelpName = "FILE[:COLUMNS]" };
        var z = new Option<string?>("--z") { Description = "Z: estimate I(X; Y | Z) instead of I(X; Y). Needs --estimator infonce.", HelpName = "FILE[:COLUMNS]" };
        var estimator = Choice("--estimator", "The bound: infonce (capped at log batch size, lowest variance), nwj, dv (Donsker-Varadhan), mine, tuba, smile (clip 5), js (Jensen-Shannon-trained, read as NWJ).",
                               Estimators, "infonce");
        var critic = Choice("--critic", "separable: f(x)·g(y), all pairs of a batch for 2B forward passes; joint: one MLP on [x, y], B² forward passes (slower). Conditional MI always uses separable encoders.",
                            Critics, "separable");
        var route = new Option<string?>("--route")
        {
            Description = "With --z: importance-sampled (I_IS, the paper's Proposition 3, no sampler of p(y|z) needed) or chain-rule (I([Z, X]; Y) - I(Z; Y), capped by log B). [default: importance-sampled]",
            HelpName = "importance-sampled|chain-rule",
        };
        route.AcceptOnlyFromAmong(Routes.Select(r => r.Name).ToArray());
        var batchSize = Positive("--batch-size", "Rows per batch B; InfoNCE estimates are capped by log B. Needs at least 8 B rows (the test quarter holds two batches).", d.BatchSize, min: 2);
        var maxSteps = Positive("--max-steps", "The most training steps; training stops earlier when the validation estimate has not improved for 5 evaluations (one every 100 steps).", d.MaxSteps);
        var seed = CommonOptions.Seed(d.Seed, "the split, the initialisation and the batches");
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object on standard output (progress still goes to standard error) instead of the table." };
        var outputFolder = CommonOptions.Output($"curve.png (training curve), estimate.md (the table) and estimate.json; created if needed, files replaced atomically. Default: {d.Output}.");
        var command = new Command("estimate", EstimateDescription)
        {
            x, y, z, estimator, critic, route, batchSize, maxSteps, seed, device, threads, json, outputFolder,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(route) is not null && r.GetValue(z) is null) r.AddError("--route applies to conditional MI only; give --z too, or leave --route out.");
        });
        command.SetAction(r =>
        {
            var options = new EstimateOptions
            {
                X = r.GetValue(x)!,
                Y = r.GetValue(y)!,
                Z = r.GetValue(z),
                Estimator = Estimators.Single(e => e.Name == r.GetValue(estimator)).Value,
                Critic = Critics.Single(c => c.Name == r.GetValue(critic)).Value,
                Route = r.GetValue(route) is { } name ? Routes.Single(c => c.Name == name).Value : r.GetValue(z) is null ? null : ConditionalRoute.ImportanceSampled,
                BatchSize = r.GetValue(batchSize),
                MaxSteps = r.GetValue(maxSteps),
                Seed = r.GetValue(seed),
                Device = r.GetValue(device) ?? "auto",
                Threads = r.GetValue(threads),
                Json = r.GetValue(json),
                Output = r.GetValue(outputFolder) ?? d.Output,
            };
            return EstimateRun.Execute(options, output, error);
        });
        return command;
    }

    private static Command BenchmarkCommand(TextWriter output, TextWriter error)
    {
        var d = new BenchmarkSettings();
        var tasks = new Option<string[]>("--tasks")
        {
            Description = "Task ids or patterns with '*' (e.g. 'multinormal-*'), comma-separated; every task when left out.",
            HelpName = "ID|PATTERN,...",
            CustomParser = r => r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray(),
        };
        var seeds = Positive("--seeds", "Seeds per task and estimator (--seed, --seed + 1, ...); each draws its own sample of 5,000 rows and trains afresh.", d.Seeds);
        var seed = new Option<int>("--seed") { Description = $"The first seed: of each task's sample and of its estimators' training (split, initialisation, batches). [default: {d.Seed}]", HelpName = "N" };
        var maxSteps = Positive("--max-steps", "The most training steps per estimate.", d.MaxSteps);
        var noConditional = new Option<bool>("--no-conditional") { Description = "Leave out the conditional tasks (closed-form I(X; Y | Z), both routes)." };
        var quick = new Option<bool>("--quick") { Description = "The CI subset: 4 tasks, 1 seed, at most 150 steps (about half a minute)." };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads(d.Threads, "the critics are small, and one thread per process wastes little while it avoids OpenMP threads spinning for a core on a shared machine.");
        var resume = CommonOptions.Resume();
        var outputFolder = CommonOptions.Output($"results.csv (every run, a checksum per row), results.md (mean ± sd per task and estimator), heatmap.png and benchmark.json (the settings, for --resume). Default: {d.Output}.");
        var command = new Command("benchmark", "Run bmi's 40-task benchmark (and conditional tasks of our own) through every estimator, with bmi's protocol.")
        {
            tasks, seeds, seed, maxSteps, noConditional, quick, device, threads, resume, outputFolder,
        };
        // Which setting each option sets, for --resume: the given ones are checked against the saved settings.
        var bound = new (string Property, Option Option)[]
        {
            (nameof(BenchmarkSettings.Tasks), tasks), (nameof(BenchmarkSettings.Seeds), seeds), (nameof(BenchmarkSettings.Seed), seed),
            (nameof(BenchmarkSettings.MaxSteps), maxSteps), (nameof(BenchmarkSettings.Conditional), noConditional), (nameof(BenchmarkSettings.Quick), quick),
            (nameof(BenchmarkSettings.Device), device), (nameof(BenchmarkSettings.Threads), threads), (nameof(BenchmarkSettings.Output), outputFolder),
        };
        command.SetAction(r =>
        {
            var settings = new BenchmarkSettings
            {
                Tasks = r.GetValue(tasks) ?? [],
                Seeds = r.GetValue(seeds),
                Seed = r.GetValue(seed),
                MaxSteps = r.GetValue(maxSteps),
                Conditional = !r.GetValue(noConditional),
                Quick = r.GetValue(quick),
                Device = r.GetValue(device) ?? "auto",
                Threads = r.GetValue(threads),
                Resume = r.GetValue(resume),
                Output = r.GetValue(outputFolder) ?? d.Output,
            };
            var given = bound.Where(b => r.GetResult(b.Option) is { Implicit: false }).Select(b => b.Property).ToHashSet();
            string FlagOf(string property) => bound.Single(b => b.Property == property).Option.Name;
            using var interruption = new Interruption();
            try
            {
                return BenchmarkRun.Execute(settings, given, FlagOf, output, error, interruption.Token);
            }
            catch (OperationCanceledException) when (interruption.Requested)
            {
                error.WriteLine($"stopped by {interruption.Signal}; every finished group of runs is in {Path.Combine(settings.Output, "results.csv")}: "
                                + "run the same command with --resume to continue.");
                return ExitCodes.Interrupted;
            }
        });
        return command;
    }

    private static Option<string> Choice<T>(string name, string description, (string Name, T Value)[] choices, string @default)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => @default, HelpName = string.Join("|", choices.Select(c => c.Name)) };
        option.AcceptOnlyFromAmong(choices.Select(c => c.Name).ToArray());
        return option;
    }

    private static Option<int> Positive(string name, string description, int @default, int min = 1)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => @default, HelpName = "N" };
        option.Validators.Add(r => { if (r.GetValueOrDefault<int>() < min) r.AddError($"{name} must be at least {min}, not {r.GetValueOrDefault<int>()}."); });
        return option;
    }

    /// <summary>The standard help, then <paramref name="details"/> when the help is <paramref name="command"/>'s.</summary>
    private sealed class HelpWithDetails(HelpAction standard, Command command, string details, TextWriter output) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var code = standard.Invoke(parseResult);
            if (parseResult.CommandResult.Command == command)
            {
                output.WriteLine("Details:");
                foreach (var paragraph in details.Split("\n\n"))
                    output.WriteLine("  " + paragraph.Replace("\n", "\n  ") + "\n");
            }
            return code;
        }
    }

}
