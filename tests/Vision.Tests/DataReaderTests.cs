using Decomp.Train.Vision.Data;
using SkiaSharp;
using Xunit;

namespace Decomp.Vision.Tests;

public class IdxReaderTests
{
    private static readonly string[] Classes = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImagesAndLabelsBackPlainOrGzipped(bool gzip)
    {
        using var temp = new TempFolder();
        var pixels = Enumerable.Range(0, 5 * 4 * 3).Select(i => (byte)(i * 3)).ToArray();
        var labels = new byte[] { 3, 0, 9, 1, 1 };
        byte[] Maybe(byte[] b) => gzip ? Fixtures.Gzip(b) : b;
        File.WriteAllBytes(temp.File("images"), Maybe(Fixtures.Idx(new[] { 5, 4, 3 }, pixels)));
        File.WriteAllBytes(temp.File("labels"), Maybe(Fixtures.Idx(new[] { 5 }, labels)));

        var data = IdxReader.ReadDataset(temp.File("images"), temp.File("labels"), Classes);

        Assert.Equal((5, 1, 4, 3), (data.Count, data.Channels, data.Height, data.Width));
        Assert.Equal(pixels, data.Pixels);
        Assert.Equal(new[] { 3, 0, 9, 1, 1 }, data.Labels);
    }

    [Fact]
    public void TruncatedDataIsAnErrorThatNamesTheFile()
    {
        using var temp = new TempFolder();
        var file = Fixtures.Idx(new[] { 10, 28, 28 }, new byte[10 * 28 * 28]);
        File.WriteAllBytes(temp.File("images"), file[..^100]);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(temp.File("images")));

        Assert.Contains(temp.File("images"), e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("7840 bytes", e.Message);
    }

    [Fact]
    public void TruncatedGzipIsAnErrorThatNamesTheFile()
    {
        using var temp = new TempFolder();
        var gz = Fixtures.Gzip(Fixtures.Idx(new[] { 50, 28, 28 }, Enumerable.Range(0, 50 * 784).Select(i => (byte)(i * 7 % 251)).ToArray()));
        File.WriteAllBytes(temp.File("images.gz"), gz[..(gz.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(temp.File("images.gz")));

        Assert.Contains(temp.File("images.gz"), e.Message);
    }

    [Fact]
    public void AFileThatIsNotIdxIsNamedAsSuch()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("notes.txt"), "hello, this is not an IDX file");

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(temp.File("notes.txt")));

        Assert.Contains(temp.File("notes.txt"), e.Message);
        Assert.Contains("not an IDX file", e.Message);
    }

    [Fact]
    public void TrailingBytesAreReportedAsCorruption()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.File("labels"), Fixtures.Idx(new[] { 3 }, new byte[] { 1, 2, 3, 4 }));

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(temp.File("labels")));

        Assert.Contains("1 bytes after", e.Message);
    }

    [Fact]
    public void ImagesAndLabelsMustAgreeInCount()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.File("images"), Fixtures.Idx(new[] { 4, 2, 2 }, new byte[16]));
        File.WriteAllBytes(temp.File("labels"), Fixtures.Idx(new[] { 3 }, new byte[3]));

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadDataset(temp.File("images"), temp.File("labels"), Classes));

        Assert.Contains(temp.File("images"), e.Message);
        Assert.Contains(temp.File("labels"), e.Message);
    }

    [Fact]
    public void ALabelOutsideTheClassesIsCorruption()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.File("images"), Fixtures.Idx(new[] { 2, 2, 2 }, new byte[8]));
        File.WriteAllBytes(temp.File("labels"), Fixtures.Idx(new[] { 2 }, new byte[] { 1, 12 }));

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadDataset(temp.File("images"), temp.File("labels"), Classes));

        Assert.Contains("label 1 is 12", e.Message);
    }
}

