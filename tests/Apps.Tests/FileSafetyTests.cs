using System.Diagnostics;
using Xunit;

namespace Decomp.Apps.Tests;

/// <summary>A fresh folder, removed when disposed.</summary>
internal sealed class TemporaryFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("decomp-apps-tests-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

public class AtomicFileTests
{
    [Fact]
    public void AWriterThatFailsLeavesThePreviousFileAndNoTemporaryFile()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("runs.csv");
        AtomicFile.WriteAllText(path, "old\n");
        // What a full disk looks like to the writer: an IOException halfway through.
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("new, half"u8);
            throw new IOException("No space left on device");
        }));
        Assert.Contains(path, e.Message);
        Assert.Contains("No space left on device", e.Message);
        Assert.Equal("old\n", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void AWritePastTheFileSizeLimitIsReportedLikeAFullDisk()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("curves.csv");
        // What .NET throws for EFBIG (a write past RLIMIT_FSIZE); tests/Experiments.Tests provokes the real one.
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("half"u8);
            throw new ArgumentOutOfRangeException("value", "Specified file length was too large for the file system.");
        }));
        Assert.Contains(path, e.Message);
        Assert.Empty(Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void AWriteReplacesTheWholeFile()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("a/b/summary.md");
        AtomicFile.WriteAllLines(path, ["one", "two"]);
        AtomicFile.WriteAllLines(path, ["three"]);
        Assert.Equal("three\n", File.ReadAllText(path));
    }
}

public class RunFolderTests
{
    [Fact]
    public void ASecondOwnerIsRefusedWithTheFirstOwnersProcessIdUntilTheFirstLetsGo()
    {
        using var folder = new TemporaryFolder();
        var run = RunFolder.Acquire(folder.Path);
        var e = Assert.Throws<RunFolderInUseException>(() => RunFolder.Acquire(folder.Path));
        Assert.Equal(Environment.ProcessId, e.Owner);
        Assert.Contains($"in use by process {Environment.ProcessId}; use another --output", e.Message);
        run.Dispose();
        using var again = RunFolder.Acquire(folder.Path);
        Assert.Equal(folder.Path, again.Path);
    }

    [Fact]
    public void AnotherProcessIsRefusedWhileThisOneOwnsTheFolder()
    {
        using var folder = new TemporaryFolder();
        using var run = RunFolder.Acquire(folder.Path);
        // flock(1) from util-linux asks for the same advisory lock from a separate process, without waiting.
        var start = new ProcessStartInfo("flock", ["--nonblock", "--exclusive", folder.File(RunFolder.LockFileName), "true"]);
        using var other = Process.Start(start)!;
        other.WaitForExit();
        Assert.NotEqual(0, other.ExitCode);
    }

    [Fact]
    public void TemporaryFilesLeftByAKilledWriterAreRemovedWhenTheFolderIsTaken()
    {
        using var folder = new TemporaryFolder();
        var leftover = AtomicFile.TemporaryPathFor(folder.File("checkpoint.safetensors"));
        File.WriteAllText(leftover, "half a checkpoint");
        File.WriteAllText(folder.File("runs.csv"), "kept");
        using var run = RunFolder.Acquire(folder.Path);
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(folder.File("runs.csv")));
    }
}

public class VerifiedFileTests
{
    private static byte[] Content(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + 7)).ToArray();

    [Fact]
    public void WhatWasWrittenIsReadBack()
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.bin");
        var content = Content(10_000);
        VerifiedFile.Write(path, s => s.Write(content));
        Assert.Equal(content, VerifiedFile.ReadAllBytes(path));
    }

    public static TheoryData<string> Damage => new() { "flipped bit", "4 KiB of NaN", "cut tail", "empty", "foreign file" };

    [Theory]
    [MemberData(nameof(Damage))]
    public void ADamagedFileIsRefusedWithAMessageThatNamesIt(string damage)
    {
        using var folder = new TemporaryFolder();
        var path = folder.File("checkpoint.bin");
        VerifiedFile.Write(path, s => s.Write(Content(20_000)));
        var bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "flipped bit": bytes[1234] ^= 0x10; break;
            case "4 KiB of NaN":
                var nan = BitConverter.GetBytes(float.NaN);
                for (var i = 0; i < 4096; i++) bytes[8192 + i] = nan[i % 4];
                break;
            case "cut tail": bytes = bytes[..^600]; break;
            case "empty": bytes = []; break;
            case "foreign file": bytes = "true_mi,k,estimator\n"u8.ToArray(); break;
        }
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<BadInputException>(() => VerifiedFile.ReadAllBytes(path));
        Assert.StartsWith($"{path} is damaged: ", e.Message);
        Assert.Contains("to start over", e.Message);
    }
}
