using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Decomp.Apps;

/// <summary>The element types of the safetensors format, by the names its header uses.</summary>
public enum SafeTensorDType
{
    /// <summary>booleans, one byte each (BOOL).</summary>
    Bool,
    /// <summary>unsigned 8-bit integers.</summary>
    U8,
    /// <summary>signed 8-bit integers.</summary>
    I8,
    /// <summary>signed 16-bit integers.</summary>
    I16,
    /// <summary>unsigned 16-bit integers.</summary>
    U16,
    /// <summary>signed 32-bit integers.</summary>
    I32,
    /// <summary>unsigned 32-bit integers.</summary>
    U32,
    /// <summary>signed 64-bit integers.</summary>
    I64,
    /// <summary>unsigned 64-bit integers.</summary>
    U64,
    /// <summary>IEEE half precision.</summary>
    F16,
    /// <summary>bfloat16.</summary>
    BF16,
    /// <summary>IEEE single precision.</summary>
    F32,
    /// <summary>IEEE double precision.</summary>
    F64,
}

/// <summary>One tensor's header entry: where its bytes lie in the data section (after the header), and what they are.</summary>
public sealed record SafeTensorEntry(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>The number of elements (the product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each
/// tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (plus an optional <c>"__metadata__"</c>
/// map of strings), then the raw little-endian tensor bytes. Offsets count from the first byte after the header.
/// <para>
/// Every file this writer writes carries the SHA-256 of its own bytes in its <c>__metadata__</c> (key
/// <see cref="ChecksumKey"/>, 64 lower-case hex digits), so that it stays a valid safetensors file for every other
/// reader while a Decomp application can refuse it when any byte changed (<see cref="Problem"/>). The digest covers the
/// whole file (header length, header, data) as written with <see cref="ChecksumPlaceholder"/> in the digest's place; the
/// writer hashes while it writes, then puts the digest over the placeholder (the same length, so no offset moves).
/// </para>
/// </summary>
public static class SafeTensors
{
    /// <summary>The largest header the reader accepts; the format's reference implementation uses the same limit.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The metadata key of the file's SHA-256.</summary>
    public const string ChecksumKey = "decomp.sha256";

    /// <summary>What the header holds in the digest's place while the file is written and hashed.</summary>
    public static string ChecksumPlaceholder { get; } = new('0', 64);

    internal const string MetadataKey = "__metadata__";

    private static readonly byte[] ChecksumPattern = Encoding.UTF8.GetBytes($"\"{ChecksumKey}\":\"");

    /// <summary>The width in bytes of one element of <paramref name="dtype"/>.</summary>
    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.Bool or SafeTensorDType.U8 or SafeTensorDType.I8 => 1,
        SafeTensorDType.I16 or SafeTensorDType.U16 or SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.I32 or SafeTensorDType.U32 or SafeTensorDType.F32 => 4,
        _ => 8,
    };

    /// <summary>The header spelling of <paramref name="dtype"/> ("F32", "BF16", "BOOL", ...).</summary>
    public static string HeaderName(SafeTensorDType dtype) => dtype == SafeTensorDType.Bool ? "BOOL" : dtype.ToString();

    private static readonly Dictionary<string, SafeTensorDType> DTypesByHeaderName =
        Enum.GetValues<SafeTensorDType>().ToDictionary(HeaderName, d => d, StringComparer.Ordinal);

    internal static bool TryParseDType(string text, out SafeTensorDType dtype) => DTypesByHeaderName.TryGetValue(text, out dtype);

    /// <summary>The TorchSharp scalar type a safetensors dtype is read into.</summary>
    /// <exception cref="NotSupportedException">TorchSharp has no such type (the unsigned 16/32/64-bit ones).</exception>
    public static ScalarType ToScalarType(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.Bool => ScalarType.Bool,
        SafeTensorDType.U8 => ScalarType.Byte,
        SafeTensorDType.I8 => ScalarType.Int8,
        SafeTensorDType.I16 => ScalarType.Int16,
        SafeTensorDType.I32 => ScalarType.Int32,
        SafeTensorDType.I64 => ScalarType.Int64,
        SafeTensorDType.F16 => ScalarType.Float16,
        SafeTensorDType.BF16 => ScalarType.BFloat16,
        SafeTensorDType.F32 => ScalarType.Float32,
        SafeTensorDType.F64 => ScalarType.Float64,
        _ => throw new NotSupportedException($"safetensors dtype {HeaderName(dtype)} has no TorchSharp counterpart"),
    };

    /// <summary>The safetensors dtype a TorchSharp tensor of <paramref name="type"/> is written as.</summary>
    /// <exception cref="ArgumentException">The type has no safetensors spelling (complex types, for one).</exception>
    public static SafeTensorDType FromScalarType(ScalarType type) => type switch
    {
        ScalarType.Bool => SafeTensorDType.Bool,
        ScalarType.Byte => SafeTensorDType.U8,
        ScalarType.Int8 => SafeTensorDType.I8,
        ScalarType.Int16 => SafeTensorDType.I16,
        ScalarType.Int32 => SafeTensorDType.I32,
        ScalarType.Int64 => SafeTensorDType.I64,
        ScalarType.Float16 => SafeTensorDType.F16,
        ScalarType.BFloat16 => SafeTensorDType.BF16,
        ScalarType.Float32 => SafeTensorDType.F32,
        ScalarType.Float64 => SafeTensorDType.F64,
        _ => throw new ArgumentException($"tensors of type {type} cannot be stored in safetensors", nameof(type)),
    };

    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order) and <paramref name="metadata"/> to <paramref name="path"/>,
    /// with the SHA-256 of the file in its metadata (any safetensors reader still reads it; <see cref="Problem"/> tells
    /// whether a byte changed since). The file appears atomically (<see cref="AtomicFile"/>): it is written beside the
    /// target, flushed, and renamed over it. <paramref name="tensors"/> is enumerated once, while the file is written, so
    /// a lazy sequence that fails fails as the write does.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="tensors">The tensors, by name.</param>
    /// <param name="metadata">The <c>__metadata__</c> strings.</param>
    /// <param name="keepPreviousAs">When given, the file <paramref name="path"/> held is kept under this name (a checkpoint's predecessor).</param>
    /// <exception cref="ArgumentException">A name repeats, is empty, or is the reserved <c>__metadata__</c>; or the metadata uses the checksum's key.</exception>
    /// <exception cref="IOException">The file could not be written (a full disk); the message names it, and the file it would replace is unchanged.</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
                             IReadOnlyDictionary<string, string>? metadata = null, string? keepPreviousAs = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        EnsureLittleEndian();
        if (metadata?.ContainsKey(ChecksumKey) == true)
            throw new ArgumentException($"the metadata key '{ChecksumKey}' is the writer's own", nameof(metadata));
        AtomicFile.Write(path, stream =>
        {
            var items = tensors.ToList();
            var header = Header(items, metadata);
            WriteChecksummed(stream, header, DigestOffset(header)!.Value, data =>
            {
                foreach (var (_, tensor) in items)
                {
                    using var scope = NewDisposeScope();
                    var cpu = tensor.detach().cpu().contiguous();
                    cpu.WriteBytesToStream(data, bufferSize: 1 << 20);
                }
            });
        }, keepPreviousAs);
    }

    /// <summary>
    /// Writes a safetensors file atomically from its parts: the 8-byte length of <paramref name="header"/>, the header (its
    /// JSON, padded as the writer likes; its <c>__metadata__</c> must hold <see cref="ChecksumKey"/> with the value
    /// <see cref="ChecksumPlaceholder"/>, written compactly as <c>"decomp.sha256":"000…"</c>), then the data that
    /// <paramref name="writeData"/> writes; the placeholder is then replaced by the digest. <see cref="Write"/> builds the
    /// header from tensors; this is for a header built by hand.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="header">The header bytes (without the length prefix).</param>
    /// <param name="writeData">Writes the data section.</param>
    /// <param name="keepPreviousAs">When given, the file <paramref name="path"/> held is kept under this name (see <see cref="AtomicFile.Write"/>).</param>
    /// <exception cref="ArgumentException">The header does not hold the placeholder exactly once.</exception>
    public static void WriteParts(string path, byte[] header, Action<Stream> writeData, string? keepPreviousAs = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(writeData);
        var at = DigestOffset(header);
        if (at is not { } offset || !header.AsSpan(offset, 64).SequenceEqual(Encoding.ASCII.GetBytes(ChecksumPlaceholder)))
            throw new ArgumentException($"the header must hold \"{ChecksumKey}\":\"{ChecksumPlaceholder[..8]}...\" exactly once", nameof(header));
        AtomicFile.Write(path, stream => WriteChecksummed(stream, header, offset, writeData), keepPreviousAs);
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
                return $"it has no checksum ({ChecksumKey} in its __metadata__), so it cannot be verified: it was written by an earlier version "
                       + "of this program or by another tool, or its header is damaged";
            var recorded = Encoding.ASCII.GetString(header, offset.Value, 64);
            if (!recorded.All(char.IsAsciiHexDigitLower))
                return "its checksum is not 64 hexadecimal digits (the header is damaged)";
            Encoding.ASCII.GetBytes(ChecksumPlaceholder).CopyTo(header, offset.Value);
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

    internal static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this machine is big-endian");
    }

    /// <summary>The header of <paramref name="items"/>, with the checksum's placeholder in its metadata, padded to 8 bytes.</summary>
    private static byte[] Header(List<KeyValuePair<string, Tensor>> items, IReadOnlyDictionary<string, string>? metadata)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in items)
        {
            if (string.IsNullOrEmpty(name) || name == MetadataKey)
                throw new ArgumentException($"'{name}' cannot name a tensor in a safetensors file", "tensors");
            if (!seen.Add(name)) throw new ArgumentException($"tensor name '{name}' appears twice", "tensors");
        }
        var header = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            [MetadataKey] = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
            {
                [ChecksumKey] = ChecksumPlaceholder,
            },
        };
        long offset = 0;
        foreach (var (name, tensor) in items)
        {
            var dtype = FromScalarType(tensor.dtype);
            long size = tensor.numel() * ElementSize(dtype);
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = HeaderName(dtype),
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + size },
            };
            offset += size;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        // Pad with spaces so the data section starts 8-byte aligned, as Hugging Face's writer does.
        int padding = (8 - json.Length % 8) % 8;
        var bytes = new byte[json.Length + padding];
        json.CopyTo(bytes, 0);
        bytes.AsSpan(json.Length).Fill((byte)' ');
        return bytes;
    }

    /// <summary>Writes the length, <paramref name="header"/> and the data while hashing them, then the digest at <paramref name="digestOffset"/>.</summary>
    private static void WriteChecksummed(Stream stream, byte[] header, int digestOffset, Action<Stream> writeData)
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
        stream.Position = 8 + digestOffset;
        stream.Write(digest);
        stream.Position = end;
    }

    /// <summary>Where the digest's 64 characters start in <paramref name="header"/>, when the key occurs exactly once.</summary>
    private static int? DigestOffset(byte[] header)
    {
        var span = header.AsSpan();
        var first = span.IndexOf(ChecksumPattern);
        if (first < 0 || span[(first + 1)..].IndexOf(ChecksumPattern) >= 0) return null;
        var start = first + ChecksumPattern.Length;
        return start + 65 <= header.Length && header[start + 64] == (byte)'"' ? start : null;
    }
}

