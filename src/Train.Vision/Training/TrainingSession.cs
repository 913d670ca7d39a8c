using Decomp.Apps;
using Decomp.Runtime;
using Decomp.Train.Vision.Augmentation;
using Decomp.Train.Vision.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Decomp.Train.Vision.Training;

/// <summary>Mean bound values (nats) and the loss of one step, read back from the device.</summary>
internal readonly record struct StepOutcome(double Loss, double FullViewBound, double? RestrictedViewBound, double? ConditionalBound);

/// <summary>
/// The trainable state of a run (encoder, momentum encoder, optimiser, queue) and one optimisation step over it. A step
/// is a pure function of this state, the run's seed and the step number: the batch comes from the epoch's seeded order and
/// every augmentation from a generator seeded by the step, which is what makes a resumed run repeat an uninterrupted one.
/// </summary>
internal sealed class TrainingSession : IDisposable
{
    private readonly TrainingOptions options;
    private readonly RunSettings settings;
    private readonly Device device;
    private readonly Tensor trainImages;
    private readonly ViewFactory views;
    private readonly Encoder? keyEncoder;
    private readonly SGD optimizer;
    private readonly ContrastiveObjective objective;
    private readonly ProcessGroup group;
    // Frees the steps' implicit Scalars (SGD's among them) before they fragment the native heap.
    private readonly StepCollector collector = new();
    private long orderEpoch = -1;
    private Tensor? order;

    /// <param name="options">The run's options.</param>
    /// <param name="settings">Their resolution for the data and device.</param>
    /// <param name="trainImages">The training images, uint8 [N, C, H, W] on <paramref name="device"/> (not owned).</param>
    /// <param name="views">The augmentations (not owned).</param>
    /// <param name="device">Where to train.</param>
    /// <param name="group">The processes that train together (not owned): each takes its N-th of every global batch, and
    /// they average gradients after backward. Null: this process alone.</param>
    public TrainingSession(TrainingOptions options, RunSettings settings, Tensor trainImages, ViewFactory views, Device device, ProcessGroup? group = null)
    {
        this.options = options;
        this.group = group ?? ProcessGroup.Single();
        this.settings = settings;
        this.device = device;
        this.trainImages = trainImages;
        this.views = views;
        var channels = (int)trainImages.shape[1];
        Encoder = Models.Encoder.Create(settings.Encoder, channels, options.ProjectionDim, options.Precision,
                                        Seeds.Derive(options.Seed, SeedStream.ModelInit), device);
        if (options.Framework == Framework.MoCo)
        {
            keyEncoder = Models.Encoder.Create(settings.Encoder, channels, options.ProjectionDim, options.Precision,
                                               Seeds.Derive(options.Seed, SeedStream.ModelInit), device);
            Models.Encoder.CopyWeights(Encoder, keyEncoder);
            foreach (var p in keyEncoder.parameters()) p.requires_grad = false;
        }
        // Every rank builds the same weights from the seed; broadcasting rank 0's makes that a guarantee (DDP's start).
        Distributed.BroadcastParameters(this.group, Encoder.parameters().Concat(Encoder.buffers()));
        if (keyEncoder is not null) Distributed.BroadcastParameters(this.group, keyEncoder.parameters().Concat(keyEncoder.buffers()));
        optimizer = optim.SGD(Encoder.parameters(), settings.LearningRate, options.SgdMomentum, weight_decay: options.WeightDecay);
        objective = new ContrastiveObjective(options.Objective, options.Lambda, settings.Temperature,
                                             options.Framework == Framework.MoCo ? options.QueueSize : 0, options.ProjectionDim,
                                             options.BatchSize, device, Seeds.Derive(options.Seed, SeedStream.Queue), this.group);
    }

    /// <summary>The encoder being trained.</summary>
    public Encoder Encoder { get; }

