namespace Decomp.Apps;

/// <summary>The one way Decomp's apps print a wall-clock duration (elapsed time, ETA) on the console.</summary>
public static class Durations
{
    /// <summary>
    /// <paramref name="seconds"/>, rounded to the second, as h:mm:ss, or m:ss under an hour; "?" when it is not a number
    /// (an ETA before the first step). Hours are not capped at 23: a budget of days prints as 50:00:00, not 2.02:00:00.
    /// </summary>
    public static string Format(double seconds)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds)) return "?";
        // Rounded before the unit is chosen, so 3599.6 s is 1:00:00 and never 0:00.
        var t = TimeSpan.FromSeconds(Math.Max(0, Math.Round(seconds)));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}" : $"{t.Minutes}:{t.Seconds:D2}";
    }
}
