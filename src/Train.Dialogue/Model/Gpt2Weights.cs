using System.Security.Cryptography;
using System.Text;
using Decomp.Apps;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Model;

/// <summary>
/// Moves GPT-2 weights between <see cref="Gpt2Model"/> and Hugging Face's layout: a directory with
/// <c>model.safetensors</c> and <c>config.json</c>. Tensor names are Hugging Face's (<c>wte.weight</c>,
/// <c>h.0.attn.c_attn.weight</c>, ...; a <c>transformer.</c> prefix, as <c>GPT2LMHeadModel</c> writes, is accepted).
/// Hugging Face keeps the four projections (<c>attn.c_attn</c>, <c>attn.c_proj</c>, <c>mlp.c_fc</c>,
/// <c>mlp.c_proj</c>) as Conv1D with weights [in, out]; they are transposed to and from Linear's [out, in].
/// </summary>
public static class Gpt2Weights
{
    /// <summary>The weights file name in a Hugging Face model directory.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The configuration file name in a Hugging Face model directory.</summary>
    public const string ConfigFileName = "config.json";

    private const string LmHeadPrefix = "transformer.";

    /// <summary>True for the parameters Hugging Face stores transposed (Conv1D weights).</summary>
    public static bool IsConv1DWeight(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) &&
        (name.Contains(".attn.c_attn.", StringComparison.Ordinal) || name.Contains(".attn.c_proj.", StringComparison.Ordinal) ||
         name.Contains(".mlp.c_fc.", StringComparison.Ordinal) || name.Contains(".mlp.c_proj.", StringComparison.Ordinal));

    /// <summary>The prefix of tensors a training checkpoint adds beside the model's (optimizer state, vocabulary).</summary>
    public const string CheckpointPrefix = "decomp.";

    /// <summary>Buffers and duplicates a Hugging Face file may hold that carry no weights of their own, and our checkpoint's extras.</summary>
    private static bool IsIgnorable(string name) =>
        name == "lm_head.weight" || // tied to wte
        name.StartsWith(CheckpointPrefix, StringComparison.Ordinal) ||
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    /// <summary>The model's parameters as Hugging Face tensors (float32, Conv1D weights transposed), in the model's order.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> ToHuggingFace(Gpt2Model model)
    {
        foreach (var (name, parameter) in model.named_parameters())
        {
            var value = parameter.detach();
            yield return new(name, IsConv1DWeight(name) ? value.t() : value);
        }
    }

    /// <summary>The metadata key of <c>config.json</c>'s SHA-256 in the <c>model.safetensors</c> that <see cref="Save"/> writes.</summary>
    private const string ConfigDigestKey = CheckpointPrefix + "config.sha256";

