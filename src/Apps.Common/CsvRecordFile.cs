using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CsvHelper;
using CsvHelper.Configuration;
using CsvHelper.TypeConversion;

namespace Decomp.Apps;

/// <summary>A record read back from a <see cref="CsvRecordFile"/>, with the line it was read from (the header is line 1).</summary>
public readonly record struct CsvLine<T>(int Line, T Record);

/// <summary>
/// CSV files of typed records that are read back strictly, for files an application resumes from (a sweep's runs.csv).
/// The columns are the record type's public properties as CsvHelper maps them (name them with CsvHelper's
/// <c>[Name]</c> attribute), plus a last column, <c>checksum</c>: the first 16 hex digits of the SHA-256 of the row's
/// text before its last comma. A whole file is written at once through <see cref="AtomicFile"/>, so a killed writer
/// leaves the previous file, never half a row; the checksum is for damage from outside the writer (a copy or an edit
/// cut short, <c>head -c</c>, a block of zeros after a power cut), and a reader refuses any row that is cut, edited or
/// not a record, naming the file and the line, instead of taking it for a finished piece of work. Doubles are written
/// with "R", so a value read back is the value written, bit for bit.
/// </summary>
/// <remarks>
/// Why a checksum per row rather than one for the whole file: a whole-file checksum kept in a second file cannot be
/// replaced together with the file in one rename, so a kill between the two renames leaves a good file refused (or a
/// stale checksum trusted), and one kept inside the file makes it something other than CSV. Per-row checksums cannot
/// be half-updated, keep the file plain CSV that any tool reads (the extra column is ignored by name), name the damaged
/// line, and let a user delete one bad line (that piece of work is redone) or append rows from another copy of the file
/// without re-signing anything. A row can be checked by hand:
/// <c>printf %s "${row%,*}" | sha256sum | cut -c1-16</c>.
/// </remarks>
public static class CsvRecordFile
{
    /// <summary>The name of the last column, which holds each row's checksum.</summary>
    public const string ChecksumColumn = "checksum";

    private const int ChecksumLength = 16;

    private const string StartOver = "move the file away (or use another --output) to start over";

    private static CsvConfiguration Configuration(string? path = null, Lines? lines = null) => new(CultureInfo.InvariantCulture)
    {
        IgnoreBlankLines = true,
        DetectColumnCountChanges = false,
        // Field counts and the header are checked here, with messages that name the file and the line.
        MissingFieldFound = null,
        HeaderValidated = null,
        BadDataFound = path is null || lines is null ? null : args => throw Damaged(path, args.Context.Parser is { } p ? lines.Of(p) : 0, "a field is badly quoted"),
    };

    private static void RoundTripNumbers(CsvContext context)
    {
        context.TypeConverterOptionsCache.AddOptions<double>(new TypeConverterOptions { Formats = ["R"] });
        context.TypeConverterOptionsCache.AddOptions<float>(new TypeConverterOptions { Formats = ["R"] });
    }

