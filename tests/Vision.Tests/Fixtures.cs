using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace Decomp.Vision.Tests;

/// <summary>A temporary folder that deletes itself.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "decomp-vision-tests", Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Writers for the file formats the driver reads, to build test data (including broken files) from code.</summary>
public static class Fixtures
{
    /// <summary>An unsigned-byte IDX file with the given dimensions.</summary>
    public static byte[] Idx(int[] dimensions, byte[] data)
    {
        var header = new byte[4 + 4 * dimensions.Length];
        header[2] = 0x08;
        header[3] = (byte)dimensions.Length;
        for (var i = 0; i < dimensions.Length; i++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), dimensions[i]);
        return header.Concat(data).ToArray();
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(bytes);
        return output.ToArray();
    }

    /// <summary>
    /// A small 10-class data set of 28x28 grey images that a contrastive encoder can learn something from: class k shows
    /// a bright bar whose position and orientation depend on k, plus seeded noise.
    /// </summary>
    public static (byte[] Pixels, byte[] Labels) SyntheticDigits(int count, int seed, int side = 28)
    {
        var random = new Random(seed);
        var pixels = new byte[count * side * side];
        var labels = new byte[count];
        for (var n = 0; n < count; n++)
        {
            var label = n % 10;
            labels[n] = (byte)label;
            var offset = 4 + 2 * (label % 5);
            for (var y = 0; y < side; y++)
            for (var x = 0; x < side; x++)
            {
                var onBar = label < 5 ? Math.Abs(x - offset) < 2 : Math.Abs(y - offset) < 2;
                var value = (onBar ? 200 : 20) + random.Next(-20, 21);
                pixels[n * side * side + y * side + x] = (byte)Math.Clamp(value, 0, 255);
            }
        }
        return (pixels, labels);
    }

    /// <summary>Writes a Fashion-MNIST-style folder (four gzipped IDX files) of synthetic images.</summary>
    public static string WriteIdxDataset(string folder, int trainCount, int testCount, int side = 28)
    {
        Directory.CreateDirectory(folder);
        void Write(string stem, int count, int seed)
        {
            var (pixels, labels) = SyntheticDigits(count, seed, side);
            File.WriteAllBytes(Path.Combine(folder, $"{stem}-images-idx3-ubyte.gz"), Gzip(Idx(new[] { count, side, side }, pixels)));
            File.WriteAllBytes(Path.Combine(folder, $"{stem}-labels-idx1-ubyte.gz"), Gzip(Idx(new[] { count }, labels)));
        }
        Write("train", trainCount, 1);
        Write("t10k", testCount, 2);
        return folder;
    }

    /// <summary>CIFAR-10 binary records: label byte, then red, green, blue 32x32 planes. Image i has planes filled with (i, 2i, 3i) mod 256.</summary>
    public static byte[] CifarRecords(int count, int firstIndex, int labelOffset = 0)
    {
        var bytes = new byte[count * 3073];
        for (var i = 0; i < count; i++)
        {
            var index = firstIndex + i;
            var record = bytes.AsSpan(i * 3073, 3073);
            record[0] = (byte)((index + labelOffset) % 10);
            record.Slice(1, 1024).Fill((byte)(index % 256));
            record.Slice(1025, 1024).Fill((byte)(2 * index % 256));
            record.Slice(2049, 1024).Fill((byte)(3 * index % 256));
        }
        return bytes;
    }

    /// <summary>Writes a solid-colour image as PNG or JPEG.</summary>
    public static void WriteImage(string path, int width, int height, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        bitmap.Erase(color);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 95);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data.ToArray());
    }
}
