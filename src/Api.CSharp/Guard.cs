using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// The conversions the facade needs. It checks nothing of a tensor itself: the F# core is the single validator (null,
/// disposed, shape, dtype, device, and the values as <see cref="DecompSettings.FiniteCheck"/> says), and its errors
/// name the same parameters the facade's methods have, or are renamed here where the names differ.
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

    /// <summary>The same error, naming the facade's parameter where the core's had another name.</summary>
    public static ArgumentException Renamed(ArgumentException e, string name) =>
        Renamed(e, new[] { (e.ParamName ?? name, name) });

    /// <summary>
    /// The same error with every core name in <paramref name="names"/> replaced by the facade's, in its message and its
    /// ParamName (whole words only, so a short core name such as <c>y</c> is not replaced inside other words). Keeps the
    /// exception's type.
    /// </summary>
    private static ArgumentException Renamed(ArgumentException e, (string Core, string Facade)[] names)
    {
        var message = e.Message;
        var suffix = $" (Parameter '{e.ParamName}')";
        if (message.EndsWith(suffix, StringComparison.Ordinal)) message = message[..^suffix.Length];
        foreach (var (core, facade) in names)
            message = Regex.Replace(message, $@"\b{Regex.Escape(core)}\b", facade);
        var name = names.FirstOrDefault(n => n.Core == e.ParamName).Facade ?? e.ParamName;
        return e switch
        {
            ArgumentNullException => new ArgumentNullException(name, message),
            ArgumentOutOfRangeException => new ArgumentOutOfRangeException(name, message),
            _ => new ArgumentException(message, name, e),
        };
    }

    /// <summary>Runs a core call whose parameters have other names than the facade's, renaming them in its errors.</summary>
    public static T Renaming<T>(Func<T> call, params (string Core, string Facade)[] names)
    {
        try { return call(); }
        catch (ArgumentException e) when (names.Any(n => n.Core == e.ParamName))
        {
            throw Renamed(e, names);
        }
    }

    /// <summary>A C# critic as the F# function the core takes.</summary>
    public static Microsoft.FSharp.Core.FSharpFunc<Tensor, Microsoft.FSharp.Core.FSharpFunc<Tensor, Tensor>> ToCore(Func<Tensor, Tensor, Tensor> critic, string name)
    {
        if (critic is null) throw new ArgumentNullException(name);
        return Microsoft.FSharp.Core.FuncConvert.FromFunc(critic);
    }
}
