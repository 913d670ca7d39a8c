using System.Runtime.ExceptionServices;
using SkiaSharp;

namespace Decomp.Train.Vision.Data;

/// <summary>How a folder of images per class becomes tensors.</summary>
/// <param name="ImageSize">Every image is centre-cropped to a square and resized to this side.</param>
/// <param name="Channels">1 (grey, by luma) or 3 (RGB).</param>
/// <param name="TestFraction">Share of each class held out for testing when the folder has no train/test subfolders.</param>
internal sealed record ImageFolderOptions(int ImageSize, int Channels, double TestFraction);

/// <summary>
/// Reads a user's images: <c>root/&lt;class&gt;/*.png|jpg|jpeg</c>, or <c>root/train/&lt;class&gt;/...</c> and
/// <c>root/test/&lt;class&gt;/...</c> when both exist. Class names are the folder names in ordinal order. A file that does not
/// decode is an <see cref="InvalidDataException"/> that names it.
/// </summary>
internal static class ImageFolderReader
{
    private static readonly string[] Extensions = { ".png", ".jpg", ".jpeg" };

    /// <summary>Loads the train and test splits. Without train/test subfolders, each class is split with a fixed seed.</summary>
    public static DatasetSplit Load(string root, ImageFolderOptions options)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"The image folder {root} does not exist.");
        if (options.ImageSize < 4) throw new ArgumentException($"--image-size must be at least 4; got {options.ImageSize}.", nameof(options));
        if (options.Channels is not (1 or 3)) throw new ArgumentException($"--channels must be 1 or 3; got {options.Channels}.", nameof(options));
        var trainRoot = Path.Combine(root, "train");
        var testRoot = Path.Combine(root, "test");
        if (Directory.Exists(trainRoot) && Directory.Exists(testRoot))
        {
            var classes = ClassFolders(trainRoot);
            var testClasses = ClassFolders(testRoot);
            if (!classes.SequenceEqual(testClasses, StringComparer.Ordinal))
                throw new InvalidDataException($"{trainRoot} has classes [{string.Join(", ", classes)}] but {testRoot} has [{string.Join(", ", testClasses)}].");
            return new DatasetSplit(ReadSplit(trainRoot, classes, options), ReadSplit(testRoot, classes, options));
        }
        if (options.TestFraction is <= 0 or >= 1)
            throw new ArgumentException($"--test-fraction must lie strictly between 0 and 1; got {options.TestFraction}.", nameof(options));
        var names = ClassFolders(root);
        var all = ReadSplit(root, names, options);
        var train = new List<int>();
        var test = new List<int>();
        for (var c = 0; c < names.Count; c++)
        {
            var members = Enumerable.Range(0, all.Count).Where(i => all.Labels[i] == c).ToArray();
            var order = Seeds.Permutation(members.Length, seed: c);
            var testCount = Math.Max(1, (int)Math.Round(members.Length * options.TestFraction));
            if (testCount >= members.Length)
                throw new InvalidDataException($"{Path.Combine(root, names[c])} has {members.Length} image(s); at least 2 are needed to hold one out for testing.");
            for (var k = 0; k < members.Length; k++) (k < testCount ? test : train).Add(members[order[k]]);
        }
        train.Sort();
        test.Sort();
        return new DatasetSplit(all.Select(train), all.Select(test));
    }

    /// <summary>Decodes one PNG/JPEG file to <paramref name="channels"/> x side x side bytes.</summary>
    public static byte[] DecodeImage(string path, int side, int channels)
    {
        using var decoded = SKBitmap.Decode(path)
            ?? throw new InvalidDataException($"{path} cannot be read: it is not a PNG or JPEG image, or it is truncated or corrupt.");
        var square = Math.Min(decoded.Width, decoded.Height);
        using var cropped = new SKBitmap(square, square, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using (var canvas = new SKCanvas(cropped))
        {
            var left = (decoded.Width - square) / 2;
            var top = (decoded.Height - square) / 2;
            canvas.DrawBitmap(decoded, new SKRect(left, top, left + square, top + square), new SKRect(0, 0, square, square));
        }
        using var resized = cropped.Resize(new SKImageInfo(side, side, SKColorType.Rgba8888, SKAlphaType.Unpremul),
                                           new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new InvalidDataException($"{path} cannot be resized to {side}x{side}.");
        var pixels = new byte[channels * side * side];
        for (var y = 0; y < side; y++)
        for (var x = 0; x < side; x++)
        {
            var color = resized.GetPixel(x, y);
            var i = y * side + x;
            if (channels == 1)
            {
                pixels[i] = (byte)Math.Round(0.299 * color.Red + 0.587 * color.Green + 0.114 * color.Blue);
            }
            else
            {
                pixels[i] = color.Red;
                pixels[side * side + i] = color.Green;
                pixels[2 * side * side + i] = color.Blue;
            }
        }
        return pixels;
    }

    private static IReadOnlyList<string> ClassFolders(string root)
    {
        var names = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.')).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        if (names.Length < 2) throw new InvalidDataException($"{root} must hold one folder of images per class, at least 2 classes; found {names.Length}.");
        return names;
    }

    private static ImageDataset ReadSplit(string root, IReadOnlyList<string> classes, ImageFolderOptions options)
    {
        var files = new List<(string Path, int Label)>();
        for (var c = 0; c < classes.Count; c++)
        {
            var folder = Path.Combine(root, classes[c]);
            var images = Directory.GetFiles(folder)
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .OrderBy(f => f, StringComparer.Ordinal).ToArray();
            if (images.Length == 0) throw new InvalidDataException($"{folder} holds no .png, .jpg or .jpeg files.");
            files.AddRange(images.Select(f => (f, c)));
        }
        var size = options.Channels * options.ImageSize * options.ImageSize;
        var pixels = new byte[(long)files.Count * size];
        try
        {
            Parallel.For(0, files.Count, i =>
            {
                var image = DecodeImage(files[i].Path, options.ImageSize, options.Channels);
                Array.Copy(image, 0, pixels, (long)i * size, size);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return new ImageDataset(root, pixels, files.Select(f => f.Label).ToArray(), options.Channels, options.ImageSize, options.ImageSize, classes);
    }
}
