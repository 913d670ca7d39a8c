using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Decomp.Apps;

/// <summary>
/// Marks an option that says where or how a run executes (its folder, device, threads, logging, budget) rather than what
/// it computes. Such an option may change when a run is resumed; every other option is the run's identity.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class OperationalAttribute : Attribute;

/// <summary>
/// The one rule for <c>--resume</c> in every Decomp app:
/// <list type="bullet">
/// <item>with no checkpoint in the run folder it is an error that says so (<see cref="NoCheckpoint"/>), never a silent fresh start;</item>
/// <item>options the user did not give come from the checkpoint;</item>
/// <item>a given option that differs from the checkpoint's and is not <see cref="OperationalAttribute"/> is refused, naming each
/// (<see cref="Conflicts{T}"/>): the resumed run must end exactly as the uninterrupted one would;</item>
/// <item>without <c>--resume</c>, a folder that already holds a checkpoint is refused (<see cref="AlreadyHoldsRun"/>).</item>
/// </list>
/// </summary>
public static class ResumePolicy
{
    /// <summary>The names of <typeparamref name="T"/>'s properties marked <see cref="OperationalAttribute"/>.</summary>
    public static IReadOnlySet<string> OperationalProperties<T>() =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.IsDefined(typeof(OperationalAttribute)))
            .Select(p => p.Name)
            .ToHashSet();

    /// <summary>
    /// The properties, among <paramref name="given"/>, that are not operational and whose values differ between
    /// <paramref name="saved"/> and <paramref name="requested"/>, each with both values as JSON (so that records, lists and
    /// enums compare by value).
    /// </summary>
    public static IReadOnlyList<(string Property, string Saved, string Requested)> Conflicts<T>(T saved, T requested, IReadOnlySet<string> given,
                                                                                                  JsonSerializerOptions? json = null)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(requested);
        ArgumentNullException.ThrowIfNull(given);
        var operational = OperationalProperties<T>();
        return typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            // Derived properties (not stored, [JsonIgnore]) follow the stored ones and would repeat their conflicts.
            .Where(p => p.CanRead && p.GetIndexParameters().Length == 0 && given.Contains(p.Name) && !operational.Contains(p.Name)
                        && !p.IsDefined(typeof(JsonIgnoreAttribute)))
            .Select(p => (p.Name, Saved: JsonSerializer.Serialize(p.GetValue(saved), p.PropertyType, json),
                          Requested: JsonSerializer.Serialize(p.GetValue(requested), p.PropertyType, json)))
            .Where(d => d.Saved != d.Requested)
            .ToList();
    }

    /// <summary>
    /// The options a resumed run uses: <paramref name="saved"/> (the checkpoint's), with the properties in
    /// <paramref name="given"/> taken from <paramref name="requested"/> and <paramref name="resume"/> set. Check
    /// <see cref="Conflicts{T}"/> first: then the given properties that are not operational equal the saved ones, and
    /// only the operational ones (device, threads, logging, budget...) change. Copied through JSON, so
    /// <typeparamref name="T"/> must round-trip through <paramref name="json"/>.
    /// </summary>
    public static T TakeGiven<T>(T saved, T requested, IReadOnlySet<string> given, string resume, JsonSerializerOptions? json = null)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(requested);
        ArgumentNullException.ThrowIfNull(given);
        var merged = JsonSerializer.SerializeToNode(saved, json)!.AsObject();
        var asked = JsonSerializer.SerializeToNode(requested, json)!.AsObject();
        foreach (var property in given.Where(asked.ContainsKey))
            merged[property] = asked[property]?.DeepClone();
        merged[resume] = true;
        return merged.Deserialize<T>(json) ?? throw new InvalidDataException("the merged options are empty");
    }

    // The errors are ArgumentExceptions naming the option, as every option's own check is: the command line is what the user
    // changes, and CommandLineHost reports either as one line with exit code 2.

    /// <summary>The error for <c>--resume</c> on a folder with no checkpoint, naming the file and what to do.</summary>
    public static ArgumentException NoCheckpoint(string checkpointPath) =>
        new($"--resume: there is no checkpoint ({Path.GetFileName(checkpointPath)}) in {Path.GetDirectoryName(Path.GetFullPath(checkpointPath))}; "
            + "pass the run's --output, or start it without --resume.", "--resume");

    /// <summary>The error for a fresh run in a folder that already holds one.</summary>
    public static ArgumentException AlreadyHoldsRun(string checkpointPath) =>
        new($"{Path.GetDirectoryName(Path.GetFullPath(checkpointPath))} already holds a run ({Path.GetFileName(checkpointPath)}); "
            + "pass --resume to continue it, or choose another --output.", "--output");

    /// <summary>The error for a resume whose given options would change the result; <paramref name="flagOf"/> turns a property into its flag.</summary>
    public static ArgumentException Refused(IReadOnlyList<(string Property, string Saved, string Requested)> conflicts, Func<string, string> flagOf) =>
        new("--resume: the checkpointed run was made with different options: "
            + string.Join("; ", conflicts.Select(c => $"{flagOf(c.Property)} was {c.Saved}, now {c.Requested}"))
            + ". Resume with the original options, or start a new run in another --output.", "--resume");
}
