using TorchSharp;
using Xunit;

namespace Decomp.Tests;

public class DevicesTests
{
    [Fact]
    public void GradientFlowsThroughTorchSharpOnTheCurrentDevice()
    {
        var device = Devices.Current;
        using var x = torch.tensor(new[] { 1.0, 2.0, 3.0 }, device: device, requires_grad: true);
        using var y = (x * x).sum();
        y.backward();
        Assert.Equal(new[] { 2.0, 4.0, 6.0 }, x.grad!.cpu().data<double>().ToArray());
    }

    [Fact]
    public void ParseRejectsTextThatNamesNoDevice()
    {
        var e = Assert.Throws<ArgumentException>(() => Devices.Parse("tpu"));
        Assert.Equal("request", e.ParamName);
        Assert.Contains("cpu, cuda or cuda:N", e.Message);
    }

    [Fact]
    public void CpuTuningRaisesGlibcsMallocThresholdsOnLinux()
    {
        var applied = Devices.TuneCpuRuntime();
        Assert.Equal(applied, Devices.CpuTuning);
        if (OperatingSystem.IsLinux()) Assert.Contains("malloc mmap threshold 1 GB", applied);
    }
}
