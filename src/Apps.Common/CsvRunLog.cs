using System.Text;

namespace Decomp.Apps;

/// <summary>
/// A run's CSV log of typed rows (Vision's metrics.csv, Dialogue's train.csv and eval.csv): a header, then a row per
/// record, appended to as the run goes. The columns are the record type's public properties in declaration order, named
/// with CsvHelper's <c>[Name]</c> attribute, in the apps' one dialect (<see cref="CsvFormat"/>, shared with
/// <see cref="CsvRecordFile"/>): invariant culture, doubles as "R" (a value read back is the value written, bit for
/// bit; <see cref="RoundedAttribute"/> rounds a timing), a null as an empty cell, lines ended by \n.
/// </summary>
/// <remarks>
/// A log is not read back on resume: a run keeps its rows in its checkpoint and writes the file again from them
/// (<see cref="Rewrite{T}"/>), so a line torn by a kill, a damaged line or rows written after the checkpoint never reach
/// the resumed run's log. Hence no checksum column: any CSV tool reads the file as it is. <see cref="Read{T}"/> and
/// <see cref="Parse{T}"/> are for tests, reports and a checkpoint's saved copy, and read by header name, not position.
/// </remarks>
public static class CsvRunLog
{
    /// <summary>The header line of a log of <typeparamref name="T"/>.</summary>
    public static string Header<T>() => CsvFormat.Header<T>();

    /// <summary>The text of a log of <paramref name="rows"/>: the header and every row, each ended by a line feed.</summary>
    public static string Format<T>(IEnumerable<T> rows)
    {
        var text = new StringBuilder(Header<T>()).Append('\n');
        using (var writer = new CsvFormat.RowWriter())
            foreach (var row in rows) text.Append(writer.Line(row)).Append('\n');
        return text.ToString();
    }

    /// <summary>Replaces <paramref name="path"/> by a log of <paramref name="rows"/>, atomically (see <see cref="AtomicFile"/>).</summary>
    /// <exception cref="IOException">The file could not be written; the message names it, and the previous file is unchanged.</exception>
    public static void Rewrite<T>(string path, IEnumerable<T> rows) => AtomicFile.WriteAllText(path, Format(rows));

    /// <summary>Appends the line of <paramref name="row"/> to the log at <paramref name="path"/> and flushes it to disk.</summary>
    /// <exception cref="IOException">The line could not be written (a full disk); a part of it may have been.</exception>
    public static void Append<T>(string path, T row)
    {
        string line;
        using (var writer = new CsvFormat.RowWriter()) line = writer.Line(row) + "\n";
        using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(new UTF8Encoding(false).GetBytes(line));
        file.Flush(flushToDisk: true);
    }

    /// <summary>The rows of the log at <paramref name="path"/>, each with its line, by column name.</summary>
    /// <exception cref="BadInputException">The file cannot be read, is empty, has another header, or has a row that is cut short, has
    /// more fields than the header, or has a field that does not convert; the one-line message names the file and the line.</exception>
    public static IReadOnlyList<CsvLine<T>> Read<T>(string path)
    {
        var full = Path.GetFullPath(path);
        return Parse<T>(CsvFormat.ReadAll(full), full);
    }

    /// <summary>The rows of the log text <paramref name="text"/> (a <see cref="Format{T}"/>), which came from <paramref name="source"/>.</summary>
    /// <exception cref="BadInputException">As <see cref="Read{T}"/>'s, naming <paramref name="source"/> and the line.</exception>
    public static IReadOnlyList<CsvLine<T>> Parse<T>(string text, string source) =>
        CsvFormat.Read<T>(text, Header<T>(), _ => null, _ => null, (line, why, inner) => new BadInputException($"{source}, line {line}: {why}.", inner));
}
