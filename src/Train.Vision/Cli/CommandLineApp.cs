using System.CommandLine;
using System.Text.RegularExpressions;
using System.Runtime.InteropServices;
using Decomp.Train.Vision.Reporting;
using Decomp.Train.Vision.Training;

namespace Decomp.Train.Vision.Cli;

/// <summary>
/// The command line: the root command trains (options in <see cref="OptionTable"/>), <c>summarize</c> tabulates finished
/// runs. Bad arguments, a damaged checkpoint and a run folder in use become a one-line error and exit code 2, missing or
/// corrupt data files exit code 3, never a stack trace.
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
        root.SetAction(result => Guard(error, () =>
        {
            var options = OptionTable.All.Aggregate(new TrainingOptions(), (o, b) => b.Apply(o, result));
            var given = OptionTable.All.Where(b => b.IsExplicit(result)).Select(b => b.Property).ToHashSet();
            using var interrupt = new InterruptSource(cancel);
            return TrainingRun.Execute(options, given, output, interrupt.Token);
        }));

        var runs = new Argument<string[]>("runs") { Description = "Run folders (each with a summary.json).", Arity = ArgumentArity.OneOrMore };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the table to this Markdown file." };
        var summarize = new Command("summarize", "Tabulate finished runs (their summary.json) as Markdown: mean ± sd over seeds per method, then one line per run.");
        summarize.Arguments.Add(runs);
        summarize.Options.Add(markdown);
        summarize.SetAction(result => Guard(error, () =>
        {
            var folders = result.GetValue(runs)!;
            var summaries = folders.Select(f => Path.Combine(f, TrainingRun.SummaryFile))
                .Select(p => File.Exists(p) ? RunSummary.Read(p) : throw new FileNotFoundException($"{p} does not exist (the run has not finished)."))
                .ToList();
            var table = RunSummary.MarkdownTable(summaries);
            output.Write(table);
            if (result.GetValue(markdown) is { } path) File.WriteAllText(path, table);
            return ExitCodes.Success;
        }));
        root.Subcommands.Add(summarize);

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            error.WriteLine($"error: {OneLine(parsed.Errors[0].Message).TrimEnd('.')}. Run with --help to see the options.");
            return ExitCodes.BadArguments;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
    }

    /// <summary>Runs <paramref name="body"/>, turning expected failures into a one-line message and an exit code.</summary>
    private static int Guard(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"error: {OneLine(WithoutParameterSuffix(e))}");
            return ExitCodes.BadArguments;
        }
        catch (Exception e) when (e is Decomp.Apps.BadInputException or Decomp.Apps.RunFolderInUseException)
        {
            // A damaged checkpoint or a run folder in use: the message names the file and what to do.
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.BadArguments;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.BadData;
        }
        catch (InvalidOperationException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.Failure;
        }
    }

    private static string OneLine(string message) => Regex.Replace(message, @"\s+", " ").Trim();

    private static string WithoutParameterSuffix(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "");

    /// <summary>Ctrl+C and SIGTERM request a graceful stop (checkpoint, then exit 130); a second Ctrl+C kills.</summary>
    private sealed class InterruptSource : IDisposable
    {
        private readonly CancellationTokenSource source;
        private readonly PosixSignalRegistration? terminate;
        private readonly ConsoleCancelEventHandler onCancel;

        public InterruptSource(CancellationToken outer)
        {
            source = CancellationTokenSource.CreateLinkedTokenSource(outer);
            onCancel = (_, e) =>
            {
                if (source.IsCancellationRequested) return;
                e.Cancel = true;
                source.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            if (!OperatingSystem.IsWindows())
                terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; source.Cancel(); });
        }

        public CancellationToken Token => source.Token;

        public void Dispose()
        {
            Console.CancelKeyPress -= onCancel;
            terminate?.Dispose();
            source.Dispose();
        }
    }
}
