namespace Decomp.Cli.CommandLine;

/// <summary>What <c>decomp estimate</c> was asked to do, after parsing and validation.</summary>
internal sealed record EstimateOptions
{
    /// <summary>The defaults the command line documents (the library's, except where said).</summary>
    public static readonly EstimateOptions Defaults = new();

    /// <summary>X: FILE or FILE:COLUMNS.</summary>
    public string X { get; init; } = "";
    /// <summary>Y: FILE or FILE:COLUMNS.</summary>
    public string Y { get; init; } = "";
    /// <summary>Z for I(X; Y | Z); null for I(X; Y).</summary>
    public string? Z { get; init; }
    /// <summary>The bound.</summary>
    public MiEstimator Estimator { get; init; } = MiEstimator.InfoNce;
    /// <summary>The critic.</summary>
    public CriticArchitecture Critic { get; init; } = CriticArchitecture.Separable;
    /// <summary>The conditional route (only with Z).</summary>
    public ConditionalRoute? Route { get; init; }
    /// <summary>Rows per batch B.</summary>
    public int BatchSize { get; init; } = new EstimationOptions().BatchSize;
    /// <summary>The most training steps.</summary>
    public int MaxSteps { get; init; } = new EstimationOptions().MaxSteps;
    /// <summary>The seed of the split, the initialisation and the batches.</summary>
    public long Seed { get; init; } = new EstimationOptions().Seed;
    /// <summary>"auto", "cpu", "cuda" or "cuda:N".</summary>
    public string Device { get; init; } = "auto";
    /// <summary>CPU threads for libtorch; 0 leaves libtorch's default (one per core).</summary>
    public int Threads { get; init; }
    /// <summary>Print one JSON object on standard output instead of the table.</summary>
    public bool Json { get; init; }
    /// <summary>The folder for curve.png, estimate.md and estimate.json.</summary>
    public string Output { get; init; } = "decomp-estimate";
}
