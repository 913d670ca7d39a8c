using Decomp.Apps;

namespace Decomp.Cli.Data;

/// <summary>
/// A file's numeric columns as read: every value finite, every column as long as the others. Headerless files name
/// their columns by 0-based index ("0", "1", ...).
/// </summary>
/// <param name="Path">The file as the user named it (for messages).</param>
/// <param name="Names">Column names, in file order.</param>
/// <param name="HasHeader">True when the names came from the file (a CSV header, Parquet's schema).</param>
/// <param name="Columns">The values, one array per column (null for a column that is not numeric).</param>
/// <param name="Unreadable">Why a column is null in <paramref name="Columns"/>: Parquet files may hold text or lists
/// beside the numbers, which is an error only when such a column is selected.</param>
internal sealed record NumericTable(string Path, IReadOnlyList<string> Names, bool HasHeader, IReadOnlyList<double[]?> Columns,
                                    IReadOnlyDictionary<int, string>? Unreadable = null)
{
    /// <summary>Rows in the file (not counting a header).</summary>
    public int Rows { get; init; } = Columns.FirstOrDefault(c => c is not null)?.Length ?? 0;

    /// <summary>The index of the column <paramref name="name"/>: a header name, else a 0-based index.</summary>
    /// <exception cref="BadInputException">No such column; the message lists those there are.</exception>
    public int IndexOf(string name)
    {
        var matches = Enumerable.Range(0, Names.Count).Where(i => Names[i] == name).ToArray();
        if (matches.Length == 1) return matches[0];
        if (matches.Length > 1)
            throw new BadInputException($"{Path}: the header names column \"{name}\" {matches.Length} times (indices {string.Join(", ", matches)}); select it by index instead.");
        if (int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index) && index < Names.Count)
            return index;
        var known = HasHeader ? string.Join(", ", Names.Take(20).Select(n => $"\"{n}\"")) + (Names.Count > 20 ? ", ..." : "")
                              : $"0 to {Names.Count - 1} (the file has no header)";
        throw new BadInputException($"{Path} has no column \"{name}\"; its columns are {known}.");
    }
}

/// <summary>Opens a data file by its extension.</summary>
internal static class TableReader
{
    /// <summary>The extensions <see cref="Read"/> understands.</summary>
    public const string Formats = ".csv, .tsv (or .tab, .txt: delimiter detected), .npy, .parquet";

    /// <summary>Reads <paramref name="path"/>: CSV/TSV, NumPy .npy or Parquet.</summary>
    /// <exception cref="BadInputException">The file is missing, of an unknown kind, or malformed (the message names the row and column).</exception>
    public static NumericTable Read(string path)
    {
        if (Directory.Exists(path)) throw new BadInputException($"{path} is a folder, not a data file.");
        if (!File.Exists(path)) throw new BadInputException($"{path} does not exist.");
        try
        {
            return System.IO.Path.GetExtension(path).ToLowerInvariant() switch
            {
                ".npy" => NpyReader.Read(path),
                ".parquet" or ".pq" => ParquetTableReader.Read(path),
                ".csv" => DelimitedReader.Read(path, ','),
                ".tsv" or ".tab" => DelimitedReader.Read(path, '\t'),
                ".txt" or ".dat" or "" => DelimitedReader.Read(path, null),
                var other => throw new BadInputException($"{path}: unknown file type \"{other}\"; decomp reads {Formats}."),
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException($"Cannot read {path}: {e.Message.TrimEnd('.')}.", e);
        }
    }
}
