using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Apps.Tests;

/// <summary>The apps' one safetensors reader and writer (Dialogue's weights, every app's checkpoints).</summary>
public class SafeTensorsTests
{
    /// <summary>Same shape, same type, every element equal.</summary>
    private static void Identical(Tensor expected, Tensor actual, string? what = null)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        using var same = expected.eq(actual).all();
        Assert.True(same.item<bool>(), what ?? "tensors differ");
    }

    [Fact]
    public void WrittenTensorsOfEveryFloatAndIntegerTypeReadBackBitForBit()
    {
        using var dir = new TemporaryFolder();
        var path = dir.File("t.safetensors");
        using var f32 = randn(3, 4, generator: new Generator(1));
        using var f64 = randn(2, generator: new Generator(2), dtype: ScalarType.Float64);
        using var f16 = randn(5, 2, generator: new Generator(3)).to_type(ScalarType.Float16);
        using var bf16 = randn(7, generator: new Generator(4)).to_type(ScalarType.BFloat16);
        using var i64 = tensor(new long[] { -3, 0, 1L << 40 });
        using var u8 = tensor(new byte[] { 0, 7, 255 });
        using var scalar = tensor(2.5f);
        var written = new Dictionary<string, Tensor> { ["f32"] = f32, ["f64"] = f64, ["f16"] = f16, ["bf16"] = bf16, ["i64"] = i64, ["u8"] = u8, ["scalar"] = scalar };
        SafeTensors.Write(path, written, new Dictionary<string, string> { ["note"] = "hello" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("hello", file.Metadata["note"]);
        Assert.Equal(written.Keys, file.Entries.Select(e => e.Name));
        foreach (var (name, expected) in written)
        {
            using var actual = file.Read(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Identical(expected, actual, name);
        }
    }

    [Fact]
    public void HalfAndBFloat16AreWidenedExactlyWhenReadAsFloat32()
    {
        using var dir = new TemporaryFolder();
        var path = dir.File("t.safetensors");
        using var f16 = randn(4, 3, generator: new Generator(5)).to_type(ScalarType.Float16);
        using var bf16 = randn(4, 3, generator: new Generator(6)).to_type(ScalarType.BFloat16);
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["a"] = f16, ["b"] = bf16 });
        using var file = SafeTensorsFile.Open(path);
        using var a = file.Read("a", ScalarType.Float32);
        using var b = file.Read("b", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, a.dtype);
        Identical(a, f16.to_type(ScalarType.Float32));
        Identical(b, bf16.to_type(ScalarType.Float32));
    }

    [Fact]
    public void ReadsAFileAssembledByHandFromTheFormatSpecification()
    {
        // Two tensors, F32 [2] = {1, -2} and BF16 [1] = {1.5}, laid out as the format describes, without our writer.
        using var dir = new TemporaryFolder();
        var path = dir.File("hand.safetensors");
        var header = Encoding.UTF8.GetBytes(
            "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[8,10]}," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
        var bytes = new List<byte>();
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        bytes.AddRange(length);
        bytes.AddRange(header);
        bytes.AddRange(BitConverter.GetBytes(1.0f));
        bytes.AddRange(BitConverter.GetBytes(-2.0f));
        bytes.AddRange(new byte[] { 0xC0, 0x3F }); // bfloat16 1.5 = 0x3FC0, little-endian
        File.WriteAllBytes(path, bytes.ToArray());

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        using var a = file.Read("a");
        using var b = file.Read("b", ScalarType.Float32);
        Assert.Equal(new[] { 1.0f, -2.0f }, a.data<float>().ToArray());
        Assert.Equal(1.5f, b.item<float>());
    }

    public static TheoryData<string, string> CorruptFiles => new()
    {
        { "truncated data", "truncated" },
        { "header length past end", "runs past the end" },
        { "not json", "not JSON" },
        { "offsets overlap", "starts at" },
        { "unknown dtype", "dtype" },
        { "shape disagrees with span", "needs" },
        { "trailing bytes", "after the last tensor" },
        { "empty file", "8-byte header length" },
    };

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void CorruptFilesAreRejectedWithAnErrorNamingTheFile(string corruption, string expectedPhrase)
    {
        using var dir = new TemporaryFolder();
        var path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, Corrupt(corruption));
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedPhrase, e.Message);
    }

    private static byte[] Corrupt(string corruption)
    {
        string json = corruption switch
        {
            "not json" => "{\"a\": [",
            "offsets overlap" => "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            "unknown dtype" => "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            "shape disagrees with span" => "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
            _ => "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        };
        int dataBytes = corruption switch { "truncated data" => 5, "trailing bytes" => 12, _ => 8 };
        var header = Encoding.UTF8.GetBytes(json);
        ulong declared = corruption == "header length past end" ? (ulong)header.Length + 1000 : (ulong)header.Length;
        if (corruption == "empty file") return [];
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declared);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void AMissingFileIsReportedByPath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open("/nonexistent/x.safetensors"));
        Assert.Contains("/nonexistent/x.safetensors", e.Message);
    }

    [Fact]
    public void RepeatedTensorNamesAreRefusedByTheWriter()
    {
        using var dir = new TemporaryFolder();
        using var t = zeros(1);
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Write(dir.File("x"), [new("a", t), new("a", t)]));
        Assert.Contains("'a'", e.Message);
    }
}

