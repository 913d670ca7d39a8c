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
/// using var bank = new MemoryBank(capacity: 4096, dimension: 128, device: Devices.Current);
/// using var loss = Bounds.MemoryBankLoss(fullViewQueries, restrictedViewQueries, keys, bank.Keys);
/// loss.Loss.backward();
/// optimizer.step();
/// bank.Enqueue(keys);
/// </code>
/// </example>
public sealed class MemoryBank : IDisposable
{
    private readonly Core.KeyQueue _queue;

    /// <summary>Creates a queue of <paramref name="capacity"/> random unit vectors of <paramref name="dimension"/> features.</summary>
    /// <param name="capacity">Number of keys held (K − 1 negatives per query); ≥ 1.</param>
    /// <param name="dimension">Features per key; ≥ 1.</param>
    /// <param name="device">Where the queue lives; null is <see cref="Devices.Current"/>.</param>
    /// <param name="dtype">The keys' dtype; null is float32.</param>
    /// <param name="seed">Seed of the initial random keys.</param>
    public MemoryBank(int capacity, int dimension, Device? device = null, ScalarType? dtype = null, long seed = 0)
    {
        _queue = new Core.KeyQueue(capacity, dimension, device ?? Devices.Current, dtype ?? ScalarType.Float32, seed);
    }

    /// <summary>The number of keys held.</summary>
    public int Capacity => _queue.Capacity;

    /// <summary>The number of features per key.</summary>
    public int Dimension => _queue.Dimension;

    /// <summary>The keys <c>[capacity, dimension]</c>, without gradient: a new handle on the queue's storage, which sees later enqueues. Disposing it leaves the queue intact.</summary>
    public Tensor Keys => _queue.Keys;

    /// <summary>Replaces the oldest keys with <paramref name="keys"/> <c>[batch, dimension]</c> (detached, copied to the queue's device and dtype).</summary>
    public void Enqueue(Tensor keys) => _queue.Enqueue(Guard.NotNull(keys, nameof(keys)));

    /// <inheritdoc />
    public void Dispose() => ((IDisposable)_queue).Dispose();
}
