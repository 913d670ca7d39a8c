using System.CommandLine;
using Decomp.Apps;
using Decomp.Train.Vision.Reporting;
using Decomp.Train.Vision.Training;

namespace Decomp.Train.Vision.Cli;

/// <summary>
/// The command line: the root command trains (options in <see cref="OptionTable"/>), <c>summarize</c> tabulates finished
/// runs. It runs through the apps' shared <see cref="CommandLineHost"/>: bad arguments, missing or corrupt data, a damaged
/// checkpoint and a run folder in use are a one-line error and exit code 2, never a stack trace.
/// </summary>
internal static class CommandLineApp
{
    private const string Description =
        "Contrastive pre-training of an image encoder with Decomp's bounds: SimCLR- or MoCo-style InfoNCE, or the decomposition "
        + "lam*I_NCE(x';y) + (1-lam)*(I_NCE(x'';y) + I_IS(x';y|x'')) with an information-restricted view x'' (crop or cut), "
        + "then linear evaluation on frozen features.\n\n"
        + "Examples:\n"
        + "  train on Fashion-MNIST for 20 minutes:   Decomp.Train.Vision --objective decomposed --budget-minutes 20 --seed 1\n"
        + "  the baseline and the ablation:           --objective infonce | --objective decomposed-without-conditional\n"
        + "  probe a randomly initialised encoder:    --epochs 0\n"
        + "  continue a killed run:                   the same command plus --resume\n"
        + "  your own images (folder/<class>/*.png):   --dataset folder --data-dir ~/pictures --image-size 64\n"
        + "  throughput only:                         --benchmark-steps 20\n"
        + "  tabulate finished runs:                  Decomp.Train.Vision summarize runs/vision/*";

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancel = default)
    {
        var root = new RootCommand(Description);
        foreach (var binding in OptionTable.All) root.Options.Add(binding.Option);
        root.SetAction(result =>
        {
            var options = OptionTable.All.Aggregate(new TrainingOptions(), (o, b) => b.Apply(o, result));
            var given = OptionTable.All.Where(b => b.IsExplicit(result)).Select(b => b.Property).ToHashSet();
            // Ctrl+C and SIGTERM request a graceful stop (checkpoint, then exit 130); a second signal kills.
            using var interruption = new Interruption();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel, interruption.Token);
            return TrainingRun.Execute(options, given, output, stop.Token);
        });

        var runs = new Argument<string[]>("runs") { Description = "Run folders (each with a summary.json).", Arity = ArgumentArity.OneOrMore };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the table to this Markdown file." };
        var summarize = new Command("summarize", "Tabulate finished runs (their summary.json) as Markdown: mean ± sd over seeds per method, then one line per run.");
        summarize.Arguments.Add(runs);
        summarize.Options.Add(markdown);
        summarize.SetAction(result =>
        {
            var folders = result.GetValue(runs)!;
            var summaries = folders.Select(f => Path.Combine(f, TrainingRun.SummaryFile))
                .Select(p => File.Exists(p) ? RunSummary.Read(p) : throw new FileNotFoundException($"{p} does not exist (the run has not finished)."))
                .ToList();
            var table = RunSummary.MarkdownTable(summaries);
            output.Write(table);
            if (result.GetValue(markdown) is { } path) AtomicFile.WriteAllText(path, table);
            return ExitCodes.Success;
        });
        root.Subcommands.Add(summarize);
        return CommandLineHost.Run(root, args, output, error, "Decomp.Train.Vision --help");
    }
}
