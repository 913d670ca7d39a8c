using Decomp.Apps;
using Decomp.Cli.CommandLine;
using Decomp.Cli.Data;
using Decomp.Cli.Reporting;
using TorchSharp;

namespace Decomp.Cli;

/// <summary>
/// <c>decomp estimate</c> from parsed options to files: read and check the inputs, train and score through
/// <see cref="MutualInformation"/> or <see cref="ConditionalMutualInformation"/> (the one place that calls the
/// library), then write curve.png, estimate.md and estimate.json atomically into the output folder and print the table
/// or the JSON.
/// </summary>
internal static class EstimateRun
{
    /// <summary>Runs the estimate; returns the exit code.</summary>
    public static int Execute(EstimateOptions options, TextWriter output, TextWriter error)
    {
        var cache = new Dictionary<string, NumericTable>();
        var named = new List<(string Name, Variable Variable)>
        {
            ("x", Variable.Load(ColumnSelection.Parse(options.X), cache)),
            ("y", Variable.Load(ColumnSelection.Parse(options.Y), cache)),
        };
        if (options.Z is { } zSpec) named.Add(("z", Variable.Load(ColumnSelection.Parse(zSpec), cache)));
        var (firstName, first) = named[0];
        foreach (var (name, variable) in named.Skip(1))
            if (variable.Rows != first.Rows)
                throw new BadInputException($"--{name} {variable.Selection} has {variable.Rows} rows but --{firstName} {first.Selection} has {first.Rows}; each row must be one sample of every variable.");

        var device = DeviceChoice.Resolve(options.Device);
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var deviceName = Devices.Describe(device ?? Devices.Current);

        using var folder = RunFolder.Acquire(options.Output);
        var conditional = options.Z is not null;
        var quantity = conditional ? "I(X; Y | Z)" : "I(X; Y)";
        var estimate = TrainingProgress.Run(error, options.MaxSteps, quantity, progress =>
        {
            var settings = new EstimationOptions
            {
                Estimator = options.Estimator,
                Critic = options.Critic,
                BatchSize = options.BatchSize,
                MaxSteps = options.MaxSteps,
                Seed = options.Seed,
                Device = device,
                Progress = progress,
            };
            try
            {
                return conditional
                    ? ConditionalMutualInformation.Estimate(named[0].Variable.Values, named[1].Variable.Values, named[2].Variable.Values, settings,
                                                            options.Route ?? ConditionalRoute.ImportanceSampled)
                    : MutualInformation.Estimate(named[0].Variable.Values, named[1].Variable.Values, settings);
            }
            catch (ArgumentException e)
            {
                // The library names its arguments x, y, z and the options; say which file that is.
                var message = (e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", ""))
                              .Replace("BatchSize", "--batch-size").Replace("MaxSteps", "--max-steps");
                var input = named.FirstOrDefault(n => n.Name == e.ParamName);
                var where = input.Variable is { } v ? $"--{input.Name} {v.Selection}: " : "";
                throw new BadInputException(where + message, e);
            }
        });

        var report = new ResultReport(quantity, estimate,
                                      named.Select(n => (n.Name, n.Variable.Selection.ToString(), n.Variable.Names)).ToArray(),
                                      first.Rows, deviceName, folder.Path);
        var json = report.Json();
        AtomicFile.WriteAllBytes(folder.File("curve.png"), CurvePlot.Png(estimate, $"{quantity}: {report.EstimatorName}, {first.Rows} rows"));
        AtomicFile.WriteAllText(folder.File("estimate.md"), report.Markdown());
        AtomicFile.WriteAllText(folder.File("estimate.json"), json);
        if (options.Json) output.Write(json);
        else report.WriteTable(output);
        return ExitCodes.Success;
    }
}
