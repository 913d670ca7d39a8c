using System.Runtime.InteropServices;

namespace Decomp.Apps;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM as a cooperative stop. The first signal does not end the process: it sets
/// <see cref="Requested"/> and cancels <see cref="Token"/>, so the app can finish or abandon the work in hand, keep what
/// it has saved (every write is atomic), say so in one line and exit with <see cref="ExitCodes.Interrupted"/>. A second
/// signal ends the process at once, as without this class.
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration[] _registrations;

    /// <summary>Starts listening for SIGINT and SIGTERM (Ctrl+C and Ctrl+Break on Windows).</summary>
    public Interruption()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (_source.IsCancellationRequested) return; // the second signal: let the runtime end the process
        Signal = context.Signal;
        context.Cancel = true;
        _source.Cancel();
    }

    /// <summary>True once a signal asked the process to stop.</summary>
    public bool Requested => _source.IsCancellationRequested;

    /// <summary>The signal that asked, once one has.</summary>
    public PosixSignal? Signal { get; private set; }

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Throws <see cref="OperationCanceledException"/> when a signal asked the process to stop.</summary>
    public void ThrowIfRequested() => _source.Token.ThrowIfCancellationRequested();

    /// <summary>Stops listening.</summary>
    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _source.Dispose();
    }
}
