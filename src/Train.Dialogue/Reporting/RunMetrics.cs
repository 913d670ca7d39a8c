namespace Decomp.Dialogue.Reporting;

/// <summary>The final numbers of a run, written to <c>metrics.json</c>.</summary>
public sealed record RunMetrics
{
    /// <summary>The method's command-line name.</summary>
    public required string Method { get; init; }
    /// <summary>The training seed.</summary>
    public required long Seed { get; init; }
    /// <summary>The corpus name.</summary>
    public required string Corpus { get; init; }
    /// <summary>The model shape (n_embd x n_layer x n_head) and parameter count.</summary>
    public required string Model { get; init; }
    /// <summary>The device trained on.</summary>
    public required string Device { get; init; }
    /// <summary>Optimizer steps taken.</summary>
    public required long Steps { get; init; }
    /// <summary>Epochs started (the last may be partial).</summary>
    public required double Epochs { get; init; }
    /// <summary>Training wall-clock seconds (including negative sampling and periodic validation).</summary>
    public required double TrainSeconds { get; init; }
    /// <summary>Why training stopped.</summary>
    public required string StopReason { get; init; }
    /// <summary>The step whose weights were evaluated (best validation perplexity).</summary>
    public required long BestStep { get; init; }
    /// <summary>Validation perplexity of x_{k+1} at the best step.</summary>
    public required double ValidPerplexity { get; init; }
    /// <summary>Test perplexity of x_{k+1}.</summary>
    public required double TestPerplexity { get; init; }
    /// <summary>Test in-batch I_NCE(f(x&lt;=k); f(x&gt;k)) in nats (batch = the training batch size).</summary>
    public required double TestInfoNce { get; init; }
    /// <summary>Corpus BLEU-4 (0-100) of generated x_{k+1} against the true one.</summary>
    public required double Bleu { get; init; }
    /// <summary>seq-rep-n for n = 2..6.</summary>
    public required Dictionary<string, double?> SeqRep { get; init; }
    /// <summary>Mean of seq-rep-2..6.</summary>
    public required double? SeqRepAvg { get; init; }
    /// <summary>dist-n for n = 1..3.</summary>
    public required Dictionary<string, double?> Dist { get; init; }
    /// <summary>Mean words per generated response.</summary>
    public required double ResponseWords { get; init; }
    /// <summary>The decoding used for the responses.</summary>
    public required string Decoding { get; init; }
    /// <summary>Probe accuracy of the latent from f(x&lt;=k) on test examples (null without a latent).</summary>
    public double? ProbeAccuracy { get; init; }
    /// <summary>The same on test examples whose x_k does not reveal the latent.</summary>
    public double? ProbeLongRangeAccuracy { get; init; }
    /// <summary>Probe accuracy from f(x_k) alone (what the recent past gives).</summary>
    public double? ProbeRecentAccuracy { get; init; }
    /// <summary>The same from f(x_k) on the long-range examples.</summary>
    public double? ProbeRecentLongRangeAccuracy { get; init; }
    /// <summary>The majority-class share of the probe's test examples.</summary>
    public double? ProbeChance { get; init; }
    /// <summary>The same probe from f(x&lt;=k) of the model before training (its random or pretrained initial weights).</summary>
    public double? ProbeAccuracyAtInit { get; init; }
    /// <summary>The initial model's probe accuracy on the long-range examples.</summary>
    public double? ProbeLongRangeAccuracyAtInit { get; init; }
}
