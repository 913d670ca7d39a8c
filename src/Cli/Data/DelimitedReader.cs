using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;
using Decomp.Apps;

namespace Decomp.Cli.Data;

/// <summary>
/// CSV and TSV files of numbers (CsvHelper's parser: quoting, CRLF, blank lines skipped). The header is detected: a first
/// row with a field that does not parse as a number names the columns; otherwise every row is data and columns go by
/// 0-based index. Numbers are read in the invariant culture (a decimal point, not a comma).
/// </summary>
internal static class DelimitedReader
{
    /// <summary>Reads <paramref name="path"/>, split at <paramref name="delimiter"/> (null: a tab if the first line has one, else a comma).</summary>
    public static NumericTable Read(string path, char? delimiter)
    {
        var separator = delimiter ?? Detect(path);
        var config = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            Delimiter = separator.ToString(),
            HasHeaderRecord = false,
            IgnoreBlankLines = true,
            TrimOptions = TrimOptions.Trim,
            WhiteSpaceChars = [' '],
            DetectDelimiter = false,
            BadDataFound = args => throw new BadInputException(
                $"{path}, line {args.Context.Parser!.RawRow}: malformed quoting in field \"{args.Field}\"."),
        };
        using var reader = new StreamReader(path);
        using var parser = new CsvParser(reader, config);
        string[]? names = null;
        List<double>[]? columns = null;
        var headerLine = 0;
        var firstLine = 0;
        while (parser.Read())
        {
            var record = parser.Record ?? [];
            var line = parser.RawRow;
            if (columns is null)
            {
                firstLine = line;
                var isHeader = record.Any(f => !IsNumber(f));
                names = isHeader ? record : Enumerable.Range(0, record.Length).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
                columns = Enumerable.Range(0, record.Length).Select(_ => new List<double>()).ToArray();
                if (isHeader)
                {
                    headerLine = line;
                    if (names.Any(n => n.Length == 0))
                        throw new BadInputException($"{path}, line {line}: the header has an empty column name (column {Array.IndexOf(names, "")}).");
                    continue;
                }
            }
            var row = columns[0].Count; // 0-based, as columns are; lines count from 1, as editors show them
            if (record.Length != columns.Length)
                throw new BadInputException(
                    $"{path}, line {line} (row {row}): {record.Length} fields where line {firstLine} has {columns.Length}"
                    + (separator == ',' ? "." : $" (fields split at {(separator == '\t' ? "tabs" : $"'{separator}'")})."));
            for (var j = 0; j < record.Length; j++)
            {
                if (!double.TryParse(record[j], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                    throw new BadInputException(
                        $"{path}, line {line} (row {row}), column {Name(names!, headerLine > 0, j)}: "
                        + (record[j].Length == 0 ? "the field is empty" : $"\"{record[j]}\" is not a number") + ".");
                if (!double.IsFinite(value))
                    throw new BadInputException(
                        $"{path}, line {line} (row {row}), column {Name(names!, headerLine > 0, j)}: \"{record[j]}\" is not a finite number.");
                columns[j].Add(value);
            }
        }
        if (columns is null || columns[0].Count == 0)
            throw new BadInputException($"{path} has no data rows.");
        return new NumericTable(path, names!, headerLine > 0, columns.Select(c => c.ToArray()).ToArray());
    }

    private static string Name(string[] names, bool header, int index) =>
        header ? $"\"{names[index]}\" (index {index})" : index.ToString(CultureInfo.InvariantCulture);

    private static bool IsNumber(string field) =>
        double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static char Detect(string path)
    {
        using var reader = new StreamReader(path);
        string? line;
        while ((line = reader.ReadLine()) is not null && line.Trim().Length == 0) { }
        return line is not null && line.Contains('\t') ? '\t' : ',';
    }
}
