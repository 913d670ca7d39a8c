using static TorchSharp.torch;

namespace Decomp.Apps;

/// <summary>
/// A run's checkpoint and the one before it, in the one format of every Decomp app: a safetensors file
/// (<see cref="SafeTensors"/>) holding the run's tensors by name, its state as named entries of the file's
/// <c>__metadata__</c> (JSON by convention), and the SHA-256 of all of it. <see cref="Save"/> writes it atomically and keeps
/// the checkpoint it replaces beside it (<c>checkpoint.prev.safetensors</c> next to <c>checkpoint.safetensors</c>):
/// damage to the newest file (a bad block, a stray write) costs the steps since the previous one, not the run.
/// <see cref="Open"/> verifies the checksum before anything is read, and a damaged checkpoint is refused with one line
/// that names it, says why, and says what to do: resume from the previous checkpoint when that one is intact, else start
/// over. Other files kept this way pass <see cref="PreviousPathFor"/> as the <c>keepPreviousAs</c> of
/// <see cref="AtomicFile"/> or <see cref="VerifiedFile"/>.
/// </summary>
public static class CheckpointFile
{
    /// <summary>The previous checkpoint's name: <c>checkpoint.safetensors</c> → <c>checkpoint.prev.safetensors</c>, in the same folder.</summary>
    public static string PreviousPathFor(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full) + ".prev" + Path.GetExtension(full));
    }

    /// <summary>
    /// Writes the checkpoint <paramref name="path"/>: the tensors that <paramref name="addTensors"/> adds and the
    /// <paramref name="state"/> entries, atomically, keeping the checkpoint it replaces as <see cref="PreviousPathFor"/>.
    /// <paramref name="addTensors"/> runs while the file is written, inside a dispose scope that releases what it made.
    /// </summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="state">Named entries of the run's state (JSON, or any text), stored in the file's <c>__metadata__</c>.</param>
    /// <param name="addTensors">Adds the tensors.</param>
    /// <exception cref="IOException">The file could not be written (a full disk, or <paramref name="addTensors"/> failed with one); the message names it, and the previous checkpoints are unchanged.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, string> state, Action<CheckpointTensors> addTensors)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(addTensors);
        using var scope = NewDisposeScope();
        SafeTensors.Write(path, Added(addTensors), state, keepPreviousAs: PreviousPathFor(path));
    }

    private static IEnumerable<KeyValuePair<string, Tensor>> Added(Action<CheckpointTensors> addTensors)
    {
        // An iterator, so that addTensors runs inside the atomic write: a failure there is a failed write, named as one.
        var tensors = new CheckpointTensors();
        addTensors(tensors);
        foreach (var item in tensors.Items) yield return item;
    }

    /// <summary>
    /// Opens the checkpoint <paramref name="path"/> once its checksum matches its bytes; its state is the file's
    /// <see cref="SafeTensorsFile.Metadata"/>, its tensors are read on request.
    /// </summary>
    /// <exception cref="BadInputException">It is damaged or has no checksum (see <see cref="Damaged"/>).</exception>
    /// <exception cref="InvalidDataException">Its checksum matches but it is no safetensors file (another program wrote it).</exception>
    public static SafeTensorsFile Open(string path)
    {
        Verify(path, SafeTensors.Problem);
        return SafeTensorsFile.Open(path);
    }

    /// <summary>
    /// The refusal of a run folder whose checkpoint is <paramref name="earlierPath"/>, a file in a format this version no
    /// longer reads (<paramref name="format"/> says which), or null when the folder holds none or already holds
    /// <paramref name="path"/>: one line that names the file, says why, and how to start over.
    /// </summary>
    /// <param name="path">The checkpoint in today's format.</param>
    /// <param name="earlierPath">Where the earlier format kept its checkpoint (its previous one is looked for too).</param>
    /// <param name="format">The earlier format, as in "it is a checkpoint in {format}".</param>
    public static BadInputException? InEarlierFormat(string path, string earlierPath, string format)
    {
        if (Exists(path)) return null;
        var found = new[] { earlierPath, PreviousPathFor(earlierPath) }.Select(Path.GetFullPath).FirstOrDefault(File.Exists);
        if (found is null) return null;
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        return new BadInputException($"{found} is a checkpoint in {format}, which this version no longer reads (it writes {Path.GetFileName(path)}): "
                                     + $"the run cannot be resumed; to start over, delete {folder} or use another --output.");
    }

    /// <summary>True when the checkpoint or the previous one exists: the folder holds a run.</summary>
    public static bool Exists(string path) => File.Exists(path) || File.Exists(PreviousPathFor(path));

    /// <summary>Throws unless the checkpoint <paramref name="path"/> is intact.</summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="problem">What is wrong with a checkpoint file, or null when it is intact (<see cref="SafeTensors.Problem"/>, <see cref="VerifiedFile.Problem"/>).</param>
    /// <exception cref="BadInputException">It is damaged (see <see cref="Damaged"/>).</exception>
    public static void Verify(string path, Func<string, string?> problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (problem(path) is { } why) throw Damaged(path, why, problem);
    }

    /// <summary>
    /// The refusal of the damaged checkpoint <paramref name="path"/>: it names the file and <paramref name="why"/>, then
    /// either the previous checkpoint, when <paramref name="problem"/> finds it intact, and the command that puts it in
    /// place, or how to start over.
    /// </summary>
    public static BadInputException Damaged(string path, string why, Func<string, string?> problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var full = Path.GetFullPath(path);
        var previous = PreviousPathFor(full);
        var startOver = $"to start over, delete {Path.GetDirectoryName(full)} or use another --output";
        var advice = File.Exists(previous) && problem(previous) is null
            ? $"The previous checkpoint {previous} is intact: to resume from it, put it in the damaged one's place (mv {Quoted(previous)} {Quoted(full)}) "
              + $"and run the same command with --resume again (the steps since then are done again); or, {startOver}."
            : $"There is no intact previous checkpoint ({Path.GetFileName(previous)}) to fall back on: {startOver}.";
        return new BadInputException($"{full} is damaged: {why.TrimEnd('.')}. {advice}");
    }

    /// <summary>
    /// The refusal of <c>--resume</c> when the checkpoint <paramref name="path"/> is missing but the previous one exists
    /// (a person or a tool moved it away), or null when neither exists.
    /// </summary>
    public static BadInputException? OnlyPrevious(string path)
    {
        var full = Path.GetFullPath(path);
        var previous = PreviousPathFor(full);
        if (File.Exists(full) || !File.Exists(previous)) return null;
        return new BadInputException($"There is no {Path.GetFileName(full)} in {Path.GetDirectoryName(full)}, only the previous checkpoint {previous}: "
                                     + $"to resume from it, mv {Quoted(previous)} {Quoted(full)} and run again with --resume; "
                                     + $"to start over, delete {Path.GetDirectoryName(full)} or use another --output.");
    }

    private static string Quoted(string path) => path.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\')
        ? "'" + path.Replace("'", "'\\''") + "'"
        : path;
}
