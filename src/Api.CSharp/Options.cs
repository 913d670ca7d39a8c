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

/// <summary>When the facade scans input tensors for NaN and infinity before computing.</summary>
public enum FiniteCheck
{
    /// <summary>Never: fastest; a NaN input gives a NaN result.</summary>
    Never,
    /// <summary>For tensors on the CPU only, where the scan is cheap (the default). CUDA tensors are not scanned, because reading the answer back would synchronise the device on every call.</summary>
    CpuOnly,
    /// <summary>Always, on every device (synchronises CUDA on each call).</summary>
    Always,
}

/// <summary>Process-wide settings of the C# facade.</summary>
public static class DecompSettings
{
    /// <summary>Which inputs are scanned for NaN and infinity (an <see cref="ArgumentException"/> naming the argument is thrown when one is found). Default <see cref="FiniteCheck.CpuOnly"/>.</summary>
    public static FiniteCheck FiniteCheck { get; set; } = FiniteCheck.CpuOnly;
}
