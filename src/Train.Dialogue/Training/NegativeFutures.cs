using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;
using Decomp.Apps;

namespace Decomp.Dialogue.Training;

/// <summary>
/// M negative futures per training example for the conditional term of InfoNCE_S, sampled from the model itself
/// given the recent past x_k alone (GPT-2 as the variational proposal tau(y | x_k), Prop. 2), as many utterances as
/// the example's true future. Sampled once per epoch, offline, and cached on disk, as the paper does.
/// </summary>
public sealed class NegativeFutures
{
    private const uint Magic = 0x4745_4E44; // "DNEG" read little-endian
    private const int FormatVersion = 1;

    /// <summary>Per example (by index), its M futures in model ids.</summary>
    public IReadOnlyList<int[][]> Futures { get; }

    /// <summary>M, the futures per example.</summary>
    public int PerExample { get; }

    /// <summary>Identifies the training examples and vocabulary the futures belong to.</summary>
    public ulong Fingerprint { get; }

    private NegativeFutures(IReadOnlyList<int[][]> futures, int perExample, ulong fingerprint)
    {
        Futures = futures;
        PerExample = perExample;
        Fingerprint = fingerprint;
    }

    /// <summary>
    /// Samples <paramref name="perExample"/> futures for every example from p(x&gt;k | x_k; model): the prompt is
    /// <see cref="EncodedExample.Recent"/> only, and generation stops after <see cref="EncodedExample.FutureUtterances"/>
    /// utterances or <see cref="LengthLimit"/> tokens.
    /// </summary>
    public static NegativeFutures Sample(Gpt2Model model, IReadOnlyList<EncodedExample> examples, int perExample, int endOfText,
                                         int maxTokens, SamplingSettings sampling, long seed, int batchSize,
                                         Action<int, int>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perExample);
        var futures = new int[examples.Count][][];
        // Chunks of whole examples, so progress can be reported and each chunk has its own reproducible seed.
        int examplesPerChunk = Math.Max(1, 8192 / perExample);
        for (int start = 0, chunk = 0; start < examples.Count; start += examplesPerChunk, chunk++)
        {
            int count = Math.Min(examplesPerChunk, examples.Count - start);
            var prompts = new List<int[]>(count * perExample);
            var utterances = new List<int>(count * perExample);
            var limits = new List<int>(count * perExample);
            for (int i = start; i < start + count; i++)
                for (int m = 0; m < perExample; m++)
                {
                    prompts.Add(PromptOf(examples[i]));
                    utterances.Add(examples[i].FutureUtterances);
                    limits.Add(LengthLimit(examples[i], maxTokens));
                }
            var generated = TextGenerator.Generate(model, prompts, utterances, endOfText, limits, sampling,
                                                   seed * 1_000_003 + chunk, batchSize);
            for (int i = 0; i < count; i++)
                futures[start + i] = generated.Skip(i * perExample).Take(perExample).Select(NonEmpty(endOfText)).ToArray();
            progress?.Invoke(start + count, examples.Count);
        }
        return new NegativeFutures(futures, perExample, FingerprintOf(examples));
    }

    /// <summary>
    /// The most tokens a sampled future may have: twice the true future's length, within the futures' limit. A sample
    /// that runs on (a young model rarely ends its utterances) stops there instead of costing a full-length generation.
    /// </summary>
    public static int LengthLimit(EncodedExample example, int maxTokens) => Math.Min(maxTokens, 2 * example.Future.Length);

    /// <summary>The proposal's conditioning: the recent past x_k and nothing else.</summary>
    public static int[] PromptOf(EncodedExample example) => example.Recent;

    // A future cut at zero tokens cannot be encoded; it becomes a lone end-of-text.
    private static Func<int[], int[]> NonEmpty(int endOfText) => f => f.Length > 0 ? f : [endOfText];

    /// <summary>A hash of the examples' token ids, stored with the cache so that a stale cache is never reused.</summary>
    public static ulong FingerprintOf(IReadOnlyList<EncodedExample> examples)
    {
        ulong h = 14695981039346656037UL; // FNV-1a
        void Add(int x)
        {
            h ^= (uint)x;
            h *= 1099511628211UL;
        }
        Add(examples.Count);
        foreach (var e in examples)
        {
            Add(e.Recent.Length);
            foreach (var t in e.Recent) Add(t);
            Add(e.Future.Length);
            Add(e.FutureUtterances);
        }
        return h;
    }

    /// <summary>Writes the futures to <paramref name="path"/> atomically, followed by their SHA-256 (<see cref="VerifiedFile"/>).</summary>
    public void Save(string path) => VerifiedFile.Write(path, stream =>
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(Futures.Count);
        writer.Write(PerExample);
        writer.Write(Fingerprint);
        foreach (var example in Futures)
            foreach (var future in example)
            {
                writer.Write(future.Length);
                foreach (var t in future) writer.Write(t);
            }
    });

    /// <summary>
    /// Reads futures written by <see cref="Save"/>, after checking their checksum, and that they belong to
    /// <paramref name="examples"/> with M = <paramref name="perExample"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is damaged (its checksum does not match), truncated, or for other examples; the message names it.</exception>
    public static NegativeFutures Load(string path, IReadOnlyList<EncodedExample> examples, int perExample, int vocabularySize)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the cache format is little-endian");
        InvalidDataException Bad(string what) => new($"{path}: not a usable negative-futures cache ({what})");
        if (!VerifiedFile.TryReadAllBytes(path, out var content, out var problem)) throw Bad(problem);
        using var reader = new BinaryReader(new MemoryStream(content, writable: false));
        try
        {
            if (reader.ReadUInt32() != Magic || reader.ReadInt32() != FormatVersion) throw Bad("wrong magic number or version");
            int count = reader.ReadInt32(), m = reader.ReadInt32();
            ulong fingerprint = reader.ReadUInt64();
            if (count != examples.Count || m != perExample || fingerprint != FingerprintOf(examples))
                throw Bad($"it holds {count} x {m} futures of other examples; expected {examples.Count} x {perExample}");
            var futures = new int[count][][];
            for (int i = 0; i < count; i++)
            {
                futures[i] = new int[m][];
                for (int j = 0; j < m; j++)
                {
                    int length = reader.ReadInt32();
                    if (length <= 0 || length > 1 << 20) throw Bad($"future {i}/{j} has length {length}");
                    var ids = new int[length];
                    for (int t = 0; t < length; t++)
                    {
                        ids[t] = reader.ReadInt32();
                        if ((uint)ids[t] >= (uint)vocabularySize) throw Bad($"token id {ids[t]} outside the vocabulary");
                    }
                    futures[i][j] = ids;
                }
            }
            if (reader.BaseStream.Position != reader.BaseStream.Length) throw Bad("trailing bytes");
            return new NegativeFutures(futures, m, fingerprint);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{path}: not a usable negative-futures cache (truncated)", e);
        }
    }
}
