using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Decomp.Apps;

namespace Decomp.Cli.Data;

/// <summary>
/// NumPy .npy files (format versions 1.0, 2.0 and 3.0): a 1-D array is one column, a 2-D array is [rows, columns].
/// Little-endian float32, float64 and signed or unsigned integers of 1 to 8 bytes, in C order. The header is checked
/// strictly: exactly the keys 'descr', 'fortran_order' and 'shape', and a data part of exactly the size it announces.
/// </summary>
internal static partial class NpyReader
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads <paramref name="path"/>.</summary>
    public static NumericTable Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw Bad(path, "it does not start with the NumPy magic string \\x93NUMPY (not an .npy file)");
        var major = bytes[6];
        int headerLength, headerStart;
        switch (major)
        {
            case 1:
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8, 2));
                headerStart = 10;
                break;
            case 2 or 3:
                if (bytes.Length < 12) throw Bad(path, "the header is cut short");
                var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8, 4));
                if (length > int.MaxValue) throw Bad(path, $"the header claims {length} bytes");
                headerLength = (int)length;
                headerStart = 12;
                break;
            default:
                throw Bad(path, $"format version {major}.{bytes[7]} is not one of 1.0, 2.0, 3.0");
        }
        if (headerStart + headerLength > bytes.Length) throw Bad(path, $"the header claims {headerLength} bytes but the file ends before them");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(bytes, headerStart, headerLength);
        var (kind, size, rows, columns) = ParseHeader(path, header);
        var dataStart = headerStart + headerLength;
        var expected = (long)rows * columns * size;
        var actual = (long)bytes.Length - dataStart;
        if (actual < expected)
        {
            var complete = actual / size;
            throw Bad(path, $"the data end at row {complete / Math.Max(1, columns)}, column {complete % Math.Max(1, columns)}: shape ({rows}, {columns}) of {size}-byte values needs {expected} bytes, the file has {actual}");
        }
        if (actual > expected)
            throw Bad(path, $"{actual - expected} bytes follow the {expected} bytes of data that shape ({rows}, {columns}) announces");
        if (rows == 0) throw Bad(path, "the array has no rows");

        var values = new double[columns][];
        for (var j = 0; j < columns; j++) values[j] = new double[rows];
        var data = bytes.AsSpan(dataStart);
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < columns; j++)
            {
                var at = data.Slice((i * columns + j) * size, size);
                var value = Decode(kind, size, at);
                if (!double.IsFinite(value)) throw new BadInputException($"{path}, row {i}, column {j}: {value} is not a finite number.");
                values[j][i] = value;
            }
        var names = Enumerable.Range(0, columns).Select(j => j.ToString(CultureInfo.InvariantCulture)).ToArray();
        return new NumericTable(path, names, false, values);
    }

    /// <summary>(kind 'f', 'i' or 'u', bytes per value, rows, columns) from the header's Python dict literal.</summary>
    private static (char Kind, int Size, int Rows, int Columns) ParseHeader(string path, string header)
    {
        if (!header.EndsWith('\n')) throw Bad(path, "the header does not end with a newline");
        var dict = header.TrimEnd('\n', ' ');
        if (!dict.StartsWith('{') || !dict.EndsWith('}')) throw Bad(path, $"the header is not a dict: {Quote(dict)}");
        var keys = KeyPattern().Matches(dict).Select(m => m.Groups[1].Value).ToArray();
        var expectedKeys = new[] { "descr", "fortran_order", "shape" };
        if (keys.Length != 3 || !keys.Order().SequenceEqual(expectedKeys))
            throw Bad(path, $"the header's keys are {string.Join(", ", keys.Select(k => $"'{k}'"))}, not exactly 'descr', 'fortran_order', 'shape'");
        var match = HeaderPattern().Match(dict);
        if (!match.Success) throw Bad(path, $"cannot read the header {Quote(dict)}");

        var order = match.Groups["order"].Value;
        if (order == "True") throw Bad(path, "the array is in Fortran order; save it in C order (numpy.ascontiguousarray)");
        if (order != "False") throw Bad(path, $"fortran_order is {order}, not True or False");

        var descr = match.Groups["descr"].Value;
        var dtype = DescrPattern().Match(descr);
        if (!dtype.Success) throw Bad(path, $"dtype '{descr}' is not a plain number type; decomp reads float32, float64 and integers");
        var endian = dtype.Groups[1].Value;
        var kind = dtype.Groups[2].Value[0];
        var size = int.Parse(dtype.Groups[3].Value, CultureInfo.InvariantCulture);
        var supported = kind switch { 'f' => size is 4 or 8, 'i' or 'u' => size is 1 or 2 or 4 or 8, _ => false };
        if (!supported) throw Bad(path, $"dtype '{descr}' is not supported; decomp reads <f4, <f8 and integers <i1 to <i8, <u1 to <u8");
        if (endian == ">" && size > 1) throw Bad(path, $"dtype '{descr}' is big-endian; save it little-endian (array.astype('<f8'))");
        if (endian == "=" && !BitConverter.IsLittleEndian) throw Bad(path, $"dtype '{descr}' is native-endian on a big-endian machine");

        var shape = match.Groups["shape"].Value.Split(',', StringSplitOptions.TrimEntries);
        if (shape.Length > 1 && shape[^1] == "") shape = shape[..^1];
        var dims = new List<long>();
        foreach (var d in shape)
        {
            if (!long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                throw Bad(path, $"shape ({match.Groups["shape"].Value}) is not a tuple of non-negative integers");
            dims.Add(n);
        }
        if (dims.Count is < 1 or > 2)
            throw Bad(path, $"the array has {dims.Count} dimensions; decomp reads 1-D (one column) or 2-D [rows, columns] arrays");
        var rows = dims[0];
        var columns = dims.Count == 2 ? dims[1] : 1;
        if (columns == 0) throw Bad(path, "the array has no columns");
        if (rows * columns * size > int.MaxValue) throw Bad(path, $"shape ({rows}, {columns}) is too large to read");
        return (kind, size, (int)rows, (int)columns);
    }

    private static double Decode(char kind, int size, ReadOnlySpan<byte> b) => (kind, size) switch
    {
        ('f', 4) => BinaryPrimitives.ReadSingleLittleEndian(b),
        ('f', 8) => BinaryPrimitives.ReadDoubleLittleEndian(b),
        ('i', 1) => (sbyte)b[0],
        ('i', 2) => BinaryPrimitives.ReadInt16LittleEndian(b),
        ('i', 4) => BinaryPrimitives.ReadInt32LittleEndian(b),
        ('i', 8) => BinaryPrimitives.ReadInt64LittleEndian(b),
        ('u', 1) => b[0],
        ('u', 2) => BinaryPrimitives.ReadUInt16LittleEndian(b),
        ('u', 4) => BinaryPrimitives.ReadUInt32LittleEndian(b),
        ('u', 8) => BinaryPrimitives.ReadUInt64LittleEndian(b),
        _ => throw new InvalidOperationException($"Unchecked dtype {kind}{size}."),
    };

    private static string Quote(string s) => s.Length > 120 ? $"\"{s[..120]}...\"" : $"\"{s}\"";

    private static BadInputException Bad(string path, string why) => new($"{path} is not a valid .npy file: {why}.");

    [GeneratedRegex(@"'([A-Za-z_]+)'\s*:")]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"^\{\s*(?:(?:'descr'\s*:\s*'(?<descr>[^']*)'|'fortran_order'\s*:\s*(?<order>\w+)|'shape'\s*:\s*\((?<shape>[^)]*)\))\s*,?\s*){3}\}$")]
    private static partial Regex HeaderPattern();

    [GeneratedRegex(@"^([<>|=])([a-zA-Z])(\d+)$")]
    private static partial Regex DescrPattern();
}
