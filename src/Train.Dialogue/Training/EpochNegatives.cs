using System.Diagnostics;
using Decomp.Apps;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;

namespace Decomp.Dialogue.Training;

/// <summary>
/// InfoNCE_S's negative futures epoch by epoch, cached in <c>negatives/epoch-NNN.bin</c> of the run folder: read back
/// when the cache is intact, else sampled by the model of the epoch's start.
/// </summary>
/// <param name="options">The run's options (M, sampling, seed, the generation batch, the progress interval).</param>
/// <param name="outputDirectory">The run folder.</param>
/// <param name="log">Where progress lines go.</param>
public sealed class EpochNegatives(TrainingOptions options, string outputDirectory, TextWriter log)
{
    private string CacheDirectory => Path.Combine(outputDirectory, "negatives");

    /// <summary>
    /// The negative futures of <paramref name="epoch"/>: from its cache when that is intact, else sampled by
    /// <paramref name="model"/>. Sampling again gives the same futures only at the epoch's start; a run resumed in the
    /// middle of an epoch (<paramref name="midEpoch"/>) refuses a damaged cache rather than silently training the rest of
    /// the epoch on other negatives.
    /// </summary>
    /// <exception cref="BadInputException">The cache of an epoch resumed in its middle is damaged.</exception>
    public NegativeFutures For(Gpt2Model model, List<EncodedExample> examples, Vocabulary vocabulary, int epoch, bool midEpoch)
    {
        var path = Path.Combine(CacheDirectory, $"epoch-{epoch:D3}.bin");
        if (File.Exists(path))
        {
            try
            {
                var cached = NegativeFutures.Load(path, examples, options.Negatives, vocabulary.Count);
                log.WriteLine($"negatives for epoch {epoch + 1}: loaded from {path}");
                return cached;
            }
            catch (InvalidDataException e) when (midEpoch)
            {
                throw new BadInputException(
                    $"{e.Message.TrimEnd('.')}. The checkpoint is in the middle of epoch {epoch + 1}, whose negatives were sampled at its start by "
                    + "the model of then, so they cannot be sampled again exactly: to continue anyway, delete it and run again with --resume "
                    + "(the rest of the epoch then trains on negatives sampled by the checkpoint's model, and the run no longer repeats an "
                    + $"uninterrupted one); to start over, delete {outputDirectory} or use another --out.", e);
            }
            catch (InvalidDataException e)
            {
                log.WriteLine($"negatives for epoch {epoch + 1}: cache unusable ({e.Message}); sampling again (the epoch has not started, so they are the same)");
            }
        }
        else if (midEpoch)
            log.WriteLine($"negatives for epoch {epoch + 1}: no cache at {path}; sampling them with the checkpoint's model, in the middle of the epoch "
                          + "(the run no longer repeats an uninterrupted one)");
        var clock = Stopwatch.StartNew();
        NegativeFutures sampled;
        // A row of its own under the training's bar on a terminal; a line at most every --log-seconds otherwise.
        using (var progress = ConsoleProgress.Start(log, $"  sampling negatives for epoch {epoch + 1}", Math.Max(1, examples.Count),
                                                    new ProgressSettings { Unit = "example", IntervalSeconds = options.LogSeconds }))
            sampled = NegativeFutures.Sample(model, examples, options.Negatives, vocabulary.EndOfText, options.MaxFutureTokens,
                Sampling(options), options.Seed * 7919 + epoch, options.GenerationBatch, (done, _) => progress.Report(done, ""));
        Directory.CreateDirectory(CacheDirectory);
        sampled.Save(path);
        // Resuming needs the current epoch's cache; resuming from the previous checkpoint may need the previous epoch's.
        var previous = Path.Combine(CacheDirectory, $"epoch-{epoch - 1:D3}.bin");
        foreach (var old in Directory.GetFiles(CacheDirectory, "epoch-*.bin").Where(f => f != path && f != previous)) File.Delete(old);
        log.WriteLine($"negatives for epoch {epoch + 1}: {examples.Count} x {options.Negatives} futures sampled in {Durations.Format(clock.Elapsed.TotalSeconds)}, cached at {path}");
        return sampled;
    }

    /// <summary>How negatives are sampled from p(x&gt;k | x_k): the options' top-k, top-p and temperature.</summary>
    public static SamplingSettings Sampling(TrainingOptions o) =>
        new SamplingSettings(TopK: o.NegativeTopK, TopP: o.NegativeTopP, Temperature: o.NegativeTemperature).Validated();
}
