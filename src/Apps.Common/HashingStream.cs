using System.Security.Cryptography;

namespace Decomp.Apps;

/// <summary>A write-only stream that passes writes on to a file and adds them to a digest (the file stays open).</summary>
internal sealed class HashingStream(Stream file, IncrementalHash hash) : Stream
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
