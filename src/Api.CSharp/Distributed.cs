using Decomp.Collectives;
using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>How <see cref="Distributed.AllReduce"/> combines the ranks' values.</summary>
public enum ReduceOp
{
    /// <summary>The elementwise sum over ranks.</summary>
    Sum,
    /// <summary>The elementwise mean over ranks.</summary>
    Mean,
}

/// <summary>
/// The processes of a data-parallel job: this process's <see cref="Rank"/> among <see cref="WorldSize"/>, its
/// <see cref="LocalRank"/> on its machine, and the engines of its collectives (MPI for CPU tensors; NCCL for CUDA tensors,
/// untested on a GPU so far). Start the job with <c>mpirun -np N dotnet app.dll</c> (MPICH or another MPICH-ABI MPI) and
/// call <see cref="Initialize"/> once; without <c>mpirun</c> it is a group of this process alone, whose collectives are
/// the identity. Dispose it at the end: it finalises MPI, or aborts the job after a collective failed.
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    internal ProcessGroup(Core.ProcessGroup core) => Core = core;

    internal Core.ProcessGroup Core { get; }

    /// <summary>Joins the job this process was started in (or makes a group of this process alone).</summary>
    /// <param name="device">The device the tensors live on: CPU uses MPI; CUDA adds an NCCL communicator bootstrapped over
    /// MPI (each rank must see one GPU: <c>CUDA_VISIBLE_DEVICES=&lt;local rank&gt;</c>). Null: <see cref="Devices.Current"/>.</param>
    /// <param name="timeout">How long a collective waits for the other ranks before it fails with a
    /// <see cref="TimeoutException"/> naming the collective (a dead or stuck rank). Null: 5 minutes, or
    /// <c>DECOMP_DISTRIBUTED_TIMEOUT</c> seconds.</param>
    public static ProcessGroup Initialize(Device? device = null, TimeSpan? timeout = null)
    {
        if (timeout is { } t && t <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(timeout), t, "timeout must be > 0.");
        var option = timeout is { } value ? Microsoft.FSharp.Core.FSharpOption<TimeSpan>.Some(value) : null;
        return new ProcessGroup(ProcessGroups.init(device ?? Devices.Current, option));
    }

    /// <summary>A group of this process alone (rank 0 of 1).</summary>
    public static ProcessGroup Single() => new(Decomp.Core.ProcessGroup.Single());

    /// <summary>True when this process was started by an MPI launcher (mpirun, mpiexec, srun).</summary>
    public static bool LaunchedByMpi => ProcessGroups.launchedByMpi();

    /// <summary>This process's index in [0, <see cref="WorldSize"/>).</summary>
    public int Rank => Core.Rank;

    /// <summary>The number of processes.</summary>
    public int WorldSize => Core.WorldSize;

    /// <summary>This process's index among the job's processes on its machine (its GPU).</summary>
    public int LocalRank => Core.LocalRank;

    /// <summary>True on rank 0, the process that writes a run's files.</summary>
    public bool IsMain => Core.Rank == 0;

    /// <inheritdoc />
    public void Dispose() => ((IDisposable)Core).Dispose();
}

/// <summary>
/// Collectives and data-parallel training over a <see cref="ProcessGroup"/>: the C# face of the core's Distributed module.
/// Every method is collective: every rank calls it, in the same order, with tensors of the same shape and dtype; a shape
/// or dtype that differs across ranks is an <see cref="ArgumentException"/> on every rank that lists each rank's shape.
/// </summary>
public static class Distributed
{
    /// <summary>PyTorch DDP's bucket size, 25 MiB: the default of <see cref="AverageGradients"/>.</summary>
    public const long DefaultBucketBytes = Core.Distributed.DefaultBucketBytes;

    /// <summary>
    /// All-gather along the first dimension, differentiable: every rank's <paramref name="tensor"/> <c>[b, ...]</c> in
    /// rank order, <c>[N b, ...]</c>. Backward gives each rank its slice of the sum over ranks of the gathered gradient
    /// (as PyTorch's <c>torch.distributed.nn.functional.all_gather</c>).
    /// </summary>
    public static Tensor AllGather(ProcessGroup group, Tensor tensor) =>
        Core.Distributed.allGather(Checked(group), tensor);

