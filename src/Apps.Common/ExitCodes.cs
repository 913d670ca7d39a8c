namespace Decomp.Apps;

/// <summary>The exit codes every Decomp application uses.</summary>
public static class ExitCodes
{
    /// <summary>The run did what was asked.</summary>
    public const int Success = 0;
    /// <summary>The run failed while working (a numeric failure, a bug); the message says what happened.</summary>
    public const int Failure = 1;
    /// <summary>Bad usage or bad input: an unknown option, a value out of range, a file that is missing, damaged or in use. One line says which.</summary>
    public const int BadInput = 2;
    /// <summary>Stopped by Ctrl+C or SIGTERM after saving what it had (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;
}

/// <summary>Bad input that an application reports as one line on standard error, exiting with <see cref="ExitCodes.BadInput"/>.</summary>
public sealed class BadInputException(string message, Exception? inner = null) : Exception(message, inner);
