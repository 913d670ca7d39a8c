using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>The facade's own checks (the F# core checks shapes, dtypes and devices) and the conversions it needs.</summary>
internal static class Guard
{
    public static Tensor NotNull(Tensor? tensor, string name)
    {
        if (tensor is null) throw new ArgumentNullException(name);
        return tensor;
    }

    /// <summary>Throws when a floating-point tensor holds NaN or infinity, as <see cref="DecompSettings.FiniteCheck"/> asks.</summary>
    public static void Finite(Tensor? tensor, string name)
    {
        NotNull(tensor, name);
        var policy = DecompSettings.FiniteCheck;
        if (policy == FiniteCheck.Never || !tensor!.is_floating_point()) return;
        if (policy == FiniteCheck.CpuOnly && tensor.device_type != DeviceType.CPU) return;
        using var scope = torch.NewDisposeScope();
        if (!torch.isfinite(tensor.detach()).all().item<bool>())
            throw new ArgumentException($"{name} contains NaN or infinite values (shape [{string.Join(", ", tensor.shape)}], dtype {tensor.dtype}, device {tensor.device}).", name);
    }

    public static void Finite(IEnumerable<(Tensor? Tensor, string Name)> tensors)
    {
        foreach (var (tensor, name) in tensors) Finite(tensor, name);
    }

    public static Tensor Reduce(Tensor perExample, Reduction reduction)
    {
        switch (reduction)
        {
            case Reduction.None:
                return perExample;
            case Reduction.Mean:
                using (perExample) return perExample.mean();
            case Reduction.Sum:
                using (perExample) return perExample.sum();
            default:
                perExample.Dispose();
                throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "reduction must be None, Mean or Sum.");
        }
    }

    public static void Positive(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0.");
    }

    public static Core.Similarity ToCore(Similarity similarity) => similarity switch
    {
        Similarity.Dot => Core.Similarity.Dot,
        Similarity.Cosine => Core.Similarity.Cosine,
        _ => throw new ArgumentOutOfRangeException(nameof(similarity), similarity, "similarity must be Dot or Cosine."),
    };

    /// <summary>The same error, naming the facade's parameter where the core's had another name.</summary>
    public static ArgumentException Renamed(ArgumentException e, string name)
    {
        var message = e.Message;
        var suffix = $" (Parameter '{e.ParamName}')";
        if (message.EndsWith(suffix, StringComparison.Ordinal)) message = message[..^suffix.Length];
        if (e.ParamName is not null) message = message.Replace(e.ParamName, name);
        return new ArgumentException(message, name, e);
    }

    /// <summary>A C# critic as the F# function the core takes.</summary>
    public static Microsoft.FSharp.Core.FSharpFunc<Tensor, Microsoft.FSharp.Core.FSharpFunc<Tensor, Tensor>> ToCore(Func<Tensor, Tensor, Tensor> critic, string name)
    {
        if (critic is null) throw new ArgumentNullException(name);
        return Microsoft.FSharp.Core.FuncConvert.FromFunc(critic);
    }
}
