using System.Security.Cryptography;
using System.Text;

namespace Decomp.Apps;

/// <summary>
/// CSV files of typed records that are read back strictly, for files an application resumes from (a sweep's runs.csv).
/// The columns are the record type's public properties as CsvHelper maps them (name them with CsvHelper's
/// <c>[Name]</c> attribute), plus a last column, <c>checksum</c>: the first 16 hex digits of the SHA-256 of the row's
/// text before its last comma. A whole file is written at once through <see cref="AtomicFile"/>, so a killed writer
/// leaves the previous file, never half a row; the checksum is for damage from outside the writer (a copy or an edit
/// cut short, <c>head -c</c>, a block of zeros after a power cut), and a reader refuses any row that is cut, edited or
/// not a record, naming the file and the line, instead of taking it for a finished piece of work. The dialect is the
/// apps' one (<see cref="CsvFormat"/>, shared with <see cref="CsvRunLog"/>): doubles are written with "R", so a value
/// read back is the value written, bit for bit.
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

    /// <summary>The checksum of a row's text before its checksum column: 16 lowercase hex digits of its UTF-8 SHA-256.</summary>
    public static string Checksum(string row) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(row)))[..ChecksumLength];

    /// <summary>The header line of a file of <typeparamref name="T"/>, its checksum column included.</summary>
    public static string Header<T>()
    {
        var header = CsvFormat.Header<T>();
        if (header.Split(',').Contains(ChecksumColumn))
            throw new ArgumentException($"{typeof(T).Name} has a column named '{ChecksumColumn}', the name of the checksum column.", nameof(T));
        return header + "," + ChecksumColumn;
    }

    /// <summary>The line that records <paramref name="record"/>: its fields and their checksum, without a line end.</summary>
    public static string Format<T>(T record)
    {
        using var writer = new CsvFormat.RowWriter();
        return Signed(writer.Line(record));
    }

    private static string Signed(string row) => row + "," + Checksum(row);

    /// <summary>Replaces <paramref name="path"/> by the header and <paramref name="records"/>, atomically (see <see cref="AtomicFile"/>).</summary>
    /// <exception cref="IOException">The file could not be written; the message names it, and the previous file is unchanged.</exception>
    public static void Write<T>(string path, IEnumerable<T> records)
    {
        var text = new StringBuilder(Header<T>()).Append('\n');
        using (var writer = new CsvFormat.RowWriter())
            foreach (var record in records) text.Append(Signed(writer.Line(record))).Append('\n');
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>Every record of <paramref name="path"/>, in file order, each with its line.</summary>
    /// <exception cref="BadInputException">The file cannot be read, is empty, has another header (another format or an older version), or has a
    /// row that is cut short, edited, not a record, or has a field that does not convert; the one-line message names the file and the line.</exception>
    public static IReadOnlyList<CsvLine<T>> Read<T>(string path)
    {
        var full = Path.GetFullPath(path);
        var expectedHeader = Header<T>();
        // Files to resume from are small: read whole.
        return CsvFormat.Read<T>(CsvFormat.ReadAll(full), expectedHeader,
            header => header == expectedHeader[..^(ChecksumColumn.Length + 1)]
                ? $"the header has no {ChecksumColumn} column: the file is from an older version, whose rows cannot be verified"
                : null,
            row =>
            {
                var cut = row.LastIndexOf(',');
                return row[(cut + 1)..] == Checksum(row[..cut]) ? null : "the row does not match its checksum (cut short, or changed after it was written)";
            },
            (line, why, inner) => Damaged(full, line, why, inner));
    }

    /// <summary>The error for a record that <see cref="Read{T}"/> accepted but its application cannot use (an unknown name, a
    /// record given twice), in the same one-line form as <see cref="Read{T}"/>'s: the file, the line, why, and what to do.</summary>
    public static BadInputException Invalid(string path, int line, string why) => Damaged(Path.GetFullPath(path), line, why);

    private static BadInputException Damaged(string path, int line, string why, Exception? inner = null) =>
        new($"{path}, line {line}: {why}. " + (line > 1
            ? $"Repair or delete that line (a deleted record is computed again), or {StartOver}."
            : char.ToUpperInvariant(StartOver[0]) + StartOver[1..] + "."), inner);
}
