namespace Decomp;

/// <summary>How a bound's per-example values are combined into its result.</summary>
public enum Reduction
{
    /// <summary>The per-example values, shape <c>[batch]</c>.</summary>
    None,
    /// <summary>Their mean: the Monte-Carlo estimate of the bound (a scalar).</summary>
    Mean,
    /// <summary>Their sum (a scalar).</summary>
    Sum,
}

/// <summary>How a separable critic compares a query embedding with a key embedding.</summary>
public enum Similarity
{
    /// <summary><c>E(x, y) = f(x) · g(y) / temperature</c>.</summary>
    Dot,
    /// <summary><c>E(x, y) = cos(f(x), g(y)) / temperature</c>: the dot product of L2-normalised embeddings (SimCLR, MoCo).</summary>
    Cosine,
}

/// <summary>
/// When Decomp reads input values to check them: NaN and ±infinity in every floating-point input a result depends on,
/// and values outside a narrower domain (probabilities that are negative or do not sum to 1, importance weights).
/// </summary>
public enum FiniteCheck
{
    /// <summary>Never: fastest; a NaN input gives a NaN result.</summary>
    Never,
    /// <summary>For tensors on the CPU only, where the scan is cheap (the default). CUDA tensors are not scanned, because reading the answer back would synchronise the device on every call.</summary>
    CpuOnly,
    /// <summary>Always, on every device (synchronises CUDA once per checked input).</summary>
    Always,
}

/// <summary>Process-wide settings of Decomp, shared with the F# core (<c>Decomp.Core.Settings</c>): setting one here sets it for F# callers too.</summary>
public static class DecompSettings
{
    /// <summary>
    /// Which inputs have their values checked; a failed check throws an <see cref="ArgumentException"/> naming the argument.
    /// Default <see cref="FiniteCheck.CpuOnly"/>: a non-finite input on the CPU is never silent, and CUDA inputs are checked
    /// only under <see cref="FiniteCheck.Always"/>, because each check synchronises the device. A view of the core's
    /// <c>Settings.FiniteCheck</c>: the core is the one place that checks.
    /// </summary>
    public static FiniteCheck FiniteCheck
    {
        get
        {
            var core = Core.Settings.FiniteCheck;
            return core.IsNever ? FiniteCheck.Never : core.IsAlways ? FiniteCheck.Always : FiniteCheck.CpuOnly;
        }
        set => Core.Settings.FiniteCheck = value switch
        {
            FiniteCheck.Never => Core.FiniteCheck.Never,
            FiniteCheck.CpuOnly => Core.FiniteCheck.CpuOnly,
            FiniteCheck.Always => Core.FiniteCheck.Always,
            _ => throw new ArgumentOutOfRangeException(nameof(value), value, "FiniteCheck must be Never, CpuOnly or Always."),
        };
    }
}
