using System.Text.Json;
using System.Text.Json.Serialization;
using Decomp.Apps;
using Decomp.Train.Vision.Data;
using Decomp.Train.Vision.Models;

namespace Decomp.Train.Vision.Training;

/// <summary>
/// Everything a training run is configured by, as given on the command line. Null means "the default that depends on the
/// data or the device" (resolved in <see cref="RunSettings"/>). The whole record is stored in each checkpoint; a resumed
/// run must agree with it on every field except the <see cref="OperationalFields"/>.
/// </summary>
internal sealed record TrainingOptions
{
    // Data
    public DatasetKind Dataset { get; init; } = DatasetKind.FashionMnist;
    [Operational] public string? DataDir { get; init; }
    public int ImageSize { get; init; } = 32;
    public int Channels { get; init; } = 3;
    public double TestFraction { get; init; } = 0.2;
    public int TrainLimit { get; init; }
    public int TestLimit { get; init; }

    // Method
    public Framework Framework { get; init; } = Framework.MoCo;
    public ObjectiveKind Objective { get; init; } = ObjectiveKind.Decomposed;
    public RestrictedViewKind RestrictedView { get; init; } = RestrictedViewKind.Crop;
    public double Lambda { get; init; } = 0.5;
    public double? Temperature { get; init; }
    public int QueueSize { get; init; } = 4096;
    public double KeyMomentum { get; init; } = 0.99;
    public int BatchNormSplits { get; init; } = 8;
    public int? RestrictedSize { get; init; }
    public double RestrictedScaleMin { get; init; } = 0.05;
    public double RestrictedScaleMax { get; init; } = 0.14;
    public int? CutoutSize { get; init; }

    // Augmentation
    public double CropScaleMin { get; init; } = 0.2;
    public double? FlipProbability { get; init; }
    public double JitterProbability { get; init; } = 0.8;
    public double JitterStrength { get; init; } = 0.4;
    public double GrayscaleProbability { get; init; } = 0.2;
    public double? BlurProbability { get; init; }

    // Model
    public EncoderKind? Encoder { get; init; }
    public int ProjectionDim { get; init; } = 128;
    public Precision Precision { get; init; } = Precision.Float32;

    // Optimisation
    public int BatchSize { get; init; } = 256;
    /// <summary>
    /// The number of processes (mpirun ranks) that trained this run; 1 without mpirun. Set by the driver, not by an
    /// option: a run resumes only with the same number of processes, since each rank's shard of every global batch, its
    /// BatchNorm statistics and the gathered negatives depend on it.
    /// </summary>
    public int WorldSize { get; init; } = 1;
    public int? Epochs { get; init; }
    public long MaxSteps { get; init; }
    public double BudgetMinutes { get; init; }
    public double? LearningRate { get; init; }
    public double WeightDecay { get; init; } = 5e-4;
    public double SgdMomentum { get; init; } = 0.9;
    public double WarmupFraction { get; init; } = 0.05;
    public long Seed { get; init; } = 1;

    // Evaluation
    public long? KnnEvery { get; init; }
    public int KnnK { get; init; } = 200;
    public int KnnBankSize { get; init; } = 10000;
    public int KnnQuerySize { get; init; } = 2000;
    public int ProbeEpochs { get; init; } = 50;
    public int ProbeBatchSize { get; init; } = 512;
    public double ProbeLearningRate { get; init; } = 1e-2;
    public double ProbeWeightDecay { get; init; }

    // Run
    [Operational] public string? Output { get; init; }
    [Operational] public bool Resume { get; init; }
    [Operational] public double CheckpointMinutes { get; init; } = 5;
    [Operational] public long CheckpointEvery { get; init; }
    public int LogEvery { get; init; } = 10;
    [Operational] public double ProgressSeconds { get; init; } = 10;
    [Operational] public string? Device { get; init; }
    [Operational] public int Threads { get; init; }
    [Operational] public int BenchmarkSteps { get; init; }

    /// <summary>Fields that may differ between a run and its resumption (marked <see cref="OperationalAttribute"/>): where and how it runs, not what it computes.</summary>
    public static readonly IReadOnlySet<string> OperationalFields = ResumePolicy.OperationalProperties<TrainingOptions>();

    /// <summary>Epochs trained when neither --epochs nor --budget-minutes is given.</summary>
    public const int DefaultEpochs = 10;

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>JSON of the options (enums by name).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses <see cref="ToJson"/>'s output.</summary>
    public static TrainingOptions FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingOptions>(json, Json) ?? throw new InvalidDataException("empty options JSON");

    /// <summary>The names and JSON values of the result-affecting fields where this and <paramref name="other"/> differ.</summary>
    public IReadOnlyList<(string Property, string Saved, string Requested)> ResultAffectingDifferences(TrainingOptions saved, IReadOnlySet<string> given) =>
        ResumePolicy.Conflicts(saved, this, given, Json);

