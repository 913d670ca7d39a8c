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
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        AtomicFile.Write(path, stream =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var hashing = new HashingStream(stream, hash)) write(hashing);
            stream.Write(hash.GetHashAndReset());
            stream.Write(Tag);
        });
    }

    /// <summary>The verified content of <paramref name="path"/>.</summary>
    /// <exception cref="BadInputException">The file is missing, was not written by <see cref="Write"/>, or its content does not match its digest; the message names the file and what to do.</exception>
    public static byte[] ReadAllBytes(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException($"Cannot read {Path.GetFullPath(path)}: {e.Message.TrimEnd('.')}.", e);
        }
        var contentLength = bytes.Length - DigestLength - Tag.Length;
        if (contentLength < 0 || !bytes.AsSpan(bytes.Length - Tag.Length).SequenceEqual(Tag))
            throw Damaged(path, "it does not end with a checksum (cut short, or not written by this program)");
        var expected = bytes.AsSpan(contentLength, DigestLength);
        var actual = SHA256.HashData(bytes.AsSpan(0, contentLength));
        if (!actual.AsSpan().SequenceEqual(expected))
            throw Damaged(path, $"its content's SHA-256 is {Convert.ToHexString(actual)[..16]}..., not the {Convert.ToHexString(expected)[..16]}... it was written with");
        return bytes[..contentLength];
    }

    /// <summary>The verified content of <paramref name="path"/> as a read-only stream.</summary>
    public static MemoryStream OpenRead(string path) => new(ReadAllBytes(path), writable: false);

    private static BadInputException Damaged(string path, string why) =>
        new($"{Path.GetFullPath(path)} is damaged: {why}. Restore a good copy, or delete it (or use another --output) to start over.");

    /// <summary>Passes writes on to the file and adds them to the digest.</summary>
    private sealed class HashingStream(Stream file, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => file.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            file.Write(buffer);
            hash.AppendData(buffer);
        }
        protected override void Dispose(bool disposing) { } // the caller owns the file
    }
}
