using System.Buffers.Binary;
using Xunit;

namespace Decomp.Apps.Tests;

public class ChartsTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>A panel with every feature: a log2 x axis, error bars, a missing value, reference lines, limits.</summary>
    private static ChartPanel Figure(string title) => new(title)
    {
        XLabel = "K", YLabel = "nats",
        Series =
        [
            new ChartSeries("estimate", [16, 64, 256], [2.1, 3.5, double.NaN]) { Errors = [0.1, 0.2, 0.3], MarkerSize = 6 },
            new ChartSeries("log K", [16, 64, 256], [Math.Log(16), Math.Log(64), Math.Log(256)]) { Color = "#808080", Stroke = Stroke.Dashed },
        ],
        Lines = [new ReferenceLine(5, "true MI") { Stroke = Stroke.Solid }, new ReferenceLine(64, null) { Vertical = true }],
        Log2XTicks = [16, 64, 256],
        YLimits = new AxisLimits(0, 6),
    };

    [Fact]
    public void SavePngWritesAPngOfTheAskedSizeThroughATemporaryFileAndReplacesThePreviousOne()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("figure.png");
        File.WriteAllText(path, "an older figure");

        Charts.SavePng(path, [Figure("I = 5 nats"), Figure("I = 10 nats"), new ChartPanel("empty")], 900, 600, columns: 2);

        var png = File.ReadAllBytes(path);
        Assert.Equal(PngSignature, png[..8]);
        // IHDR, the first chunk: width and height, big-endian, at bytes 16 and 20.
        Assert.Equal((900, 600), (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
        Assert.Equal([path], Directory.GetFiles(folder.Path)); // no temporary file left
    }

    [Fact]
    public void BadInputIsRefusedNamingTheArgumentAndLeavesThePreviousFile()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("figure.png");
        File.WriteAllText(path, "an older figure");
        ChartPanel[] good = [Figure("good")];
        string Refused(Action draw) => Assert.ThrowsAny<ArgumentException>(draw).ParamName!;

        Assert.Equal("panels", Refused(() => Charts.SavePng(path, [], 100, 100)));
        Assert.Equal("width", Refused(() => Charts.SavePng(path, good, 0, 100)));
        Assert.Equal("height", Refused(() => Charts.SavePng(path, good, 100, -1)));
        Assert.Equal("columns", Refused(() => Charts.SavePng(path, good, 100, 100, columns: 0)));
        Assert.Equal("path", Refused(() => Charts.SavePng(" ", good, 100, 100)));
        var shortY = new ChartPanel("p") { Series = [new ChartSeries("s", [1, 2, 3], [1, 2])] };
        var e = Assert.Throws<ArgumentException>(() => Charts.SavePng(path, [shortY], 100, 100));
        Assert.Equal("panels", e.ParamName);
        Assert.Contains("panel 'p': series 's' has 3 x values and 2 y values", e.Message);
        var shortErrors = new ChartPanel("p") { Series = [new ChartSeries("s", [1, 2], [1, 2]) { Errors = [0.1] }] };
        Assert.Equal("panels", Refused(() => Charts.SavePng(path, [shortErrors], 100, 100)));
        var zeroOnLog2 = new ChartPanel("p") { Series = [new ChartSeries("s", [0, 2], [1, 2])], Log2XTicks = [1, 2] };
        Assert.Equal("panels", Refused(() => Charts.SavePng(path, [zeroOnLog2], 100, 100)));
        var emptyLimits = new ChartPanel("p") { YLimits = new AxisLimits(1, 1) };
        Assert.Equal("panels", Refused(() => Charts.SavePng(path, [emptyLimits], 100, 100)));

        Assert.Equal("an older figure", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void Log2TicksPlacesEachValueAtItsLog2AndLabelsItWithTheValue()
    {
        using var plot = new ScottPlot.Plot();
        Charts.Log2Ticks(plot.Axes.Bottom, [2, 8, 1024]);
        plot.GetImageBytes(300, 200, ScottPlot.ImageFormat.Png); // a manual tick generator hands out its ticks once laid out

        var ticks = ((ScottPlot.TickGenerators.NumericManual)plot.Axes.Bottom.TickGenerator).Ticks;
        Assert.Equal([1.0, 3.0, 10.0], ticks.Select(t => t.Position));
        Assert.Equal(["2", "8", "1024"], ticks.Select(t => t.Label));
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => Charts.Log2Ticks(plot.Axes.Bottom, [4, 0])).ParamName);
    }
}
