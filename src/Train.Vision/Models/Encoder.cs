using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision.Models;

/// <summary>
/// The contrastive encoder: a backbone f (whose output is the representation that the linear probe and k-NN monitor
/// evaluate) followed by a projection head g (linear, batch norm, ReLU, linear) whose output the critic compares.
/// </summary>
internal sealed class Encoder : Module<Tensor, Tensor>
{
    private readonly Backbone backbone;
    private readonly Sequential head;

    public Encoder(Backbone backbone, int projectionDimension, Precision precision) : base(nameof(Encoder))
    {
        this.backbone = backbone;
        var features = backbone.FeatureDimension;
        head = Sequential(
            ("fc1", new MixedLinear(features, features, precision)),
            ("bn", BatchNorm1d(features)),
            ("relu", ReLU()),
            ("fc2", new MixedLinear(features, projectionDimension, precision)));
        ProjectionDimension = projectionDimension;
        RegisterComponents();
    }

    /// <summary>Size of the representation f(x).</summary>
    public int FeatureDimension => backbone.FeatureDimension;

    /// <summary>Size of the projection g(f(x)).</summary>
    public int ProjectionDimension { get; }

    /// <summary>g(f(x)), the embedding the critic sees.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return head.forward(backbone.forward(input)).MoveToOuterDisposeScope();
    }

    /// <summary>f(x), the representation that is evaluated.</summary>
    public Tensor Features(Tensor input) => backbone.forward(input);

    /// <summary>
    /// A new encoder of <paramref name="kind"/> for <paramref name="channels"/>-channel images on <paramref name="device"/>,
    /// its weights drawn from a generator seeded by <paramref name="seed"/>.
    /// </summary>
    public static Encoder Create(EncoderKind kind, int channels, int projectionDimension, Precision precision, long seed, Device device)
    {
        // Module constructors draw their initial weights from libtorch's global generator.
        manual_seed(seed);
        Backbone backbone = kind switch
        {
            EncoderKind.ResNet18 => new ResNet18Small(channels, precision),
            EncoderKind.SmallCnn => new SmallCnn(channels, precision),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown encoder."),
        };
        var encoder = new Encoder(backbone, projectionDimension, precision);
        encoder.to(device);
        return encoder;
    }

    /// <summary>MoCo's key-encoder update: theta_k = m theta_k + (1 - m) theta_q, parameter by parameter.</summary>
    public static void MomentumUpdate(Encoder online, Encoder target, double momentum)
    {
        using var noGrad = no_grad();
        foreach (var (source, destination) in online.parameters().Zip(target.parameters()))
            destination.mul_(momentum).add_(source, 1 - momentum);
    }

    /// <summary>Copies every parameter and buffer of <paramref name="source"/> into <paramref name="destination"/>.</summary>
    public static void CopyWeights(Encoder source, Encoder destination)
    {
        destination.load_state_dict(source.state_dict());
    }
}
