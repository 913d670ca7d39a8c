using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision.Models;

/// <summary>The encoder architectures.</summary>
internal enum EncoderKind
{
    /// <summary>ResNet-18 for small images: 3x3 stride-1 first convolution and no max-pool (the paper's CIFAR-10 set-up); 512 features.</summary>
    ResNet18,

    /// <summary>Four 3x3 conv-BN-ReLU layers (32, 64, 128, 256 channels; strides 1, 2, 2, 2) and global pooling; 256 features, cheap enough for CPU runs.</summary>
    SmallCnn,
}

/// <summary>An image encoder f: [B, C, H, W] -> [B, FeatureDimension] for any H, W (global average pooling at the end).</summary>
internal abstract class Backbone : Module<Tensor, Tensor>
{
    protected Backbone(string name) : base(name) { }

    /// <summary>Size of the representation.</summary>
    public abstract int FeatureDimension { get; }

    protected static Tensor Pool(Tensor x) => functional.adaptive_avg_pool2d(x, new long[] { 1, 1 }).flatten(1);
}

/// <summary>A ResNet basic block: two 3x3 conv-BN layers with a (projected when the shape changes) shortcut.</summary>
internal sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly ConvBatchNorm first;
    private readonly ConvBatchNorm second;
    private readonly Module<Tensor, Tensor> shortcut;

    public BasicBlock(long inputChannels, long outputChannels, long stride, Precision precision) : base(nameof(BasicBlock))
    {
        first = new ConvBatchNorm(inputChannels, outputChannels, 3, stride, precision);
        second = new ConvBatchNorm(outputChannels, outputChannels, 3, 1, precision);
        shortcut = stride != 1 || inputChannels != outputChannels
            ? new ConvBatchNorm(inputChannels, outputChannels, 1, stride, precision)
            : Identity();
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var residual = second.forward(functional.relu(first.forward(input)));
        return functional.relu(residual + shortcut.forward(input)).MoveToOuterDisposeScope();
    }
}

/// <summary>ResNet-18 adapted to 28-32 pixel images (3x3 stride-1 stem, no max-pool), as in SimCLR's CIFAR-10 set-up.</summary>
internal sealed class ResNet18Small : Backbone
{
    private readonly ConvBatchNorm stem;
    private readonly Sequential layers;

    public ResNet18Small(int channels, Precision precision) : base(nameof(ResNet18Small))
    {
        stem = new ConvBatchNorm(channels, 64, 3, 1, precision);
        var blocks = new List<(string, Module<Tensor, Tensor>)>();
        long width = 64;
        foreach (var (stage, outputWidth, stride) in new[] { (1, 64L, 1L), (2, 128L, 2L), (3, 256L, 2L), (4, 512L, 2L) })
        {
            blocks.Add(($"layer{stage}_0", new BasicBlock(width, outputWidth, stride, precision)));
            blocks.Add(($"layer{stage}_1", new BasicBlock(outputWidth, outputWidth, 1, precision)));
            width = outputWidth;
        }
        layers = Sequential(blocks);
        RegisterComponents();
    }

    public override int FeatureDimension => 512;

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return Pool(layers.forward(functional.relu(stem.forward(input)))).MoveToOuterDisposeScope();
    }
}

/// <summary>A small convolutional encoder for CPU runs.</summary>
internal sealed class SmallCnn : Backbone
{
    private readonly Sequential layers;

    public SmallCnn(int channels, Precision precision) : base(nameof(SmallCnn))
    {
        var spec = new[] { (channels, 32, 1), (32, 64, 2), (64, 128, 2), (128, 256, 2) };
        var modules = new List<(string, Module<Tensor, Tensor>)>();
        for (var i = 0; i < spec.Length; i++)
        {
            modules.Add(($"conv{i}", new ConvBatchNorm(spec[i].Item1, spec[i].Item2, 3, spec[i].Item3, precision)));
            modules.Add(($"relu{i}", ReLU()));
        }
        layers = Sequential(modules);
        RegisterComponents();
    }

    public override int FeatureDimension => 256;

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return Pool(layers.forward(input)).MoveToOuterDisposeScope();
    }
}
