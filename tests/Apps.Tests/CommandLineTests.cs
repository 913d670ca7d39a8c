using System.CommandLine;
using System.Text.Json.Serialization;
using Xunit;

namespace Decomp.Apps.Tests;

public class CommandLineHostTests
{
    private static (int Code, string Output, string Error) Run(Command root, params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = CommandLineHost.Run(root, args, output, error, "app --help");
        return (code, output.ToString(), error.ToString());
    }

    private static RootCommand Throwing(Exception e)
    {
        var root = new RootCommand("test") { CommonOptions.Threads() };
        root.SetAction((Func<ParseResult, int>)(_ => throw e));
        return root;
    }

    [Fact]
    public void BadUsageIsOneLineThatNamesTheHelpAndExitsTwo()
    {
        var (code, output, error) = Run(Throwing(new InvalidOperationException()), "--threads", "-3");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", output);
        Assert.Equal("error: --threads must be 0 (libtorch's choice) or more, not -3. Run 'app --help' to see the options." + Environment.NewLine, error);
    }

    public static TheoryData<Exception, int> Failures => new()
    {
        { new ArgumentException("--lambda must lie in [0, 1]", "--lambda"), ExitCodes.BadInput },
        { new BadInputException("checkpoint.safetensors is damaged"), ExitCodes.BadInput },
        { new FileNotFoundException("train-images-idx3-ubyte.gz is missing"), ExitCodes.BadInput },
        { new DirectoryNotFoundException("no such folder"), ExitCodes.BadInput },
        { new InvalidDataException("labels file is truncated"), ExitCodes.BadInput },
        { new IOException("No space left on device"), ExitCodes.Failure },
        { new InvalidOperationException("the loss is NaN"), ExitCodes.Failure },
        { new NullReferenceException(), ExitCodes.Failure },
        { new OperationCanceledException(), ExitCodes.Interrupted },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void EachFailureHasOneExitCodeAndAtMostOneLine(Exception failure, int expected)
    {
        var (code, _, error) = Run(Throwing(failure));

        Assert.Equal(expected, code);
        Assert.Equal(expected == ExitCodes.Interrupted ? 0 : 1, error.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain("   at ", error); // no stack trace
    }

    [Fact]
    public void AnArgumentErrorLosesDotNetsParameterSuffix()
    {
        var (_, _, error) = Run(Throwing(new ArgumentException("--lambda must lie in [0, 1]", "--lambda")));

        Assert.Equal("error: --lambda must lie in [0, 1]" + Environment.NewLine, error);
    }

    [Fact]
    public void AnUnexpectedFailureNamesItsTypeAndHowToSeeTheTrace()
    {
        var (_, _, error) = Run(Throwing(new NullReferenceException("boom\nsecond line")));

        Assert.Equal("error: NullReferenceException: boom second line (set DECOMP_DEBUG=1 for the stack trace)" + Environment.NewLine, error);
    }
}

public class CommonOptionsTests
{
    private static ParseResult Parse(Option option, params string[] args) => new RootCommand { option }.Parse(args);

    [Theory]
    [InlineData("auto", "auto")]
    [InlineData("AUTO", "AUTO")]
    [InlineData("cpu", "cpu")]
    [InlineData("cuda", "cuda")]
    [InlineData("cuda:3", "cuda:3")]
    public void DeviceAcceptsTheDocumentedSpellings(string given, string? expected)
    {
        var device = CommonOptions.Device();
        var result = Parse(device, "--device", given);

        Assert.Empty(result.Errors);
        Assert.Equal(expected, result.GetValue(device));
    }

    [Fact]
    public void DeviceLeftOutIsAuto()
    {
        var device = CommonOptions.Device();
        Assert.Null(Parse(device).GetValue(device));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:x")]
    public void DeviceRejectsOtherTextNamingTheChoices(string given)
    {
        var result = Parse(CommonOptions.Device(), "--device", given);

        var error = Assert.Single(result.Errors);
        Assert.Equal($"--device must be auto, cpu, cuda or cuda:N, not '{given}'.", error.Message);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("NaN")]
    public void ABudgetBelowZeroOrNotANumberIsRefused(string given)
    {
        var result = Parse(CommonOptions.BudgetMinutes("Training stops."), "--budget-minutes", given);

        Assert.Contains("--budget-minutes must be 0 (no budget) or more", Assert.Single(result.Errors).Message);
    }

    [Fact]
    public void EverySharedOptionHasItsOneName()
    {
        Assert.Equal(
            ["--output", "--device", "--threads", "--seed", "--resume", "--budget-minutes"],
            new Option[] { CommonOptions.Output("x"), CommonOptions.Device(), CommonOptions.Threads(), CommonOptions.Seed(1, "x"), CommonOptions.Resume(), CommonOptions.BudgetMinutes("x") }
                .Select(o => o.Name));
    }
}

public class ResumePolicyTests
{
    private sealed record Options
    {
        public double Lambda { get; init; } = 0.5;
        public int BatchSize { get; init; } = 64;
        [Operational] public int Threads { get; init; }
        [Operational] public string? Output { get; init; }
        [JsonIgnore] public double DoubleLambda => 2 * Lambda;
    }

    private static readonly IReadOnlySet<string> All = typeof(Options).GetProperties().Select(p => p.Name).ToHashSet();

    [Fact]
    public void OnlyMarkedPropertiesAreOperational() =>
        Assert.Equal(new HashSet<string> { "Threads", "Output" }, ResumePolicy.OperationalProperties<Options>());

    [Fact]
    public void AGivenResultAffectingDifferenceIsAConflictWithBothValues()
    {
        var conflicts = ResumePolicy.Conflicts(new Options(), new Options { Lambda = 0.7, Threads = 8, Output = "elsewhere" }, All);

        // Threads and Output are operational; DoubleLambda is derived from Lambda and not stored.
        Assert.Equal([("Lambda", "0.5", "0.7")], conflicts);
    }

    [Fact]
    public void AnOptionNotGivenIsNoConflict() =>
        Assert.Empty(ResumePolicy.Conflicts(new Options(), new Options { BatchSize = 32 }, new HashSet<string> { "Lambda" }));

    [Fact]
    public void TheRefusalNamesEachFlagWithBothValues()
    {
        var e = ResumePolicy.Refused([("Lambda", "0.5", "0.7"), ("BatchSize", "64", "32")], p => "--" + p.ToLowerInvariant());

        Assert.Equal("--resume", e.ParamName);
        Assert.StartsWith("--resume: the checkpointed run was made with different options: --lambda was 0.5, now 0.7; --batchsize was 64, now 32. ", e.Message);
    }

    [Fact]
    public void ResumingWithoutACheckpointNamesTheFileAndFolder()
    {
        var path = Path.Combine(Path.GetTempPath(), "run-7", "checkpoint.safetensors");
        var e = ResumePolicy.NoCheckpoint(path);

        Assert.Equal("--resume", e.ParamName);
        Assert.Contains($"there is no checkpoint (checkpoint.safetensors) in {Path.GetDirectoryName(path)}", e.Message);
    }
}

public class SplitMix64Tests
{
    // The inverse of SplitMix64's output mix, so that a test can put the generator where a given output comes next.
    private static ulong Unmix(ulong z)
    {
        static ulong UnXorShift(ulong y, int k)
        {
            var x = y;
            for (var i = 0; i < 64 / k + 1; i++) x = y ^ (x >> k);
            return x;
        }
        static ulong Inverse(ulong c)
        {
            var inverse = c; // Newton's iteration doubles the correct low bits each time: 3, 6, 12, 24, 48, 96
            for (var i = 0; i < 5; i++) inverse *= 2 - c * inverse;
            return inverse;
        }
        z = UnXorShift(z, 31);
        z *= Inverse(0x94D049BB133111EBUL);
        z = UnXorShift(z, 27);
        z *= Inverse(0xBF58476D1CE4E5B9UL);
        return UnXorShift(z, 30);
    }

    private static SplitMix64 Before(ulong output) => new(Unmix(output) - 0x9E3779B97F4A7C15UL);

    [Fact]
    public void TheTestCanPlaceAnOutput() => Assert.Equal(123456789UL, Before(123456789UL).NextUInt64());

    [Fact]
    public void ADrawInTheIncompleteLastBlockIsRejectedNotFolded()
    {
        // For a bound of 3, 2^64 - 1 is the one value past the last whole block of 3 (2^64 - 1 = 0 mod 3): folding it
        // (x % 3 = 0) would favour 0. The generator must draw again and answer from the next value instead.
        var generator = Before(ulong.MaxValue);
        var next = new SplitMix64(generator.State);
        next.NextUInt64();
        var expected = (int)(next.NextUInt64() % 3);

        Assert.Equal(expected, generator.NextInt(3));
        Assert.Equal(next.State, generator.State); // exactly two draws
    }

    [Fact]
    public void APermutationHoldsEveryIndexOnce()
    {
        var p = new SplitMix64(17).Permutation(1000);
        Assert.Equal(Enumerable.Range(0, 1000), p.Order());
        Assert.NotEqual(Enumerable.Range(0, 1000), p);
    }
}
