using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// A first-in-first-out queue of keys for momentum contrast (MoCo): the negatives that
/// <see cref="Bounds.MemoryBankLoss"/> reads. A ring buffer on the device; <see cref="Enqueue"/> overwrites the oldest keys
/// in place, without gradient. Enqueue after the backward pass of the step that read <see cref="Keys"/>.
/// </summary>
/// <example>
/// <code>
/// using var bank = new KeyQueue(capacity: 4096, dimension: 128, device: Devices.Current);
/// using var loss = Bounds.MemoryBankLoss(fullViewQueries, restrictedViewQueries, keys, bank.Keys);
/// loss.Loss.backward();
/// optimizer.step();
/// bank.Enqueue(keys);
/// </code>
/// </example>
public sealed class KeyQueue : IDisposable
{
    private readonly Core.KeyQueue _queue;

    /// <summary>Creates a queue of <paramref name="capacity"/> random unit vectors of <paramref name="dimension"/> features.</summary>
    /// <param name="capacity">Number of keys held (K − 1 negatives per query); ≥ 1.</param>
    /// <param name="dimension">Features per key; ≥ 1.</param>
    /// <param name="device">Where the queue lives; null is <see cref="Devices.Current"/>.</param>
    /// <param name="dtype">The keys' dtype, floating point; null is float32.</param>
    /// <param name="seed">Seed of the initial random keys.</param>
    public KeyQueue(int capacity, int dimension, Device? device = null, ScalarType? dtype = null, long seed = 0)
    {
        _queue = new Core.KeyQueue(capacity, dimension, device ?? Devices.Current, dtype ?? ScalarType.Float32, seed);
    }

    /// <summary>The number of keys held.</summary>
    public int Capacity => _queue.Capacity;

    /// <summary>The number of features per key.</summary>
    public int Dimension => _queue.Dimension;

    /// <summary>The keys <c>[capacity, dimension]</c>, without gradient: a new handle on the queue's storage, which sees later enqueues. Disposing it leaves the queue intact.</summary>
    public Tensor Keys => _queue.Keys;

    /// <summary>The row the next <see cref="Enqueue"/> writes first, in [0, <see cref="Capacity"/>). Save it with <see cref="Keys"/> to checkpoint the queue.</summary>
    public int Position => _queue.Position;

    /// <summary>
    /// Puts back a queue saved from <see cref="Keys"/> and <see cref="Position"/>, so that later enqueues overwrite the same
    /// rows as in the run that saved it (an exact resume).
    /// </summary>
    /// <param name="keys">The saved keys, <c>[Capacity, Dimension]</c>, floating point, on any device (copied to the queue's device and dtype).</param>
    /// <param name="position">The saved <see cref="Position"/>, in [0, <see cref="Capacity"/>).</param>
    /// <exception cref="ArgumentException"><paramref name="keys"/> has another shape, is not floating point, or holds NaN or infinity (as <see cref="DecompSettings.FiniteCheck"/> says).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="position"/> is outside [0, <see cref="Capacity"/>).</exception>
    /// <example>
    /// <code>
    /// // Saving, in a checkpoint:
    /// writer.Write(bank.Position);
    /// using (var keys = bank.Keys) using (var onCpu = keys.cpu()) onCpu.Save(writer);
    /// // Resuming, in a new process, into a bank constructed with the same capacity and dimension:
    /// var position = reader.ReadInt32();
    /// using var saved = TensorExtensionMethods.Load(reader);
    /// bank.Restore(saved, position);
    /// </code>
    /// </example>
    public void Restore(Tensor keys, int position) => _queue.Restore(keys, position);

    /// <summary>Replaces the oldest keys with <paramref name="keys"/> <c>[batch, dimension]</c> (detached, copied to the queue's device and dtype). Keys that are not floating point, or hold NaN or infinity (as <see cref="DecompSettings.FiniteCheck"/> says), are refused.</summary>
    public void Enqueue(Tensor keys) => _queue.Enqueue(keys);

    /// <inheritdoc />
    public void Dispose() => ((IDisposable)_queue).Dispose();
}