/// <summary>
/// An open safetensors file: its header is parsed and checked up front (every entry's dtype, shape and offsets, and
/// that the entries tile the data section exactly), its tensors are read on request.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorEntry> _entries;

    /// <summary>The file's path, as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>The <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors, in the order of their data.</summary>
    public IReadOnlyList<SafeTensorEntry> Entries { get; }

    private SafeTensorsFile(string path, FileStream stream, long dataStart, List<SafeTensorEntry> entries,
                            Dictionary<string, string> metadata)
    {
        Path = path;
        _stream = stream;
        _dataStart = dataStart;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is truncated or its header is malformed; the message names the file.</exception>
    public static SafeTensorsFile Open(string path)
    {
        SafeTensors.EnsureLittleEndian();
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            var (entries, metadata, dataStart) = ReadHeader(path, stream);
            return new SafeTensorsFile(path, stream, dataStart, entries, metadata);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>True when the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name; the message names the file.</exception>
    public SafeTensorEntry Entry(string name) =>
        _entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads tensor <paramref name="name"/> into a new CPU tensor of its stored type.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="InvalidDataException">The file ends before the tensor's data does.</exception>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var result = empty(entry.Shape, SafeTensors.ToScalarType(entry.DType));
        try
        {
            _stream.Seek(_dataStart + entry.Begin, SeekOrigin.Begin);
            if (entry.End > entry.Begin) result.ReadBytesFromStream(_stream, bufferSize: 1 << 20);
            return result;
        }
        catch (EndOfStreamException e)
        {
            result.Dispose();
            throw new InvalidDataException($"{Path}: the data of tensor '{name}' is cut short", e);
        }
    }

    /// <summary>Reads tensor <paramref name="name"/> and converts it to <paramref name="type"/> (e.g. F16 or BF16 to float32).</summary>
    public Tensor Read(string name, ScalarType type)
    {
        using var stored = Read(name);
        return stored.to_type(type);
    }

    /// <summary>The bytes of the uint8 tensor <paramref name="name"/> (state that TorchSharp serialises to bytes, such as an optimizer's).</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="InvalidDataException">The tensor is not a one-dimensional uint8 tensor.</exception>
    public byte[] ReadBytes(string name)
    {
        var entry = Entry(name);
        if (entry.DType != SafeTensorDType.U8 || entry.Shape.Length != 1)
            throw new InvalidDataException($"{Path}: tensor '{name}' is {SafeTensors.HeaderName(entry.DType)} [{string.Join(", ", entry.Shape)}], not the bytes U8 [n]");
        using var bytes = Read(name);
        return bytes.data<byte>().ToArray();
    }

    /// <summary>
    /// Copies the tensors <c>{prefix}{name}</c> into every entry of <paramref name="module"/>'s state dictionary (its
    /// parameters and buffers), exactly: each must be there with the entry's type and shape, and the file may hold no
    /// other tensor under <paramref name="prefix"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">A tensor is missing, of another type or shape, or left over; the message names the file and the tensor.</exception>
    public void CopyInto(string prefix, nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(module);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach (var (name, target) in module.state_dict())
        {
            var stored = prefix + name;
            expected.Add(stored);
            if (!_entries.TryGetValue(stored, out var entry)) throw new InvalidDataException($"{Path}: tensor '{stored}' is missing");
            if (SafeTensors.ToScalarType(entry.DType) != target.dtype || !entry.Shape.SequenceEqual(target.shape))
                throw new InvalidDataException($"{Path}: tensor '{stored}' is {SafeTensors.HeaderName(entry.DType)} [{string.Join(", ", entry.Shape)}], "
                                               + $"the model's is {target.dtype} [{string.Join(", ", target.shape)}]");
            using var value = Read(stored);
            target.copy_(value);
        }
        if (Entries.FirstOrDefault(e => e.Name.StartsWith(prefix, StringComparison.Ordinal) && !expected.Contains(e.Name)) is { } extra)
            throw new InvalidDataException($"{Path}: tensor '{extra.Name}' belongs to no parameter or buffer of the model");
    }

    /// <summary>Restores <paramref name="optimizer"/> from the bytes tensor <paramref name="name"/> (see <see cref="CheckpointTensors.Add(string, OptimizerHelper)"/>).</summary>
    public void ReadInto(string name, OptimizerHelper optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        using var reader = new BinaryReader(new MemoryStream(ReadBytes(name), writable: false));
        optimizer.load_state_dict(reader);
    }

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();

    private static (List<SafeTensorEntry>, Dictionary<string, string>, long) ReadHeader(string path, FileStream stream)
    {
        InvalidDataException Bad(string what) => new($"{path}: not a valid safetensors file ({what})");

        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8) throw Bad("shorter than its 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > SafeTensors.MaxHeaderBytes)
            throw Bad($"header length {headerLength} is outside 2..{SafeTensors.MaxHeaderBytes}");
        if (8 + (long)headerLength > stream.Length)
            throw Bad($"header of {headerLength} bytes runs past the end of the {stream.Length}-byte file");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = stream.Length - dataStart;

        JsonDocument document;
        try { document = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid safetensors file (header is not JSON: {e.Message})", e); }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object");
            var entries = new List<SafeTensorEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == SafeTensors.MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (var m in property.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(property, Bad));
            }

            // The data section must be tiled exactly: no gaps, no overlaps, nothing past the end.
            entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long expected = 0;
            foreach (var e in entries)
            {
                if (e.Begin != expected) throw Bad($"tensor '{e.Name}' starts at {e.Begin}, expected {expected}");
                expected = e.End;
            }
            if (expected > dataLength) throw Bad($"the tensors need {expected} data bytes but the file holds {dataLength} (truncated?)");
            if (expected < dataLength) throw Bad($"{dataLength - expected} bytes after the last tensor's data");
            return (entries, metadata, dataStart);
        }
    }

    private static SafeTensorEntry ParseEntry(JsonProperty property, Func<string, InvalidDataException> bad)
    {
        var name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object) throw bad($"entry '{name}' is not an object");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String ||
            !SafeTensors.TryParseDType(dtypeElement.GetString()!, out var dtype))
            throw bad($"entry '{name}' has a missing or unknown dtype");
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw bad($"entry '{name}' has no shape");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out var d) || d < 0)
                throw bad($"entry '{name}' has a shape that is not a list of non-negative integers");
            shape[i++] = d;
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array ||
            offsets.GetArrayLength() != 2 || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) ||
            begin < 0 || end < begin)
            throw bad($"entry '{name}' has data_offsets that are not [begin, end] with 0 <= begin <= end");
        var entry = new SafeTensorEntry(name, dtype, shape, begin, end);
        long expectedBytes;
        try { expectedBytes = checked(entry.ElementCount * SafeTensors.ElementSize(dtype)); }
        catch (OverflowException) { throw bad($"entry '{name}' has a shape too large to address"); }
        if (end - begin != expectedBytes)
            throw bad($"entry '{name}' spans {end - begin} bytes but {HeaderShape(shape)} x {SafeTensors.HeaderName(dtype)} needs {expectedBytes}");
        return entry;
    }

    private static string HeaderShape(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