    /// <summary>The checksum of a row's text before its checksum column: 16 lowercase hex digits of its UTF-8 SHA-256.</summary>
    public static string Checksum(string row) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(row)))[..ChecksumLength];

    /// <summary>The header line of a file of <typeparamref name="T"/>, its checksum column included.</summary>
    public static string Header<T>()
    {
        var (text, csv) = Writer();
        using (csv)
        {
            csv.WriteHeader<T>();
            csv.NextRecord();
            csv.Flush();
            var header = text.ToString().TrimEnd('\n');
            if (header.Split(',').Contains(ChecksumColumn))
                throw new ArgumentException($"{typeof(T).Name} has a column named '{ChecksumColumn}', the name of the checksum column.", nameof(T));
            return header + "," + ChecksumColumn;
        }
    }

    /// <summary>The line that records <paramref name="record"/>: its fields and their checksum, without a line end.</summary>
    public static string Format<T>(T record)
    {
        var (text, csv) = Writer();
        using (csv)
        {
            csv.WriteRecord(record);
            csv.NextRecord();
            csv.Flush();
            var row = text.ToString().TrimEnd('\n');
            return row + "," + Checksum(row);
        }
    }

    private static (StringWriter, CsvWriter) Writer()
    {
        var text = new StringWriter(CultureInfo.InvariantCulture);
        // A reader takes \n, \r\n or \r (the file may have been through an editor); the writer writes \n.
        var csv = new CsvWriter(text, Configuration() with { NewLine = "\n" });
        RoundTripNumbers(csv.Context);
        return (text, csv);
    }

    /// <summary>Replaces <paramref name="path"/> by the header and <paramref name="records"/>, atomically (see <see cref="AtomicFile"/>).</summary>
    /// <exception cref="IOException">The file could not be written; the message names it, and the previous file is unchanged.</exception>
    public static void Write<T>(string path, IEnumerable<T> records)
    {
        var text = new StringBuilder(Header<T>()).Append('\n');
        // One writer for every row: a CsvWriter compiles its record writer on first use, which costs milliseconds, so a
        // writer per row (Format) made a file of a few thousand rows take seconds to write.
        var (row, csv) = Writer();
        using (csv)
        {
            foreach (var record in records)
            {
                csv.WriteRecord(record);
                csv.NextRecord();
                csv.Flush();
                var line = row.ToString().TrimEnd('\n');
                row.GetStringBuilder().Clear();
                text.Append(line).Append(',').Append(Checksum(line)).Append('\n');
            }
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>Every record of <paramref name="path"/>, in file order, each with its line.</summary>
    /// <exception cref="BadInputException">The file cannot be read, is empty, has another header (another format or an older version), or has a
    /// row that is cut short, edited, not a record, or has a field that does not convert; the one-line message names the file and the line.</exception>
    public static IReadOnlyList<CsvLine<T>> Read<T>(string path)
    {
        var full = Path.GetFullPath(path);
        var expectedHeader = Header<T>();
        var columns = expectedHeader.Split(',').Length;
        Lines? lines = null;
        try
        {
            // Whole, to name the line a record starts on: a parser counts the lines it has read, which for a record
            // with an unclosed quote is where the file ends. Files to resume from are small.
            var content = File.ReadAllText(full, Encoding.UTF8);
            lines = new Lines(content);
            using var csv = new CsvReader(new StringReader(content), Configuration(full, lines));
            RoundTripNumbers(csv.Context);
            if (!csv.Read()) throw Damaged(full, 1, "the file is empty: it has no header");
            var header = Raw(csv.Parser);
            if (header != expectedHeader)
                throw Damaged(full, 1, header == expectedHeader[..^(ChecksumColumn.Length + 1)]
                    ? $"the header has no {ChecksumColumn} column: the file is from an older version, whose rows cannot be verified"
                    : $"the header is \"{Shorten(header)}\", not \"{expectedHeader}\" (another kind of file, or another version's)");
            csv.ReadHeader();
            var records = new List<CsvLine<T>>();
            while (csv.Read())
            {
                var line = lines.Of(csv.Parser);
                var count = csv.Parser.Count;
                if (count != columns)
                    throw Damaged(full, line, count < columns
                        ? $"the row has {count} of its {columns} fields (cut short?)"
                        : $"the row has {count} fields, not {columns}");
                var raw = Raw(csv.Parser);
                var cut = raw.LastIndexOf(',');
                if (raw[(cut + 1)..] != Checksum(raw[..cut]))
                    throw Damaged(full, line, "the row does not match its checksum (cut short, or changed after it was written)");
                try
                {
                    records.Add(new CsvLine<T>(line, csv.GetRecord<T>()));
                }
                catch (TypeConverterException e)
                {
                    var column = e.MemberMapData?.Names.FirstOrDefault() ?? "?";
                    throw Damaged(full, line, $"'{Shorten(e.Text ?? "")}' in column {column} is not a valid {e.MemberMapData?.Type.Name ?? "value"}", e);
                }
            }
            return records;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException($"Cannot read {full}: {e.Message.TrimEnd('.')}.", e);
        }
        catch (CsvHelperException e) when (e is not TypeConverterException)
        {
            throw Damaged(full, e.Context?.Parser is { } parser && lines is not null ? lines.Of(parser) : 0, $"it is not valid CSV ({e.GetType().Name})", e);
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
    private static string Shorten(string text)
    {
        var printable = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return printable.Length <= 60 ? printable : printable[..57] + "...";
    }

    /// <summary>The error for a record that <see cref="Read{T}"/> accepted but its application cannot use (an unknown name, a
    /// record given twice), in the same one-line form as <see cref="Read{T}"/>'s: the file, the line, why, and what to do.</summary>
    public static BadInputException Invalid(string path, int line, string why) => Damaged(Path.GetFullPath(path), line, why);

    private static BadInputException Damaged(string path, int line, string why, Exception? inner = null) =>
        new($"{path}, line {line}: {why}. " + (line > 1
            ? $"Repair or delete that line (a deleted record is computed again), or {StartOver}."
            : char.ToUpperInvariant(StartOver[0]) + StartOver[1..] + "."), inner);
}
