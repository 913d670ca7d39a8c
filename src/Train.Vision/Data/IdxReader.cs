using System.Buffers.Binary;
using System.IO.Compression;

namespace Decomp.Train.Vision.Data;

/// <summary>
/// Reads the IDX files of MNIST and Fashion-MNIST (plain or gzip-compressed): a 4-byte magic (0, 0, element type,
/// number of dimensions), the dimensions as big-endian int32, then the elements. Only unsigned-byte files (type 0x08) are
/// images or labels. Every malformed file is an <see cref="InvalidDataException"/> that names it.
/// </summary>
internal static class IdxReader
{
    private const byte UnsignedByte = 0x08;

    /// <summary>The dimensions and the raw bytes of an unsigned-byte IDX file.</summary>
    public static (int[] Dimensions, byte[] Data) Read(string path)
    {
        var bytes = ReadAllDecompressed(path);
        if (bytes.Length < 4) throw Corrupt(path, $"it holds {bytes.Length} bytes, fewer than an IDX header's 4");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw Corrupt(path, $"it is not an IDX file (an IDX file starts with two zero bytes; this one starts 0x{bytes[0]:X2} 0x{bytes[1]:X2})");
        if (bytes[2] != UnsignedByte)
            throw Corrupt(path, $"its elements have IDX type 0x{bytes[2]:X2}; images and labels are unsigned bytes (0x08)");
        int rank = bytes[3];
        if (rank is < 1 or > 4) throw Corrupt(path, $"its header announces {rank} dimensions; expected 1 to 4");
        var headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength) throw Corrupt(path, $"it is truncated inside the header ({bytes.Length} of {headerLength} bytes)");
        var dimensions = new int[rank];
        long expected = 1;
        for (var i = 0; i < rank; i++)
        {
            dimensions[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * i, 4));
            if (dimensions[i] < 0) throw Corrupt(path, $"dimension {i} is negative ({dimensions[i]})");
            expected *= dimensions[i];
        }
        long actual = bytes.Length - headerLength;
        if (actual < expected)
            throw Corrupt(path, $"it is truncated: the header announces {string.Join(" x ", dimensions)} = {expected} bytes of data, but only {actual} follow");
        if (actual > expected)
            throw Corrupt(path, $"it has {actual - expected} bytes after the {string.Join(" x ", dimensions)} announced by its header");
        return (dimensions, bytes.AsSpan(headerLength).ToArray());
    }

    /// <summary>Reads an images file ([N, rows, cols]) and its labels file ([N]) into one grey-scale dataset.</summary>
    public static ImageDataset ReadDataset(string imagesPath, string labelsPath, IReadOnlyList<string> classNames)
    {
        var (imageDims, pixels) = Read(imagesPath);
        if (imageDims.Length != 3) throw Corrupt(imagesPath, $"an images file has 3 dimensions (count, rows, columns); this one has {imageDims.Length}");
        var (labelDims, labelBytes) = Read(labelsPath);
        if (labelDims.Length != 1) throw Corrupt(labelsPath, $"a labels file has 1 dimension; this one has {labelDims.Length}");
        if (labelDims[0] != imageDims[0])
            throw new InvalidDataException($"{labelsPath} holds {labelDims[0]} labels but {imagesPath} holds {imageDims[0]} images.");
        var labels = new int[labelBytes.Length];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = labelBytes[i];
            if (labels[i] >= classNames.Count) throw Corrupt(labelsPath, $"label {i} is {labels[i]}, outside the {classNames.Count} classes");
        }
        return new ImageDataset(imagesPath, pixels, labels, 1, imageDims[1], imageDims[2], classNames);
    }

    private static byte[] ReadAllDecompressed(string path)
    {
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new FileNotFoundException($"{path} does not exist.", path);
        }
        if (raw.Length < 2 || raw[0] != 0x1F || raw[1] != 0x8B) return raw;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            return output.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw Corrupt(path, $"its gzip data is damaged ({e.Message})");
        }
    }

    private static InvalidDataException Corrupt(string path, string why) => new($"{path} cannot be read: {why}.");
}
