using System.CommandLine;
using Decomp.Apps;
using Decomp.Train.Vision.Data;
using Decomp.Train.Vision.Models;
using Decomp.Train.Vision.Training;

namespace Decomp.Train.Vision.Cli;

/// <summary>One command-line option and how it sets a field of <see cref="TrainingOptions"/>.</summary>
internal interface IOptionBinding
{
    /// <summary>The System.CommandLine option.</summary>
    Option Option { get; }
    /// <summary>The <see cref="TrainingOptions"/> property it sets.</summary>
    string Property { get; }
    /// <summary>True when the command line names the option (rather than leaving its default).</summary>
    bool IsExplicit(ParseResult result);
    /// <summary><paramref name="options"/> with this option's value from <paramref name="result"/> applied.</summary>
    TrainingOptions Apply(TrainingOptions options, ParseResult result);
}

/// <summary>The training command's options: one table that builds the parser, the help text and the binding.</summary>
internal static class OptionTable
{
    private static readonly TrainingOptions Defaults = new();

    /// <summary>Every option of the training command, in help order.</summary>
    public static readonly IReadOnlyList<IOptionBinding> All = Build();

    /// <summary>The command-line flag that sets <paramref name="property"/> (the property name when none does).</summary>
    public static string FlagFor(string property) => All.FirstOrDefault(b => b.Property == property)?.Option.Name ?? property;

