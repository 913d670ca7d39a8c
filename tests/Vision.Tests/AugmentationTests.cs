using Decomp.Train.Vision.Augmentation;
using Decomp.Train.Vision.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Vision.Tests;

public class AugmentationTests
{
    private static Tensor RandomImages(long b, long c, long side, ulong seed = 7)
    {
        using var g = new Generator(seed, CPU);
        return rand(new[] { b, c, side, side }, generator: g);
    }

    private static float MaxAbs(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void TheWholeImageBoxReproducesTheImage()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(3, 2, 12);
        var boxes = tensor(new float[] { 0, 0, 1, 1 }).repeat(3, 1);

        Assert.True(MaxAbs(ImageOps.CropBoxes(images, boxes, 12), images) < 1e-5f);
    }

    [Fact]
    public void ANegativeHalfWidthMirrors()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(2, 1, 10);
        var boxes = tensor(new float[] { 0, 0, -1, 1 }).repeat(2, 1);

        Assert.True(MaxAbs(ImageOps.CropBoxes(images, boxes, 10), images.flip(3)) < 1e-5f);
    }

    [Fact]
    public void RandomResizedCropKeepsTheRequestedShareOfTheArea()
    {
        using var scope = NewDisposeScope();
        // Channel 0 rises with the column and channel 1 with the row, so the range a crop covers measures its box.
        const int side = 64, output = 16;
        var ramp = arange(side, dtype: ScalarType.Float32) / (side - 1);
        var images = stack(new[] { ramp.view(1, side).expand(side, side), ramp.view(side, 1).expand(side, side) }).unsqueeze(0).repeat(32, 1, 1, 1);
        using var g = new Generator(3, CPU);

        var crops = ImageOps.RandomResizedCrop(images, output, 0.1, 0.1, 0.0, g);

        // Samples sit at the centres of output cells: they span (n-1)/n of the box, and the ramp advances 1/(side-1) per pixel.
        double Fraction(Tensor channel) => (channel.max() - channel.min()).item<float>() * (side - 1) / side * output / (output - 1);
        for (var i = 0; i < 32; i++)
        {
            var area = Fraction(crops[i, 0]) * Fraction(crops[i, 1]);
            Assert.InRange(area, 0.1 * 0.98, 0.1 * 1.02);
        }
        Assert.True((crops[.., 0, 0, 1] > crops[.., 0, 0, 0]).all().item<bool>(), "flip probability 0 must never mirror");
    }

    [Fact]
    public void TheSameGeneratorSeedGivesTheSameViewsAndAnotherSeedOthers()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(4, 3, 16);
        var settings = new AugmentationSettings(16, 3, 0.2, 0.5, 0.8, 0.4, 0.2, 0.5, RestrictedViewKind.Crop, 8, 0.05, 0.14, 8);
        using var views = new ViewFactory(settings, new[] { 0.5, 0.5, 0.5 }, new[] { 0.25, 0.25, 0.25 }, CPU);
        Tensor View(ulong seed)
        {
            using var g = new Generator(seed, CPU);
            return views.Restricted(views.Standard(images, g), g);
        }

        Assert.Equal(0f, MaxAbs(View(11), View(11)));
        Assert.True(MaxAbs(View(11), View(12)) > 0.1f);
        Assert.Equal(new long[] { 4, 3, 8, 8 }, View(11).shape);
    }

    [Fact]
    public void JitterWithProbabilityZeroChangesNothing()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(4, 3, 8);
        using var g = new Generator(1, CPU);

        // Identity factors still pass through (x - mean) * 1 + mean, exact up to float32 rounding (2^-23 near 1).
        Assert.True(MaxAbs(ImageOps.ColorJitter(images, 0.0, 0.4, 0.4, 0.4, 0.1, g), images) < 4e-7f);
    }

    [Fact]
    public void BrightnessScalesEachImageByOneFactorWithinTheStrength()
    {
        using var scope = NewDisposeScope();
        // Values below 0.5 never reach the clamp for factors up to 1.4.
        var images = RandomImages(16, 1, 8) * 0.5 + 0.05;
        using var g = new Generator(5, CPU);

        var jittered = ImageOps.ColorJitter(images, 1.0, 0.4, 0.0, 0.0, 0.0, g);

        var ratio = jittered / images;
        var perImageMin = ratio.amin(new long[] { 1, 2, 3 });
        var perImageMax = ratio.amax(new long[] { 1, 2, 3 });
        Assert.True(MaxAbs(perImageMin, perImageMax) < 1e-5f);
        Assert.True(perImageMin.min().item<float>() >= 0.6f - 1e-6f && perImageMax.max().item<float>() <= 1.4f + 1e-6f);
    }

    [Fact]
    public void HueRotationKeepsGreyPixelsGrey()
    {
        using var scope = NewDisposeScope();
        var grey = (RandomImages(4, 1, 6) * 0.8 + 0.1).repeat(1, 3, 1, 1);
        using var g = new Generator(9, CPU);

        var jittered = ImageOps.ColorJitter(grey, 1.0, 0.0, 0.0, 0.0, 0.5, g);

        Assert.True(MaxAbs(jittered, grey) < 1e-4f);
    }

    [Fact]
    public void GrayscaleReplacesAllChannelsByTheLuma()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(3, 3, 5);
        using var g = new Generator(2, CPU);

        var grey = ImageOps.RandomGrayscale(images, 1.0, g);

        var luma = 0.299 * images[.., 0] + 0.587 * images[.., 1] + 0.114 * images[.., 2];
        for (var c = 0; c < 3; c++) Assert.True(MaxAbs(grey[.., c], luma) < 1e-6f);
        Assert.Equal(0f, MaxAbs(ImageOps.RandomGrayscale(images, 0.0, g), images));
    }

    [Fact]
    public void BlurWithProbabilityZeroIsExactlyTheIdentity()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(3, 3, 20);
        using var g = new Generator(4, CPU);

        Assert.Equal(0f, MaxAbs(ImageOps.RandomGaussianBlur(images, 0.0, 0.1, 2.0, g), images));
    }

    [Fact]
    public void BlurSmoothsNoiseAndKeepsAConstantImageConstant()
    {
        using var scope = NewDisposeScope();
        var noise = RandomImages(2, 1, 40);
        var flat = full(new long[] { 2, 1, 40, 40 }, 0.3f);
        using var g = new Generator(4, CPU);

        var blurred = ImageOps.RandomGaussianBlur(noise, 1.0, 1.5, 2.0, g);

        Assert.True(blurred.var().item<float>() < 0.5f * noise.var().item<float>());
        Assert.True(MaxAbs(ImageOps.RandomGaussianBlur(flat, 1.0, 1.5, 2.0, g), flat) < 1e-6f);
    }

    [Fact]
    public void CutoutBlanksExactlyOneSquarePerImage()
    {
        using var scope = NewDisposeScope();
        var images = RandomImages(8, 2, 12) + 1; // no pixel is 0 before the cut
        using var g = new Generator(6, CPU);

        var cut = ImageOps.Cutout(images, 5, 0.0, g);

        for (var i = 0; i < 8; i++)
        {
            var blank = cut[i, 0].eq(0);
            Assert.Equal(25, blank.sum().item<long>());
            var rows = blank.any(1).nonzero().flatten();
            var columns = blank.any(0).nonzero().flatten();
            Assert.Equal(5, rows.shape[0]);
            Assert.Equal(4, (rows[-1] - rows[0]).item<long>());
            Assert.Equal(4, (columns[-1] - columns[0]).item<long>());
            Assert.True(cut[i, 1].eq(0).logical_xor(blank).any().item<bool>() == false, "every channel is cut at the same place");
        }
        Assert.Equal(0f, MaxAbs(cut.masked_select(cut.ne(0)), images.masked_select(cut.ne(0))));
    }
}
