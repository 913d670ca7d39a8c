using Decomp.Apps;
using Decomp.Train.Vision.Training;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Decomp.Train.Vision;

/// <summary>
/// The bound values and the loss of one training step. Bounds are in nats (higher is better) and averaged over the batch;
/// the restricted-view and conditional bounds are null for the InfoNCE baseline. For the "without conditional MI" ablation
/// <see cref="ConditionalBound"/> is still reported, but it is not part of <see cref="Loss"/>.
/// </summary>
internal sealed record ObjectiveTerms(Tensor Loss, Tensor FullViewBound, Tensor? RestrictedViewBound, Tensor? ConditionalBound);

/// <summary>
/// The contrastive objective of the vision driver. Every call this app makes into Decomp's bounds
/// (<see cref="Bounds"/>, <see cref="KeyQueue"/>) lives in this file, so that wiring the driver to a new facade version
/// touches nothing else. Critic: cosine similarity divided by a temperature tau, as in the paper's CIFAR-10 and MoCo set-ups.
/// </summary>
internal sealed class ContrastiveObjective : IDisposable
{
    private readonly ObjectiveKind kind;
    private readonly double lambda;
    private readonly double temperature;
    private readonly KeyQueue? bank;
    private readonly ProcessGroup group;

    /// <param name="kind">The objective.</param>
    /// <param name="lambda">lam of the decomposition (ignored by the baseline).</param>
    /// <param name="temperature">tau of the cosine critic.</param>
    /// <param name="queueSize">K, the number of queued negative keys (MoCo); 0 for in-batch negatives (SimCLR).</param>
    /// <param name="dimension">Size of the projected embeddings.</param>
    /// <param name="enqueueBatch">Keys enqueued per step; the queue size must be a multiple of it.</param>
    /// <param name="device">Where the queue lives.</param>
    /// <param name="seed">Seed of the queue's initial random keys.</param>
    /// <param name="group">The processes training together: in-batch negatives come from every rank's keys, and the queue
    /// takes every rank's keys (<paramref name="enqueueBatch"/> is the global batch). Null: this process alone.</param>
    public ContrastiveObjective(ObjectiveKind kind, double lambda, double temperature, int queueSize, int dimension,
                                int enqueueBatch, Device device, long seed, ProcessGroup? group = null)
    {
        this.group = group ?? ProcessGroup.Single();
        if (queueSize > 0 && queueSize % enqueueBatch != 0)
            throw new ArgumentException($"the queue size ({queueSize}) must be a multiple of the batch size ({enqueueBatch}).", nameof(queueSize));
        this.kind = kind;
        this.lambda = lambda;
        this.temperature = temperature;
        bank = queueSize > 0 ? new KeyQueue(queueSize, dimension, device, seed: seed) : null;
    }

    /// <summary>True when the objective needs the restricted view x''.</summary>
    public bool UsesRestrictedView => kind != ObjectiveKind.InfoNce;

    /// <summary>Number of candidates K each bound contrasts (positive included); log K caps every InfoNCE estimate.</summary>
    public long Candidates(int batchSize) => bank is null ? batchSize : 1 + bank.Capacity;
    // batchSize is the global batch: with gathered negatives each rank's queries see every rank's keys.

    /// <summary><c>log K</c> for <paramref name="candidates"/> = K (see <see cref="Candidates"/>): the cap of every InfoNCE estimate.</summary>
    public static double LogCandidates(long candidates) => Scores.LogCandidates(checked((int)candidates));

    /// <summary>
    /// MoCo step: queries f(x') and f(x'') against keys f_ema(y) (already detached), negatives from the queue.
    /// Call <see cref="Enqueue"/> with the keys afterwards.
    /// </summary>
    public ObjectiveTerms AgainstQueue(Tensor fullViewQueries, Tensor? restrictedViewQueries, Tensor keys)
    {
        if (bank is null) throw new InvalidOperationException("This objective has no queue; use InBatchSymmetric.");
        // Keys is a new handle on the queue's storage; the caller's dispose scope releases it with the step's tensors.
        return Terms(fullViewQueries, restrictedViewQueries, keys, bank.Keys);
    }

