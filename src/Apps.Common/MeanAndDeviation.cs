using System.Globalization;

namespace Decomp.Apps;

/// <summary>
/// The mean of some runs' values (over seeds, say) and their sample standard deviation (n - 1 in the denominator),
/// which is absent for a single value: the one "mean ± sd" of Decomp's app reports.
/// </summary>
/// <param name="Mean">The arithmetic mean.</param>
/// <param name="Deviation">The sample standard deviation; null when there is one value.</param>
/// <param name="Count">How many values.</param>
public readonly record struct MeanAndDeviation(double Mean, double? Deviation, int Count)
{
    /// <summary>The mean and deviation of <paramref name="values"/>, or null when there are none.</summary>
    public static MeanAndDeviation? Of(IEnumerable<double> values)
    {
        var xs = values.ToArray();
        if (xs.Length == 0) return null;
        var mean = xs.Average();
        if (xs.Length == 1) return new MeanAndDeviation(mean, null, 1);
        return new MeanAndDeviation(mean, Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1)), xs.Length);
    }

    /// <summary>"mean ± sd" (or the mean alone for one value), each number in <paramref name="format"/>, invariant culture.</summary>
    public string ToString(string format) =>
        Deviation is { } sd
            ? $"{Mean.ToString(format, CultureInfo.InvariantCulture)} ± {sd.ToString(format, CultureInfo.InvariantCulture)}"
            : Mean.ToString(format, CultureInfo.InvariantCulture);
}
