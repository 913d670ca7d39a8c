using Decomp.Apps;
using TorchSharp;

namespace Decomp.Cli.CommandLine;

/// <summary>The device a <c>--device</c> value names, for every <c>decomp</c> command.</summary>
internal static class DeviceChoice
{
    /// <summary>
    /// Null for <c>auto</c> (the library then picks: <c>DECOMP_DEVICE</c>, else CUDA when available, else the CPU);
    /// otherwise the device, with libtorch's natives loaded. A device this machine lacks (cuda without a GPU) is bad input.
    /// </summary>
    /// <exception cref="BadInputException">The device is not available here; the message names <c>--device</c>.</exception>
    public static torch.Device? Resolve(string name)
    {
        torch.Device? device = null;
        if (name != "auto")
        {
            try
            {
                device = Devices.Parse(name);
            }
            catch (InvalidOperationException e)
            {
                throw new BadInputException($"--device {name}: {e.Message}", e);
            }
        }
        Devices.EnsureNativesLoaded();
        return device;
    }
}
