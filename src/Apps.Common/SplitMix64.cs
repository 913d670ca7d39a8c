namespace Decomp.Apps;

/// <summary>
/// A small, fully specified pseudo-random generator (SplitMix64, Steele et al. 2014), so that corpora and shuffles
/// are the same on every platform and .NET version for a given seed. The one seeded generator of Decomp's apps: its
/// bounded draws and permutations have no modulo bias.
/// </summary>
public sealed class SplitMix64
{
    private ulong _state;

    /// <summary>A generator seeded with <paramref name="seed"/>.</summary>
    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A generator for the stream (<paramref name="seed"/>, <paramref name="stream"/>): distinct streams of one seed do not overlap in practice.</summary>
    public static SplitMix64 ForStream(long seed, long stream) =>
        new(new SplitMix64((ulong)seed ^ 0x9E3779B97F4A7C15UL * (ulong)(stream + 1)).NextUInt64());

    /// <summary>The generator's state, to store in a checkpoint.</summary>
    public ulong State { get => _state; set => _state = value; }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => Mix(_state += Gamma);

    /// <summary>
    /// One SplitMix64 step as a hash of <paramref name="x"/>: the output of a generator whose state is <paramref name="x"/>.
    /// Chained, it derives independent seeds from (seed, stream, index) without carrying generator state.
    /// </summary>
    public static ulong Hash(ulong x) => Mix(x + Gamma);

    private const ulong Gamma = 0x9E3779B97F4A7C15UL;

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform integer in [0, <paramref name="count"/>), without modulo bias.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public int NextInt(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ulong bound = (ulong)count, limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong x;
        do x = NextUInt64(); while (x >= limit);
        return (int)(x % bound);
    }

    /// <summary>A uniform integer in [<paramref name="low"/>, <paramref name="high"/>] (both included).</summary>
    public int NextInt(int low, int high) => low + NextInt(high - low + 1);

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniformly chosen element of <paramref name="items"/>.</summary>
    public T Choose<T>(IReadOnlyList<T> items) => items[NextInt(items.Count)];

    /// <summary>A uniformly random permutation of 0..<paramref name="count"/>-1 (Fisher-Yates).</summary>
    public int[] Permutation(int count)
    {
        var p = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