    /// <summary>K, the candidates (positive included) each bound contrasts; log K caps each InfoNCE estimate.</summary>
    public long Candidates => objective.Candidates(options.BatchSize);

    /// <summary>Runs optimisation step <paramref name="step"/> at <paramref name="learningRate"/>.</summary>
    /// <exception cref="InvalidOperationException">The loss is not finite.</exception>
    public StepOutcome Step(long step, double learningRate)
    {
        var outcome = StepInItsScope(step, learningRate);
        collector.AfterStep();
        return outcome;
    }

    private StepOutcome StepInItsScope(long step, double learningRate)
    {
        var epochOrder = EpochOrder(step / settings.StepsPerEpoch);
        using var scope = NewDisposeScope();
        // Each rank's augmentations come from its own stream (rank 0's is the single-process stream).
        var augmentationSeed = Seeds.Derive(options.Seed, SeedStream.Augmentation, step);
        using var generator = new Generator((ulong)(group.Rank == 0 ? augmentationSeed : Seeds.Derive(augmentationSeed, SeedStream.Augmentation, group.Rank)), device);
        // This rank's shard: its N-th of the step's global batch of --batch-size images.
        var batch = options.BatchSize / group.WorldSize;
        var index = epochOrder.narrow(0, step % settings.StepsPerEpoch * options.BatchSize + group.Rank * batch, batch);
        var images = trainImages.index_select(0, index).to(ScalarType.Float32) / 255.0;
        var x = views.Standard(images, generator);
        var y = views.Standard(images, generator);
        var xRestricted = objective.UsesRestrictedView ? views.Restricted(x, generator) : null;
        Encoder.train();
        ObjectiveTerms terms;
        Tensor? keys = null;
        if (keyEncoder is not null)
        {
            var queries = Encoder.forward(x);
            var restrictedQueries = xRestricted is null ? null : Encoder.forward(xRestricted);
            using (no_grad()) keys = group.WorldSize == 1 ? EncodeKeys(y, generator) : EncodeKeysAcrossRanks(y, step);
            terms = objective.AgainstQueue(queries, restrictedQueries, keys);
        }
        else
        {
            var both = Encoder.forward(cat(new[] { x, y }, 0)).split(batch, 0);
            Tensor? firstRestricted = null, secondRestricted = null;
            if (xRestricted is not null)
            {
                var restricted = Encoder.forward(cat(new[] { xRestricted, views.Restricted(y, generator) }, 0)).split(batch, 0);
                (firstRestricted, secondRestricted) = (restricted[0], restricted[1]);
            }
            terms = objective.InBatchSymmetric(both[0], firstRestricted, both[1], secondRestricted);
        }
        // The step's loss is the mean over ranks (each rank's is the mean over its shard); every rank sees the same value,
        // so a non-finite loss stops every rank at the same step.
        var loss = Mean(terms.Loss);
        if (!float.IsFinite(loss))
            throw new InvalidOperationException($"the loss is {loss} at step {step}; lower --lr (now {learningRate:G4}) or use --precision fp32.");
        foreach (var group in optimizer.ParamGroups) group.LearningRate = learningRate;
        optimizer.zero_grad();
        terms.Loss.backward();
        Distributed.AverageGradients(group, Encoder.parameters());
        optimizer.step();
        if (keyEncoder is not null)
        {
            Models.Encoder.MomentumUpdate(Encoder, keyEncoder, options.KeyMomentum);
            objective.Enqueue(keys!);
        }
        return new StepOutcome(loss, Mean(terms.FullViewBound), terms.RestrictedViewBound is null ? null : Mean(terms.RestrictedViewBound),
                               terms.ConditionalBound is null ? null : Mean(terms.ConditionalBound));
    }

