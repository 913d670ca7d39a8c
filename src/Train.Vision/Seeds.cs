using Decomp.Apps;

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
        (long)(SplitMix64.Hash(SplitMix64.Hash(SplitMix64.Hash((ulong)seed) ^ (ulong)stream) ^ (ulong)index) >> 1);

    /// <summary>
    /// A uniformly random permutation of 0..n-1 (Fisher-Yates over the apps' <see cref="SplitMix64"/>, whose bounded draws
    /// have no modulo bias), the same on every platform and .NET version.
    /// </summary>
    public static int[] Permutation(int n, long seed) => new SplitMix64((ulong)seed).Permutation(n);
}
