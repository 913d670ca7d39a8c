using System.Text.Json;
using Decomp.Apps;
using Xunit;

namespace Decomp.Cli.Tests;

/// <summary>The command line in-process, with tiny --max-steps: outputs, exit codes, one-line errors.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly TestFiles files = new();
    // 200 rows and batches of 16: train 100, validation 50, test 50 (three test batches).
    private static readonly double[][] Rows = TestFiles.Gaussian(200);
    private static readonly string[] Fast = ["--batch-size", "16", "--max-steps", "4", "--threads", "1"];

    public void Dispose() => files.Dispose();

    private string Data() => files.Csv("data.csv", Rows, "x0,x1,y0,y1");

    private (int Code, string Out, string Err) Estimate(params string[] args) =>
        Cli.Run(["estimate", .. args, .. Fast, "--output", files.PathOf("out")]);

    private static string SingleErrorLine(int code, string err, int expected = ExitCodes.BadInput)
    {
        Assert.Equal(expected, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        return line;
    }

    [Fact]
    public void Json_is_exactly_one_object_on_stdout_with_the_fields()
    {
        var data = Data();
        var (code, stdout, stderr) = Estimate("--x", data + ":x0,x1", "--y", data + ":y0,y1", "--json");
        Assert.True(code == 0, stderr);
        using var document = JsonDocument.Parse(stdout); // throws on anything before or after the object
        var root = document.RootElement;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        foreach (var field in new[] { "estimate", "lower", "upper", "standardError", "estimator", "route", "n", "cap", "warnings", "steps", "seconds" })
            Assert.True(root.TryGetProperty(field, out _), $"missing {field}");
        Assert.Equal("infonce", root.GetProperty("estimator").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("route").ValueKind);
        Assert.Equal(200, root.GetProperty("n").GetInt32());
        Assert.Equal(Math.Log(16), root.GetProperty("cap").GetDouble(), 9);
        Assert.Equal(4, root.GetProperty("steps").GetInt32());
        Assert.True(root.GetProperty("lower").GetDouble() <= root.GetProperty("estimate").GetDouble());
        Assert.Equal(["x0", "x1"], root.GetProperty("inputs").GetProperty("x").GetProperty("columns").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(JsonValueKind.Array, root.GetProperty("warnings").ValueKind);
        Assert.Contains("step 4/4", stderr); // progress went to stderr
    }

    [Fact]
    public void Writes_a_png_the_markdown_table_and_the_json_into_the_output_folder()
    {
        var data = Data();
        var (code, stdout, stderr) = Estimate("--x", data + ":x0,x1", "--y", data + ":y0,y1");
        Assert.True(code == 0, stderr);
        var png = File.ReadAllBytes(files.PathOf("out/curve.png"));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.True(png.Length > 5000);
        var markdown = File.ReadAllText(files.PathOf("out/estimate.md"));
        Assert.Contains("| 95% interval |", markdown);
        using var json = JsonDocument.Parse(File.ReadAllText(files.PathOf("out/estimate.json")));
        Assert.Equal(200, json.RootElement.GetProperty("n").GetInt32());
        foreach (var label in new[] { "estimate", "95% interval", "standard error", "cap (log batch size)", "steps", "rows", "time", "warnings" })
            Assert.Contains(label, stdout);
        Assert.Contains("train 100, validation 50, test 50", stdout);
        Assert.Empty(Directory.GetFiles(files.PathOf("out"), "*" + AtomicFile.TemporarySuffix));
    }

    [Fact]
    public void Conditional_mi_from_npy_and_parquet_by_the_chain_rule()
    {
        var z = files.WriteBytes("z.npy", TestFiles.Npy("<f8", "(200,)", TestFiles.Float64(Rows.Select(r => r[1] + r[3]))));
        var x = files.WriteBytes("x.npy", TestFiles.Npy("<f8", "(200, 2)", TestFiles.Float64(Rows.SelectMany(r => r[..2]))));
        var y = files.Parquet("y.parquet", Rows);
        var (code, stdout, stderr) = Estimate("--x", x, "--y", y + ":b,d", "--z", z, "--route", "chain-rule", "--json");
        Assert.True(code == 0, stderr);
        using var document = JsonDocument.Parse(stdout);
        Assert.Equal("chain-rule", document.RootElement.GetProperty("route").GetString());
        Assert.Equal("I(X; Y | Z)", document.RootElement.GetProperty("quantity").GetString());
    }

    [Fact]
    public void Help_lists_every_option()
    {
        var (code, stdout, _) = Cli.Run("estimate", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--x", "--y", "--z", "--estimator", "--critic", "--route", "--batch-size", "--max-steps", "--seed", "--device", "--threads", "--json", "--output" })
            Assert.Contains(option + " ", stdout);
        Assert.Contains("infonce|nwj|dv|mine|tuba|smile|js", stdout);
        Assert.Contains("[default: 256]", stdout);
        Assert.Contains("decomp estimate", stdout);
        Assert.Contains("Details:", stdout);
        Assert.Contains(".npy, .parquet", stdout);
        var (rootCode, rootOut, _) = Cli.Run("--help");
        Assert.Equal(0, rootCode);
        Assert.Contains("estimate", rootOut);
        Assert.DoesNotContain("Details:", rootOut);
    }

    [Theory]
    [InlineData("x0,x1,y0,y1\n1,2,3,4\n5,abc,7,8\n", "line 3 (row 1), column \"x1\" (index 1): \"abc\" is not a number")]
    [InlineData("x0,x1,y0,y1\n1,2,3,4\n5,6,,8\n", "line 3 (row 1), column \"y0\" (index 2): the field is empty")]
    [InlineData("x0,x1,y0,y1\n1,2,3,4\n5,6,7\n", "line 3 (row 1): 3 fields where line 1 has 4")]
    [InlineData("1,2,3,4\n5,6,7,8\n9,10,NaN,12\n", "line 3 (row 2), column 2: \"NaN\" is not a finite number")]
    public void A_malformed_csv_is_one_line_naming_the_file_row_and_column(string text, string expected)
    {
        var path = files.Write("bad.csv", text);
        var (code, _, err) = Estimate("--x", path + ":0,1", "--y", path + ":2,3");
        var line = SingleErrorLine(code, err);
        Assert.Contains(path, line);
        Assert.Contains(expected, line);
    }

    [Theory]
    [InlineData("truncated", "the data end at row 2, column 1")]
    [InlineData("magic", "does not start with the NumPy magic string")]
    [InlineData("fortran", "Fortran order")]
    [InlineData("big-endian", "big-endian")]
    [InlineData("keys", "not exactly 'descr', 'fortran_order', 'shape'")]
    [InlineData("3-d", "3 dimensions")]
    [InlineData("nan", "row 2, column 0: NaN is not a finite number")]
    [InlineData("trailing", "8 bytes follow")]
    public void A_malformed_npy_is_one_line_naming_the_file_and_where(string damage, string expected)
    {
        var data = TestFiles.Float64([1, 2, 3, 4, 5, 6]);
        var bytes = damage switch
        {
            "truncated" => TestFiles.Npy("<f8", "(3, 2)", data[..^4]),
            "magic" => [.. "NOTNPY"u8.ToArray(), .. TestFiles.Npy("<f8", "(3, 2)", data)[6..]],
            "fortran" => Replace(TestFiles.Npy("<f8", "(3, 2)", data), "False", "True "),
            "big-endian" => TestFiles.Npy(">f8", "(3, 2)", data),
            "keys" => Replace(TestFiles.Npy("<f8", "(3, 2)", data), "'shape'", "'shapf'"),
            "3-d" => TestFiles.Npy("<f8", "(1, 3, 2)", data),
            "nan" => TestFiles.Npy("<f8", "(3, 2)", TestFiles.Float64([1, 2, 3, 4, double.NaN, 6])),
            "trailing" => [.. TestFiles.Npy("<f8", "(3, 2)", data), .. new byte[8]],
            _ => throw new ArgumentOutOfRangeException(nameof(damage)),
        };
        var path = files.WriteBytes("bad.npy", bytes);
        var (code, _, err) = Estimate("--x", path, "--y", path);
        var line = SingleErrorLine(code, err);
        Assert.Contains(path, line);
        Assert.Contains(expected, line);
    }

    private static byte[] Replace(byte[] bytes, string from, string to)
    {
        var text = System.Text.Encoding.Latin1.GetString(bytes);
        return System.Text.Encoding.Latin1.GetBytes(text.Replace(from, to));
    }

    [Fact]
    public void A_null_in_parquet_is_one_line_naming_the_file_row_and_column()
    {
        var path = files.Parquet("nulls.parquet", Rows, nullInD: true);
        var (code, _, err) = Estimate("--x", path + ":a", "--y", path + ":d");
        var line = SingleErrorLine(code, err);
        Assert.Contains(path + ", row 7, column \"d\" (index 3): the value is null", line);
    }

    [Fact]
    public void A_file_that_is_not_parquet_is_one_line()
    {
        var path = files.Write("fake.parquet", "a,b\n1,2\n");
        var (code, _, err) = Estimate("--x", path, "--y", path);
        Assert.Contains("is not a valid Parquet file", SingleErrorLine(code, err));
    }

    [Fact]
    public void Missing_files_unknown_columns_and_rows_that_differ_are_one_line_and_exit_2()
    {
        var data = Data();
        Assert.Contains("nope.csv does not exist", SingleErrorLine(Estimate("--x", files.PathOf("nope.csv"), "--y", data).Code, Estimate("--x", files.PathOf("nope.csv"), "--y", data).Err));
        var unknown = Estimate("--x", data + ":x0,age", "--y", data + ":y0");
        Assert.Contains("has no column \"age\"; its columns are \"x0\", \"x1\", \"y0\", \"y1\"", SingleErrorLine(unknown.Code, unknown.Err));
        var shorter = files.Csv("short.csv", Rows[..150], "x0,x1,y0,y1");
        var rows = Estimate("--x", data + ":x0", "--y", shorter + ":y0");
        Assert.Contains("has 150 rows but --x", SingleErrorLine(rows.Code, rows.Err));
        var type = Estimate("--x", files.Write("data.xlsx", "x"), "--y", data);
        Assert.Contains("unknown file type \".xlsx\"", SingleErrorLine(type.Code, type.Err));
    }

    [Fact]
    public void A_constant_column_and_the_library_s_argument_errors_are_one_line_and_exit_2()
    {
        var constant = files.Csv("constant.csv", Rows.Select(r => new[] { r[0], 1.0, r[2] }).ToArray(), "x,c,y");
        var result = Estimate("--x", constant + ":x,c", "--y", constant + ":y");
        Assert.Contains("column \"c\" (index 1) is constant", SingleErrorLine(result.Code, result.Err));
        // Too few rows for the batch size: the library's ArgumentException, with the input named.
        var data = Data();
        var few = Cli.Run("estimate", "--x", data + ":x0", "--y", data + ":y0", "--batch-size", "64", "--max-steps", "2", "--output", files.PathOf("out"));
        var line = SingleErrorLine(few.Code, few.Err);
        Assert.Contains("has 200 rows", line);
        Assert.Contains("--batch-size", line);
        // Conditional MI needs InfoNCE.
        var conditional = Estimate("--x", data + ":x0", "--y", data + ":y0", "--z", data + ":x1", "--estimator", "nwj");
        SingleErrorLine(conditional.Code, conditional.Err);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--estimator", "best")]
    [InlineData("--batch-size", "1")]
    [InlineData("--max-steps", "0")]
    [InlineData("--threads", "-1")]
    [InlineData("--device", "tpu")]
    [InlineData("--route", "chain-rule")]
    public void Bad_usage_is_one_line_and_exit_2(params string[] extra)
    {
        var data = Data();
        var (code, _, err) = Cli.Run(["estimate", "--x", data, "--y", data, .. extra]);
        SingleErrorLine(code, err);
        var missing = Cli.Run("estimate", "--x", data);
        Assert.Contains("--y", SingleErrorLine(missing.Code, missing.Err));
    }
}