    private static IReadOnlyList<IOptionBinding> Build()
    {
        var d = Defaults;
        return new IOptionBinding[]
        {
            // Data
            Choice("--dataset", nameof(TrainingOptions.Dataset),
                   $"Training data: fashion-mnist (IDX files; default folder {DatasetCatalog.DebianFashionMnist}, from Debian's dataset-fashion-mnist package), "
                   + "mnist (IDX files), cifar10 (binary batches, cifar-10-batches-bin) or folder (one sub-folder of PNG/JPEG images per class, optionally under train/ and test/).",
                   new[] { ("fashion-mnist", DatasetKind.FashionMnist), ("mnist", DatasetKind.Mnist), ("cifar10", DatasetKind.Cifar10), ("folder", DatasetKind.Folder) },
                   d.Dataset, (o, v) => o with { Dataset = v }),
            Value<string?>("--data-dir", nameof(TrainingOptions.DataDir),
                   "Folder that holds the data set. Default for fashion-mnist: the Debian package's folder; required for the others.",
                   null, (o, v) => o with { DataDir = v }),
            Value("--image-size", nameof(TrainingOptions.ImageSize), "folder data: images are centre-cropped to squares and resized to this side.",
                  d.ImageSize, (o, v) => o with { ImageSize = v }),
            Value("--channels", nameof(TrainingOptions.Channels), "folder data: 1 (grey) or 3 (RGB).", d.Channels, (o, v) => o with { Channels = v }),
            Value("--test-fraction", nameof(TrainingOptions.TestFraction),
                  "folder data without train/ and test/ sub-folders: share of each class held out (fixed split, the same for every seed).",
                  d.TestFraction, (o, v) => o with { TestFraction = v }),
            Value("--train-limit", nameof(TrainingOptions.TrainLimit), "Use only this many training images (a fixed random subset, the same for every seed); 0 = all.",
                  d.TrainLimit, (o, v) => o with { TrainLimit = v }),
            Value("--test-limit", nameof(TrainingOptions.TestLimit), "Use only this many test images (a fixed random subset); 0 = all.",
                  d.TestLimit, (o, v) => o with { TestLimit = v }),

            // Method
            Choice("--framework", nameof(TrainingOptions.Framework),
                   "moco: MoCo-v2 momentum key encoder and a queue of --queue-size negative keys (the paper's ImageNet set-up); "
                   + "simclr: one encoder, in-batch negatives, loss symmetrised over the two views (the CIFAR-10 set-up).",
                   new[] { ("moco", Framework.MoCo), ("simclr", Framework.SimClr) }, d.Framework, (o, v) => o with { Framework = v }),
            Choice("--objective", nameof(TrainingOptions.Objective),
                   "infonce: I_NCE(x';y), the baseline (lambda = 1); decomposed: lam*I_NCE(x';y) + (1-lam)*(I_NCE(x'';y) + I_IS(x';y|x'')), the paper's method; "
                   + "decomposed-without-conditional: the same without the I_IS term (the paper's 'without conditional MI' ablation).",
                   new[] { ("infonce", ObjectiveKind.InfoNce), ("decomposed", ObjectiveKind.Decomposed), ("decomposed-without-conditional", ObjectiveKind.DecomposedWithoutConditional) },
                   d.Objective, (o, v) => o with { Objective = v }),
            Choice("--restricted-view", nameof(TrainingOptions.RestrictedView),
                   "How x'' is made from x': crop (aggressive random resized crop, area --restricted-scale-min to -max, resized to --restricted-size) or cut (cutout of a --cutout-size square).",
                   new[] { ("crop", RestrictedViewKind.Crop), ("cut", RestrictedViewKind.Cut) }, d.RestrictedView, (o, v) => o with { RestrictedView = v }),
            Value("--lambda", nameof(TrainingOptions.Lambda), "lam, the weight of I_NCE(x';y) in the decomposed objectives, in [0, 1].", d.Lambda, (o, v) => o with { Lambda = v }),
            Value<double?>("--temperature", nameof(TrainingOptions.Temperature), "tau of the cosine critic. Default: 0.2 for moco (MoCo v2), 0.5 for simclr (the paper's CIFAR-10 set-up).",
                  null, (o, v) => o with { Temperature = v }),
            Value("--queue-size", nameof(TrainingOptions.QueueSize), "moco: K, the number of queued negative keys; a multiple of --batch-size.", d.QueueSize, (o, v) => o with { QueueSize = v }),
            Value("--key-momentum", nameof(TrainingOptions.KeyMomentum), "moco: m of the key encoder's update theta_k = m*theta_k + (1-m)*theta_q.", d.KeyMomentum, (o, v) => o with { KeyMomentum = v }),
            Value("--bn-splits", nameof(TrainingOptions.BatchNormSplits),
                  "moco: keys pass through the key encoder in this many shuffled groups (MoCo's shuffled batch norm on one device); 1 = off.",
                  d.BatchNormSplits, (o, v) => o with { BatchNormSplits = v }),
            Value<int?>("--restricted-size", nameof(TrainingOptions.RestrictedSize), "crop view: side of x'' in pixels. Default: half the image side (28 -> 14, 32 -> 16; the paper uses 224 -> 96).",
                  null, (o, v) => o with { RestrictedSize = v }),
            Value("--restricted-scale-min", nameof(TrainingOptions.RestrictedScaleMin), "crop view: smallest area fraction of x' kept in x''.", d.RestrictedScaleMin, (o, v) => o with { RestrictedScaleMin = v }),
            Value("--restricted-scale-max", nameof(TrainingOptions.RestrictedScaleMax), "crop view: largest area fraction of x' kept in x''.", d.RestrictedScaleMax, (o, v) => o with { RestrictedScaleMax = v }),
            Value<int?>("--cutout-size", nameof(TrainingOptions.CutoutSize), "cut view: side of the blanked square in pixels. Default: half the image side.",
                  null, (o, v) => o with { CutoutSize = v }),

            // Augmentation
            Value("--crop-scale-min", nameof(TrainingOptions.CropScaleMin), "Standard views: smallest area fraction of the random resized crop (the largest is 1).",
                  d.CropScaleMin, (o, v) => o with { CropScaleMin = v }),
            Value<double?>("--flip-probability", nameof(TrainingOptions.FlipProbability), "Probability of a horizontal flip. Default: 0 for mnist (digits are not mirror-symmetric), 0.5 otherwise.",
                  null, (o, v) => o with { FlipProbability = v }),
            Value("--jitter-probability", nameof(TrainingOptions.JitterProbability), "Probability of colour jitter (brightness and contrast for grey images).",
                  d.JitterProbability, (o, v) => o with { JitterProbability = v }),
            Value("--jitter-strength", nameof(TrainingOptions.JitterStrength), "s: brightness, contrast and saturation factors in [1-s, 1+s], hue within s/4 turns.",
                  d.JitterStrength, (o, v) => o with { JitterStrength = v }),
            Value("--grayscale-probability", nameof(TrainingOptions.GrayscaleProbability), "Probability of turning an RGB view grey (ignored for grey images).",
                  d.GrayscaleProbability, (o, v) => o with { GrayscaleProbability = v }),
            Value<double?>("--blur-probability", nameof(TrainingOptions.BlurProbability), "Probability of a Gaussian blur (sigma 0.1-2 px). Default: 0 for images of 32 px or less (as SimCLR on CIFAR-10), 0.5 for larger.",
                  null, (o, v) => o with { BlurProbability = v }),

            // Model
            Choice<EncoderKind?>("--encoder", nameof(TrainingOptions.Encoder),
                   "resnet18: ResNet-18 with a 3x3 stride-1 stem and no max-pool (the paper's CIFAR-10 encoder); small-cnn: a 4-layer CNN for CPU runs; auto: resnet18 on CUDA, small-cnn on CPU.",
                   new (string, EncoderKind?)[] { ("auto", null), ("resnet18", EncoderKind.ResNet18), ("small-cnn", EncoderKind.SmallCnn) }, null, (o, v) => o with { Encoder = v }),
            Value("--projection-dim", nameof(TrainingOptions.ProjectionDim), "Output size of the projection head (linear, batch norm, ReLU, linear) the critic compares.",
                  d.ProjectionDim, (o, v) => o with { ProjectionDim = v }),
            Choice("--precision", nameof(TrainingOptions.Precision),
                   "fp32, or bf16: mixed precision (convolutions and linear layers in bfloat16 from float32 weights; batch norm and the loss in float32). Meant for CUDA; slow on most CPUs.",
                   new[] { ("fp32", Precision.Float32), ("bf16", Precision.BFloat16) }, d.Precision, (o, v) => o with { Precision = v }),

            // Optimisation
            Value("--batch-size", nameof(TrainingOptions.BatchSize),
                  "Images per step over all processes (alias --global-batch): under mpirun -np N each rank takes its own N-th of every batch, "
                  + "and negatives, the queue's keys and the averaged gradients are those of the whole batch.",
                  d.BatchSize, (o, v) => o with { BatchSize = v }, "--global-batch"),
            Value<int?>("--epochs", nameof(TrainingOptions.Epochs),
                  $"Epochs to train. 0 = no training: probe the randomly initialised encoder. Default: {TrainingOptions.DefaultEpochs}, or as many as --budget-minutes allows.",
                  null, (o, v) => o with { Epochs = v }),
            Value("--max-steps", nameof(TrainingOptions.MaxSteps), "Stop after this many steps (also caps a budget); 0 = no cap.", d.MaxSteps, (o, v) => o with { MaxSteps = v }),
            Shared(CommonOptions.BudgetMinutes("Train for about this long, then probe: a short calibration times the steps, and the run is planned as that many steps (the learning-rate schedule spans them)."),
                   nameof(TrainingOptions.BudgetMinutes), (o, v) => o with { BudgetMinutes = v }),
            Value<double?>("--lr", nameof(TrainingOptions.LearningRate), "Peak learning rate of SGD with momentum. Default: 0.06 x batch size / 256.",
                  null, (o, v) => o with { LearningRate = v }),
            Value("--weight-decay", nameof(TrainingOptions.WeightDecay), "SGD weight decay.", d.WeightDecay, (o, v) => o with { WeightDecay = v }),
            Value("--sgd-momentum", nameof(TrainingOptions.SgdMomentum), "SGD momentum.", d.SgdMomentum, (o, v) => o with { SgdMomentum = v }),
            Value("--warmup-fraction", nameof(TrainingOptions.WarmupFraction), "Share of the steps with a linear learning-rate warm-up; a cosine decay to 0 follows.",
                  d.WarmupFraction, (o, v) => o with { WarmupFraction = v }),
            Shared(CommonOptions.Seed(d.Seed, "the weights, data order, augmentations, queue and probe"), nameof(TrainingOptions.Seed), (o, v) => o with { Seed = v }),

            // Evaluation
            Value<long?>("--knn-every", nameof(TrainingOptions.KnnEvery), "Run the k-NN monitor every this many steps. Default: once per epoch. 0 = never.",
                  null, (o, v) => o with { KnnEvery = v }),
            Value("--knn-k", nameof(TrainingOptions.KnnK), "k of the weighted k-NN monitor.", d.KnnK, (o, v) => o with { KnnK = v }),
            Value("--knn-bank-size", nameof(TrainingOptions.KnnBankSize), "Training images in the k-NN bank (a fixed subset).", d.KnnBankSize, (o, v) => o with { KnnBankSize = v }),
            Value("--knn-query-size", nameof(TrainingOptions.KnnQuerySize), "Test images the k-NN monitor classifies (a fixed subset).", d.KnnQuerySize, (o, v) => o with { KnnQuerySize = v }),
            Value("--probe-epochs", nameof(TrainingOptions.ProbeEpochs), "Epochs of the final linear probe on frozen features (all training and test images); 0 = no probe.",
                  d.ProbeEpochs, (o, v) => o with { ProbeEpochs = v }),
            Value("--probe-batch-size", nameof(TrainingOptions.ProbeBatchSize), "Batch size of the linear probe.", d.ProbeBatchSize, (o, v) => o with { ProbeBatchSize = v }),
            Value("--probe-lr", nameof(TrainingOptions.ProbeLearningRate), "Adam learning rate of the linear probe (cosine schedule).", d.ProbeLearningRate, (o, v) => o with { ProbeLearningRate = v }),
            Value("--probe-weight-decay", nameof(TrainingOptions.ProbeWeightDecay), "Weight decay of the linear probe.", d.ProbeWeightDecay, (o, v) => o with { ProbeWeightDecay = v }),

            // Run
            Shared(CommonOptions.Output("metrics.csv, curves.png, checkpoint.safetensors, summary.json. Default: runs/vision/<dataset>-<framework>-<objective>[-<view>]-seed<seed>."),
                   nameof(TrainingOptions.Output), (o, v) => o with { Output = v }),
            Shared(CommonOptions.Resume(), nameof(TrainingOptions.Resume), (o, v) => o with { Resume = v }),
            Value("--checkpoint-minutes", nameof(TrainingOptions.CheckpointMinutes), "Write a checkpoint at least this often (atomically); 0 = not by time.",
                  d.CheckpointMinutes, (o, v) => o with { CheckpointMinutes = v }),
            Value("--checkpoint-every", nameof(TrainingOptions.CheckpointEvery), "Also write a checkpoint every this many steps; 0 = not by steps.",
                  d.CheckpointEvery, (o, v) => o with { CheckpointEvery = v }),
            Value("--log-every", nameof(TrainingOptions.LogEvery), "Steps per line of metrics.csv.", d.LogEvery, (o, v) => o with { LogEvery = v }),
            Value("--progress-seconds", nameof(TrainingOptions.ProgressSeconds), "Seconds between progress lines on the console.", d.ProgressSeconds, (o, v) => o with { ProgressSeconds = v }),
            Shared(CommonOptions.Device(), nameof(TrainingOptions.Device), (o, v) => o with { Device = v }),
            Shared(CommonOptions.Threads(), nameof(TrainingOptions.Threads), (o, v) => o with { Threads = v }),
            Value("--benchmark-steps", nameof(TrainingOptions.BenchmarkSteps),
                  "Measure throughput instead of training: time this many steps (after 3 warm-up steps), print images per second and exit. Writes nothing.",
                  d.BenchmarkSteps, (o, v) => o with { BenchmarkSteps = v }),
        };
    }

