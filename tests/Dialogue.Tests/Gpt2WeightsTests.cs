using Decomp.Apps;
using Decomp.Dialogue.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

public class Gpt2WeightsTests
{
    internal static Gpt2Config TinyConfig(int vocab = 37) => new()
    {
        VocabSize = vocab, ContextLength = 24, EmbeddingSize = 16, Layers = 2, Heads = 4,
        EmbeddingDropout = 0, AttentionDropout = 0, ResidualDropout = 0,
    };

    private static Tensor Logits(Gpt2Model model, Tensor tokens)
    {
        model.eval();
        using var _ = no_grad();
        using var states = model.Forward(tokens);
        return model.Logits(states);
    }

    [Fact]
    public void ARandomModelSavedInHuggingFaceNamingReloadsToIdenticalLogits()
    {
        using var dir = new TemporaryDirectory();
        using var model = new Gpt2Model(TinyConfig(), seed: 11);
        using var tokens = randint(0, 37, [3, 10], generator: new Generator(12), dtype: ScalarType.Int64);
        Gpt2Weights.Save(model, dir.Path);
        using var reloaded = Gpt2Weights.Load(dir.Path, dropout: 0);
        using var before = Logits(model, tokens);
        using var after = Logits(reloaded, tokens);
        TensorAssert.Identical(before, after);
        Assert.Equal(model.Config, reloaded.Config);
    }

    [Fact]
    public void TheFileUsesHuggingFaceNamesAndConv1DLayout()
    {
        using var dir = new TemporaryDirectory();
        var config = TinyConfig();
        using var model = new Gpt2Model(config, seed: 1);
        Gpt2Weights.Save(model, dir.Path);
        using var file = SafeTensorsFile.Open(Path.Combine(dir.Path, "model.safetensors"));
        var shapes = file.Entries.ToDictionary(e => e.Name, e => e.Shape);
        Assert.Equal([37L, 16], shapes["wte.weight"]);
        Assert.Equal([24L, 16], shapes["wpe.weight"]);
        Assert.Equal([16L, 48], shapes["h.0.attn.c_attn.weight"]); // Conv1D: [in, out]
        Assert.Equal([48L], shapes["h.0.attn.c_attn.bias"]);
        Assert.Equal([16L, 16], shapes["h.1.attn.c_proj.weight"]);
        Assert.Equal([16L, 64], shapes["h.1.mlp.c_fc.weight"]);
        Assert.Equal([64L, 16], shapes["h.1.mlp.c_proj.weight"]);
        Assert.Equal([16L], shapes["h.1.ln_2.bias"]);
        Assert.Equal([16L], shapes["ln_f.weight"]);
        Assert.Equal(2 + 2 * 12 + 2, shapes.Count);
        Assert.All(file.Entries, e => Assert.Equal(SafeTensorDType.F32, e.DType));
    }

    [Fact]
    public void ConfigJsonRoundTripsTheHuggingFaceFields()
    {
        using var dir = new TemporaryDirectory();
        var config = TinyConfig() with { LayerNormEpsilon = 1e-6, InnerSize = 40, Activation = Gpt2Activation.Gelu };
        var path = dir.File("config.json");
        config.WriteHuggingFace(path);
        var text = File.ReadAllText(path);
        foreach (var field in new[] { "\"n_embd\": 16", "\"n_layer\": 2", "\"n_head\": 4", "\"n_positions\": 24", "\"vocab_size\": 37", "\"layer_norm_epsilon\": 1E-06" })
            Assert.Contains(field, text);
        Assert.Equal(config, Gpt2Config.ReadHuggingFace(path));
    }

    [Fact]
    public void FilesWrittenByGpt2LMHeadModelWithPrefixAndBuffersAreAccepted()
    {
        using var dir = new TemporaryDirectory();
        using var model = new Gpt2Model(TinyConfig(), seed: 3);
        using var scope = NewDisposeScope();
        var tensors = Gpt2Weights.ToHuggingFace(model).Select(kv => new KeyValuePair<string, Tensor>("transformer." + kv.Key, kv.Value)).ToList();
        tensors.Add(new("lm_head.weight", model.TokenEmbedding.detach()));
        tensors.Add(new("transformer.h.0.attn.bias", ones(1, 1, 24, 24)));
        SafeTensors.Write(dir.File("model.safetensors"), tensors);
        model.Config.WriteHuggingFace(dir.File("config.json"));
        using var reloaded = Gpt2Weights.Load(dir.Path);
        using var tokens = tensor(new long[,] { { 1, 2, 3, 4 } });
        TensorAssert.Identical(Logits(model, tokens), Logits(reloaded, tokens));
    }

    [Fact]
    public void ATrimmedVocabularyKeepsTheChosenEmbeddingRowsInOrder()
    {
        using var dir = new TemporaryDirectory();
        using var model = new Gpt2Model(TinyConfig(), seed: 4);
        Gpt2Weights.Save(model, dir.Path);
        int[] rows = [5, 0, 36];
        using var trimmed = Gpt2Weights.Load(dir.Path, rows);
        Assert.Equal(3, trimmed.Config.VocabSize);
        using var expected = model.TokenEmbedding.detach().index_select(0, tensor(new long[] { 5, 0, 36 }));
        TensorAssert.Identical(trimmed.TokenEmbedding.detach(), expected);
    }

    [Fact]
    public void AMissingTensorIsNamedWithTheFile()
    {
        using var dir = new TemporaryDirectory();
        using var model = new Gpt2Model(TinyConfig(), seed: 5);
        using var scope = NewDisposeScope();
        SafeTensors.Write(dir.File("model.safetensors"), Gpt2Weights.ToHuggingFace(model).Where(kv => kv.Key != "h.1.mlp.c_fc.bias").ToList());
        model.Config.WriteHuggingFace(dir.File("config.json"));
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Weights.Load(dir.Path));
        Assert.Contains("h.1.mlp.c_fc.bias", e.Message);
        Assert.Contains(dir.File("model.safetensors"), e.Message);
    }

    [Fact]
    public void AShapeMismatchBetweenConfigAndWeightsIsReported()
    {
        using var dir = new TemporaryDirectory();
        using var model = new Gpt2Model(TinyConfig(), seed: 6);
        Gpt2Weights.Save(model, dir.Path);
        (TinyConfig() with { ContextLength = 30 }).WriteHuggingFace(dir.File("config.json"));
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Weights.Load(dir.Path));
        Assert.Contains("wpe.weight", e.Message);
    }

    [Fact]
    public void AConfigWithoutARequiredFieldIsReportedByFileAndField()
    {
        using var dir = new TemporaryDirectory();
        File.WriteAllText(dir.File("config.json"), "{\"n_embd\": 16, \"n_layer\": 2, \"n_head\": 4, \"vocab_size\": 10}");
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Config.ReadHuggingFace(dir.File("config.json")));
        Assert.Contains("n_positions", e.Message);
        Assert.Contains(dir.File("config.json"), e.Message);
    }
}