    /// <summary>Checks every value against its valid range; the message names the command-line option.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        Require(ImageSize >= 8, "--image-size", $"must be at least 8; got {ImageSize}");
        Require(Channels is 1 or 3, "--channels", $"must be 1 or 3; got {Channels}");
        Require(TestFraction is > 0 and < 1, "--test-fraction", $"must lie strictly between 0 and 1; got {TestFraction}");
        Require(TrainLimit >= 0, "--train-limit", $"must be 0 (all) or positive; got {TrainLimit}");
        Require(TestLimit >= 0, "--test-limit", $"must be 0 (all) or positive; got {TestLimit}");
        Require(Lambda is >= 0 and <= 1, "--lambda", $"must lie in [0, 1]; got {Lambda}");
        Require(Temperature is null or > 0, "--temperature", $"must be positive; got {Temperature}");
        Require(BatchSize >= 2, "--batch-size", $"must be at least 2 (the batch supplies the negatives or the queue's keys); got {BatchSize}");
        Require(WorldSize >= 1 && BatchSize % WorldSize == 0 && BatchSize / WorldSize >= 2, "--global-batch",
                $"({BatchSize}) must split into {WorldSize} equal per-rank batches of at least 2 images (one per mpirun rank)");
        if (Framework == Framework.MoCo)
        {
            Require(QueueSize >= BatchSize && QueueSize % BatchSize == 0, "--queue-size",
                    $"must be a positive multiple of --batch-size ({BatchSize}) so that each step replaces whole batches of keys; got {QueueSize}");
            Require(KeyMomentum is >= 0 and < 1, "--key-momentum", $"must lie in [0, 1); got {KeyMomentum}");
            Require(BatchNormSplits >= 1 && BatchSize % BatchNormSplits == 0 && BatchSize / BatchNormSplits >= 2, "--bn-splits",
                    $"must divide --batch-size ({BatchSize}) into groups of at least 2; got {BatchNormSplits}");
            Require(BatchNormSplits % WorldSize == 0, "--bn-splits",
                    $"must be a multiple of the number of mpirun ranks ({WorldSize}): each rank encodes its keys in --bn-splits / ranks shuffled groups; got {BatchNormSplits}");
        }
        Require(RestrictedSize is null or >= 4, "--restricted-size", $"must be at least 4; got {RestrictedSize}");
        Require(RestrictedScaleMin > 0 && RestrictedScaleMin <= RestrictedScaleMax && RestrictedScaleMax <= 1, "--restricted-scale-min/--restricted-scale-max",
                $"must satisfy 0 < min <= max <= 1; got {RestrictedScaleMin} and {RestrictedScaleMax}");
        Require(CutoutSize is null or >= 1, "--cutout-size", $"must be at least 1; got {CutoutSize}");
        Require(CropScaleMin is > 0 and <= 1, "--crop-scale-min", $"must lie in (0, 1]; got {CropScaleMin}");
        RequireProbability(FlipProbability, "--flip-probability");
        RequireProbability(JitterProbability, "--jitter-probability");
        Require(JitterStrength is >= 0 and < 1, "--jitter-strength", $"must lie in [0, 1); got {JitterStrength}");
        RequireProbability(GrayscaleProbability, "--grayscale-probability");
        RequireProbability(BlurProbability, "--blur-probability");
        Require(ProjectionDim >= 1, "--projection-dim", $"must be positive; got {ProjectionDim}");
        Require(Epochs is null or >= 0, "--epochs", $"must be 0 (probe the random encoder) or positive; got {Epochs}");
        Require(MaxSteps >= 0, "--max-steps", $"must be 0 (no cap) or positive; got {MaxSteps}");
        Require(BudgetMinutes >= 0, "--budget-minutes", $"must be 0 (no budget) or positive; got {BudgetMinutes}");
        Require(LearningRate is null or > 0, "--lr", $"must be positive; got {LearningRate}");
        Require(WeightDecay >= 0, "--weight-decay", $"must not be negative; got {WeightDecay}");
        Require(SgdMomentum is >= 0 and < 1, "--sgd-momentum", $"must lie in [0, 1); got {SgdMomentum}");
        Require(WarmupFraction is >= 0 and < 1, "--warmup-fraction", $"must lie in [0, 1); got {WarmupFraction}");
        Require(KnnEvery is null or >= 0, "--knn-every", $"must be 0 (never) or positive; got {KnnEvery}");
        Require(KnnK >= 1, "--knn-k", $"must be positive; got {KnnK}");
        Require(KnnBankSize >= 1, "--knn-bank-size", $"must be positive; got {KnnBankSize}");
        Require(KnnQuerySize >= 1, "--knn-query-size", $"must be positive; got {KnnQuerySize}");
        Require(ProbeEpochs >= 0, "--probe-epochs", $"must be 0 (no probe) or positive; got {ProbeEpochs}");
        Require(ProbeBatchSize >= 1, "--probe-batch-size", $"must be positive; got {ProbeBatchSize}");
        Require(ProbeLearningRate > 0, "--probe-lr", $"must be positive; got {ProbeLearningRate}");
        Require(ProbeWeightDecay >= 0, "--probe-weight-decay", $"must not be negative; got {ProbeWeightDecay}");
        Require(CheckpointMinutes >= 0, "--checkpoint-minutes", $"must be 0 (never by time) or positive; got {CheckpointMinutes}");
        Require(CheckpointEvery >= 0, "--checkpoint-every", $"must be 0 (never by steps) or positive; got {CheckpointEvery}");
        Require(LogEvery >= 1, "--log-every", $"must be positive; got {LogEvery}");
        Require(ProgressSeconds > 0, "--progress-seconds", $"must be positive; got {ProgressSeconds}");
        Require(Threads >= 0, "--threads", $"must be 0 (libtorch's choice) or positive; got {Threads}");
        Require(BenchmarkSteps >= 0, "--benchmark-steps", $"must be 0 (train) or positive; got {BenchmarkSteps}");
    }

    private static void RequireProbability(double? value, string option) =>
        Require(value is null or (>= 0 and <= 1), option, $"must be a probability in [0, 1]; got {value}");

    private static void Require(bool condition, string option, string message)
    {
        if (!condition) throw new ArgumentException($"{option} {message}.", option);
    }
}
