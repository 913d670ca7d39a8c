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
/// A run's checkpoint, in the apps' one format (<see cref="CheckpointFile"/>): a safetensors file holding the tensors of
/// <see cref="TrainingSession.Save"/> by name (the encoder, the momentum encoder, the SGD state, the queue and its write
/// position), the <see cref="CheckpointState"/> as JSON in its metadata (<c>decomp.state</c>), and the SHA-256 of all of
/// it. Written atomically (temporary file, flush, rename), keeping the checkpoint it replaces as
/// <c>checkpoint.prev.safetensors</c>. A file whose checksum does not match (overwritten blocks, flipped bits, a cut tail)
/// or that has none is refused by name before any of it is used, with a pointer to the previous checkpoint when that one
/// is intact; a folder that holds a <c>checkpoint.bin</c> of the earlier binary format is refused as such
/// (<see cref="InEarlierFormat"/>).
/// </summary>
internal static class Checkpoint
{
    /// <summary>The file name inside a run's output folder.</summary>
    public const string FileName = "checkpoint.safetensors";
    /// <summary>The file name of the earlier binary format (magic tag, JSON, TorchSharp's tensor serialisation, SHA-256), which is no longer read.</summary>
    public const string EarlierFileName = "checkpoint.bin";
    /// <summary>Current layout version (1 was the binary <see cref="EarlierFileName"/>).</summary>
    public const int FormatVersion = 2;
    private const string StateKey = "decomp.state";
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Writes <paramref name="state"/> and the tensors that <paramref name="addTensors"/> adds to <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file could not be written (a full disk); the message names it, and the previous checkpoint is unchanged.</exception>
    public static void Save(string path, CheckpointState state, Action<CheckpointTensors> addTensors) =>
        CheckpointFile.Save(path, new Dictionary<string, string> { [StateKey] = JsonSerializer.Serialize(state, Json) }, addTensors);

    /// <summary>Reads only the state of the checkpoint at <paramref name="path"/>.</summary>
    /// <exception cref="BadInputException">The file is damaged or has no checksum; the message names it and says what to do.</exception>
    public static CheckpointState ReadState(string path) => Read(path, null);

    /// <summary>Reads the checkpoint at <paramref name="path"/>, passing its tensors to <paramref name="readTensors"/>.</summary>
    /// <exception cref="BadInputException">The file is damaged or has no checksum; the message names it and says what to do.</exception>
    public static CheckpointState Load(string path, Action<SafeTensorsFile> readTensors) => Read(path, readTensors);

    /// <summary>
    /// The refusal of the run folder of <paramref name="path"/> when it holds a checkpoint of the earlier binary format
    /// (<see cref="EarlierFileName"/>) and none of this one, or null.
    /// </summary>
    public static BadInputException? InEarlierFormat(string path) =>
        CheckpointFile.InEarlierFormat(path, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, EarlierFileName),
                                       "the earlier binary format of the vision driver");

    private static CheckpointState Read(string path, Action<SafeTensorsFile>? readTensors)
    {
        using var file = CheckpointFile.Open(path);
        try
        {
            if (!file.Metadata.TryGetValue(StateKey, out var json))
                throw new InvalidDataException($"it has no '{StateKey}' entry: it is not a checkpoint of this program");
            var state = JsonSerializer.Deserialize<CheckpointState>(json, Json) ?? throw new InvalidDataException("its state is empty");
            if (state.FormatVersion != FormatVersion)
                throw new InvalidDataException($"it has layout version {state.FormatVersion}; this program reads version {FormatVersion}");
            readTensors?.Invoke(file);
            return state;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or KeyNotFoundException or ArgumentException or FormatException)
        {
            // The checksum matched, so the bytes are the ones written: another layout or version wrote them.
            throw new InvalidDataException($"The checkpoint {path} cannot be read: {e.Message.TrimEnd('.')}. "
                                           + "Delete it to start the run again, or restore a copy.", e);
        }
    }
}