    /// <summary>
    /// Adds the trainable state to a checkpoint: the encoder's and the momentum encoder's parameters and buffers
    /// (<c>encoder.*</c>, <c>key_encoder.*</c>), the SGD state (<c>optimizer</c>, as bytes) and the queue
    /// (<c>queue.*</c>).
    /// </summary>
    public void Save(CheckpointTensors tensors)
    {
        tensors.Add(EncoderPrefix, Encoder);
        if (keyEncoder is not null) tensors.Add(KeyEncoderPrefix, keyEncoder);
        tensors.Add(OptimizerTensor, optimizer);
        objective.Save(tensors);
    }

    /// <summary>Restores what <see cref="Save"/> wrote into this freshly built session.</summary>
    /// <exception cref="InvalidDataException">A tensor is missing or does not fit this run's model or queue.</exception>
    public void Load(SafeTensorsFile file)
    {
        file.CopyInto(EncoderPrefix, Encoder);
        if (keyEncoder is not null) file.CopyInto(KeyEncoderPrefix, keyEncoder);
        else if (file.Entries.Any(e => e.Name.StartsWith(KeyEncoderPrefix, StringComparison.Ordinal)))
            throw new InvalidDataException("the checkpoint has a momentum encoder, and this run's framework has none.");
        file.ReadInto(OptimizerTensor, optimizer);
        objective.Load(file);
    }

    private const string EncoderPrefix = "encoder.";
    private const string KeyEncoderPrefix = "key_encoder.";
    private const string OptimizerTensor = "optimizer";

    /// <summary>
    /// f_ema(y) with MoCo's shuffled batch norm simulated on one device: the keys pass through the key encoder in
    /// --bn-splits random groups, so that a key's batch statistics are not those of its query's batch.
    /// </summary>
    private Tensor EncodeKeys(Tensor y, Generator generator)
    {
        if (options.BatchNormSplits == 1) return keyEncoder!.forward(y);
        var permutation = randperm(y.shape[0], device: device, generator: generator);
        var groups = y.index_select(0, permutation).chunk(options.BatchNormSplits, 0).Select(g => keyEncoder!.forward(g));
        return cat(groups.ToArray(), 0).index_select(0, permutation.argsort());
    }

    /// <summary>
    /// f_ema(y) with MoCo's shuffled batch norm across ranks: the global batch is permuted (rank 0's permutation, drawn
    /// from a generator every rank seeds alike), each rank encodes its N-th of the permuted batch in --bn-splits / N
    /// groups, and the keys are un-shuffled. The groups are those of one process with the same --bn-splits.
    /// </summary>
    private Tensor EncodeKeysAcrossRanks(Tensor y, long step)
    {
        using var shuffle = new Generator((ulong)Seeds.Derive(options.Seed, SeedStream.Augmentation, step), device);
        var groups = options.BatchNormSplits / group.WorldSize;
        return Distributed.ShuffledKeys(group, views => groups == 1
            ? keyEncoder!.forward(views)
            : cat(views.chunk(groups, 0).Select(g => keyEncoder!.forward(g)).ToArray(), 0), y, shuffle);
    }

    /// <summary>The mean over ranks of a scalar (the value itself in one process).</summary>
    private float Mean(Tensor scalar)
    {
        if (group.WorldSize == 1) return scalar.item<float>();
        using var mean = Distributed.AllReduce(group, scalar.detach().to(ScalarType.Float32), ReduceOp.Mean);
        return mean.item<float>();
    }

    private Tensor EpochOrder(long epoch)
    {
        if (epoch == orderEpoch && order is not null) return order;
        order?.Dispose();
        var permutation = Seeds.Permutation((int)trainImages.shape[0], Seeds.Derive(options.Seed, SeedStream.EpochOrder, epoch));
        using var cpu = tensor(permutation.Select(i => (long)i).ToArray(), ScalarType.Int64);
        order = cpu.to(device);
        orderEpoch = epoch;
        return order;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        order?.Dispose();
        objective.Dispose();
        optimizer.Dispose();
        keyEncoder?.Dispose();
        Encoder.Dispose();
    }
}
