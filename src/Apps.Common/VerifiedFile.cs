using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Decomp.Apps;

/// <summary>
/// Files whose content is checked before it is trusted: the content is followed by its SHA-256 and a tag, and a reader
/// gets the content back only when the digest matches. A checkpoint or cache with flipped bits, overwritten blocks or a
/// cut tail is refused with a message that names the file, instead of resuming a run from damaged state. Written
/// through <see cref="AtomicFile"/>, so a kill while writing leaves the previous file.
/// </summary>
public static class VerifiedFile
{
    private static readonly byte[] Tag = "DECOMP-SHA256-V1"u8.ToArray();
    private const int DigestLength = 32;

    /// <summary>Writes what <paramref name="write"/> writes to <paramref name="path"/>, followed by its SHA-256.</summary>
    /// <param name="path">The file.</param>
    /// <param name="write">Writes the content.</param>
    /// <param name="keepPreviousAs">When given, the file that <paramref name="path"/> held is kept under this name (see <see cref="AtomicFile.Write"/>).</param>
    public static void Write(string path, Action<Stream> write, string? keepPreviousAs = null)
    {
        ArgumentNullException.ThrowIfNull(write);
        AtomicFile.Write(path, stream =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var hashing = new HashingStream(stream, hash)) write(hashing);
            stream.Write(hash.GetHashAndReset());
            stream.Write(Tag);
        }, keepPreviousAs);
    }

    /// <summary>The verified content of <paramref name="path"/>.</summary>
    /// <exception cref="BadInputException">The file is missing, was not written by <see cref="Write"/>, or its content does not match its digest; the message names the file and what to do.</exception>
    public static byte[] ReadAllBytes(string path) =>
        TryReadAllBytes(path, out var content, out var problem) ? content : throw Damaged(path, problem);

    /// <summary>The verified content of <paramref name="path"/> as a read-only stream.</summary>
    /// <exception cref="BadInputException">As <see cref="ReadAllBytes"/>.</exception>
    public static MemoryStream OpenRead(string path) => new(ReadAllBytes(path), writable: false);

    /// <summary>
    /// Reads and verifies <paramref name="path"/>: true with its content, or false with what is wrong with it, as a clause
    /// that completes "the file is damaged: ..." (the caller decides what the user can do about it).
    /// </summary>
    public static bool TryReadAllBytes(string path, [NotNullWhen(true)] out byte[]? content, [NotNullWhen(false)] out string? problem)
    {
        (content, problem) = (null, null);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"it cannot be read ({e.Message.TrimEnd('.')})";
            return false;
        }
        var contentLength = bytes.Length - DigestLength - Tag.Length;
        if (contentLength < 0 || !bytes.AsSpan(bytes.Length - Tag.Length).SequenceEqual(Tag))
        {
            problem = "it does not end with its checksum (truncated, or not written by this program)";
            return false;
        }
        var expected = bytes.AsSpan(contentLength, DigestLength);
        var actual = SHA256.HashData(bytes.AsSpan(0, contentLength));
        if (!actual.AsSpan().SequenceEqual(expected))
        {
            problem = $"its content's SHA-256 is {Convert.ToHexString(actual)[..16]}..., not the {Convert.ToHexString(expected)[..16]}... it was written with";
            return false;
        }
        content = bytes[..contentLength];
        return true;
    }

    /// <summary>What is wrong with <paramref name="path"/>, or null when it is intact (see <see cref="TryReadAllBytes"/>).</summary>
    public static string? Problem(string path) => TryReadAllBytes(path, out _, out var problem) ? null : problem;

    private static BadInputException Damaged(string path, string why) =>
        new($"{Path.GetFullPath(path)} is damaged: {why}. Restore a good copy, or delete it (or use another --output) to start over.");
}
