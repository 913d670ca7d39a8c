using Decomp.Apps;
using Decomp.Train.Vision.Augmentation;
using Decomp.Train.Vision.Data;
using Decomp.Train.Vision.Models;
using TorchSharp;

namespace Decomp.Train.Vision.Training;

/// <summary>The options with every data- and device-dependent default filled in.</summary>
internal sealed record RunSettings(
    EncoderKind Encoder, double Temperature, double LearningRate, AugmentationSettings Augmentation, int StepsPerEpoch,
    long KnnEvery, long? StepCap, int Classes)
{
    /// <summary>Resolves <paramref name="options"/> for <paramref name="data"/> on <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentException">The options do not fit the data (batch larger than the training set, ...).</exception>
    public static RunSettings Resolve(TrainingOptions options, DatasetSplit data, torch.Device device)
    {
        var train = data.Train;
        if (train.Height != train.Width)
            throw new ArgumentException($"the training images are {train.Height}x{train.Width}; the driver expects square images.", nameof(data));
        var side = train.Height;
        if (options.BatchSize > train.Count)
            throw new ArgumentException($"--batch-size {options.BatchSize} is larger than the training set ({train.Count} images).", "--batch-size");
        var restrictedSize = options.RestrictedSize ?? side / 2;
        var cutoutSize = options.CutoutSize ?? side / 2;
        if (restrictedSize > side) throw new ArgumentException($"--restricted-size {restrictedSize} is larger than the images ({side}).", "--restricted-size");
        if (cutoutSize > side) throw new ArgumentException($"--cutout-size {cutoutSize} is larger than the images ({side}).", "--cutout-size");
        var augmentation = new AugmentationSettings(
            ImageSize: side,
            Channels: train.Channels,
            CropScaleMin: options.CropScaleMin,
            // Digits are not mirror-symmetric (a flipped 2 is no digit); clothes, objects and users' photos are.
            FlipProbability: options.FlipProbability ?? (options.Dataset == DatasetKind.Mnist ? 0.0 : 0.5),
            JitterProbability: options.JitterProbability,
            JitterStrength: options.JitterStrength,
            GrayscaleProbability: train.Channels == 3 ? options.GrayscaleProbability : 0.0,
            // SimCLR leaves blur out at CIFAR's 32 pixels, where a 3-pixel kernel erases most detail; larger images keep it.
            BlurProbability: options.BlurProbability ?? (side <= 32 ? 0.0 : 0.5),
            RestrictedView: options.RestrictedView,
            RestrictedSize: restrictedSize,
            RestrictedScaleMin: options.RestrictedScaleMin,
            RestrictedScaleMax: options.RestrictedScaleMax,
            CutoutSize: cutoutSize);
        var stepsPerEpoch = train.Count / options.BatchSize;
        long? epochCap = options.Epochs is { } e ? (long)e * stepsPerEpoch
            : options.BudgetMinutes > 0 ? null : (long)TrainingOptions.DefaultEpochs * stepsPerEpoch;
        long? cap = (epochCap, options.MaxSteps) switch
        {
            (null, 0) => null,
            (null, var m) => m,
            ({ } c, 0) => c,
            ({ } c, var m) => Math.Min(c, m),
        };
        return new RunSettings(
            Encoder: options.Encoder ?? (device.type == DeviceType.CUDA ? EncoderKind.ResNet18 : EncoderKind.SmallCnn),
            Temperature: options.Temperature ?? (options.Framework == Framework.MoCo ? 0.2 : 0.5),
            LearningRate: options.LearningRate ?? 0.06 * options.BatchSize / 256,
            Augmentation: augmentation,
            StepsPerEpoch: stepsPerEpoch,
            KnnEvery: options.KnnEvery ?? stepsPerEpoch,
            StepCap: cap,
            Classes: train.ClassNames.Count);
    }

    /// <summary>
    /// Learning rate at <paramref name="step"/> of <paramref name="totalSteps"/>: a linear warm-up over the first
    /// <paramref name="warmupFraction"/> of the steps, then a cosine decay to 0 over the rest (the apps' one schedule).
    /// </summary>
    public static double LearningRateAt(double peak, long step, long totalSteps, double warmupFraction)
    {
        var warmup = (long)Math.Floor(warmupFraction * totalSteps);
        var progress = totalSteps <= warmup ? 1.0 : (double)(step - warmup) / (totalSteps - warmup);
        return LearningRateSchedule.At(peak, step, warmup, progress, LearningRateDecay.Cosine);
    }
}
