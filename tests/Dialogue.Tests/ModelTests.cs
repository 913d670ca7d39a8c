using Decomp.Dialogue.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

public class ModelTests
{
    private static Gpt2Model EvalModel(long seed = 7)
    {
        var model = new Gpt2Model(Gpt2WeightsTests.TinyConfig(), seed);
        model.eval();
        return model;
    }

    [Fact]
    public void LaterTokensDoNotChangeEarlierStates()
    {
        using var model = EvalModel();
        using var _ = no_grad();
        using var a = tensor(new long[,] { { 3, 1, 4, 1, 5, 9 } });
        using var b = tensor(new long[,] { { 3, 1, 4, 2, 6, 5 } });
        using var sa = model.Forward(a);
        using var sb = model.Forward(b);
        TensorAssert.Identical(sa[.., ..3], sb[.., ..3]);
        using var gap = (sa[.., 3..] - sb[.., 3..]).abs().max();
        Assert.True(gap.item<float>() > 1e-4, "states after the change should differ");
    }

    [Fact]
    public void CachedIncrementalDecodingReproducesTheFullForwardPass()
    {
        using var model = EvalModel();
        using var _ = no_grad();
        using var tokens = tensor(new long[,] { { 5, 2, 8, 1, 0, 7, 3 }, { 9, 9, 4, 2, 6, 1, 2 } });
        using var full = model.Forward(tokens);
        using var cache = new KeyValueCache(model.Config.Layers);
        using var prefix = model.Forward(tokens[.., ..3], cache: cache);
        TensorAssert.Close(full[.., ..3], prefix, 1e-5);
        for (int t = 3; t < 7; t++)
        {
            using var step = model.Forward(tokens[.., t..(t + 1)], cache: cache);
            TensorAssert.Close(full[.., t..(t + 1)], step, 1e-5, $"position {t}");
        }
        Assert.Equal(7, cache.Length);
    }

    [Fact]
    public void LeftPaddedRowsWithAKeyMaskMatchTheirUnpaddedStates()
    {
        using var model = EvalModel();
        using var _ = no_grad();
        long[] shortRow = [4, 8, 15], longRow = [16, 23, 4, 2, 11];
        using var alone = model.Forward(tensor(shortRow).view(1, -1));
        using var padded = tensor(new long[,] { { 0, 0, 4, 8, 15 }, { 16, 23, 4, 2, 11 } });
        using var mask = tensor(new[,] { { false, false, true, true, true }, { true, true, true, true, true } });
        using var positions = tensor(new long[,] { { 0, 0, 0, 1, 2 }, { 0, 1, 2, 3, 4 } });
        using var states = model.Forward(padded, mask, positions);
        TensorAssert.Close(alone[0], states[0, 2..], 1e-5, "short row");
        using var longAlone = model.Forward(tensor(longRow).view(1, -1));
        TensorAssert.Close(longAlone[0], states[1], 1e-5, "long row");
    }

    [Fact]
    public void LastTokenStatesPickEachRowsFinalRealPosition()
    {
        using var states = arange(2 * 4 * 3, dtype: ScalarType.Float32).view(2, 4, 3);
        using var lengths = tensor(new long[] { 2, 4 });
        using var last = Gpt2Model.LastTokenStates(states, lengths);
        TensorAssert.Identical(stack([states[0, 1], states[1, 3]]), last);
    }

    [Fact]
    public void ASequenceLongerThanTheContextIsRefused()
    {
        using var model = EvalModel();
        using var tokens = zeros(1, 25, dtype: ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(tokens));
        Assert.Contains("n_positions", e.Message);
    }

    [Fact]
    public void HeadsThatDoNotDivideTheWidthAreRefusedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => (Gpt2WeightsTests.TinyConfig() with { Heads = 3 }).Validated());
        Assert.Equal("n_head", e.ParamName);
    }

    [Fact]
    public void TheGpt2SmallPresetHasGpt2SmallsShapeAndParameterCount()
    {
        var config = Gpt2Config.Preset("small", 50257);
        Assert.Equal((768, 12, 12, 1024), (config.EmbeddingSize, config.Layers, config.Heads, config.ContextLength));
        // 124,439,808 parameters: the published size of GPT-2 small with tied embeddings.
        long d = 768, v = 50257, p = 1024, layers = 12;
        long perBlock = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d);
        Assert.Equal(124_439_808L, v * d + p * d + layers * perBlock + 2 * d);
    }

    [Fact]
    public void TwoModelsBuiltWithOneSeedAreEqual()
    {
        using var a = new Gpt2Model(Gpt2WeightsTests.TinyConfig(), seed: 3);
        using var b = new Gpt2Model(Gpt2WeightsTests.TinyConfig(), seed: 3);
        foreach (var ((name, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters()))
            TensorAssert.Identical(pa, pb, name);
    }
}
