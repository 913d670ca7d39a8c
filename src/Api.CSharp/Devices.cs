using TorchSharp;
using CoreDevice = Decomp.Core.Device;
using CoreNative = Decomp.Runtime.Native;

namespace Decomp;

/// <summary>
/// Where Decomp computes. <c>DECOMP_DEVICE</c> (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>) decides when set; otherwise
/// CUDA is used when TorchSharp reports it, else the CPU. <c>DECOMP_LIBTORCH</c> points Decomp at an existing libtorch
/// folder (for example a PyTorch install's <c>torch/lib</c>) before TorchSharp first loads.
/// </summary>
public static class Devices
{
    /// <summary>The name of the environment variable that overrides the automatic device choice.</summary>
    public const string DeviceVariable = CoreDevice.Variable;

    /// <summary>The name of the environment variable that points Decomp at an existing libtorch folder.</summary>
    public const string LibtorchVariable = CoreNative.LibtorchVariable;

    /// <summary>The device Decomp computes on in this process.</summary>
    /// <exception cref="InvalidOperationException"><c>DECOMP_DEVICE</c> asks for a device that is not there.</exception>
    public static torch.Device Current => CoreDevice.current();

    /// <summary>True when TorchSharp can reach a CUDA device.</summary>
    public static bool CudaAvailable => CoreDevice.cudaAvailable();

    /// <summary>Parses <c>auto</c> (<see cref="Current"/>), <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>, checking CUDA requests against what TorchSharp reports.</summary>
    /// <exception cref="ArgumentException"><paramref name="request"/> names no device.</exception>
    /// <exception cref="InvalidOperationException">CUDA is asked for and not available.</exception>
    public static torch.Device Parse(string request) => CoreDevice.parse(request);

    /// <summary>Prepares TorchSharp's native loading (honours <c>DECOMP_LIBTORCH</c>). Call before any direct TorchSharp use.</summary>
    public static void EnsureNativesLoaded() => CoreNative.ensureLoaded();

    /// <summary>
    /// Opts the process into CPU settings that make libtorch fast on Linux machines with few, shared cores: glibc's mmap
    /// threshold raised (large tensors stay in the heap instead of being mapped and unmapped every step) and
    /// <c>OMP_WAIT_POLICY=PASSIVE</c> (OpenMP threads sleep instead of spinning while they wait). Call it first thing in
    /// <c>Main</c>, before anything loads libtorch. Returns what was applied.
    /// </summary>
    public static string TuneCpuRuntime() => CoreNative.tuneCpuRuntime();

    /// <summary>What <see cref="TuneCpuRuntime"/> applied in this process ("none" before it ran or where nothing applies).</summary>
    public static string CpuTuning => CoreNative.cpuTuning();

    /// <summary>A one-line description of <paramref name="device"/> for logs.</summary>
    public static string Describe(torch.Device device) => CoreDevice.describe(device);
}
