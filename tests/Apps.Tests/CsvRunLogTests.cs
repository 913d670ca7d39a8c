using CsvHelper.Configuration.Attributes;
using Xunit;

namespace Decomp.Apps.Tests;

public sealed record LogRow
{
    [Name("step")] public long Step { get; init; }
    [Name("loss")] public double Loss { get; init; }
    [Name("knn_top1_percent")] public double? Knn { get; init; }
    [Name("elapsed_seconds"), Rounded(3)] public double Elapsed { get; init; }
}

public class CsvRunLogTests
{
    private static readonly LogRow[] Rows =
    [
        new() { Step = 0, Loss = 0.1 + 0.2, Knn = null, Elapsed = 1.23456 },
        new() { Step = 10, Loss = -0.7815755019187927, Knn = 12.5, Elapsed = 2 },
        new() { Step = long.MaxValue, Loss = double.Epsilon, Knn = 1.7976931348623157e308, Elapsed = 3.0006 },
        new() { Step = -1, Loss = double.NaN, Knn = double.NegativeInfinity, Elapsed = 0 },
    ];

    private static string Written(TemporaryFolder folder)
    {
        var path = folder.File("metrics.csv");
        CsvRunLog.Rewrite(path, Rows);
        return path;
    }

    [Fact]
    public void TheHeaderIsTheNamedColumnsInDeclarationOrder()
    {
        Assert.Equal("step,loss,knn_top1_percent,elapsed_seconds", CsvRunLog.Header<LogRow>());
        using var folder = new TemporaryFolder();
        Assert.StartsWith("step,loss,knn_top1_percent,elapsed_seconds\n", File.ReadAllText(Written(folder)));
    }

    [Fact]
    public void RowsAreReadBackBitForBitWithTheirLines()
    {
        using var folder = new TemporaryFolder();
        var read = CsvRunLog.Read<LogRow>(Written(folder));
        Assert.Equal([2, 3, 4, 5], read.Select(l => l.Line));
        Assert.Equal(Rows.Select(r => BitConverter.DoubleToInt64Bits(r.Loss)), read.Select(l => BitConverter.DoubleToInt64Bits(l.Record.Loss)));
        Assert.Equal(Rows.Select(r => r.Knn), read.Select(l => l.Record.Knn));
        Assert.Equal(Rows.Select(r => r.Step), read.Select(l => l.Record.Step));
        Assert.Equal(read.Select(l => l.Record.Step), CsvRunLog.Parse<LogRow>(File.ReadAllText(Written(folder)), "copy").Select(l => l.Record.Step));
    }

    [Fact]
    public void ANullIsAnEmptyCellAndRoundedColumnsAreRoundedAsWritten()
    {
        using var folder = new TemporaryFolder();
        var lines = File.ReadAllLines(Written(folder));
        Assert.Equal("0,0.30000000000000004,,1.235", lines[1]);
        Assert.Equal("10,-0.7815755019187927,12.5,2", lines[2]);
        Assert.Equal("9223372036854775807,5E-324,1.7976931348623157E+308,3.001", lines[3]);
        Assert.Equal("-1,NaN,-Infinity,0", lines[4]);
        Assert.Null(CsvRunLog.Read<LogRow>(folder.File("metrics.csv"))[0].Record.Knn);
        Assert.Equal(1.235, CsvRunLog.Read<LogRow>(folder.File("metrics.csv"))[0].Record.Elapsed);
    }

    [Fact]
    public void AnAppendAfterARewriteAddsOneLine()
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        var extra = new LogRow { Step = 20, Loss = 1.0 / 3, Knn = null, Elapsed = 4.5 };
        CsvRunLog.Append(path, extra);
        Assert.Equal(CsvRunLog.Format(Rows.Append(extra)), File.ReadAllText(path));
        Assert.Equal(extra, CsvRunLog.Read<LogRow>(path)[^1].Record);
        // A rewrite drops what was appended after the rows it is given (a resumed run's redone steps).
        CsvRunLog.Rewrite(path, Rows[..2]);
        Assert.Equal(2, CsvRunLog.Read<LogRow>(path).Count);
    }

    /// <summary>Damage to the file written by <see cref="Written"/>, and the line the refusal must name.</summary>
    public static TheoryData<string, int> Damage => new()
    {
        { "a torn last line", 6 },
        { "a field that does not convert", 3 },
        { "a line with a field too many", 4 },
        { "another header", 1 },
        { "an empty file", 1 },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void ADamagedLineIsRefusedInOneLineThatNamesTheFileAndTheLine(string damage, int line)
    {
        using var folder = new TemporaryFolder();
        var path = Written(folder);
        var text = File.ReadAllText(path);
        text = damage switch
        {
            "a torn last line" => text + "1",
            "a field that does not convert" => text.Replace("-0.7815755019187927", "-0.78x"),
            "a line with a field too many" => text.Replace("3.001\n", "3.001,7\n"),
            "another header" => text.Replace("knn_top1_percent", "knn"),
            _ => "",
        };
        File.WriteAllText(path, text);
        var e = Assert.Throws<BadInputException>(() => CsvRunLog.Read<LogRow>(path));
        Assert.StartsWith($"{path}, line {line}: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        if (damage == "a field that does not convert") Assert.Contains("'-0.78x' in column loss", e.Message);
    }
}
