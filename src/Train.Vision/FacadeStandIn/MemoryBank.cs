using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp;

/// <summary>Stand-in for the facade's MoCo key queue (see FacadeStandIn/README.md): a FIFO ring buffer of keys.</summary>
internal sealed class MemoryBank : IDisposable
{
    private readonly Tensor keys;
    private int position;

    /// <summary>A bank of <paramref name="capacity"/> random unit vectors of size <paramref name="dimension"/>.</summary>
    public MemoryBank(int capacity, int dimension, Device? device = null, long seed = 0)
    {
        if (capacity < 1) throw new ArgumentException($"capacity must be at least 1; got {capacity}.", nameof(capacity));
        if (dimension < 1) throw new ArgumentException($"dimension must be at least 1; got {dimension}.", nameof(dimension));
        var target = device ?? CPU;
        using var generator = new Generator((ulong)seed, target);
        using var random = randn(new long[] { capacity, dimension }, device: target, generator: generator);
        keys = functional.normalize(random, 2, 1).detach();
        Capacity = capacity;
    }

    /// <summary>The stored keys, [capacity, dimension], without gradient.</summary>
    public Tensor Keys => keys;

    /// <summary>The number of keys the bank holds.</summary>
    public int Capacity { get; }

    /// <summary>Copies detached <paramref name="newKeys"/> [B, dimension] over the oldest keys.</summary>
    public void Enqueue(Tensor newKeys)
    {
        if (newKeys.dim() != 2 || newKeys.shape[1] != keys.shape[1] || newKeys.shape[0] > Capacity)
            throw new ArgumentException($"keys must be [B,{keys.shape[1]}] with B <= {Capacity}; got [{string.Join(",", newKeys.shape)}].", nameof(newKeys));
        using var noGrad = no_grad();
        var count = (int)newKeys.shape[0];
        var first = Math.Min(count, Capacity - position);
        keys.narrow(0, position, first).copy_(newKeys.narrow(0, 0, first).detach());
        if (first < count) keys.narrow(0, 0, count - first).copy_(newKeys.narrow(0, first, count - first).detach());
        position = (position + count) % Capacity;
    }

    /// <inheritdoc />
    public void Dispose() => keys.Dispose();
}
