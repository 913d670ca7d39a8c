namespace Decomp.Train.Vision.Data;

/// <summary>
/// Reads CIFAR-10's binary distribution (<c>cifar-10-batches-bin</c>): each record is one label byte followed by
/// 3 x 32 x 32 bytes (red, green, blue planes). Training data is <c>data_batch_1.bin</c> to <c>data_batch_5.bin</c>, the
/// test split is <c>test_batch.bin</c>, class names come from <c>batches.meta.txt</c>.
/// </summary>
internal static class CifarReader
{
    /// <summary>Side of a CIFAR image.</summary>
    public const int Side = 32;
    private const int ImageBytes = 3 * Side * Side;
    private const int RecordBytes = 1 + ImageBytes;
    private static readonly string[] DefaultClassNames =
        { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" };

    /// <summary>Names of the training batch files.</summary>
    public static readonly string[] TrainFiles = Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray();
    /// <summary>Name of the test batch file.</summary>
    public const string TestFile = "test_batch.bin";

    /// <summary>
    /// Loads both splits from <paramref name="directory"/>, which is the <c>cifar-10-batches-bin</c> folder or a folder
    /// that contains it.
    /// </summary>
    public static DatasetSplit Load(string directory)
    {
        var folder = Resolve(directory);
        var classNames = ReadClassNames(folder);
        var train = ReadBatches(TrainFiles.Select(f => Path.Combine(folder, f)).ToArray(), classNames);
        var test = ReadBatches(new[] { Path.Combine(folder, TestFile) }, classNames);
        return new DatasetSplit(train, test);
    }

    /// <summary>Reads and concatenates batch files into one dataset.</summary>
    public static ImageDataset ReadBatches(IReadOnlyList<string> paths, IReadOnlyList<string> classNames)
    {
        var pixels = new List<byte[]>();
        var labels = new List<int>();
        foreach (var path in paths)
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0 || bytes.Length % RecordBytes != 0)
                throw new InvalidDataException(
                    $"{path} cannot be read: it is truncated or corrupt ({bytes.Length} bytes is not a whole number of {RecordBytes}-byte CIFAR-10 records).");
            for (var offset = 0; offset < bytes.Length; offset += RecordBytes)
            {
                int label = bytes[offset];
                if (label >= classNames.Count)
                    throw new InvalidDataException($"{path} cannot be read: record {offset / RecordBytes} has label {label}, outside the {classNames.Count} classes.");
                labels.Add(label);
                pixels.Add(bytes.AsSpan(offset + 1, ImageBytes).ToArray());
            }
        }
        var all = new byte[(long)pixels.Count * ImageBytes];
        for (var i = 0; i < pixels.Count; i++) Array.Copy(pixels[i], 0, all, (long)i * ImageBytes, ImageBytes);
        return new ImageDataset(string.Join(", ", paths), all, labels.ToArray(), 3, Side, Side, classNames);
    }

    private static string Resolve(string directory)
    {
        if (File.Exists(Path.Combine(directory, TestFile))) return directory;
        var nested = Path.Combine(directory, "cifar-10-batches-bin");
        if (File.Exists(Path.Combine(nested, TestFile))) return nested;
        throw new FileNotFoundException(
            $"CIFAR-10 was not found in {directory}: expected {string.Join(", ", TrainFiles)} and {TestFile} there or in its cifar-10-batches-bin folder "
            + "(the binary version of CIFAR-10, cifar-10-binary.tar.gz, unpacked).");
    }

    private static IReadOnlyList<string> ReadClassNames(string folder)
    {
        var meta = Path.Combine(folder, "batches.meta.txt");
        if (!File.Exists(meta)) return DefaultClassNames;
        var names = File.ReadAllLines(meta).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != DefaultClassNames.Length)
            throw new InvalidDataException($"{meta} cannot be read: it lists {names.Length} class names; CIFAR-10 has {DefaultClassNames.Length}.");
        return names;
    }
}
