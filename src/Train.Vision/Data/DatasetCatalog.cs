namespace Decomp.Train.Vision.Data;

/// <summary>The data sets the driver reads.</summary>
internal enum DatasetKind
{
    /// <summary>Fashion-MNIST (IDX files; Debian package dataset-fashion-mnist).</summary>
    FashionMnist,
    /// <summary>MNIST (IDX files).</summary>
    Mnist,
    /// <summary>CIFAR-10 (binary batches).</summary>
    Cifar10,
    /// <summary>A folder of PNG/JPEG images per class.</summary>
    Folder,
}

/// <summary>Finds and loads a data set, with messages that say what to install or pass when it is missing.</summary>
internal static class DatasetCatalog
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package puts the files.</summary>
    public const string DebianFashionMnist = "/usr/share/datasets/fashion-mnist";

    private static readonly string[] FashionClasses =
        { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
    private static readonly string[] DigitClasses = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();

    /// <summary>The folder used when no <c>--data-dir</c> is given, or null when the data set has none.</summary>
    public static string? DefaultDirectory(DatasetKind kind) => kind == DatasetKind.FashionMnist ? DebianFashionMnist : null;

    /// <summary>Loads <paramref name="kind"/> from <paramref name="directory"/> (or its default folder).</summary>
    public static DatasetSplit Load(DatasetKind kind, string? directory, ImageFolderOptions folderOptions)
    {
        var folder = directory ?? DefaultDirectory(kind)
            ?? throw new ArgumentException($"--data-dir is required for --dataset {CliName(kind)}.", nameof(directory));
        return kind switch
        {
            DatasetKind.FashionMnist or DatasetKind.Mnist => LoadIdx(kind, folder),
            DatasetKind.Cifar10 => Directory.Exists(folder)
                ? CifarReader.Load(folder)
                : throw new DirectoryNotFoundException($"The CIFAR-10 folder {folder} does not exist."),
            DatasetKind.Folder => ImageFolderReader.Load(folder, folderOptions),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown data set."),
        };
    }

    /// <summary>The command-line spelling of a data set.</summary>
    public static string CliName(DatasetKind kind) => kind switch
    {
        DatasetKind.FashionMnist => "fashion-mnist",
        DatasetKind.Mnist => "mnist",
        DatasetKind.Cifar10 => "cifar10",
        _ => "folder",
    };

    /// <summary>Finds <paramref name="stem"/> (e.g. train-images-idx3-ubyte) as the file itself, with '.' for the last '-', or gzipped.</summary>
    public static string? FindIdxFile(string folder, string stem)
    {
        // MNIST's own site names them train-images-idx3-ubyte; some mirrors use train-images.idx3-ubyte.
        var cut = stem.LastIndexOf('-', stem.LastIndexOf('-') - 1);
        var dotted = string.Concat(stem.AsSpan(0, cut), ".", stem.AsSpan(cut + 1));
        return new[] { stem, stem + ".gz", dotted, dotted + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);
    }

    private static DatasetSplit LoadIdx(DatasetKind kind, string folder)
    {
        var name = kind == DatasetKind.FashionMnist ? "Fashion-MNIST" : "MNIST";
        var stems = new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };
        var paths = stems.Select(s => FindIdxFile(folder, s)).ToArray();
        if (paths.Any(p => p is null))
        {
            var missing = string.Join(", ", stems.Where((_, i) => paths[i] is null).Select(s => s + "[.gz]"));
            var hint = kind == DatasetKind.FashionMnist
                ? $"On Debian or Ubuntu install it with `sudo apt-get install dataset-fashion-mnist` (files land in {DebianFashionMnist}), "
                  + "or run src/Train.Vision/setup-data.sh, or pass --data-dir with the four IDX files."
                : "Pass --data-dir with the four MNIST IDX files (train/t10k images and labels, plain or .gz).";
            throw new FileNotFoundException($"{name} was not found in {folder}: missing {missing}. {hint}");
        }
        var classes = kind == DatasetKind.FashionMnist ? FashionClasses : DigitClasses;
        var train = IdxReader.ReadDataset(paths[0]!, paths[1]!, classes);
        var test = IdxReader.ReadDataset(paths[2]!, paths[3]!, classes);
        if (train.Height != test.Height || train.Width != test.Width)
            throw new InvalidDataException($"{paths[0]} holds {train.Height}x{train.Width} images but {paths[2]} holds {test.Height}x{test.Width}.");
        return new DatasetSplit(train, test);
    }
}
