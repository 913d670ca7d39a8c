using System.Diagnostics;
using Decomp.Apps;
using Decomp.Cli.Data;
using Xunit;

namespace Decomp.Cli.Tests;

public sealed class ReaderTests : IDisposable
{
    private readonly TestFiles files = new();
    private static readonly double[][] Rows = TestFiles.Gaussian(20);

    public void Dispose() => files.Dispose();

    private static void AssertColumn(NumericTable table, int column, IEnumerable<double> expected, double tolerance = 0) =>
        Assert.Equal(expected.ToArray(), table.Columns[column]!, (a, b) => Math.Abs(a - b) <= tolerance);

    [Fact]
    public void Csv_with_a_header_names_its_columns()
    {
        var table = TableReader.Read(files.Csv("h.csv", Rows, "a,b,c,d"));
        Assert.True(table.HasHeader);
        Assert.Equal(["a", "b", "c", "d"], table.Names);
        Assert.Equal(20, table.Rows);
        AssertColumn(table, 2, Rows.Select(r => r[2]));
    }

    [Fact]
    public void Csv_without_a_header_is_all_data_and_columns_go_by_index()
    {
        var table = TableReader.Read(files.Csv("n.csv", Rows, null));
        Assert.False(table.HasHeader);
        Assert.Equal(["0", "1", "2", "3"], table.Names);
        Assert.Equal(20, table.Rows);
        AssertColumn(table, 0, Rows.Select(r => r[0]));
        Assert.Equal(3, table.IndexOf("3"));
    }

    [Fact]
    public void Tsv_splits_at_tabs_and_a_txt_file_detects_them()
    {
        var tsv = TableReader.Read(files.Csv("t.tsv", Rows, "a\tb\tc\td", '\t'));
        Assert.Equal(["a", "b", "c", "d"], tsv.Names);
        AssertColumn(tsv, 3, Rows.Select(r => r[3]));
        var txt = TableReader.Read(files.Csv("t.txt", Rows, null, '\t'));
        Assert.Equal(4, txt.Names.Count);
        AssertColumn(txt, 1, Rows.Select(r => r[1]));
    }

    [Fact]
    public void Csv_accepts_quoted_fields_crlf_and_blank_lines()
    {
        var table = TableReader.Read(files.Write("q.csv", "\"first col\",b\r\n1.5,\"2\"\r\n\r\n-3e2,4\r\n"));
        Assert.Equal(["first col", "b"], table.Names);
        AssertColumn(table, 0, [1.5, -300]);
        AssertColumn(table, 1, [2, 4]);
    }

    [Fact]
    public void Npy_written_here_reads_back_float64_2d_float32_1d_and_int32()
    {
        var values = Rows.SelectMany(r => r).ToArray();
        var f8 = TableReader.Read(files.WriteBytes("f8.npy", TestFiles.Npy("<f8", "(20, 4)", TestFiles.Float64(values))));
        Assert.Equal(4, f8.Names.Count);
        AssertColumn(f8, 1, Rows.Select(r => r[1]));
        var f4 = TableReader.Read(files.WriteBytes("f4.npy", TestFiles.Npy("<f4", "(20,)", TestFiles.Float32(Rows.Select(r => r[0])))));
        Assert.Single(f4.Names);
        AssertColumn(f4, 0, Rows.Select(r => r[0]), 1e-6);
        var ints = Enumerable.Range(-5, 10).SelectMany(BitConverter.GetBytes).ToArray();
        var i4 = TableReader.Read(files.WriteBytes("i4.npy", TestFiles.Npy("<i4", "(5, 2)", ints, major: 2)));
        AssertColumn(i4, 0, [-5, -3, -1, 1, 3]);
        AssertColumn(i4, 1, [-4, -2, 0, 2, 4]);
    }

    /// <summary>
    /// A file NumPy wrote: by python3's numpy when it is installed, else the bytes numpy.save writes for
    /// np.arange(6, dtype='&lt;f8').reshape(2, 3) (format 1.0, header padded to 128 bytes), assembled per the NPY spec.
    /// </summary>
    [Fact]
    public void Npy_written_by_numpy_reads_back()
    {
        var path = files.PathOf("numpy.npy");
        if (!TryNumpy(path))
        {
            const string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
            var bytes = new List<byte> { 0x93 };
            bytes.AddRange("NUMPY"u8.ToArray());
            bytes.AddRange([1, 0, 118, 0]); // version 1.0; header length 118 = 128 - 10, little-endian
            bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(header.PadRight(117) + "\n"));
            bytes.AddRange(TestFiles.Float64([0, 1, 2, 3, 4, 5]));
            Assert.Equal(128 + 48, bytes.Count);
            File.WriteAllBytes(path, bytes.ToArray());
        }
        var table = TableReader.Read(path);
        Assert.Equal(3, table.Names.Count);
        AssertColumn(table, 0, [0, 3]);
        AssertColumn(table, 2, [2, 5]);
    }

    private static bool TryNumpy(string path)
    {
        try
        {
            using var python = Process.Start(new ProcessStartInfo("python3", ["-c", $"import numpy; numpy.save({System.Text.Json.JsonSerializer.Serialize(path)}, numpy.arange(6, dtype='<f8').reshape(2, 3))"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            python.WaitForExit();
            return python.ExitCode == 0 && File.Exists(path);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    [Fact]
    public void Parquet_reads_numeric_columns_over_row_groups_and_lists_text_columns_as_unreadable()
    {
        var table = TableReader.Read(files.Parquet("p.parquet", Rows));
        Assert.Equal(["a", "b", "c", "d", "label"], table.Names);
        Assert.Equal(20, table.Rows);
        AssertColumn(table, 0, Rows.Select(r => r[0]));
        AssertColumn(table, 2, Enumerable.Range(0, 20).Select(i => (double)i));
        AssertColumn(table, 3, Rows.Select(r => r[2]), 1e-6);
        Assert.Null(table.Columns[4]);
        var error = Assert.Throws<BadInputException>(() => Variable.Load(ColumnSelection.Parse(table.Path + ":a,label"), new Dictionary<string, NumericTable>()));
        Assert.Contains("\"label\"", error.Message);
        Assert.Contains("holds text, not numbers", error.Message);
    }

    [Fact]
    public void Column_selection_takes_names_or_indices_in_the_order_given()
    {
        var path = files.Csv("s.csv", Rows, "age,income,score,other");
        var cache = new Dictionary<string, NumericTable>();
        var v = Variable.Load(ColumnSelection.Parse(path + ":score,age"), cache);
        Assert.Equal(["score", "age"], v.Names);
        Assert.Equal(Rows[5][2], v.Values[5, 0]);
        Assert.Equal(Rows[5][0], v.Values[5, 1]);
        var byIndex = Variable.Load(ColumnSelection.Parse(path + ":1"), cache);
        Assert.Equal(["income"], byIndex.Names);
        var all = Variable.Load(ColumnSelection.Parse(path), cache);
        Assert.Equal(4, all.Width);
        Assert.Single(cache); // one read per file
    }

    [Fact]
    public void A_path_that_exists_with_a_colon_is_a_file()
    {
        var path = files.Csv("odd:name.csv", Rows, null);
        Assert.Equal(path, ColumnSelection.Parse(path).Path);
        Assert.Equal(files.PathOf("data.csv"), ColumnSelection.Parse(files.PathOf("data.csv") + ":a,b").Path);
    }
}