    /// <summary>
    /// SimCLR step, symmetrised: the average of the objective from view 1 to view 2 and from view 2 to view 1, with
    /// in-batch negatives. Keys keep their gradient, as in SimCLR.
    /// </summary>
    public ObjectiveTerms InBatchSymmetric(Tensor firstView, Tensor? firstRestricted, Tensor secondView, Tensor? secondRestricted)
    {
        var forward = Terms(firstView, firstRestricted, secondView, memory: null);
        var backward = Terms(secondView, secondRestricted, firstView, memory: null);
        return new ObjectiveTerms(
            (forward.Loss + backward.Loss) / 2,
            (forward.FullViewBound + backward.FullViewBound) / 2,
            Average(forward.RestrictedViewBound, backward.RestrictedViewBound),
            Average(forward.ConditionalBound, backward.ConditionalBound));
    }

    /// <summary>Pushes this step's keys (normalised, detached) into the queue, replacing the oldest.</summary>
    public void Enqueue(Tensor keys)
    {
        if (bank is null) return;
        using var noGrad = no_grad();
        using var unit = functional.normalize(keys.detach(), 2, 1);
        if (group.WorldSize == 1)
        {
            bank.Enqueue(unit);
            return;
        }
        // MoCo across ranks: the queue takes the keys of the whole global batch, in rank order, on every rank.
        using var all = Distributed.AllGather(group, unit);
        bank.Enqueue(all);
    }

    /// <summary>Adds the queue to a checkpoint: its keys (<c>queue.keys</c>) and its write position (<c>queue.position</c>, an int64 scalar).</summary>
    public void Save(CheckpointTensors tensors)
    {
        if (bank is null) return;
        // Keys is a new handle on the queue's storage; the checkpoint's dispose scope releases it once it is written.
        tensors.Add(QueueKeys, bank.Keys);
        tensors.Add(QueuePosition, tensor((long)bank.Position));
    }

    /// <summary>Restores what <see cref="Save"/> wrote, into a freshly constructed objective.</summary>
    /// <exception cref="InvalidDataException">The checkpoint's queue does not match this objective's (or one of them has none).</exception>
    public void Load(SafeTensorsFile file)
    {
        if (file.Contains(QueueKeys) != bank is not null) throw new InvalidDataException("the checkpoint's queue does not match this run's framework.");
        if (bank is null) return;
        using var keys = file.Read(QueueKeys);
        if (!keys.shape.SequenceEqual(new long[] { bank.Capacity, bank.Dimension }))
            throw new InvalidDataException($"the checkpoint's queue is [{string.Join(",", keys.shape)}], this run's is [{bank.Capacity},{bank.Dimension}].");
        using var position = file.Read(QueuePosition);
        var at = position.item<long>();
        if (at < 0 || at >= bank.Capacity) throw new InvalidDataException($"the checkpoint's queue position {at} lies outside its {bank.Capacity} keys.");
        bank.Restore(keys, (int)at);
    }

    private const string QueueKeys = "queue.keys";
    private const string QueuePosition = "queue.position";

    private ObjectiveTerms Terms(Tensor fullViewQueries, Tensor? restrictedViewQueries, Tensor keys, Tensor? memory)
    {
        var gathered = memory is null && group.WorldSize > 1;
        if (kind == ObjectiveKind.InfoNce)
        {
            var bound = gathered
                ? Distributed.GatheredInfoNce(group, fullViewQueries, keys, temperature, Similarity.Cosine)
                : memory is null
                ? Bounds.InfoNce(fullViewQueries, keys, temperature, Similarity.Cosine)
                : Bounds.InfoNce(fullViewQueries, keys, memory, temperature, Similarity.Cosine);
            return new ObjectiveTerms(-bound, bound, null, null);
        }
        if (restrictedViewQueries is null) throw new ArgumentNullException(nameof(restrictedViewQueries), "the decomposed objective needs f(x'').");
        var loss = gathered
            ? Distributed.GatheredMemoryBankLoss(group, fullViewQueries, restrictedViewQueries, keys, lambda, temperature,
                                                 Similarity.Cosine, conditional: kind == ObjectiveKind.Decomposed)
            : Bounds.MemoryBankLoss(fullViewQueries, restrictedViewQueries, keys, memory, lambda, temperature,
                                    Similarity.Cosine, conditional: kind == ObjectiveKind.Decomposed);
        return new ObjectiveTerms(loss.Loss, loss.FullViewInfoNce, loss.RestrictedViewInfoNce, loss.ConditionalInfoNce);
    }

    private static Tensor? Average(Tensor? a, Tensor? b) => a is null || b is null ? null : (a + b) / 2;

    /// <inheritdoc />
    public void Dispose() => bank?.Dispose();
}
