using Decomp.Train.Vision.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Train.Vision.Augmentation;

/// <summary>The augmentation recipe of a run, resolved for its images.</summary>
/// <param name="ImageSize">Side of the (square) training images and of the standard views.</param>
/// <param name="Channels">1 (grey) or 3 (RGB).</param>
/// <param name="CropScaleMin">Smallest area fraction of the standard views' random resized crop (the largest is 1).</param>
/// <param name="FlipProbability">Probability of a horizontal flip.</param>
/// <param name="JitterProbability">Probability of colour jitter.</param>
/// <param name="JitterStrength">s: brightness, contrast and saturation factors in [1 - s, 1 + s]; hue within s/4 turns.</param>
/// <param name="GrayscaleProbability">Probability of turning an RGB view grey.</param>
/// <param name="BlurProbability">Probability of a Gaussian blur (sigma 0.1 to 2 pixels).</param>
/// <param name="RestrictedView">How x'' is made from x'.</param>
/// <param name="RestrictedSize">Side of x'' for <see cref="RestrictedViewKind.Crop"/>.</param>
/// <param name="RestrictedScaleMin">Smallest area fraction of the restricted crop.</param>
/// <param name="RestrictedScaleMax">Largest area fraction of the restricted crop.</param>
/// <param name="CutoutSize">Side of the blanked square for <see cref="RestrictedViewKind.Cut"/>.</param>
internal sealed record AugmentationSettings(
    int ImageSize, int Channels, double CropScaleMin, double FlipProbability, double JitterProbability, double JitterStrength,
    double GrayscaleProbability, double BlurProbability, RestrictedViewKind RestrictedView, int RestrictedSize,
    double RestrictedScaleMin, double RestrictedScaleMax, int CutoutSize);

/// <summary>
/// Makes the views of a batch: standard views x' and y (random resized crop and flip, colour jitter, grey-scale, blur,
/// then normalisation by the training set's channel statistics) and the information-restricted view x'' forked from x'.
/// </summary>
internal sealed class ViewFactory : IDisposable
{
    private const double BlurSigmaMin = 0.1;
    private const double BlurSigmaMax = 2.0;
    private readonly Tensor mean;
    private readonly Tensor std;

    /// <summary>A factory for <paramref name="settings"/>, normalising with the given per-channel statistics.</summary>
    public ViewFactory(AugmentationSettings settings, IReadOnlyList<double> channelMean, IReadOnlyList<double> channelStd, Device device)
    {
        Settings = settings;
        mean = tensor(channelMean.Select(v => (float)v).ToArray(), new long[] { 1, channelMean.Count, 1, 1 }, device: device);
        std = tensor(channelStd.Select(v => (float)v).ToArray(), new long[] { 1, channelStd.Count, 1, 1 }, device: device);
    }

    /// <summary>The recipe.</summary>
    public AugmentationSettings Settings { get; }

    /// <summary>A standard view of <paramref name="images"/> (float [B, C, H, W] in [0, 1]), normalised.</summary>
    public Tensor Standard(Tensor images, Generator generator)
    {
        var s = Settings;
        using var scope = NewDisposeScope();
        var x = ImageOps.RandomResizedCrop(images, s.ImageSize, s.CropScaleMin, 1.0, s.FlipProbability, generator);
        x = ImageOps.ColorJitter(x, s.JitterProbability, s.JitterStrength, s.JitterStrength, s.JitterStrength, s.JitterStrength / 4, generator);
        x = ImageOps.RandomGrayscale(x, s.GrayscaleProbability, generator);
        if (s.BlurProbability > 0) x = ImageOps.RandomGaussianBlur(x, s.BlurProbability, BlurSigmaMin, BlurSigmaMax, generator);
        return Normalise(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// x'' forked from a normalised standard view x': an aggressive crop resized to the smaller side, or x' with a square
    /// blanked to the data set's mean (0 after normalisation).
    /// </summary>
    public Tensor Restricted(Tensor standardView, Generator generator)
    {
        var s = Settings;
        return s.RestrictedView == RestrictedViewKind.Crop
            ? ImageOps.RandomResizedCrop(standardView, s.RestrictedSize, s.RestrictedScaleMin, s.RestrictedScaleMax, 0.0, generator)
            : ImageOps.Cutout(standardView, s.CutoutSize, 0.0, generator);
    }

    /// <summary>(images - mean) / std per channel.</summary>
    public Tensor Normalise(Tensor images) => (images - mean) / std;

    /// <inheritdoc />
    public void Dispose()
    {
        mean.Dispose();
        std.Dispose();
    }
}