    /// <summary>
    /// Writes <paramref name="model"/> as <c>model.safetensors</c> and <c>config.json</c> in <paramref name="directory"/>.
    /// The weights file carries its own SHA-256 and that of <c>config.json</c> in its metadata, so that
    /// <see cref="Problem"/> can tell whether either changed since.
    /// </summary>
    public static void Save(Gpt2Model model, string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        var config = model.Config.HuggingFaceJson();
        using (var scope = NewDisposeScope())
        {
            var meta = new Dictionary<string, string> { ["format"] = "pt" };
            if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
            meta[ConfigDigestKey] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(config)));
            SafeTensors.Write(Path.Combine(directory, WeightsFileName), ToHuggingFace(model).ToList(), meta);
        }
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFileName), config);
    }

    /// <summary>
    /// What is wrong with the weights that <see cref="Save"/> wrote to <paramref name="directory"/> (a checksum that does
    /// not match, a <c>config.json</c> that is not the one saved with them), as a clause naming the file, or null when
    /// both are intact.
    /// </summary>
    public static string? Problem(string directory)
    {
        var (weightsPath, configPath) = Locate(directory);
        if (SafeTensors.Problem(weightsPath) is { } why) return $"{weightsPath} is damaged: {why}";
        using var file = SafeTensorsFile.Open(weightsPath);
        if (!file.Metadata.TryGetValue(ConfigDigestKey, out var expected))
            return $"{weightsPath} does not record the SHA-256 of its {ConfigFileName}, so that file cannot be verified";
        string actual;
        try { actual = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(configPath))); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return $"{configPath} cannot be read ({e.Message.TrimEnd('.')})"; }
        return actual == expected ? null : $"{configPath} is damaged: its SHA-256 is {actual[..16]}..., not the {expected[..16]}... saved with the weights";
    }

    /// <summary>
    /// Builds a model from a Hugging Face directory (or a <c>model.safetensors</c> path with <c>config.json</c> beside it).
    /// </summary>
    /// <param name="path">The directory or the weights file.</param>
    /// <param name="vocabularyRows">When given, the model keeps only these rows of the token embedding, in this order
    /// (a trimmed vocabulary: model id i is GPT-2 id vocabularyRows[i]).</param>
    /// <param name="dropout">Overrides the file's dropout rates when given.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A tensor is missing, unexpected or of the wrong shape; the message names the file.</exception>
    public static Gpt2Model Load(string path, IReadOnlyList<int>? vocabularyRows = null, double? dropout = null)
    {
        var (weightsPath, configPath) = Locate(path);
        var config = Gpt2Config.ReadHuggingFace(configPath);
        if (dropout is { } rate) config = config.WithDropout(rate);
        var fullVocabulary = config.VocabSize;
        if (vocabularyRows is not null) config = config with { VocabSize = vocabularyRows.Count };
        var model = new Gpt2Model(config);
        using var file = SafeTensorsFile.Open(weightsPath);
        LoadInto(model, file, vocabularyRows, fullVocabulary);
        return model;
    }

    /// <summary>The weights and config paths for a directory or a weights file.</summary>
    public static (string Weights, string Config) Locate(string path)
    {
        if (Directory.Exists(path))
            return (Path.Combine(path, WeightsFileName), Path.Combine(path, ConfigFileName));
        if (File.Exists(path))
            return (path, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ConfigFileName));
        throw new FileNotFoundException($"no GPT-2 weights at {path} (expected a directory with {WeightsFileName} and {ConfigFileName})", path);
    }

    /// <summary>Copies every parameter of <paramref name="model"/> from <paramref name="file"/>.</summary>
    /// <param name="model">The model to fill.</param>
    /// <param name="file">A file in Hugging Face's naming.</param>
    /// <param name="vocabularyRows">Rows of the file's token embedding to keep (see <see cref="Load"/>); null keeps all.</param>
    /// <param name="fileVocabularySize">The file's vocab_size, to check the embedding against.</param>
    public static void LoadInto(Gpt2Model model, SafeTensorsFile file, IReadOnlyList<int>? vocabularyRows = null,
                                int? fileVocabularySize = null)
    {
        bool prefixed = !file.Contains("wte.weight") && file.Contains(LmHeadPrefix + "wte.weight");
        string Stored(string name) => prefixed ? LmHeadPrefix + name : name;
        var expected = new HashSet<string>(StringComparer.Ordinal);

        using var _ = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            using var scope = NewDisposeScope();
            var stored = Stored(name);
            expected.Add(stored);
            if (!file.Contains(stored)) throw new InvalidDataException($"{file.Path}: tensor '{stored}' is missing");
            var value = file.Read(stored, ScalarType.Float32);
            if (IsConv1DWeight(name)) value = value.t();
            if (name == "wte.weight" && vocabularyRows is not null)
            {
                if (fileVocabularySize is { } v && value.shape[0] != v)
                    throw new InvalidDataException($"{file.Path}: wte.weight has {value.shape[0]} rows but vocab_size is {v}");
                if (vocabularyRows.Any(r => r < 0 || r >= value.shape[0]))
                    throw new ArgumentException($"a vocabulary row lies outside the file's {value.shape[0]} token embeddings", nameof(vocabularyRows));
                value = value.index_select(0, tensor(vocabularyRows.Select(r => (long)r).ToArray()));
            }
            if (!value.shape.SequenceEqual(parameter.shape))
                throw new InvalidDataException(
                    $"{file.Path}: tensor '{stored}' has shape [{string.Join(", ", value.shape)}], the model needs [{string.Join(", ", parameter.shape)}]" +
                    (IsConv1DWeight(name) ? " after transposing Conv1D to Linear" : ""));
            parameter.copy_(value.to(parameter.device));
        }

        var unexpected = file.Entries.Select(e => e.Name)
            .Where(n => !expected.Contains(n) && !IsIgnorable(prefixed && n.StartsWith(LmHeadPrefix, StringComparison.Ordinal) ? n[LmHeadPrefix.Length..] : n))
            .ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{file.Path}: tensors a GPT-2 of this shape does not have: {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}");
    }
}