    private static IOptionBinding Value<T>(string flag, string property, string description, T defaultValue, Func<TrainingOptions, T, TrainingOptions> apply,
                                           params string[] aliases)
    {
        var option = new Option<T>(flag, aliases) { Description = description };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        return new Binding<T>(option, property, apply);
    }

    /// <summary>A binding for one of the options every app shares (<see cref="CommonOptions"/>).</summary>
    private static IOptionBinding Shared<T>(Option<T> option, string property, Func<TrainingOptions, T, TrainingOptions> apply) =>
        new Binding<T>(option, property, apply);

    private static IOptionBinding Choice<TValue>(string flag, string property, string description, (string Name, TValue Value)[] choices, TValue defaultValue,
                                                 Func<TrainingOptions, TValue, TrainingOptions> apply)
    {
        var defaultName = choices.First(c => EqualityComparer<TValue>.Default.Equals(c.Value, defaultValue)).Name;
        var option = new Option<string>(flag)
        {
            Description = description,
            DefaultValueFactory = _ => defaultName,
            HelpName = string.Join("|", choices.Select(c => c.Name)),
        };
        option.AcceptOnlyFromAmong(choices.Select(c => c.Name).ToArray());
        return new Binding<string>(option, property, (o, name) => apply(o, choices.First(c => c.Name == name).Value));
    }

    private sealed class Binding<T>(Option<T> option, string property, Func<TrainingOptions, T, TrainingOptions> apply) : IOptionBinding
    {
        public Option Option => option;
        public string Property => property;
        public bool IsExplicit(ParseResult result) => result.GetResult(option) is { Implicit: false };
        public TrainingOptions Apply(TrainingOptions options, ParseResult result) =>
            result.GetResult(option) is null ? options : apply(options, result.GetValue(option)!);
    }
}
