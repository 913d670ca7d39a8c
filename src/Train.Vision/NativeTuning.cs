using System.Runtime.InteropServices;

namespace Decomp.Train.Vision;

/// <summary>
/// Process settings that make libtorch's CPU path fast on Linux; both are applied before libtorch loads and both leave a
/// user's own choice alone. Measured on this project's 2-core machine (Fashion-MNIST, MoCo step of the small CNN,
/// batch 256, other processes sharing the cores):
/// <list type="bullet">
/// <item>glibc's malloc serves blocks above its mmap threshold (at most 32 MB) with a fresh mmap and unmaps them when
/// freed, so every large activation faults in zeroed pages at every step: 0.99 s of CPU time per step (0.30 s of it in
/// the kernel) with the default, 0.49 s (0.02 s) with the threshold raised; feature extraction in batches of 500 took
/// 22 s against 3 s.</item>
/// <item>OpenMP threads spin while they wait for each other; when the cores are shared, a spinning thread holds a core
/// its partner needs: 45 images/s with two threads against 516 with <c>OMP_WAIT_POLICY=PASSIVE</c>.</item>
/// </list>
/// </summary>
internal static class NativeTuning
{
    private const int MmapThreshold = -3;
    private const int TrimThreshold = -1;
    private const int OneGigabyte = 1 << 30;
    private const string WaitPolicy = "OMP_WAIT_POLICY";

    /// <summary>What <see cref="Apply"/> set in this process, for the run's banner ("none" before or where nothing applies).</summary>
    public static string Applied { get; private set; } = "none";

    /// <summary>Applies both settings where they exist.</summary>
    public static void Apply()
    {
        var applied = new List<string>();
        if (KeepLargeBlocksInTheHeap()) applied.Add("malloc mmap threshold 1 GB");
        if (PreferPassiveThreadWaiting()) applied.Add($"{WaitPolicy}=PASSIVE");
        Applied = applied.Count == 0 ? "none" : string.Join(", ", applied);
    }

    /// <summary>Raises glibc's mmap and trim thresholds to 1 GB; false where the C library is not glibc.</summary>
    public static bool KeepLargeBlocksInTheHeap()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return mallopt(MmapThreshold, OneGigabyte) == 1 && mallopt(TrimThreshold, OneGigabyte) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false; // musl and other C libraries have no such thresholds
        }
    }

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment (where libtorch's OpenMP reads it when it loads)
    /// unless it is already set. .NET's Environment.SetEnvironmentVariable does not reach native code on Unix.
    /// </summary>
    public static bool PreferPassiveThreadWaiting()
    {
        if (OperatingSystem.IsWindows() || Environment.GetEnvironmentVariable(WaitPolicy) is not null) return false;
        try
        {
            return setenv(WaitPolicy, "PASSIVE", 0) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