public class SafeTensorsChecksumTests
{
    /// <summary>A safetensors file by the format's specification: F32 [3] = {1, 2, 3} and some metadata.</summary>
    private static string Write(TemporaryFolder folder, bool checksum = true)
    {
        var path = folder.File("checkpoint.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hello" };
        if (checksum) metadata[SafeTensors.ChecksumKey] = SafeTensors.ChecksumPlaceholder;
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["__metadata__"] = metadata,
            ["a"] = new Dictionary<string, object> { ["dtype"] = "F32", ["shape"] = new[] { 3 }, ["data_offsets"] = new[] { 0, 12 } },
        });
        var data = new[] { 1f, 2f, 3f }.SelectMany(BitConverter.GetBytes).ToArray();
        if (checksum)
        {
            SafeTensors.WriteParts(path, header, s => s.Write(data));
        }
        else
        {
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            File.WriteAllBytes(path, [.. length, .. header, .. data]);
        }
        return path;
    }

    [Fact]
    public void TheFileStaysAValidSafetensorsFileWithItsDigestInTheMetadata()
    {
        using var folder = new TemporaryFolder();
        var path = Write(folder);
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));

        var digest = header.RootElement.GetProperty("__metadata__").GetProperty(SafeTensors.ChecksumKey).GetString()!;
        Assert.Matches("^[0-9a-f]{64}$", digest);
        Assert.NotEqual(SafeTensors.ChecksumPlaceholder, digest);
        Assert.Equal("hello", header.RootElement.GetProperty("__metadata__").GetProperty("note").GetString());
        Assert.Equal(new[] { 1f, 2f, 3f }, Enumerable.Range(0, 3).Select(i => BitConverter.ToSingle(bytes, 8 + headerLength + 4 * i)));
        Assert.Equal(8 + headerLength + 12, bytes.Length);
        Assert.Null(SafeTensors.Problem(path));
        SafeTensors.Verify(path);
    }

    public static TheoryData<string, string> Damage => new()
    {
        { "NaN over the data", "SHA-256 is" },
        { "bit flipped in the header", "" },
        { "digest changed", "not the" },
        { "cut tail", "SHA-256 is" },
        { "cut header", "does not fit" },
        { "empty", "shorter than a safetensors header" },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void AnyChangedByteIsFound(string damage, string expected)
    {
        using var folder = new TemporaryFolder();
        var path = Write(folder);
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var digestAt = Encoding.ASCII.GetString(bytes).IndexOf(SafeTensors.ChecksumKey + "\":\"", StringComparison.Ordinal)
                       + SafeTensors.ChecksumKey.Length + 3;
        switch (damage)
        {
            case "NaN over the data": BitConverter.GetBytes(float.NaN).CopyTo(bytes, 8 + headerLength + 4); break;
            case "bit flipped in the header": bytes[8 + headerLength - 3] ^= 0x01; break;
            case "digest changed": bytes[digestAt] = (byte)(bytes[digestAt] == (byte)'a' ? 'b' : 'a'); break;
            case "cut tail": bytes = bytes[..^4]; break;
            case "cut header": bytes = bytes[..(headerLength / 2)]; break;
            case "empty": bytes = []; break;
        }
        File.WriteAllBytes(path, bytes);

        var problem = SafeTensors.Problem(path);
        Assert.NotNull(problem);
        Assert.Contains(expected, problem);
        var e = Assert.Throws<BadInputException>(() => SafeTensors.Verify(path));
        Assert.StartsWith($"{path} is damaged: ", e.Message);
    }

    [Fact]
    public void AFileWithoutAChecksumIsNotTrusted()
    {
        using var folder = new TemporaryFolder();
        var path = Write(folder, checksum: false);
        Assert.StartsWith("it has no checksum (decomp.sha256 in its __metadata__), so it cannot be verified", SafeTensors.Problem(path));
    }

    [Fact]
    public void TheWriterRefusesAHeaderWithoutThePlaceholder()
    {
        using var folder = new TemporaryFolder();
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.WriteParts(folder.File("x.safetensors"), "{}"u8.ToArray(), _ => { }));
        Assert.Contains(SafeTensors.ChecksumKey, e.Message);
    }
}
