using System.Text;

namespace Decomp.Apps;

/// <summary>
/// Files replaced in one step, so that a reader (or a run resumed after a crash) sees the old file or the whole new
/// one, never half of one: the content goes to a temporary file beside the target, is flushed to disk, and is renamed
/// over the target. When anything fails (a full disk, a killed writer callback) the temporary file is removed, so a
/// failure takes no space and leaves the previous file as it was.
/// </summary>
public static class AtomicFile
{
    /// <summary>The suffix of temporary files; <see cref="RunFolder"/> removes leftovers with it from killed writers.</summary>
    public const string TemporarySuffix = ".decomp-tmp";

    /// <summary>The temporary name for <paramref name="path"/>: hidden, beside it (a rename within one folder is atomic), unique per writer.</summary>
    public static string TemporaryPathFor(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TemporarySuffix}");
    }

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, flushed to disk, then renamed into place.</summary>
    /// <param name="path">The file.</param>
    /// <param name="write">Writes the whole content (the stream is a seekable file).</param>
    /// <param name="keepPreviousAs">
    /// When given and <paramref name="path"/> exists, the file it held is kept under this name (replacing what was there):
    /// a hard link to it is made before the new file is renamed over it, so at every moment <paramref name="path"/> is a
    /// whole file, and afterwards the previous one is a whole file too (a checkpoint and the one before it).
    /// </param>
    /// <exception cref="IOException">The file could not be written (no space left on the device, a file size limit, no permission); the message names it and nothing was changed.</exception>
    public static void Write(string path, Action<Stream> write, string? keepPreviousAs = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = TemporaryPathFor(full);
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            if (keepPreviousAs is not null && File.Exists(full))
                // On Unix: unlink the old backup, link the current file to its name, rename the new file over the current one.
                File.Replace(temporary, full, Path.GetFullPath(keepPreviousAs), ignoreMetadataErrors: true);
            else
                File.Move(temporary, full, overwrite: true);
        }
        // .NET reports a write past the file size limit (EFBIG, RLIMIT_FSIZE or the file system's maximum) as an
        // ArgumentOutOfRangeException for "value", not as an IOException; to the caller it is the same failure as a
        // full disk. A folder without write permission is an UnauthorizedAccessException.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException { ParamName: "value" })
        {
            throw new IOException($"Could not write {full}: {e.Message.TrimEnd('.')}. The previous file, if any, is unchanged.", e);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>Writes <paramref name="bytes"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlyMemory<byte> bytes) => Write(path, s => s.Write(bytes.Span));

    /// <summary>Writes <paramref name="text"/> atomically, as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    /// <summary>Writes <paramref name="lines"/> atomically, each ended by a line feed.</summary>
    public static void WriteAllLines(string path, IEnumerable<string> lines) =>
        WriteAllText(path, string.Concat(lines.Select(l => l + "\n")));
}
