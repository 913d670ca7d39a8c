using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Parquet;
using Parquet.Schema;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Decomp.Cli.Tests;

/// <summary>A temporary folder of generated data files, removed afterwards.</summary>
public sealed class TestFiles : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("decomp-cli-tests-").FullName;

    public string PathOf(string name) => Path.Combine(Folder, name);

    public string Write(string name, string text)
    {
        File.WriteAllText(PathOf(name), text);
        return PathOf(name);
    }

    public string WriteBytes(string name, byte[] bytes)
    {
        File.WriteAllBytes(PathOf(name), bytes);
        return PathOf(name);
    }

    /// <summary>Rows of correlated Gaussians: columns (x0, x1, y0, y1) with corr(x_i, y_i) = rho.</summary>
    public static double[][] Gaussian(int rows, double rho = 0.8, int seed = 1)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Enumerable.Range(0, rows).Select(_ =>
        {
            var x0 = Normal();
            var x1 = Normal();
            return new[] { x0, x1, rho * x0 + Math.Sqrt(1 - rho * rho) * Normal(), rho * x1 + Math.Sqrt(1 - rho * rho) * Normal() };
        }).ToArray();
    }

    public string Csv(string name, double[][] rows, string? header, char delimiter = ',')
    {
        var text = new StringBuilder();
        if (header is not null) text.Append(header).Append('\n');
        foreach (var row in rows) text.Append(string.Join(delimiter, row.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        return Write(name, text.ToString());
    }

    /// <summary>An .npy file as NumPy writes it (format 1.0, header padded with spaces to a multiple of 64 bytes).</summary>
    public static byte[] Npy(string descr, string shape, byte[] data, byte major = 1)
    {
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        var prefix = major == 1 ? 10 : 12;
        var padded = dict.PadRight((prefix + dict.Length + 1 + 63) / 64 * 64 - prefix - 1) + "\n";
        var header = Encoding.Latin1.GetBytes(padded);
        var bytes = new List<byte>([0x93, .. "NUMPY"u8.ToArray(), major, 0]);
        if (major == 1) bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else bytes.AddRange(BitConverter.GetBytes((uint)header.Length));
        bytes.AddRange(header);
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    public static byte[] Float64(IEnumerable<double> values) =>
        values.SelectMany(v => { var b = new byte[8]; BinaryPrimitives.WriteDoubleLittleEndian(b, v); return b; }).ToArray();

    public static byte[] Float32(IEnumerable<double> values) =>
        values.SelectMany(v => { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, (float)v); return b; }).ToArray();

    /// <summary>A Parquet file: columns a, b (double), c (int), d (nullable float), label (text), in two row groups.</summary>
    public string Parquet(string name, double[][] rows, bool nullInD = false)
    {
        var path = PathOf(name);
        WriteParquet(path, rows, nullInD).GetAwaiter().GetResult();
        return path;
    }

    private static async Task WriteParquet(string path, double[][] rows, bool nullInD)
    {
        var a = new DataField<double>("a");
        var b = new DataField<double>("b");
        var c = new DataField<int>("c");
        var d = new DataField<float?>("d");
        var label = new DataField<string>("label");
        var schema = new ParquetSchema(a, b, c, d, label);
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        var half = rows.Length / 2;
        foreach (var (start, count) in new[] { (0, half), (half, rows.Length - half) })
        {
            var part = rows.Skip(start).Take(count).ToArray();
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(a, (ReadOnlyMemory<double>)part.Select(r => r[0]).ToArray());
            await group.WriteAsync(b, (ReadOnlyMemory<double>)part.Select(r => r[1]).ToArray());
            await group.WriteAsync(c, (ReadOnlyMemory<int>)part.Select((_, i) => start + i).ToArray());
            await group.WriteAsync(d, (ReadOnlyMemory<float?>)part.Select((r, i) => nullInD && start + i == 7 ? (float?)null : (float)r[2]).ToArray());
            await group.WriteAsync(label, part.Select((_, i) => $"row{start + i}").ToArray());
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Runs the command line in-process and captures both streams.</summary>
public static class Cli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = Decomp.Cli.CommandLine.CommandLineApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
