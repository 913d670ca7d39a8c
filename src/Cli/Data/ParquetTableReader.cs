using Decomp.Apps;
using Parquet;
using Parquet.Schema;

namespace Decomp.Cli.Data;

/// <summary>
/// Parquet files through Parquet.Net: every top-level numeric column (float, double, decimal, signed and unsigned
/// integers; nullable ones too, as long as no value is null), over all row groups. Text, list and nested columns are
/// listed but may not be selected.
/// </summary>
internal static class ParquetTableReader
{
    /// <summary>Reads <paramref name="path"/>.</summary>
    public static NumericTable Read(string path) => ReadAsync(path).GetAwaiter().GetResult();

    private static async Task<NumericTable> ReadAsync(string path)
    {
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(path);
        }
        catch (Exception e) when (e is not FileNotFoundException and not UnauthorizedAccessException)
        {
            throw new BadInputException($"{path} is not a valid Parquet file: {OneLine(e.Message)}", e);
        }
        await using (reader)
        {
            var fields = reader.Schema.GetDataFields();
            var names = fields.Select(f => f.Path.ToString()).ToArray();
            var unreadable = new Dictionary<int, string>();
            for (var j = 0; j < fields.Length; j++)
            {
                if (fields[j].IsArray || fields[j].Path.ToList().Count > 1) unreadable[j] = "is a list or nested column";
                else if (Converter(fields[j].ClrType) is null) unreadable[j] = $"holds {Describe(fields[j].ClrType)}, not numbers";
            }
            var parts = fields.Select(_ => new List<double[]>()).ToArray();
            var rowsBefore = 0L;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var rows = checked((int)group.RowCount);
                for (var j = 0; j < fields.Length; j++)
                {
                    if (unreadable.ContainsKey(j)) continue;
                    try
                    {
                        parts[j].Add(await ReadColumn(path, group, fields[j], names[j], j, rows, rowsBefore));
                    }
                    catch (Exception e) when (e is not BadInputException and not IOException)
                    {
                        throw new BadInputException($"{path}, row group {g}, column \"{names[j]}\" (index {j}): cannot read it: {OneLine(e.Message)}", e);
                    }
                }
                rowsBefore += rows;
            }
            if (rowsBefore == 0) throw new BadInputException($"{path} has no rows.");
            var columns = parts.Select((p, j) => unreadable.ContainsKey(j) ? null : p.SelectMany(a => a).ToArray()).ToArray();
            return new NumericTable(path, names, true, columns, unreadable) { Rows = checked((int)rowsBefore) };
        }
    }

    private static string Describe(Type type) =>
        type == typeof(string) || type == typeof(ReadOnlyMemory<char>) ? "text"
        : type == typeof(byte[]) || type == typeof(ReadOnlyMemory<byte>) ? "binary values"
        : $"{type.Name} values";

    private static Func<object, double>? Converter(Type type) =>
        type == typeof(double) || type == typeof(float) || type == typeof(decimal) || type == typeof(long) || type == typeof(int)
        || type == typeof(short) || type == typeof(sbyte) || type == typeof(byte) || type == typeof(ushort) || type == typeof(uint)
        || type == typeof(ulong)
            ? v => Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)
            : null;

    private static Task<double[]> ReadColumn(string path, ParquetRowGroupReader group, DataField field, string name, int index, int rows, long rowsBefore) =>
        field.ClrType switch
        {
            var t when t == typeof(double) => Read<double>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(float) => Read<float>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(decimal) => Read<decimal>(path, group, field, name, index, rows, rowsBefore, v => (double)v),
            var t when t == typeof(long) => Read<long>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(int) => Read<int>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(short) => Read<short>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(sbyte) => Read<sbyte>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(byte) => Read<byte>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(ushort) => Read<ushort>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(uint) => Read<uint>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t when t == typeof(ulong) => Read<ulong>(path, group, field, name, index, rows, rowsBefore, v => v),
            var t => throw new InvalidOperationException($"Unchecked Parquet type {t}."),
        };

    private static async Task<double[]> Read<T>(string path, ParquetRowGroupReader group, DataField field, string name, int index, int rows, long rowsBefore,
                                                Func<T, double> convert) where T : struct
    {
        var values = new double[rows];
        if (field.IsNullable)
        {
            var buffer = new T?[rows];
            await group.ReadAsync<T>(field, buffer.AsMemory(), null, default);
            for (var i = 0; i < rows; i++)
                values[i] = buffer[i] is { } v ? convert(v) : throw new BadInputException($"{path}, row {rowsBefore + i}, column \"{name}\" (index {index}): the value is null (missing).");
        }
        else
        {
            var buffer = new T[rows];
            await group.ReadAsync<T>(field, buffer.AsMemory(), null, default);
            for (var i = 0; i < rows; i++) values[i] = convert(buffer[i]);
        }
        for (var i = 0; i < rows; i++)
            if (!double.IsFinite(values[i]))
                throw new BadInputException($"{path}, row {rowsBefore + i}, column \"{name}\" (index {index}): {values[i]} is not a finite number.");
        return values;
    }

    private static string OneLine(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\s+", " ").Trim().TrimEnd('.') + ".";
}
