using System.Reflection;
using Microsoft.FSharp.Core;
using Xunit;

namespace Decomp.Tests;

/// <summary>
/// Core/facade parity: every public function of the core's bound modules has a counterpart in the C# facade, so F# and
/// C# users get the same library. A new bound in the core without a facade member fails here, with the name to add.
/// </summary>
public class ParityTests
{
    /// <summary>The core modules whose functions are bounds or estimators users call.</summary>
    private static readonly string[] BoundModules =
        ["Bounds", "Baselines", "Decomposition", "MiCoding", "MemoryBank", "Estimation"];

    /// <summary>Core functions whose facade counterpart has another name or lives on another type ("Type.Member").</summary>
    private static readonly Dictionary<string, string> Renamed = new()
    {
        ["Baselines.mine"] = "MineEstimator.Estimate",
        ["Baselines.mineState"] = "MineEstimator..ctor",
        ["Decomposition.decomposedInfoNce"] = "Bounds.Decomposed",
        ["Decomposition.decomposedInfoNceOverSubviews"] = "Bounds.Decomposed",
        ["Decomposition.decomposedInfoNceImportanceSampled"] = "Bounds.DecomposedImportanceSampled",
        ["Decomposition.cap"] = "Bounds.DecomposedCap",
        ["MiCoding.cap"] = "Bounds.DirectMiCodingCap",
        ["MiCoding.uniformMarginal"] = "SymbolMarginal.Uniform",
        ["MiCoding.marginalOf"] = "SymbolMarginal.FromProbabilities",
        ["MiCoding.updateMarginal"] = "SymbolMarginal.Update",
        ["MiCoding.marginalEntropy"] = "SymbolMarginal.Entropy",
        ["MemoryBank.decomposedLoss"] = "Bounds.MemoryBankLoss",
        ["Estimation.mutualInformation"] = "MutualInformation.Estimate",
        ["Estimation.conditionalMutualInformation"] = "ConditionalMutualInformation.Estimate",
        ["Estimation.interval"] = "MutualInformation.Interval",
        ["Estimation.mutualInformationBatched"] = "MutualInformation.EstimateBatched",
        ["Estimation.conditionalMutualInformationBatched"] = "ConditionalMutualInformation.EstimateBatched",
    };

    /// <summary>The public functions of the core's bound modules, as "Module.function".</summary>
    public static IEnumerable<string> CoreFunctions()
    {
        var core = typeof(Core.Bounds).Assembly;
        foreach (var module in core.GetExportedTypes())
        {
            var mapping = module.GetCustomAttribute<CompilationMappingAttribute>();
            if (mapping is null || (mapping.SourceConstructFlags & SourceConstructFlags.Module) == 0) continue;
            if (!BoundModules.Contains(module.Name)) continue;
            foreach (var method in module.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
                if (!method.IsSpecialName && method.GetCustomAttribute<CompilationSourceNameAttribute>()?.SourceName is { } name)
                    yield return $"{module.Name}.{name}";
                else if (!method.IsSpecialName)
                    yield return $"{module.Name}.{method.Name}";
        }
    }

    private static bool FacadeHas(string typeAndMember)
    {
        var dot = typeAndMember.IndexOf('.');
        var type = typeof(Bounds).Assembly.GetType("Decomp." + typeAndMember[..dot]);
        var member = typeAndMember[(dot + 1)..];
        if (type is null) return false;
        return member == ".ctor" ? type.GetConstructors().Length > 0 : type.GetMember(member, BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance).Length > 0;
    }

    [Fact]
    public void TheCoresBoundModulesAreFound()
    {
        var functions = CoreFunctions().ToList();
        Assert.Contains("Bounds.infoNce", functions);
        Assert.Contains("Baselines.nwj", functions);
        Assert.Contains("Estimation.mutualInformation", functions);
        Assert.True(functions.Count >= 30, $"found {functions.Count}: {string.Join(", ", functions)}");
    }

    [Fact]
    public void EveryPublicBoundOfTheCoreHasAFacadeCounterpart()
    {
        var missing = CoreFunctions()
            .Distinct()
            .Select(f => (Core: f, Facade: Renamed.TryGetValue(f, out var renamed) ? renamed : "Bounds." + char.ToUpperInvariant(f[(f.IndexOf('.') + 1)]) + f[(f.IndexOf('.') + 2)..]))
            .Where(pair => !FacadeHas(pair.Facade))
            .Select(pair => $"{pair.Core} (expected {pair.Facade})")
            .ToList();
        Assert.True(missing.Count == 0, "The facade lacks: " + string.Join("; ", missing) + ". Add them (see CONTRIBUTING.md) or map a renamed one in ParityTests.Renamed.");
    }

    [Fact]
    public void EveryRenamingPointsAtAMemberThatExists()
    {
        var known = CoreFunctions().ToHashSet();
        foreach (var (core, facade) in Renamed)
        {
            Assert.True(known.Contains(core), $"{core} is not a public function of the core any more; drop it from Renamed");
            Assert.True(FacadeHas(facade), $"{facade} does not exist");
        }
    }
}