public class DatasetCatalogTests
{
    [Fact]
    public void LoadsFashionMnistFromAFolderOfGzippedIdxFiles()
    {
        using var temp = new TempFolder();
        Fixtures.WriteIdxDataset(temp.Path, 30, 20);

        var data = DatasetCatalog.Load(DatasetKind.FashionMnist, temp.Path, new ImageFolderOptions(32, 3, 0.2));

        Assert.Equal(30, data.Train.Count);
        Assert.Equal(20, data.Test.Count);
        Assert.Equal("Ankle boot", data.Train.ClassNames[9]);
    }

    [Fact]
    public void FindsTheDottedFileNamesOfSomeMirrors()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.File("train-images.idx3-ubyte"), new byte[1]);

        Assert.Equal(temp.File("train-images.idx3-ubyte"), DatasetCatalog.FindIdxFile(temp.Path, "train-images-idx3-ubyte"));
        Assert.Null(DatasetCatalog.FindIdxFile(temp.Path, "t10k-images-idx3-ubyte"));
    }

    [Fact]
    public void MissingFashionMnistSaysWhatToInstall()
    {
        using var temp = new TempFolder();

        var e = Assert.Throws<FileNotFoundException>(() => DatasetCatalog.Load(DatasetKind.FashionMnist, temp.Path, new ImageFolderOptions(32, 3, 0.2)));

        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("train-images-idx3-ubyte", e.Message);
        Assert.Contains(temp.Path, e.Message);
    }

    [Fact]
    public void MnistNeedsADataFolder()
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetCatalog.Load(DatasetKind.Mnist, null, new ImageFolderOptions(32, 3, 0.2)));

        Assert.Contains("--data-dir", e.Message);
    }
}

