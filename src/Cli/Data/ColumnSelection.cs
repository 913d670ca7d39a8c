using Decomp.Apps;

namespace Decomp.Cli.Data;

/// <summary>
/// An input as given on the command line: <c>FILE</c> (every column) or <c>FILE:COLUMN,COLUMN,...</c>, columns by header
/// name or by 0-based index. A path that exists as given is taken whole, so a path with a colon still works.
/// </summary>
/// <param name="Path">The file.</param>
/// <param name="Columns">The columns to take, in order; empty for all of them.</param>
internal sealed record ColumnSelection(string Path, IReadOnlyList<string> Columns)
{
    /// <summary>Parses <paramref name="spec"/>.</summary>
    public static ColumnSelection Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new BadInputException("An input is empty; give FILE or FILE:COLUMN,COLUMN,...");
        var colon = spec.LastIndexOf(':');
        // "C:\data.csv" and paths that exist as given are files, not FILE:COLUMNS.
        if (colon <= 1 || File.Exists(spec)) return new ColumnSelection(spec, []);
        var columns = spec[(colon + 1)..].Split(',').Select(c => c.Trim()).ToArray();
        if (columns.Any(c => c.Length == 0))
            throw new BadInputException($"\"{spec}\": a column name is empty; write FILE:COLUMN,COLUMN,... without empty entries.");
        return new ColumnSelection(spec[..colon], columns);
    }

    /// <summary>How the selection reads back.</summary>
    public override string ToString() => Columns.Count == 0 ? Path : $"{Path}:{string.Join(",", Columns)}";
}

/// <summary>One variable's data: the selected columns of a file as a matrix.</summary>
/// <param name="Selection">What the user asked for.</param>
/// <param name="Names">The selected columns' names.</param>
/// <param name="Values">[rows, columns].</param>
internal sealed record Variable(ColumnSelection Selection, IReadOnlyList<string> Names, double[,] Values)
{
    /// <summary>Rows.</summary>
    public int Rows => Values.GetLength(0);

    /// <summary>Columns.</summary>
    public int Width => Values.GetLength(1);

    /// <summary>Reads the selection's columns, from <paramref name="cache"/> when the file was read already.</summary>
    /// <exception cref="BadInputException">The file cannot be read, a column is unknown or constant.</exception>
    public static Variable Load(ColumnSelection selection, IDictionary<string, NumericTable> cache)
    {
        var key = System.IO.Path.GetFullPath(selection.Path);
        if (!cache.TryGetValue(key, out var table)) cache[key] = table = TableReader.Read(selection.Path);
        var indices = selection.Columns.Count == 0 ? Enumerable.Range(0, table.Names.Count).ToArray() : selection.Columns.Select(table.IndexOf).ToArray();
        if (indices.Length == 0) throw new BadInputException($"{selection.Path} has no columns.");
        var values = new double[table.Rows, indices.Length];
        for (var j = 0; j < indices.Length; j++)
        {
            var column = table.Columns[indices[j]]
                         ?? throw new BadInputException($"{selection.Path}: column {Describe(table, indices[j])} {table.Unreadable?.GetValueOrDefault(indices[j]) ?? "is not numeric"}; select numeric columns with FILE:COLUMN,COLUMN,...");
            for (var i = 0; i < column.Length; i++) values[i, j] = column[i];
            if (column.Length >= 2 && column.All(v => v == column[0]))
                throw new BadInputException($"{selection.Path}: column {Describe(table, indices[j])} is constant ({column[0]}) in every row: it carries no information; leave it out.");
        }
        return new Variable(selection, indices.Select(i => table.Names[i]).ToArray(), values);
    }

    /// <summary>A column as messages name it: "age" (index 1), or index 3 in a headerless file.</summary>
    public static string Describe(NumericTable table, int index) =>
        table.HasHeader ? $"\"{table.Names[index]}\" (index {index})" : $"{index}";
}
