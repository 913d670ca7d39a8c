using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision.Augmentation;

/// <summary>
/// Batched image augmentations on the training device. Images are float [B, C, H, W] with values in [0, 1] (C = 1 or 3);
/// every random choice is made per image from the given generator, in a fixed order, so a seeded generator gives the same
/// views on every run.
/// </summary>
internal static class ImageOps
{
    private const double RatioMin = 3.0 / 4.0;
    private const double RatioMax = 4.0 / 3.0;

    /// <summary>
    /// Random resized crop with horizontal flip: each image gets a box covering a uniform fraction in
    /// [<paramref name="scaleMin"/>, <paramref name="scaleMax"/>] of its area, aspect ratio log-uniform in [3/4, 4/3], placed
    /// uniformly inside the image, resampled bilinearly to <paramref name="outputSize"/> and mirrored with probability
    /// <paramref name="flipProbability"/>. (A box wider or taller than the image is clamped to it, where torchvision would retry.)
    /// </summary>
    public static Tensor RandomResizedCrop(Tensor images, int outputSize, double scaleMin, double scaleMax, double flipProbability, Generator generator)
    {
        var b = images.shape[0];
        var height = images.shape[2];
        var width = images.shape[3];
        var device = images.device;
        using var scope = NewDisposeScope();
        var scale = scaleMin + (scaleMax - scaleMin) * rand(b, generator: generator, device: device);
        var ratio = (Math.Log(RatioMin) + (Math.Log(RatioMax) - Math.Log(RatioMin)) * rand(b, generator: generator, device: device)).exp();
        // Fractions of each side; their product is the area fraction, their quotient (in pixels) the aspect ratio.
        var boxWidth = (scale * ratio * ((double)height / width)).sqrt().clamp_max(1.0);
        var boxHeight = (scale / ratio * ((double)width / height)).sqrt().clamp_max(1.0);
        var centreX = (1 - boxWidth) * (2 * rand(b, generator: generator, device: device) - 1);
        var centreY = (1 - boxHeight) * (2 * rand(b, generator: generator, device: device) - 1);
        var mirror = 1 - 2 * (rand(b, generator: generator, device: device) < flipProbability).to(ScalarType.Float32);
        var boxes = stack(new[] { centreX, centreY, boxWidth * mirror, boxHeight }, 1);
        return CropBoxes(images, boxes, outputSize).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Resamples each image inside its box (centre x, centre y, half-width, half-height in the [-1, 1] coordinates of
    /// the image; a negative half-width mirrors horizontally) to outputSize x outputSize.
    /// </summary>
    public static Tensor CropBoxes(Tensor images, Tensor boxes, int outputSize)
    {
        var b = images.shape[0];
        using var scope = NewDisposeScope();
        var zero = zeros(b, dtype: images.dtype, device: images.device);
        var parts = new[] { boxes[.., 2], zero, boxes[.., 0], zero, boxes[.., 3], boxes[.., 1] };
        var theta = stack(parts, 1).view(b, 2, 3).to(images.dtype);
        var grid = functional.affine_grid(theta, new[] { b, images.shape[1], outputSize, outputSize }, align_corners: false);
        return functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false)
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Colour jitter, applied to each image with probability <paramref name="probability"/>: brightness, contrast, then (for
    /// RGB only) saturation and hue, in that fixed order. Factors are uniform in [1 - s, 1 + s] for brightness, contrast and
    /// saturation, and the hue turns by a uniform angle in [-hue, hue] turns (a rotation of the chroma plane in YIQ space,
    /// an approximation of torchvision's HSV hue shift). Values are clamped to [0, 1] after each change.
    /// </summary>
    public static Tensor ColorJitter(Tensor images, double probability, double brightness, double contrast, double saturation, double hue, Generator generator)
    {
        var b = images.shape[0];
        var device = images.device;
        using var scope = NewDisposeScope();
        var chosen = (rand(b, generator: generator, device: device) < probability).to(images.dtype);
        Tensor Factor(double strength) => 1 + chosen * strength * (2 * rand(b, generator: generator, device: device) - 1);
        var brightnessFactor = Factor(brightness).view(b, 1, 1, 1);
        var contrastFactor = Factor(contrast).view(b, 1, 1, 1);
        var x = (images * brightnessFactor).clamp(0, 1);
        var meanGrey = Luma(x).mean(new long[] { 1, 2, 3 }, keepdim: true);
        x = ((x - meanGrey) * contrastFactor + meanGrey).clamp(0, 1);
        if (images.shape[1] == 3)
        {
            var saturationFactor = Factor(saturation).view(b, 1, 1, 1);
            var grey = Luma(x);
            x = ((x - grey) * saturationFactor + grey).clamp(0, 1);
            var angle = chosen * hue * 2 * Math.PI * (2 * rand(b, generator: generator, device: device) - 1);
            x = RotateHue(x, angle).clamp(0, 1);
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Replaces each RGB image by its luma (in all three channels) with probability <paramref name="probability"/>.</summary>
    public static Tensor RandomGrayscale(Tensor images, double probability, Generator generator)
    {
        var b = images.shape[0];
        using var scope = NewDisposeScope();
        var chosen = (rand(b, generator: generator, device: images.device) < probability).view(b, 1, 1, 1);
        if (images.shape[1] == 1) return images.alias().MoveToOuterDisposeScope();
        return where(chosen, Luma(images).expand_as(images), images).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Gaussian blur with probability <paramref name="probability"/>, sigma uniform in [sigmaMin, sigmaMax] pixels, a kernel
    /// of about a tenth of the image side (odd, at least 3), reflected borders. One grouped convolution blurs the whole batch.
    /// </summary>
    public static Tensor RandomGaussianBlur(Tensor images, double probability, double sigmaMin, double sigmaMax, Generator generator)
    {
        var (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        var device = images.device;
        using var scope = NewDisposeScope();
        var chosen = rand(b, generator: generator, device: device) < probability;
        var sigma = sigmaMin + (sigmaMax - sigmaMin) * rand(b, generator: generator, device: device);
        // An image that is not blurred gets a tiny sigma, whose kernel is exactly [0, ..., 1, ..., 0] in float32.
        sigma = where(chosen, sigma, full(b, 1e-3, device: device));
        var size = Math.Max(3, (int)Math.Round(Math.Min(h, w) * 0.1) | 1);
        var offsets = arange(size, device: device, dtype: ScalarType.Float32) - size / 2;
        var kernel = (-(offsets.unsqueeze(0).square()) / (2 * sigma.square().unsqueeze(1))).exp();
        kernel = (kernel / kernel.sum(1, keepdim: true)).to(images.dtype).repeat_interleave(c, 0); // [B*C, k]
        var pad = size / 2;
        var x = functional.pad(images.reshape(1, b * c, h, w), new long[] { pad, pad, pad, pad }, PaddingModes.Reflect);
        x = functional.conv2d(x, kernel.view(b * c, 1, size, 1), groups: b * c);
        x = functional.conv2d(x, kernel.view(b * c, 1, 1, size), groups: b * c);
        return x.view(b, c, h, w).MoveToOuterDisposeScope();
    }

    /// <summary>Cutout: blanks a <paramref name="size"/> x <paramref name="size"/> square, placed uniformly inside each image, to <paramref name="fill"/>.</summary>
    public static Tensor Cutout(Tensor images, int size, double fill, Generator generator)
    {
        var (b, h, w) = (images.shape[0], images.shape[2], images.shape[3]);
        if (size > h || size > w) throw new ArgumentException($"the cutout side ({size}) exceeds the image ({h}x{w}).", nameof(size));
        var device = images.device;
        using var scope = NewDisposeScope();
        var top = (rand(b, generator: generator, device: device) * (h - size + 1)).floor().clamp_max(h - size).view(b, 1, 1, 1);
        var left = (rand(b, generator: generator, device: device) * (w - size + 1)).floor().clamp_max(w - size).view(b, 1, 1, 1);
        var rows = arange(h, device: device, dtype: ScalarType.Float32).view(1, 1, h, 1);
        var columns = arange(w, device: device, dtype: ScalarType.Float32).view(1, 1, 1, w);
        var inside = (rows >= top).logical_and(rows < top + size).logical_and(columns >= left).logical_and(columns < left + size);
        return images.masked_fill(inside, fill).MoveToOuterDisposeScope();
    }

    /// <summary>ITU-R 601 luma of RGB images, [B, 1, H, W]; grey images are returned as they are.</summary>
    public static Tensor Luma(Tensor images)
    {
        if (images.shape[1] == 1) return images.alias();
        using var scope = NewDisposeScope();
        return (0.299 * images[.., 0..1] + 0.587 * images[.., 1..2] + 0.114 * images[.., 2..3]).MoveToOuterDisposeScope();
    }

    private static Tensor RotateHue(Tensor images, Tensor angle)
    {
        var b = images.shape[0];
        var device = images.device;
        using var scope = NewDisposeScope();
        var toYiq = tensor(new float[] { 0.299f, 0.587f, 0.114f, 0.596f, -0.274f, -0.322f, 0.211f, -0.523f, 0.312f }, new long[] { 3, 3 }, device: device);
        var fromYiq = toYiq.inverse();
        var (cos, sin) = (angle.cos(), angle.sin());
        var one = ones(b, device: device);
        var zero = zeros(b, device: device);
        var rotation = stack(new[] { one, zero, zero, zero, cos, -sin, zero, sin, cos }, 1).view(b, 3, 3);
        var transform = fromYiq.unsqueeze(0).matmul(rotation).matmul(toYiq.unsqueeze(0)).to(images.dtype); // [B, 3, 3]
        var flat = images.reshape(b, 3, -1);
        return transform.bmm(flat).view_as(images).MoveToOuterDisposeScope();
    }
}