public class CifarReaderTests
{
    private static string WriteCifar(string root, Func<int, byte[]>? testBatch = null)
    {
        var folder = Path.Combine(root, "cifar-10-batches-bin");
        Directory.CreateDirectory(folder);
        for (var b = 0; b < 5; b++) File.WriteAllBytes(Path.Combine(folder, $"data_batch_{b + 1}.bin"), Fixtures.CifarRecords(4, 4 * b));
        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), testBatch?.Invoke(3) ?? Fixtures.CifarRecords(3, 100));
        File.WriteAllText(Path.Combine(folder, "batches.meta.txt"), string.Join("\n", "a b c d e f g h i j".Split(' ')) + "\n\n");
        return folder;
    }

    [Fact]
    public void ReadsRecordsAsRgbPlanesFromTheFolderOrItsParent()
    {
        using var temp = new TempFolder();
        WriteCifar(temp.Path);

        var data = CifarReader.Load(temp.Path);

        Assert.Equal(20, data.Train.Count);
        Assert.Equal(3, data.Test.Count);
        Assert.Equal((3, 32, 32), (data.Train.Channels, data.Train.Height, data.Train.Width));
        Assert.Equal("j", data.Train.ClassNames[9]);
        // Image 7 is in batch 2; its planes are filled with 7, 14, 21 and its label is 7.
        Assert.Equal(7, data.Train.Labels[7]);
        var image = data.Train.Pixels.AsSpan(7 * 3072, 3072);
        Assert.Equal((7, 14, 21), (image[0], image[1024], image[2048]));
        Assert.Equal(102, data.Test.Pixels[2 * 3072]);
    }

    [Fact]
    public void ATruncatedBatchIsAnErrorThatNamesIt()
    {
        using var temp = new TempFolder();
        var folder = WriteCifar(temp.Path, n => Fixtures.CifarRecords(n, 0)[..^10]);

        var e = Assert.Throws<InvalidDataException>(() => CifarReader.Load(folder));

        Assert.Contains(Path.Combine(folder, "test_batch.bin"), e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void ALabelOutsideTheTenClassesIsCorruption()
    {
        using var temp = new TempFolder();
        var folder = WriteCifar(temp.Path, n =>
        {
            var bytes = Fixtures.CifarRecords(n, 0);
            bytes[3073] = 42;
            return bytes;
        });

        var e = Assert.Throws<InvalidDataException>(() => CifarReader.Load(folder));

        Assert.Contains("record 1 has label 42", e.Message);
    }

    [Fact]
    public void AMissingFolderSaysWhatItExpects()
    {
        using var temp = new TempFolder();

        var e = Assert.Throws<FileNotFoundException>(() => CifarReader.Load(temp.Path));

        Assert.Contains("data_batch_1.bin", e.Message);
    }
}

public class ImageFolderReaderTests
{
    [Fact]
    public void SplitsEachClassAndDecodesColoursExactly()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 5; i++)
        {
            Fixtures.WriteImage(Path.Combine(temp.Path, "red", $"{i}.png"), 20, 30, new SKColor(200, 10, 30));
            Fixtures.WriteImage(Path.Combine(temp.Path, "blue", $"{i}.PNG"), 40, 40, new SKColor(0, 0, 250));
        }

        var data = ImageFolderReader.Load(temp.Path, new ImageFolderOptions(8, 3, 0.4));

        Assert.Equal(new[] { "blue", "red" }, data.Train.ClassNames);
        Assert.Equal(6, data.Train.Count);
        Assert.Equal(4, data.Test.Count);
        var red = Array.IndexOf(data.Train.Labels, 1);
        Assert.Equal((200, 10, 30), (data.Train.Pixels[red * 192], data.Train.Pixels[red * 192 + 64], data.Train.Pixels[red * 192 + 128]));
    }

    [Fact]
    public void UsesTrainAndTestSubfoldersAndConvertsToGrey()
    {
        using var temp = new TempFolder();
        foreach (var split in new[] { "train", "test" })
        {
            Fixtures.WriteImage(Path.Combine(temp.Path, split, "a", "x.jpg"), 16, 16, new SKColor(100, 100, 100), SKEncodedImageFormat.Jpeg);
            Fixtures.WriteImage(Path.Combine(temp.Path, split, "b", "y.png"), 16, 16, new SKColor(255, 0, 0));
        }

        var data = ImageFolderReader.Load(temp.Path, new ImageFolderOptions(8, 1, 0.5));

        Assert.Equal((2, 2, 1), (data.Train.Count, data.Test.Count, data.Train.Channels));
        // Luma of pure red is 0.299 * 255 = 76.2; JPEG keeps a flat grey within a couple of levels.
        Assert.Equal(76, data.Train.Pixels[64]);
        Assert.InRange(data.Train.Pixels[0], 97, 103);
    }

    [Fact]
    public void ACorruptImageIsAnErrorThatNamesTheFile()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 3; i++)
        {
            Fixtures.WriteImage(Path.Combine(temp.Path, "a", $"{i}.png"), 8, 8, SKColors.White);
            Fixtures.WriteImage(Path.Combine(temp.Path, "b", $"{i}.png"), 8, 8, SKColors.Black);
        }
        var broken = Path.Combine(temp.Path, "b", "broken.png");
        File.WriteAllBytes(broken, Enumerable.Range(0, 200).Select(i => (byte)(i * 31)).ToArray());

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Load(temp.Path, new ImageFolderOptions(8, 3, 0.3)));

        Assert.Contains(broken, e.Message);
    }

    [Fact]
    public void ATruncatedPngIsAnErrorThatNamesTheFile()
    {
        using var temp = new TempFolder();
        var path = temp.File("cut.png");
        Fixtures.WriteImage(path, 64, 64, SKColors.Orange);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..20]);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderReader.DecodeImage(path, 8, 3));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TrainAndTestMustHaveTheSameClasses()
    {
        using var temp = new TempFolder();
        foreach (var (split, cls) in new[] { ("train", "a"), ("train", "b"), ("test", "a"), ("test", "c") })
            Fixtures.WriteImage(Path.Combine(temp.Path, split, cls, "0.png"), 8, 8, SKColors.Gray);

        var e = Assert.Throws<InvalidDataException>(() => ImageFolderReader.Load(temp.Path, new ImageFolderOptions(8, 3, 0.5)));

        Assert.Contains("[a, b]", e.Message);
        Assert.Contains("[a, c]", e.Message);
    }
}
