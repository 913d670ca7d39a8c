using System.Globalization;
using System.Text;
using CsvHelper;
using CsvHelper.Configuration;
using CsvHelper.Configuration.Attributes;
using CsvHelper.TypeConversion;

namespace Decomp.Apps;

/// <summary>A record read back from a <see cref="CsvRecordFile"/> or a <see cref="CsvRunLog"/>, with the line it was read from (the header is line 1).</summary>
public readonly record struct CsvLine<T>(int Line, T Record);

/// <summary>
/// Writes a <c>double</c> column rounded to <paramref name="digits"/> decimals (then as "R", so "12.5", not "12.500"), for
/// timings whose last digits are noise. The value read back is the rounded one.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class RoundedAttribute(int digits) : System.Attribute, IMemberMapper
{
    /// <summary>Decimals kept.</summary>
    public int Digits { get; } = digits;

    /// <inheritdoc/>
    public void ApplyTo(MemberMap memberMap) => memberMap.Data.TypeConverter = new RoundedConverter(Digits);

    private sealed class RoundedConverter(int digits) : DoubleConverter
    {
        public override string? ConvertToString(object? value, IWriterRow row, MemberMapData memberMapData) =>
            value is double d ? Math.Round(d, digits).ToString("R", CultureInfo.InvariantCulture) : base.ConvertToString(value, row, memberMapData);
    }
}

/// <summary>
/// The apps' one CSV dialect, shared by <see cref="CsvRecordFile"/> and <see cref="CsvRunLog"/>: CsvHelper over a record
/// type's public properties (named with CsvHelper's <c>[Name]</c>), invariant culture, doubles and floats written with
/// "R" (read back bit for bit), a missing (null) value as an empty cell, lines ended by \n (\r\n and \r are read too), and
/// a reader that checks the header and every row's field count and names the line of anything it refuses.
/// </summary>
internal static class CsvFormat
{
    private static CsvConfiguration Configuration(Action<string>? badData = null) => new(CultureInfo.InvariantCulture)
    {
        IgnoreBlankLines = true,
        DetectColumnCountChanges = false,
        // Field counts and the header are checked here, with messages that name the file and the line.
        MissingFieldFound = null,
        HeaderValidated = null,
        BadDataFound = badData is null ? null : _ => badData("a field is badly quoted"),
    };

    private static void RoundTripNumbers(CsvContext context)
    {
        foreach (var type in new[] { typeof(double), typeof(float), typeof(double?), typeof(float?) })
            context.TypeConverterOptionsCache.AddOptions(type, new TypeConverterOptions { Formats = ["R"] });
    }

    /// <summary>A writer of rows into a string: <see cref="Line"/> formats one row, without its line end.</summary>
    internal sealed class RowWriter : IDisposable
    {
        private readonly StringWriter _text = new(CultureInfo.InvariantCulture);
        private readonly CsvWriter _csv;

        public RowWriter()
        {
            // A reader takes \n, \r\n or \r (the file may have been through an editor); the writer writes \n.
            _csv = new CsvWriter(_text, Configuration() with { NewLine = "\n" });
            RoundTripNumbers(_csv.Context);
        }

        // One writer for many rows: a CsvWriter compiles its record writer on first use, which costs milliseconds.
        public string Line<T>(T record) => Take(() => _csv.WriteRecord(record));

        public string Header<T>() => Take(() => _csv.WriteHeader<T>());

        private string Take(Action write)
        {
            write();
            _csv.NextRecord();
            _csv.Flush();
            var line = _text.ToString().TrimEnd('\n');
            _text.GetStringBuilder().Clear();
            return line;
        }

        public void Dispose() => _csv.Dispose();
    }

    /// <summary>The header line of <typeparamref name="T"/>'s columns.</summary>
    public static string Header<T>()
    {
        using var writer = new RowWriter();
        return writer.Header<T>();
    }

    /// <summary>
    /// The records of <paramref name="content"/>, whose header must be <paramref name="expectedHeader"/>. A row must have
    /// as many fields as the header, pass <paramref name="checkRow"/> (given its text; null when it passes, else why not)
    /// and convert; <paramref name="damaged"/> makes the error for a line (the header is 1) and the reason.
    /// </summary>
    public static List<CsvLine<T>> Read<T>(string content, string expectedHeader, Func<string, string?> headerProblem,
                                           Func<string, string?> checkRow, Func<int, string, Exception?, BadInputException> damaged)
    {
        var lines = new Lines(content);
        IParser? parser = null;
        var columns = expectedHeader.Split(',').Length;
        try
        {
            using var csv = new CsvReader(new StringReader(content), Configuration(why => throw damaged(parser is null ? 0 : lines.Of(parser), why, null)));
            parser = csv.Parser;
            RoundTripNumbers(csv.Context);
            if (!csv.Read()) throw damaged(1, "the file is empty: it has no header", null);
            var header = Raw(csv.Parser);
            if (header != expectedHeader)
                throw damaged(1, headerProblem(header) ?? $"the header is \"{Shorten(header)}\", not \"{expectedHeader}\" (another kind of file, or another version's)", null);
            csv.ReadHeader();
            var records = new List<CsvLine<T>>();
            while (csv.Read())
            {
                var line = lines.Of(csv.Parser);
                var count = csv.Parser.Count;
                if (count != columns)
                    throw damaged(line, count < columns ? $"the row has {count} of its {columns} fields (cut short?)" : $"the row has {count} fields, not {columns}", null);
                if (checkRow(Raw(csv.Parser)) is { } problem) throw damaged(line, problem, null);
                try
                {
                    records.Add(new CsvLine<T>(line, csv.GetRecord<T>()));
                }
                catch (TypeConverterException e)
                {
                    var column = e.MemberMapData?.Names.FirstOrDefault() ?? "?";
                    throw damaged(line, $"'{Shorten(e.Text ?? "")}' in column {column} is not a valid {e.MemberMapData?.Type.Name ?? "value"}", e);
                }
            }
            return records;
        }
        catch (CsvHelperException e) when (e is not TypeConverterException)
        {
            throw damaged(e.Context?.Parser is { } p ? lines.Of(p) : 0, $"it is not valid CSV ({e.GetType().Name})", e);
        }
    }

    /// <summary>The whole text of <paramref name="path"/> as UTF-8.</summary>
    /// <exception cref="BadInputException">It cannot be read; the message names it.</exception>
    public static string ReadAll(string path)
    {
        try
        {
            // Whole, to name the line a record starts on: a parser counts the lines it has read, which for a record
            // with an unclosed quote is where the file ends.
            return File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException($"Cannot read {path}: {e.Message.TrimEnd('.')}.", e);
        }
    }

    /// <summary>Where each line of a text starts, to turn a parser's position into the line its record starts on.</summary>
    private sealed class Lines
    {
        private readonly List<int> _starts = [0];

        public Lines(string text)
        {
            for (var i = 0; i < text.Length; i++)
                if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.Length || text[i + 1] != '\n')))
                    _starts.Add(i + 1);
        }

        /// <summary>The 1-based line of the first character of the parser's current record.</summary>
        public int Of(IParser parser)
        {
            var start = (int)parser.CharCount - parser.RawRecord.Length;
            var index = _starts.BinarySearch(start);
            return (index >= 0 ? index : ~index - 1) + 1;
        }
    }

    private static string Raw(IParser parser) => parser.RawRecord.TrimEnd('\n', '\r');

    /// <summary>Damaged text can be long or binary: keep the message one short, printable line.</summary>
    public static string Shorten(string text)
    {
        var printable = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return printable.Length <= 60 ? printable : printable[..57] + "...";
    }
}
