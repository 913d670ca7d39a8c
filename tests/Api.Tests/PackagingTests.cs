using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Core = Decomp.Core;

namespace Decomp.Tests;

/// <summary>
/// The packages as shipped: `dotnet pack` the libraries (Decomp.Core, Decomp.Distributed, Decomp) into a local folder, build a fresh C# console app that references
/// only those packages (and TorchSharp-cpu for natives), run it, and compare its numbers with the F# core in this process.
/// </summary>
public class PackagingTests(ITestOutputHelper output)
{
    private static string RepositoryRoot()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Decomp.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Decomp.sln not found");
        return root;
    }

    private string Run(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        var text = stdout.Result + stderr.Result;
        output.WriteLine($"$ dotnet {string.Join(' ', arguments)}\n{text}");
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} failed with {process.ExitCode}:\n{text}");
        return stdout.Result;
    }

    private const string Program = """
        using Decomp;
        using TorchSharp;
        var scores = torch.arange(24, dtype: torch.float64).reshape(4, 6).sin() * 3;
        var proposal = torch.arange(24, dtype: torch.float64).reshape(4, 6).cos() * 2;
        Console.WriteLine(Bounds.ConditionalInfoNce(scores).item<double>().ToString("R"));
        Console.WriteLine(Bounds.ImportanceSampledConditionalInfoNce(scores, proposal).item<double>().ToString("R"));
        """;

    [Fact]
    [Trait("Category", "Packaging")]
    public void AConsoleAppThatReferencesOnlyThePackedPackagesGetsTheCoresNumbers()
    {
        var root = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("decomp-packaging-");
        try
        {
            // A unique version, so that no earlier build of the packages can be served from the NuGet cache.
            var version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
            var feed = Path.Combine(work.FullName, "feed");
            foreach (var project in new[] { "src/Runtime.FSharp/Decomp.Runtime.fsproj", "src/Core.FSharp/Decomp.Core.fsproj", "src/Distributed/Decomp.Distributed.fsproj", "src/Api.CSharp/Decomp.csproj" })
                Run(root, "pack", Path.Combine(root, project), "-c", "Release", "--no-build", $"-p:PackageVersion={version}", "-o", feed);

            var app = Directory.CreateDirectory(Path.Combine(work.FullName, "app")).FullName;
            File.WriteAllText(Path.Combine(app, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Decomp" Version="{version}" />
                    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), Program);
            Run(app, "build", "-c", "Release", "-nologo", "-v", "q");
            var printed = Run(app, "run", "-c", "Release", "--no-build").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

            using var scope = torch.NewDisposeScope();
            var scores = torch.arange(24, dtype: ScalarType.Float64).reshape(4, 6).sin() * 3;
            var proposal = torch.arange(24, dtype: ScalarType.Float64).reshape(4, 6).cos() * 2;
            var expected = new[]
            {
                Core.Bounds.conditionalInfoNce(scores).mean().item<double>(),
                Core.Bounds.importanceSampledConditionalInfoNce(scores, proposal).mean().item<double>(),
            };
            Assert.Equal(2, printed.Length);
            for (var i = 0; i < 2; i++)
                Assert.Equal(expected[i], double.Parse(printed[i], CultureInfo.InvariantCulture), 12);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
