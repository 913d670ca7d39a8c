using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision.Models;

/// <summary>Arithmetic of the convolutions and linear layers.</summary>
internal enum Precision
{
    /// <summary>Everything in float32.</summary>
    Float32,

    /// <summary>
    /// Mixed precision: convolutions and linear layers compute in bfloat16 from float32 master weights (the weights are
    /// cast in the forward pass, so gradients and optimiser state stay float32); batch norm and the loss stay float32.
    /// bfloat16 has float32's exponent range, so no loss scaling is needed.
    /// </summary>
    BFloat16,
}

/// <summary>A bias-free convolution followed by batch normalisation, with <c>padding = kernel / 2</c>.</summary>
internal sealed class ConvBatchNorm : Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d norm;
    private readonly long stride;
    private readonly long padding;
    private readonly Precision precision;

    public ConvBatchNorm(long inputChannels, long outputChannels, long kernelSize, long stride, Precision precision) : base(nameof(ConvBatchNorm))
    {
        this.stride = stride;
        padding = kernelSize / 2;
        this.precision = precision;
        conv = Conv2d(inputChannels, outputChannels, kernelSize, stride: stride, padding: padding, bias: false);
        norm = BatchNorm2d(outputChannels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (precision == Precision.Float32) return norm.forward(conv.forward(input));
        using var scope = NewDisposeScope();
        var output = functional.conv2d(input.to(ScalarType.BFloat16), conv.weight!.to(ScalarType.BFloat16), null,
                                       strides: new[] { stride, stride }, padding: new[] { padding, padding });
        return norm.forward(output.to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }
}

/// <summary>A linear layer that honours <see cref="Precision"/>.</summary>
internal sealed class MixedLinear : Module<Tensor, Tensor>
{
    private readonly Linear linear;
    private readonly Precision precision;

    public MixedLinear(long inputSize, long outputSize, Precision precision) : base(nameof(MixedLinear))
    {
        this.precision = precision;
        linear = Linear(inputSize, outputSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (precision == Precision.Float32) return linear.forward(input);
        using var scope = NewDisposeScope();
        var output = functional.linear(input.to(ScalarType.BFloat16), linear.weight!.to(ScalarType.BFloat16), linear.bias!.to(ScalarType.BFloat16));
        return output.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
