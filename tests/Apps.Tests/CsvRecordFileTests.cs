using System.Text;
using CsvHelper.Configuration.Attributes;
using Xunit;

namespace Decomp.Apps.Tests;

public sealed record Measurement
{
    [Name("name")] public string Name { get; init; } = "";
    [Name("count")] public int Count { get; init; }
    [Name("value")] public double Value { get; init; }
}

public class CsvRecordFileTests
{
    private static readonly Measurement[] Records =
    [
        new() { Name = "InfoNCE_S IS", Count = 3, Value = 0.1 + 0.2 },
        new() { Name = "a, \"quoted\" name", Count = -1, Value = -0.7815755019187927 },
        new() { Name = "tiny", Count = 0, Value = double.Epsilon },
        new() { Name = "huge", Count = int.MaxValue, Value = 1.7976931348623157e308 },
    ];

    private static string Written(TemporaryFolder folder)
    {
        var path = folder.File("runs.csv");
        CsvRecordFile.Write(path, Records);
        return path;
    }

    [Fact]
    public void RecordsAreReadBackBitForBitWithTheirLines()
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        Assert.StartsWith("name,count,value,checksum\n", File.ReadAllText(path));
        var read = CsvRecordFile.Read<Measurement>(path);
        Assert.Equal(Records, read.Select(l => l.Record));
        Assert.Equal(Records.Select(r => BitConverter.DoubleToInt64Bits(r.Value)), read.Select(l => BitConverter.DoubleToInt64Bits(l.Record.Value)));
        Assert.Equal([2, 3, 4, 5], read.Select(l => l.Line));
    }

    [Fact]
    public void ARowsChecksumIsThatOfItsTextBeforeTheLastComma()
    {
        using var folder = new TemporaryFolder();
        var row = File.ReadAllLines(Written(folder))[1];
        var cut = row.LastIndexOf(',');
        Assert.Equal(CsvRecordFile.Checksum(row[..cut]), row[(cut + 1)..]);
        Assert.Matches("^[0-9a-f]{16}$", row[(cut + 1)..]);
    }

    [Fact]
    public void WindowsLineEndsAndBlankLinesAreAccepted()
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        var lines = File.ReadAllLines(path);
        File.WriteAllText(path, string.Join("\r\n", lines[..3]) + "\r\n\r\n" + string.Join("\r\n", lines[3..]) + "\r\n\r\n");
        var read = CsvRecordFile.Read<Measurement>(path);
        Assert.Equal(Records, read.Select(l => l.Record));
        Assert.Equal([2, 3, 5, 6], read.Select(l => l.Line));
    }

    [Fact]
    public void AWholeLastRowWithoutItsLineEndIsAccepted()
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        File.WriteAllText(path, File.ReadAllText(path).TrimEnd('\n'));
        Assert.Equal(Records.Length, CsvRecordFile.Read<Measurement>(path).Count);
    }

    /// <summary>Damage to the file written by <see cref="Written"/>, and the line the refusal must name.</summary>
    public static TheoryData<string, int> Damage => new()
    {
        { "last row cut in the middle of its value", 5 },
        { "last row cut in the middle of its checksum", 5 },
        { "last row without its checksum", 5 },
        { "a digit changed", 3 },
        { "a line of garbage", 6 },
        { "a block of zeros", 2 },
        { "an unclosed quote", 6 },
        { "an empty file", 1 },
        { "the header of an older version, without checksums", 1 },
        { "another file's header", 1 },
        { "a field that does not convert, under a valid checksum", 6 },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void ADamagedFileIsRefusedInOneLineThatNamesTheFileAndTheLine(string damage, int line)
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        var text = File.ReadAllText(path);
        var last = text.TrimEnd('\n');
        var lastRow = last[(last.LastIndexOf('\n') + 1)..];
        var beforeLastRow = last[..(last.Length - lastRow.Length)];
        switch (damage)
        {
            case "last row cut in the middle of its value":
                text = beforeLastRow + lastRow[..(lastRow.IndexOf("1.79", StringComparison.Ordinal) + 4)];
                break;
            case "last row cut in the middle of its checksum": text = last[..^5]; break;
            case "last row without its checksum": text = last[..last.LastIndexOf(',')] + "\n"; break;
            case "a digit changed": text = text.Replace("-0.7815755019187927", "-0.7815755019187928"); break;
            case "a line of garbage": text += "garbage\n"; break;
            case "a block of zeros":
                var bytes = Encoding.UTF8.GetBytes(text);
                Array.Fill(bytes, (byte)0, text.IndexOf('\n') + 5, 20);
                text = Encoding.UTF8.GetString(bytes);
                break;
            case "an unclosed quote": text += "\"x,1,2\n"; break;
            case "an empty file": text = ""; break;
            case "the header of an older version, without checksums":
                text = string.Join("\n", text.Split('\n').Select(l => l.Length == 0 ? l : l[..l.LastIndexOf(',')]));
                break;
            case "another file's header": text = text.Replace("name,count,value,checksum", "name,count,amount,checksum"); break;
            case "a field that does not convert, under a valid checksum": text += $"x,abc,1,{CsvRecordFile.Checksum("x,abc,1")}\n"; break;
        }
        File.WriteAllText(path, text);
        var e = Assert.Throws<BadInputException>(() => CsvRecordFile.Read<Measurement>(path));
        Assert.StartsWith($"{path}, line {line}: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.EndsWith("to start over.", e.Message);
        if (damage.StartsWith("the header of an older version")) Assert.Contains("no checksum column", e.Message);
        if (damage.StartsWith("a field that does not convert")) Assert.Contains("'abc' in column count", e.Message);
    }

    [Fact]
    public void AMissingFileIsBadInputThatNamesIt()
    {
        using var folder = new TemporaryFolder();
        var e = Assert.Throws<BadInputException>(() => CsvRecordFile.Read<Measurement>(folder.File("runs.csv")));
        Assert.Contains(folder.File("runs.csv"), e.Message);
    }

    [Fact]
    public void AWriteThatFailsLeavesThePreviousFileAndNoTemporaryFile()
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        var before = File.ReadAllText(path);
        Assert.Throws<InvalidOperationException>(() => CsvRecordFile.Write(path, Records.Select<Measurement, Measurement>((r, i) =>
            i < 2 ? r : throw new InvalidOperationException("the records ran out"))));
        Assert.Equal(before, File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(folder.Path));
    }
}
