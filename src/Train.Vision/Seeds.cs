namespace Decomp.Train.Vision;

/// <summary>The independent random streams of a run; each is derived from the run's seed and never shares state.</summary>
internal enum SeedStream
{
    /// <summary>Initial weights of the encoder.</summary>
    ModelInit = 1,
    /// <summary>The order of the training images in each epoch.</summary>
    EpochOrder = 2,
    /// <summary>The augmentations of each step.</summary>
    Augmentation = 3,
    /// <summary>The initial random keys of the MoCo queue.</summary>
    Queue = 4,
    /// <summary>Initial weights and batch order of the linear probe.</summary>
    Probe = 5,
}

/// <summary>
/// Deterministic seeds. Every random draw of a step comes from a generator seeded by (run seed, stream, step), so a resumed
/// run needs no generator state: step t draws the same numbers whether or not the process was restarted before it.
/// </summary>
internal static class Seeds
{
    /// <summary>A 63-bit seed for <paramref name="stream"/> at <paramref name="index"/> (a step, an epoch, ...).</summary>
    public static long Derive(long seed, SeedStream stream, long index = 0) =>
        (long)(SplitMix64(SplitMix64(SplitMix64((ulong)seed) ^ (ulong)stream) ^ (ulong)index) >> 1);

    /// <summary>A permutation of 0..n-1 (Fisher-Yates over SplitMix64), the same on every platform and .NET version.</summary>
    public static int[] Permutation(int n, long seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        var state = (ulong)seed;
        for (var i = n - 1; i > 0; i--)
        {
            state = SplitMix64(state);
            var j = (int)(state % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
