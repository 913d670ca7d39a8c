using Decomp.Train.Vision.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Vision.Tests;

public class ModelTests
{
    [Theory]
    [InlineData("SmallCnn", 1, 28, 256)]
    [InlineData("SmallCnn", 3, 14, 256)]
    [InlineData("ResNet18", 3, 32, 512)]
    [InlineData("ResNet18", 1, 14, 512)]
    public void EncodersTakeAnyChannelCountAndImageSize(string kindName, int channels, int side, int features)
    {
        var kind = Enum.Parse<EncoderKind>(kindName);
        using var scope = NewDisposeScope();
        using var encoder = Encoder.Create(kind, channels, 32, Precision.Float32, 1, CPU);
        var images = randn(4, channels, side, side);

        Assert.Equal(new long[] { 4, features }, encoder.Features(images).shape);
        Assert.Equal(new long[] { 4, 32 }, encoder.forward(images).shape);
        Assert.Equal(features, encoder.FeatureDimension);
    }

    [Fact]
    public void TheSeedDecidesTheInitialWeights()
    {
        using var a = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.Float32, 5, CPU);
        using var b = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.Float32, 5, CPU);
        using var c = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.Float32, 6, CPU);

        var pairs = a.parameters().Zip(b.parameters(), c.parameters()).ToList();
        Assert.All(pairs, p => Assert.True(p.First.allclose(p.Second, 0, 0)));
        Assert.Contains(pairs, p => !p.First.allclose(p.Third, 0, 0));
    }

    [Fact]
    public void MomentumUpdateMovesTheKeyEncoderTowardsTheQueryEncoder()
    {
        using var online = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.Float32, 1, CPU);
        using var target = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.Float32, 2, CPU);
        var before = target.parameters().Select(p => p.detach().clone()).ToList();

        Encoder.MomentumUpdate(online, target, 0.9);

        foreach (var ((o, t), old) in online.parameters().Zip(target.parameters()).Zip(before))
        {
            using var expected = 0.9 * old + 0.1 * o.detach();
            Assert.True(t.allclose(expected, rtol: 1e-6, atol: 1e-7));
        }
    }

    [Fact]
    public void CopyWeightsMakesTwoEncodersComputeTheSame()
    {
        using var scope = NewDisposeScope();
        using var a = Encoder.Create(EncoderKind.SmallCnn, 3, 16, Precision.Float32, 1, CPU);
        using var b = Encoder.Create(EncoderKind.SmallCnn, 3, 16, Precision.Float32, 2, CPU);
        Encoder.CopyWeights(a, b);
        a.eval();
        b.eval();
        var x = randn(2, 3, 16, 16);

        Assert.True(a.forward(x).allclose(b.forward(x), 0, 0));
    }

    [Fact]
    public void MixedPrecisionKeepsFloat32WeightsAndGradientsAndComputesNearlyTheSame()
    {
        using var scope = NewDisposeScope();
        using var full = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.Float32, 3, CPU);
        using var mixed = Encoder.Create(EncoderKind.SmallCnn, 1, 16, Precision.BFloat16, 3, CPU);
        var x = randn(8, 1, 28, 28);

        var reference = full.forward(x);
        var output = mixed.forward(x);
        output.square().sum().backward();

        Assert.Equal(ScalarType.Float32, output.dtype);
        Assert.All(mixed.parameters(), p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
        // bfloat16 keeps 8 significant bits (relative error 2^-9 per rounding); a few layers keep outputs well aligned.
        var cosine = nn.functional.cosine_similarity(reference.flatten(), output.flatten(), 0).item<float>();
        Assert.True(cosine > 0.99f, $"cosine similarity {cosine}");
    }
}
