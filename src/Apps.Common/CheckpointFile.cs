namespace Decomp.Apps;

/// <summary>
/// A run's checkpoint and the one before it. A writer passes <see cref="PreviousPathFor"/> as the <c>keepPreviousAs</c>
/// of <see cref="AtomicFile"/>, <see cref="VerifiedFile"/> or <see cref="SafeTensorsChecksum"/>, so the checkpoint a new
/// one replaces stays beside it (<c>checkpoint.prev.bin</c> next to <c>checkpoint.bin</c>): damage to the newest file
/// (a bad block, a stray write) costs the steps since the previous one, not the run. A damaged checkpoint is refused
/// with one line that names it, says why, and says what to do: resume from the previous checkpoint when that one is
/// intact, else start over.
/// </summary>
public static class CheckpointFile
{
    /// <summary>The previous checkpoint's name: <c>checkpoint.bin</c> → <c>checkpoint.prev.bin</c>, in the same folder.</summary>
    public static string PreviousPathFor(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full) + ".prev" + Path.GetExtension(full));
    }

    /// <summary>True when the checkpoint or the previous one exists: the folder holds a run.</summary>
    public static bool Exists(string path) => File.Exists(path) || File.Exists(PreviousPathFor(path));

    /// <summary>Throws unless the checkpoint <paramref name="path"/> is intact.</summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="problem">What is wrong with a checkpoint file, or null when it is intact (<see cref="VerifiedFile.Problem"/>, <see cref="SafeTensorsChecksum.Problem"/>).</param>
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
