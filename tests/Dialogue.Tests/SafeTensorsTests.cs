using System.Buffers.Binary;
using System.Text;
using Decomp.Dialogue.Model;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Dialogue.Tests;

public class SafeTensorsTests
{
    [Fact]
    public void WrittenTensorsOfEveryFloatAndIntegerTypeReadBackBitForBit()
    {
        using var dir = new TemporaryDirectory();
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
            TensorAssert.Identical(expected, actual, name);
        }
    }

    [Fact]
    public void HalfAndBFloat16AreWidenedExactlyWhenReadAsFloat32()
    {
        using var dir = new TemporaryDirectory();
        var path = dir.File("t.safetensors");
        using var f16 = randn(4, 3, generator: new Generator(5)).to_type(ScalarType.Float16);
        using var bf16 = randn(4, 3, generator: new Generator(6)).to_type(ScalarType.BFloat16);
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["a"] = f16, ["b"] = bf16 });
        using var file = SafeTensorsFile.Open(path);
        using var a = file.Read("a", ScalarType.Float32);
        using var b = file.Read("b", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, a.dtype);
        TensorAssert.Identical(a, f16.to_type(ScalarType.Float32));
        TensorAssert.Identical(b, bf16.to_type(ScalarType.Float32));
    }

    [Fact]
    public void ReadsAFileAssembledByHandFromTheFormatSpecification()
    {
        // Two tensors, F32 [2] = {1, -2} and BF16 [1] = {1.5}, laid out as the format describes, without our writer.
        using var dir = new TemporaryDirectory();
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
        using var dir = new TemporaryDirectory();
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
        using var dir = new TemporaryDirectory();
        using var t = zeros(1);
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Write(dir.File("x"), [new("a", t), new("a", t)]));
        Assert.Contains("'a'", e.Message);
    }
}
