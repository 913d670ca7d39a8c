using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Decomp.Apps;
using Decomp.Train.Vision.Reporting;

namespace Decomp.Train.Vision.Training;

/// <summary>What a checkpoint records besides the tensors: the options, where the run is, and its log so far.</summary>
internal sealed record CheckpointState
{
    /// <summary>Version of the file layout.</summary>
    public int FormatVersion { get; init; } = Checkpoint.FormatVersion;
    /// <summary>The options of the run (resolved for resumption).</summary>
    public required TrainingOptions Options { get; init; }
    /// <summary>Steps completed.</summary>
    public long Step { get; init; }
    /// <summary>Steps the run will train in all (fixed at the start; a budget is turned into steps once).</summary>
    public long TotalSteps { get; init; }
    /// <summary>Wall-clock seconds spent training so far, over all sessions.</summary>
    public double TrainingSeconds { get; init; }
    /// <summary>Seconds of <see cref="TrainingSeconds"/> that went into timing a budget's steps before training.</summary>
    public double CalibrationSeconds { get; init; }
    /// <summary>True once every step is done (only evaluation remains).</summary>
    public bool TrainingComplete { get; init; }
    /// <summary>True when a budget's hard limit stopped training before <see cref="TotalSteps"/>.</summary>
    public bool StoppedByBudget { get; init; }
    /// <summary>The log up to <see cref="Step"/>.</summary>
    public List<MetricRow> Rows { get; init; } = new();
    /// <summary>The steps since the last log line, so that a resumed run writes the same next line.</summary>
    public LogWindow? Window { get; init; }
}

/// <summary>
/// A run's checkpoint file: a magic tag, the <see cref="CheckpointState"/> as JSON, the tensors of
/// <see cref="TrainingSession.Save"/>, and an end tag, followed by the SHA-256 of all of it (<see cref="VerifiedFile"/>).
/// Written atomically (temporary file, flush, rename), keeping the checkpoint it replaces as <c>checkpoint.prev.bin</c>.
/// A file whose checksum does not match (overwritten blocks, flipped bits, a cut tail) or that has none (written before
/// checkpoints carried one) is refused by name before any of it is used, with a pointer to the previous checkpoint when
/// that one is intact.
/// </summary>
internal static class Checkpoint
{
    /// <summary>The file name inside a run's output folder.</summary>
    public const string FileName = "checkpoint.bin";
    /// <summary>Current layout version.</summary>
    public const int FormatVersion = 1;
    private static readonly byte[] StartTag = "DECOMP-VISION-CHECKPOINT"u8.ToArray();
    private static readonly byte[] EndTag = "END-OF-CHECKPOINT"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Writes <paramref name="state"/> and the tensors that <paramref name="writePayload"/> writes to <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file could not be written (a full disk); the message names it, and the previous checkpoint is unchanged.</exception>
    public static void Save(string path, CheckpointState state, Action<BinaryWriter> writePayload)
    {
        VerifiedFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(StartTag);
            writer.Write(JsonSerializer.Serialize(state, Json));
            writePayload(writer);
            writer.Write(EndTag);
        }, keepPreviousAs: CheckpointFile.PreviousPathFor(path));
    }

    /// <summary>Reads only the state of the checkpoint at <paramref name="path"/>.</summary>
    /// <exception cref="BadInputException">The file is damaged or has no checksum; the message names it and says what to do.</exception>
    public static CheckpointState ReadState(string path) => Read(path, null);

    /// <summary>Reads the checkpoint at <paramref name="path"/>, passing its tensors to <paramref name="readPayload"/>.</summary>
    /// <exception cref="BadInputException">The file is damaged or has no checksum; the message names it and says what to do.</exception>
    public static CheckpointState Load(string path, Action<BinaryReader> readPayload) => Read(path, readPayload);

    /// <summary>What is wrong with the checkpoint file <paramref name="path"/>, or null when its checksum matches.</summary>
    public static string? Problem(string path) => VerifiedFile.TryReadAllBytes(path, out _, out var problem) ? null : Explain(path, problem);

    /// <summary>A file of the layout before checksums (the same content, no digest after it) is named as such.</summary>
    private static string Explain(string path, string problem)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.AsSpan().StartsWith(StartTag) && bytes.AsSpan().EndsWith(EndTag))
                return "it has no checksum: it was written by an earlier version of this program, which did not add one, and cannot be verified";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return problem;
    }

    private static CheckpointState Read(string path, Action<BinaryReader>? readPayload)
    {
        if (!VerifiedFile.TryReadAllBytes(path, out var content, out var problem))
            throw CheckpointFile.Damaged(path, Explain(path, problem), Problem);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(content, writable: false), Encoding.UTF8);
            if (!reader.ReadBytes(StartTag.Length).AsSpan().SequenceEqual(StartTag))
                throw new InvalidDataException("it is not a checkpoint of this program");
            var state = JsonSerializer.Deserialize<CheckpointState>(reader.ReadString(), Json)
                ?? throw new InvalidDataException("its state is empty");
            if (state.FormatVersion != FormatVersion)
                throw new InvalidDataException($"it has layout version {state.FormatVersion}; this program reads version {FormatVersion}");
            if (readPayload is null) return state;
            readPayload(reader);
            if (!reader.ReadBytes(EndTag.Length).AsSpan().SequenceEqual(EndTag))
                throw new InvalidDataException("its tensors do not end where the end tag should be (written by another version)");
            return state;
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or InvalidDataException or ArgumentException or FormatException)
        {
            // The checksum matched, so the bytes are the ones written: another layout or version wrote them.
            throw new InvalidDataException($"The checkpoint {path} cannot be read: {e.Message.TrimEnd('.')}. "
                                           + "Delete it to start the run again, or restore a copy.", e);
        }
    }
}
