using System.CommandLine;
using System.Text.RegularExpressions;

namespace Decomp.Apps;

/// <summary>
/// How every Decomp command line runs (System.CommandLine): parse; bad usage is one line on standard error and
/// <see cref="ExitCodes.BadInput"/>; otherwise invoke, and turn what the command throws into one line and an exit code by
/// one rule (<see cref="ExitCodeOf"/>), never a stack trace (unless <c>DECOMP_DEBUG=1</c>).
/// </summary>
public static class CommandLineHost
{
    /// <summary>
    /// Parses <paramref name="args"/> against <paramref name="root"/> and runs the chosen command's action, whose result is
    /// the exit code. <paramref name="helpHint"/> is how the user asks for help, named in the parse-error line
    /// (for example <c>decomp estimate --help</c>).
    /// </summary>
    public static int Run(Command root, string[] args, TextWriter output, TextWriter error, string helpHint)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(args);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            error.WriteLine($"error: {OneLine(parsed.Errors[0].Message).TrimEnd('.')}. Run '{helpHint}' to see the options.");
            return ExitCodes.BadInput;
        }
        return Guard(error, () => parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }));
    }

    /// <summary>Runs <paramref name="body"/>; an exception becomes one line on <paramref name="error"/> and its <see cref="ExitCodeOf"/>.</summary>
    public static int Guard(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("DECOMP_DEBUG") is null or "" || ExitCodeOf(e) != ExitCodes.Failure)
        {
            var code = ExitCodeOf(e);
            if (code != ExitCodes.Interrupted) error.WriteLine($"error: {Describe(e)}");
            return code;
        }
    }

    /// <summary>
    /// The one rule from failures to exit codes. <see cref="ExitCodes.BadInput"/>: what the user can fix by changing the
    /// command: an argument (<see cref="ArgumentException"/>), a file that is missing, damaged or truncated, a run folder in
    /// use. <see cref="ExitCodes.Interrupted"/>: a cooperative stop (<see cref="OperationCanceledException"/>).
    /// <see cref="ExitCodes.Failure"/>: anything else, a failure while working (a full disk, a numeric failure, a bug).
    /// </summary>
    public static int ExitCodeOf(Exception e) => e switch
    {
        OperationCanceledException => ExitCodes.Interrupted,
        ArgumentException or BadInputException or RunFolderInUseException => ExitCodes.BadInput,
        FileNotFoundException or DirectoryNotFoundException or InvalidDataException or EndOfStreamException => ExitCodes.BadInput,
        _ => ExitCodes.Failure,
    };

    /// <summary>The one-line message for <paramref name="e"/>: its message without .NET's "(Parameter 'x')" suffix.</summary>
    public static string Describe(Exception e) => e switch
    {
        ArgumentException { ParamName: { } name } a => OneLine(a.Message.Replace($" (Parameter '{name}')", "")),
        DllNotFoundException or TypeInitializationException or BadImageFormatException =>
            $"cannot load TorchSharp's native libraries: {OneLine((e.InnerException ?? e).Message)}",
        ArgumentException or BadInputException or RunFolderInUseException or IOException or UnauthorizedAccessException
            or InvalidOperationException or NotSupportedException or KeyNotFoundException or ArithmeticException => OneLine(e.Message),
        _ => $"{e.GetType().Name}: {OneLine(e.Message)} (set DECOMP_DEBUG=1 for the stack trace)",
    };

    /// <summary><paramref name="message"/> on one line: runs of white space (line breaks included) become one space.</summary>
    public static string OneLine(string message) => Regex.Replace(message, @"\s+", " ").Trim();
}
