using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Train.Vision.Data;

/// <summary>Labelled images held in memory as bytes, channel-major (N x C x H x W), values 0-255.</summary>
internal sealed class ImageDataset
{
    /// <summary>Wraps <paramref name="pixels"/> (N*C*H*W bytes) and <paramref name="labels"/> (N values in [0, classes)).</summary>
    public ImageDataset(string source, byte[] pixels, int[] labels, int channels, int height, int width, IReadOnlyList<string> classNames)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 or 3; got {channels}.", nameof(channels));
        if (height < 1 || width < 1) throw new ArgumentException($"image size must be positive; got {height}x{width}.", nameof(height));
        if (pixels.LongLength != (long)labels.Length * channels * height * width)
            throw new ArgumentException($"{labels.Length} images of {channels}x{height}x{width} need {(long)labels.Length * channels * height * width} bytes; got {pixels.LongLength}.", nameof(pixels));
        var bad = Array.FindIndex(labels, l => l < 0 || l >= classNames.Count);
        if (bad >= 0) throw new ArgumentException($"label {labels[bad]} of image {bad} is outside [0, {classNames.Count}).", nameof(labels));
        Source = source;
        Pixels = pixels;
        Labels = labels;
        Channels = channels;
        Height = height;
        Width = width;
        ClassNames = classNames;
    }

    /// <summary>Where the images came from (for messages).</summary>
    public string Source { get; }
    /// <summary>N*C*H*W bytes.</summary>
    public byte[] Pixels { get; }
    /// <summary>One class index per image.</summary>
    public int[] Labels { get; }
    /// <summary>1 (grey) or 3 (RGB).</summary>
    public int Channels { get; }
    /// <summary>Image height in pixels.</summary>
    public int Height { get; }
    /// <summary>Image width in pixels.</summary>
    public int Width { get; }
    /// <summary>Class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public ImageDataset Select(IReadOnlyList<int> indices)
    {
        var size = Channels * Height * Width;
        var pixels = new byte[(long)indices.Count * size];
        var labels = new int[indices.Count];
        for (var i = 0; i < indices.Count; i++)
        {
            Array.Copy(Pixels, (long)indices[i] * size, pixels, (long)i * size, size);
            labels[i] = Labels[indices[i]];
        }
        return new ImageDataset(Source, pixels, labels, Channels, Height, Width, ClassNames);
    }

    /// <summary>The images as a uint8 tensor [N, C, H, W] on <paramref name="device"/>.</summary>
    public Tensor ImagesTensor(Device device)
    {
        using var cpu = tensor(Pixels, new long[] { Count, Channels, Height, Width }, ScalarType.Byte);
        return cpu.to(device);
    }

    /// <summary>The labels as an int64 tensor [N] on <paramref name="device"/>.</summary>
    public Tensor LabelsTensor(Device device)
    {
        using var cpu = tensor(Labels.Select(l => (long)l).ToArray(), ScalarType.Int64);
        return cpu.to(device);
    }

    /// <summary>Per-channel mean and standard deviation of the pixel values scaled to [0, 1].</summary>
    public (double[] Mean, double[] Std) ChannelStatistics()
    {
        var size = Height * Width;
        var mean = new double[Channels];
        var std = new double[Channels];
        for (var c = 0; c < Channels; c++)
        {
            double sum = 0, sumSquares = 0;
            for (var n = 0; n < Count; n++)
            {
                var offset = ((long)n * Channels + c) * size;
                for (var i = 0; i < size; i++)
                {
                    double v = Pixels[offset + i] / 255.0;
                    sum += v;
                    sumSquares += v * v;
                }
            }
            double count = (double)Count * size;
            mean[c] = sum / count;
            std[c] = Math.Sqrt(Math.Max(sumSquares / count - mean[c] * mean[c], 1e-12));
        }
        return (mean, std);
    }
}

/// <summary>A training split and a held-out test split with the same image shape and classes.</summary>
internal sealed record DatasetSplit(ImageDataset Train, ImageDataset Test);
