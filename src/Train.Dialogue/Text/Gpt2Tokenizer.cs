using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Decomp.Dialogue.Text;

/// <summary>
/// GPT-2's byte-level BPE tokenizer, built with Microsoft.ML.Tokenizers from <c>encoder.json</c> and
/// <c>vocab.bpe</c>: text is split by GPT-2's pre-tokenization pattern, each piece's UTF-8 bytes are mapped to
/// printable characters, and the merges are applied in rank order.
/// </summary>
public sealed partial class Gpt2Tokenizer
{
    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, which this driver also uses to end each utterance.</summary>
    public const int EndOfText = 50256;

    /// <summary>The number of ids (50,000 merges + 256 bytes + end-of-text).</summary>
    public const int VocabularySize = 50257;

    // GPT-2's pattern (openai/gpt-2 encoder.py): contractions, letters, digits, other symbols, each optionally after
    // one space, then whitespace runs (keeping the last space with the word that follows).
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex PreTokenization();

    private readonly Tokenizer _bpe;

    private Gpt2Tokenizer(Tokenizer bpe) => _bpe = bpe;

    /// <summary>Loads the tokenizer from a folder holding <c>encoder.json</c> and <c>vocab.bpe</c> (checked against their pinned sums).</summary>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is not the pinned release.</exception>
    public static Gpt2Tokenizer Load(string directory)
    {
        Gpt2TokenizerFiles.Verify(directory);
        var options = new BpeOptions(Path.Combine(directory, Gpt2TokenizerFiles.EncoderFile),
                                     Path.Combine(directory, Gpt2TokenizerFiles.MergesFile))
        {
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(PreTokenization(), specialTokens: null),
        };
        return new Gpt2Tokenizer(BpeTokenizer.Create(options));
    }

    /// <summary>The ids of <paramref name="text"/> (no end-of-text added).</summary>
    public IReadOnlyList<int> Encode(string text) => _bpe.EncodeToIds(text);

    /// <summary>The text of <paramref name="ids"/>; the inverse of <see cref="Encode"/>.</summary>
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids);
}
