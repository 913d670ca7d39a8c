using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Decomp.Apps;

/// <summary>
/// A safetensors file that carries the SHA-256 of its own bytes in its <c>__metadata__</c> (key
/// <see cref="MetadataKey"/>, 64 lower-case hex digits), so that it stays a valid safetensors file for every other
/// reader while a Decomp application can refuse it when any byte changed. The digest covers the whole file (header
/// length, header, data) as written with <see cref="Placeholder"/> in the digest's place; the writer hashes while it
/// writes, then puts the digest over the placeholder (the same length, so no offset moves).
/// </summary>
public static class SafeTensorsChecksum
{
    /// <summary>The metadata key of the digest.</summary>
    public const string MetadataKey = "decomp.sha256";

    /// <summary>What the header holds in the digest's place while the file is written and hashed.</summary>
    public static string Placeholder { get; } = new('0', 64);

    /// <summary>The largest header a reader accepts (the format's reference implementation uses the same limit).</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private static readonly byte[] KeyPattern = Encoding.UTF8.GetBytes($"\"{MetadataKey}\":\"");

    /// <summary>
    /// Writes a safetensors file atomically: the 8-byte length of <paramref name="header"/>, the header (its JSON, padded
    /// as the writer likes; its <c>__metadata__</c> must hold <see cref="MetadataKey"/> with the value
    /// <see cref="Placeholder"/>, written compactly as <c>"decomp.sha256":"000…"</c>), then the data that
    /// <paramref name="writeData"/> writes; the placeholder is then replaced by the digest.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="header">The header bytes (without the length prefix).</param>
    /// <param name="writeData">Writes the data section.</param>
    /// <param name="keepPreviousAs">When given, the file <paramref name="path"/> held is kept under this name (see <see cref="AtomicFile.Write"/>).</param>
    /// <exception cref="ArgumentException">The header does not hold the placeholder exactly once.</exception>
    public static void Write(string path, byte[] header, Action<Stream> writeData, string? keepPreviousAs = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(writeData);
        var at = DigestOffset(header);
        if (at is not { } offset || !header.AsSpan(offset, 64).SequenceEqual(Encoding.ASCII.GetBytes(Placeholder)))
            throw new ArgumentException($"the header must hold \"{MetadataKey}\":\"{Placeholder[..8]}...\" exactly once", nameof(header));
        AtomicFile.Write(path, stream =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var hashing = new HashingStream(stream, hash))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                hashing.Write(length);
                hashing.Write(header);
                writeData(hashing);
            }
            var digest = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(hash.GetHashAndReset()));
            var end = stream.Position;
            stream.Position = 8 + offset;
            stream.Write(digest);
            stream.Position = end;
        }, keepPreviousAs);
    }

    /// <summary>
    /// What is wrong with the safetensors file <paramref name="path"/>, as a clause that completes "the file is damaged:
    /// ...", or null when its digest matches its bytes.
    /// </summary>
    public static string? Problem(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Span<byte> length = stackalloc byte[8];
            if (stream.ReadAtLeast(length, 8, throwOnEndOfStream: false) < 8) return "it is shorter than a safetensors header (truncated)";
            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(length);
            if (headerLength > (ulong)Math.Min(MaxHeaderBytes, stream.Length - 8))
                return $"its header length {headerLength} does not fit the {stream.Length}-byte file (truncated or overwritten)";
            var header = new byte[headerLength];
            stream.ReadExactly(header);
            var offset = DigestOffset(header);
            if (offset is null)
                return $"it has no checksum ({MetadataKey} in its __metadata__), so it cannot be verified: it was written by an earlier version "
                       + "of this program or by another tool, or its header is damaged";
            var recorded = Encoding.ASCII.GetString(header, offset.Value, 64);
            if (!recorded.All(char.IsAsciiHexDigitLower))
                return "its checksum is not 64 hexadecimal digits (the header is damaged)";
            Encoding.ASCII.GetBytes(Placeholder).CopyTo(header, offset.Value);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(length);
            hash.AppendData(header);
            var buffer = new byte[1 << 20];
            int read;
            while ((read = stream.Read(buffer)) > 0) hash.AppendData(buffer.AsSpan(0, read));
            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            return actual == recorded ? null : $"its bytes' SHA-256 is {actual[..16]}..., not the {recorded[..16]}... recorded in its metadata";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"it cannot be read ({e.Message.TrimEnd('.')})";
        }
    }

    /// <summary>Throws unless <paramref name="path"/> is intact.</summary>
    /// <exception cref="BadInputException">It is not; the message names it, says why, and how to start over.</exception>
    public static void Verify(string path)
    {
        if (Problem(path) is { } why)
            throw new BadInputException($"{Path.GetFullPath(path)} is damaged: {why}. Restore a good copy, or delete it (or use another --output) to start over.");
    }

    /// <summary>Where the digest's 64 characters start in <paramref name="header"/>, when the key occurs exactly once.</summary>
    private static int? DigestOffset(byte[] header)
    {
        var span = header.AsSpan();
        var first = span.IndexOf(KeyPattern);
        if (first < 0 || span[(first + 1)..].IndexOf(KeyPattern) >= 0) return null;
        var start = first + KeyPattern.Length;
        return start + 65 <= header.Length && header[start + 64] == (byte)'"' ? start : null;
    }
}