    /// <summary>The elementwise sum or mean of <paramref name="tensor"/> over ranks, as a new tensor (no gradient).</summary>
    public static Tensor AllReduce(ProcessGroup group, Tensor tensor, ReduceOp op = ReduceOp.Sum) =>
        Core.Distributed.allReduce(Checked(group), op switch
        {
            ReduceOp.Sum => Core.ReduceOperation.Sum,
            ReduceOp.Mean => Core.ReduceOperation.Mean,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "op must be Sum or Mean."),
        }, tensor);

    /// <summary>Rank <paramref name="root"/>'s <paramref name="tensor"/>, as a new tensor on every rank (no gradient).</summary>
    public static Tensor Broadcast(ProcessGroup group, Tensor tensor, int root = 0) =>
        Core.Distributed.broadcast(Checked(group), root, tensor);

    /// <summary>Returns when every rank has called it.</summary>
    public static void Barrier(ProcessGroup group) => Core.Distributed.barrier(Checked(group));

    /// <summary>Overwrites every tensor (parameters, buffers) with rank 0's values, in place: the start of data-parallel training.</summary>
    public static void BroadcastParameters(ProcessGroup group, IEnumerable<Tensor> parameters) =>
        Core.Distributed.broadcastParameters(Checked(group), parameters ?? throw new ArgumentNullException(nameof(parameters)));

    /// <summary>
    /// Replaces each parameter's gradient by its mean over ranks, in place, with one all-reduce per bucket of at most
    /// <paramref name="bucketBytes"/>; call it after backward and before the optimiser's step. With each rank's loss the
    /// mean over its B/N examples, the result is the gradient of one process's mean loss over all B.
    /// </summary>
    public static void AverageGradients(ProcessGroup group, IEnumerable<Tensor> parameters, long bucketBytes = DefaultBucketBytes) =>
        Core.Distributed.averageGradients(Checked(group), bucketBytes, parameters ?? throw new ArgumentNullException(nameof(parameters)));

    /// <summary>
    /// InfoNCE (Eq. 2) over SimCLR's global batch: this rank's <paramref name="queries"/> <c>[b, D]</c> against the
    /// <paramref name="keys"/> of every rank (gathered with their gradient), K = N b candidates.
    /// </summary>
    public static Tensor GatheredInfoNce(ProcessGroup group, Tensor queries, Tensor keys, double temperature = 1.0,
                                         Similarity similarity = Similarity.Dot, Reduction reduction = Reduction.Mean) =>
        Guard.Reduce(Core.Distributed.gatheredInfoNce(Checked(group), Guard.ToCore(similarity), temperature, queries, keys), reduction);

    /// <summary>
    /// The Appendix B.1 loss (<see cref="Bounds.MemoryBankLoss"/>) with in-batch negatives from every rank's keys: the
    /// mean over this rank's examples; its mean over ranks is one process's loss over the global batch.
    /// </summary>
    public static DecomposedLoss GatheredMemoryBankLoss(ProcessGroup group, Tensor fullViewQueries, Tensor restrictedViewQueries, Tensor keys,
                                                        double lambda = 0.5, double temperature = 0.2, Similarity similarity = Similarity.Cosine,
                                                        bool conditional = true)
    {
        var settings = Bounds.LossSettings(lambda, temperature, similarity, conditional);
        var result = Core.Distributed.gatheredDecomposedLoss(Checked(group), settings, fullViewQueries, restrictedViewQueries, keys);
        return new DecomposedLoss(result.Loss, result.FullViewInfoNce, result.RestrictedViewInfoNce, result.ConditionalInfoNce);
    }

    /// <summary>
    /// MoCo's shuffled BatchNorm across ranks: the keys of this rank's <paramref name="views"/>, encoded by
    /// <paramref name="encode"/> in the group of a random permutation of the global batch that rank 0 draws from
    /// <paramref name="generator"/> and broadcasts (every rank draws, to keep seeded generators in step). No gradient.
    /// </summary>
    public static Tensor ShuffledKeys(ProcessGroup group, Func<Tensor, Tensor> encode, Tensor views, Generator? generator = null) =>
        Core.Distributed.shuffledKeys(Checked(group), generator!, encode ?? throw new ArgumentNullException(nameof(encode)), views);

    private static Core.ProcessGroup Checked(ProcessGroup group) =>
        (group ?? throw new ArgumentNullException(nameof(group))).Core;
}
