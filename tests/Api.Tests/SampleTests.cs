using System.Reflection;
using System.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Decomp.Tests;

public class SampleTests
{
    [Fact]
    public void TheTrainingStepSampleRunsAndTeachesTheEncoderTheSharedInformation()
    {
        torch.manual_seed(1);
        using var generator = new Generator(2);
        var encoder = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8));
        using var optimizer = optim.Adam(encoder.parameters(), 0.01);
        using var bank = new KeyQueue(capacity: 256, dimension: 8, device: torch.CPU, seed: 3);
        Tensor Noisy(Tensor t) => t + 0.3 * torch.randn(t.shape, generator: generator);
        using var mask = torch.cat(new[] { torch.ones(32, 8), torch.zeros(32, 8) }, 1);

        // In-batch InfoNCE between two noisy views of held-out data, per example, for the encoder as it is.
        using var heldOut = torch.randn(new long[] { 512, 16 }, generator: generator);
        using var viewA = Noisy(heldOut);
        using var viewB = Noisy(heldOut);
        (double Mean, double StandardError) Evaluate()
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var values = Bounds.InfoNce(encoder.forward(viewA), encoder.forward(viewB), 0.2, Similarity.Cosine, Reduction.None);
            return (values.mean().item<float>(), values.std().item<float>() / Math.Sqrt(values.shape[0]));
        }

        var before = Evaluate();
        var losses = new List<float>();
        var collector = new Decomp.Runtime.StepCollector();   // as the README's loops of your own
        for (var step = 0; step < 120; step++)
        {
            using (var scope = torch.NewDisposeScope())
            {
                var x = torch.randn(new long[] { 32, 16 }, generator: generator);
                losses.Add(TrainingStepSample.Step(encoder, optimizer, bank, Noisy(x), Noisy(x) * mask, Noisy(x)));
            }
            collector.AfterStep();
        }
        var after = Evaluate();

        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        var noise = 4 * Math.Sqrt(before.StandardError * before.StandardError + after.StandardError * after.StandardError);
        Assert.True(after.Mean > before.Mean + noise,
            $"held-out InfoNCE rose from {before.Mean:F3} to {after.Mean:F3} nats (4 standard errors: {noise:F3}; cap log 512 = {Math.Log(512):F3})");
    }
}

public class MemoryBankCheckpointTests
{
    [Fact]
    public void ABankSavedAndRestoredInAnotherInstanceContinuesExactlyLikeTheOriginal()
    {
        using var generator = new Generator(5);
        using var original = new KeyQueue(capacity: 10, dimension: 4, device: torch.CPU, seed: 1);
        for (var i = 0; i < 3; i++)
        {
            using var keys = torch.randn(new long[] { 4, 4 }, generator: generator);
            original.Enqueue(keys);
        }

        // The checkpoint as the KeyQueue.Restore example writes it.
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(original.Position);
            using var keys = original.Keys;
            using var onCpu = keys.cpu();
            onCpu.Save(writer);
        }
        stream.Position = 0;
        using var restored = new KeyQueue(capacity: 10, dimension: 4, device: torch.CPU, seed: 2);
        using (var reader = new BinaryReader(stream))
        {
            var position = reader.ReadInt32();
            using var saved = TensorExtensionMethods.Load(reader);
            restored.Restore(saved, position);
        }

        Assert.Equal(2, restored.Position); // 12 keys into 10 rows
        using var next = torch.randn(new long[] { 4, 4 }, generator: generator);
        original.Enqueue(next);
        restored.Enqueue(next);
        using var expected = original.Keys;
        using var actual = restored.Keys;
        Assert.True(expected.allclose(actual, 0, 0), "the same keys in the same rows after the next enqueue");
    }
}

/// <summary>The public C# surface: no F# type leaks into it, and it is listed in docs/csharp-api.txt.</summary>
public class PublicSurfaceTests
{
    private static readonly Assembly Facade = typeof(Bounds).Assembly;

    private static IEnumerable<Type> TypesIn(Type type)
    {
        if (type.IsGenericType)
            foreach (var argument in type.GetGenericArguments())
                foreach (var inner in TypesIn(argument)) yield return inner;
        if (type.HasElementType) foreach (var inner in TypesIn(type.GetElementType()!)) yield return inner;
        yield return type;
    }

    private static IEnumerable<(string Member, Type Type)> Signatures()
    {
        foreach (var type in Facade.GetExportedTypes())
        {
            if (type.BaseType is not null) yield return ($"{type.Name} : base", type.BaseType);
            foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                switch (member)
                {
                    case MethodInfo m:
                        yield return ($"{type.Name}.{m.Name} returns", m.ReturnType);
                        foreach (var p in m.GetParameters()) yield return ($"{type.Name}.{m.Name}({p.Name})", p.ParameterType);
                        break;
                    case PropertyInfo p:
                        yield return ($"{type.Name}.{p.Name}", p.PropertyType);
                        break;
                    case ConstructorInfo c:
                        foreach (var p in c.GetParameters()) yield return ($"{type.Name}..ctor({p.Name})", p.ParameterType);
                        break;
                    case FieldInfo f:
                        yield return ($"{type.Name}.{f.Name}", f.FieldType);
                        break;
                }
            }
        }
    }

    [Fact]
    public void NoFSharpTypeAppearsInThePublicSurface()
    {
        var leaks = Signatures()
            .SelectMany(s => TypesIn(s.Type).Select(t => (s.Member, t)))
            .Where(x => x.t.Namespace?.StartsWith("Microsoft.FSharp", StringComparison.Ordinal) == true || x.t.Assembly.GetName().Name == "Decomp.Core")
            .Select(x => $"{x.Member}: {x.t.FullName}")
            .ToList();
        Assert.True(leaks.Count == 0, "F# or core types in the C# surface:\n" + string.Join("\n", leaks));
    }

    /// <summary>
    /// The facade's public API as C# declarations, by PublicApiGenerator (the approval-test generator of Shouldly,
    /// Serilog and others): every public type and member with its parameters, their names and defaults, so a change to
    /// the API shows in the committed listing's diff.
    /// </summary>
    internal static string Listing() =>
        PublicApiGenerator.ApiGenerator.GeneratePublicApi(Facade, new PublicApiGenerator.ApiGeneratorOptions { IncludeAssemblyAttributes = false });

    [Fact]
    public void TheCommittedApiListingIsCurrent()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Decomp.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Decomp.sln not found above the test folder");
        var path = Path.Combine(root, "docs", "csharp-api.txt");
        var listing = Listing();
        if (Environment.GetEnvironmentVariable("DECOMP_UPDATE_API_LISTING") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, listing);
        }
        Assert.True(File.Exists(path), $"{path} is missing: run the tests once with DECOMP_UPDATE_API_LISTING=1");
        Assert.Equal(File.ReadAllText(path).ReplaceLineEndings(), listing.ReplaceLineEndings());
    }
}
