using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// The conversions the facade needs. It checks nothing of a tensor itself: the F# core is the single validator (null,
/// disposed, shape, dtype, device, and the values as <see cref="DecompSettings.FiniteCheck"/> says), and its errors
/// name the same parameters the facade's methods have (docs/glossary.md): nothing is renamed here.
/// </summary>
internal static class Guard
{

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

    /// <summary>A C# critic as the F# function the core takes.</summary>
    public static Microsoft.FSharp.Core.FSharpFunc<Tensor, Microsoft.FSharp.Core.FSharpFunc<Tensor, Tensor>> ToCore(Func<Tensor, Tensor, Tensor> critic, string name)
    {
        if (critic is null) throw new ArgumentNullException(name);
        return Microsoft.FSharp.Core.FuncConvert.FromFunc(critic);
    }
}
